"""The JSON-lines fast path's kernels: find, in a chunk of raw bytes, each line's text string
when the line is plainly a JSON object whose text needs no decoding, without building a
Python object per line.

:func:`scan_json_lines` checks a line against JSON's grammar (an object of string, number,
literal, array and object values, nested at most ``MAX_DEPTH`` deep, strings with valid
escapes and strict UTF-8 as Python decodes it, JSON whitespace around) and returns the byte
span of the text field's value when that value is a string without a backslash escape and the
field occurs once, as a key without escapes: those bytes are then exactly the decoded text.
Every other line (a blank one, a BOM, an escaped key, a repeated text key, a non-string or
escaped text, NaN, anything outside the grammar) is marked for the exact reader (orjson and
the json module, :func:`smi_assets.corpus.sources._decode_json_line`), which decides it and
words any error as before; the fast path never rejects a line itself.

The functions are numba's and compiled ahead of time with the counting kernels
(:mod:`smi_assets.frequency.compiled_kernels`, whose ``kernels.SIGNATURES`` names them).
"""

from __future__ import annotations

import numba
import numpy as np

MAX_DEPTH = 64  # deeper nesting goes to the exact reader (the json module recurses per level)
SLOW = -1  # a text start marking a line for the exact reader

_QUOTE, _BACKSLASH, _NEWLINE = 34, 92, 10
# Bytes a JSON string holds as they are, needing no further look: printable ASCII (DEL
# included) but the quote and the backslash.
_PLAIN = np.zeros(256, dtype=np.uint8)
_PLAIN[32:128] = 1
_PLAIN[[_QUOTE, _BACKSLASH]] = 0


@numba.njit(cache=True, inline="always")
def _space(buf, i, stop):
    while i < stop and (buf[i] == 32 or buf[i] == 9 or buf[i] == 13):
        i += 1
    return i


@numba.njit(cache=True, inline="always")
def _continuation(buf, i, stop, low, high):
    return i < stop and low <= buf[i] <= high


@numba.njit(cache=True)
def _string(buf, i, stop):
    """Past the string opening at `i` (a quote): (the position after its closing quote, whether
    it holds an escape), or (-1, 0) if it is not a valid JSON string of valid UTF-8."""
    i += 1
    escaped = 0
    while i < stop:
        byte = buf[i]
        if _PLAIN[byte]:  # printable ASCII but the quote and the backslash: most bytes
            i += 1
            continue
        if byte == _QUOTE:
            return i + 1, escaped
        if byte < 32:
            return -1, 0
        if byte == _BACKSLASH:
            escaped = 1
            if i + 1 >= stop:
                return -1, 0
            code = buf[i + 1]
            if code == 117:  # \uXXXX: any four hex digits (the json module accepts lone surrogates)
                if i + 5 >= stop:
                    return -1, 0
                for k in range(i + 2, i + 6):
                    digit = buf[k]
                    if not (48 <= digit <= 57 or 65 <= digit <= 70 or 97 <= digit <= 102):
                        return -1, 0
                i += 6
            elif code == 34 or code == 92 or code == 47 or code == 98 or code == 102 or code == 110 or code == 114 or code == 116:
                i += 2
            else:
                return -1, 0
        elif 0xC2 <= byte <= 0xDF:  # UTF-8 as Python's strict decoder accepts it
            if not _continuation(buf, i + 1, stop, 0x80, 0xBF):
                return -1, 0
            i += 2
        elif 0xE0 <= byte <= 0xEF:
            low = 0xA0 if byte == 0xE0 else 0x80
            high = 0x9F if byte == 0xED else 0xBF  # no surrogates
            if not (_continuation(buf, i + 1, stop, low, high) and _continuation(buf, i + 2, stop, 0x80, 0xBF)):
                return -1, 0
            i += 3
        elif 0xF0 <= byte <= 0xF4:
            low = 0x90 if byte == 0xF0 else 0x80
            high = 0x8F if byte == 0xF4 else 0xBF
            if not (_continuation(buf, i + 1, stop, low, high) and _continuation(buf, i + 2, stop, 0x80, 0xBF) and _continuation(buf, i + 3, stop, 0x80, 0xBF)):
                return -1, 0
            i += 4
        else:
            return -1, 0
    return -1, 0


@numba.njit(cache=True)
def _digits(buf, i, stop):
    start = i
    while i < stop and 48 <= buf[i] <= 57:
        i += 1
    return i if i > start else -1


@numba.njit(cache=True)
def _number(buf, i, stop):
    """Past a JSON number at `i`, or -1."""
    if buf[i] == 45:  # -
        i += 1
    if i >= stop:
        return -1
    if buf[i] == 48:  # a leading 0 stands alone
        i += 1
    else:
        i = _digits(buf, i, stop)
        if i < 0:
            return -1
    if i < stop and buf[i] == 46:  # .
        i = _digits(buf, i + 1, stop)
        if i < 0:
            return -1
    if i < stop and (buf[i] == 101 or buf[i] == 69):  # e E
        i += 1
        if i < stop and (buf[i] == 43 or buf[i] == 45):
            i += 1
        i = _digits(buf, i, stop)
    return i


@numba.njit(cache=True)
def _literal(buf, i, stop):
    """Past true, false or null at `i`, or -1."""
    byte = buf[i]
    if byte == 102:  # false
        if i + 5 <= stop and buf[i + 1] == 97 and buf[i + 2] == 108 and buf[i + 3] == 115 and buf[i + 4] == 101:
            return i + 5
        return -1
    if i + 4 > stop:
        return -1
    if byte == 116 and buf[i + 1] == 114 and buf[i + 2] == 117 and buf[i + 3] == 101:  # true
        return i + 4
    if byte == 110 and buf[i + 1] == 117 and buf[i + 2] == 108 and buf[i + 3] == 108:  # null
        return i + 4
    return -1


@numba.njit(cache=True)
def _key(buf, i, stop):
    """Past `"key" :` and the spaces after it, or -1."""
    if i >= stop or buf[i] != _QUOTE:
        return -1
    i, _ = _string(buf, i, stop)
    if i < 0:
        return -1
    i = _space(buf, i, stop)
    if i >= stop or buf[i] != 58:  # :
        return -1
    return _space(buf, i + 1, stop)


@numba.njit(cache=True)
def _value(buf, i, stop, stack):
    """Past one JSON value starting at `i` (spaces skipped), or -1. `stack`: room for the open
    containers (123 for an object, 91 for an array)."""
    depth = 0
    while True:
        i = _space(buf, i, stop)
        if i >= stop:
            return -1
        byte = buf[i]
        if byte == _QUOTE:
            i, _ = _string(buf, i, stop)
        elif byte == 123 or byte == 91:  # { [
            if depth == len(stack):
                return -1
            stack[depth] = byte
            depth += 1
            i = _space(buf, i + 1, stop)
            if i < stop and buf[i] == byte + 2:  # } or ]: empty
                i += 1
                depth -= 1
            elif byte == 123:
                i = _key(buf, i, stop)
                if i < 0:
                    return -1
                continue
            else:
                continue
        elif byte == 45 or 48 <= byte <= 57:
            i = _number(buf, i, stop)
        elif byte == 116 or byte == 102 or byte == 110:
            i = _literal(buf, i, stop)
        else:
            return -1
        if i < 0:
            return -1
        # After a value: close containers, or go on to the next member or element.
        while depth > 0:
            i = _space(buf, i, stop)
            if i >= stop:
                return -1
            byte = buf[i]
            if byte == 44:  # ,
                i += 1
                if stack[depth - 1] == 123:
                    i = _key(buf, _space(buf, i, stop), stop)
                    if i < 0:
                        return -1
                break
            if byte != stack[depth - 1] + 2:
                return -1
            i += 1
            depth -= 1
        if depth == 0:
            return i


@numba.njit(cache=True)
def _line(buf, i, stop, key, stack):
    """The span of the text string of the line from `i`, or (SLOW, SLOW), and where its parse
    stopped: past the object and the spaces after it, which is the line's end if the line is
    nothing more."""
    i = _space(buf, i, stop)
    if i >= stop or buf[i] != 123:
        return SLOW, SLOW, i
    i = _space(buf, i + 1, stop)
    text_start = text_end = SLOW
    while True:
        if i >= stop or buf[i] != _QUOTE:
            return SLOW, SLOW, i
        key_end, escaped = _string(buf, i, stop)
        if key_end < 0 or escaped:  # an escaped key may spell the text field's name
            return SLOW, SLOW, i
        is_text = key_end - i - 2 == len(key)
        if is_text:
            for k in range(len(key)):
                if buf[i + 1 + k] != key[k]:
                    is_text = False
                    break
        i = _space(buf, key_end, stop)
        if i >= stop or buf[i] != 58:
            return SLOW, SLOW, i
        i = _space(buf, i + 1, stop)
        if is_text:
            if text_start != SLOW or i >= stop or buf[i] != _QUOTE:  # repeated, or not a string
                return SLOW, SLOW, i
            end, escaped = _string(buf, i, stop)
            if end < 0 or escaped:
                return SLOW, SLOW, i
            text_start, text_end = i + 1, end - 1
            i = end
        else:
            i = _value(buf, i, stop, stack)
            if i < 0:
                return SLOW, SLOW, i
        i = _space(buf, i, stop)
        if i < stop and buf[i] == 44:
            i = _space(buf, i + 1, stop)
            continue
        if i < stop and buf[i] == 125:
            break
        return SLOW, SLOW, i
    end = _space(buf, i + 1, stop)
    if text_start == SLOW:
        return SLOW, SLOW, end
    return text_start, text_end, end


@numba.njit(cache=True)
def _grown(array, size):
    bigger = np.empty(size, dtype=array.dtype)
    bigger[: len(array)] = array
    return bigger


@numba.njit(cache=True)
def scan_json_lines(buf, key):
    """Each line of `buf` (split at newlines; the last may lack one): where it ends (past its
    newline), and its text string's span (start, end), or SLOW for a line the exact reader must
    read. `key`: the text field's name, UTF-8.

    One pass: a line is parsed up to its end (no JSON value crosses a newline, which is neither
    JSON whitespace here nor allowed in a string), and only a line marked SLOW is searched
    again for its newline."""
    n = len(buf)
    capacity = n // 256 + 16
    line_end = np.empty(capacity, dtype=np.int64)
    text_start = np.empty(capacity, dtype=np.int64)
    text_end = np.empty(capacity, dtype=np.int64)
    stack = np.empty(MAX_DEPTH, dtype=np.uint8)
    start = line = 0
    while start < n:
        if line == capacity:
            capacity *= 2
            line_end, text_start, text_end = _grown(line_end, capacity), _grown(text_start, capacity), _grown(text_end, capacity)
        first, last, stop = _line(buf, start, n, key, stack)
        # Something after the object on its line, too: the exact reader decides.
        if first < 0 or (stop < n and buf[stop] != _NEWLINE):
            text_start[line] = text_end[line] = SLOW
            stop = start
            while stop < n and buf[stop] != _NEWLINE:
                stop += 1
        else:
            text_start[line], text_end[line] = first, last
        start = min(stop + 1, n)
        line_end[line] = start
        line += 1
    return line_end[:line].copy(), text_start[:line].copy(), text_end[:line].copy()


@numba.njit(cache=True)
def string_views(buf, start, end):
    """The Arrow string views (16 bytes each, little-endian) of the spans buf[start[k]:end[k]]
    in data buffer 0 (`buf`, under 2 GiB): the length, then the string itself when it fits in
    12 bytes, else its first 4 bytes, the buffer (0) and the offset. Polars keeps strings as
    such views, so the texts need not be copied together."""
    views = np.zeros(16 * len(start), dtype=np.uint8)
    for k in range(len(start)):
        at, length = 16 * k, end[k] - start[k]
        for b in range(4):
            views[at + b] = (length >> (8 * b)) & 0xFF
        if length <= 12:
            for j in range(length):
                views[at + 4 + j] = buf[start[k] + j]
        else:
            for j in range(4):
                views[at + 4 + j] = buf[start[k] + j]
            for b in range(4):
                views[at + 12 + b] = (start[k] >> (8 * b)) & 0xFF
    return views
