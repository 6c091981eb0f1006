"""The compiled kernels of counting: the word trie's (:mod:`smi_assets.frequency.word_trie`
describes the trie and the scans) and the subject-object co-occurrence count of
:class:`~smi_assets.frequency.counting.SubjectObjectPairs`.

They are numba functions, but callers get them through
:func:`~smi_assets.frequency.compiled_kernels.compiled_kernels`, which loads them compiled
ahead of time without importing numba, so only building them (or numba's fallback) imports
this module. ``SIGNATURES`` gives the types of the functions called from Python: the compiled
module accepts exactly these (C-contiguous arrays), and numba's functions accept them too.
"""

from __future__ import annotations

import numba
import numpy as np

from smi_assets.corpus.json_scan import scan_json_lines, string_views
from smi_assets.frequency.word_trie import EDGE, FINAL, ONE_WORD, TWO_WORDS

# Bytes are hashed by h = (h + byte + 1) * _MULTIPLIER (mod 2**64): one multiplication a byte,
# and the high bits, which the bitset uses, depend on every byte.
_HASH_START = np.uint64(0)
_MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)
_MIX = np.uint64(0xFF51AFD7ED558CCD)
_MIX_AGAIN = np.uint64(0xC4CEB9FE1A85EC53)
_EDGE = np.uint64(EDGE)
_FINAL = np.uint64(FINAL)
_ONE_WORD = np.uint64(ONE_WORD)
_TWO_WORDS = np.uint64(TWO_WORDS)
_SPACE = 32

SIGNATURES = {
    "insert_keys": "void(i8[::1], u8[::1], i8[::1], i8[::1], i8[::1], u1[::1], i8[:, ::1], u8[::1], i8)",
    "insert_openings": "void(u1[::1], i8[::1], i8[::1], i8[::1], i8[::1], u8[::1], i8)",
    "find_paper": "Tuple((u4[::1], i8[::1]))(u1[::1], i8[::1], i8[::1], i8, i8[:, ::1], u1[::1], u8[::1], i8)",
    "find_words": "Tuple((u4[::1], i8[::1]))(u1[::1], i8[::1], i8[::1], i8, u1[::1], i4[::1], i8[:, ::1], u1[::1], u8[::1], i8)",
    "count_cooccurrences": "i8[::1](i8[::1], i8[::1], i8[::1], i8[::1], i8)",
    # The JSON-lines fast path's (smi_assets.corpus.json_scan), compiled into the same module.
    "scan_json_lines": "Tuple((i8[::1], i8[::1], i8[::1]))(u1[::1], u1[::1])",
    "string_views": "u1[::1](u1[::1], i8[::1], i8[::1])",
}

__all__ = ["scan_json_lines", "string_views", *SIGNATURES]


@numba.njit(cache=True, inline="always")
def _step(hash_, byte):
    return (hash_ + np.uint64(byte) + np.uint64(1)) * _MULTIPLIER


@numba.njit(cache=True, inline="always")
def _salt(node, kind):
    """A well-mixed number per (node, kind) (MurmurHash3's finaliser), combined with a key's
    byte hash by `_keyed`; computed once per node a scan reaches, not once per byte."""
    mixed = (np.uint64(node) << np.uint64(2)) | kind
    mixed = (mixed ^ (mixed >> np.uint64(33))) * _MIX
    mixed = (mixed ^ (mixed >> np.uint64(33))) * _MIX_AGAIN
    return mixed ^ (mixed >> np.uint64(33))


@numba.njit(cache=True, inline="always")
def _keyed(hash_, salt):
    return (hash_ ^ salt) | np.uint64(1)  # never 0, the mark of an empty slot


@numba.njit(cache=True, inline="always")
def _bloom_bits(keyed, bits_shift):
    """The two bits of the bitset that a key's hash sets: its top bits, and as many bits
    20 places lower."""
    return keyed >> np.uint64(bits_shift), (keyed >> np.uint64(bits_shift - 20)) & ((np.uint64(1) << np.uint64(64 - bits_shift)) - np.uint64(1))


@numba.njit(cache=True, inline="always")
def _home_slot(keyed, mask):
    """A key's first slot in the table, from its hash remixed (not the bits the bitset uses)."""
    return np.int64((keyed * _MIX) >> np.uint64(32)) & mask


@numba.njit(cache=True, inline="always")
def _bytes_hash(data, start, end):
    hash_ = _HASH_START
    for position in range(start, end):
        hash_ = _step(hash_, data[position])
    return hash_


@numba.njit(cache=True, inline="always")
def _one_word_key(word_hash):
    """The bitset key of a word-mode pattern that is this one word. Not in the table: with
    `_two_words_key`, the bitset only tells `find_words` which words need looking up."""
    return _keyed(word_hash, _salt(0, _ONE_WORD))


@numba.njit(cache=True, inline="always")
def _two_words_key(first_hash, second_hash):
    """The bitset key of a word-mode pattern opening with these two words."""
    return _keyed(second_hash ^ (first_hash * _MIX), _salt(0, _TWO_WORDS))


@numba.njit(cache=True, inline="always")
def _set_bits(bits, keyed, bits_shift):
    first_bit, second_bit = _bloom_bits(keyed, bits_shift)
    bits[first_bit >> np.uint64(6)] |= np.uint64(1) << (first_bit & np.uint64(63))
    bits[second_bit >> np.uint64(6)] |= np.uint64(1) << (second_bit & np.uint64(63))


@numba.njit(cache=True)
def insert_keys(nodes, kinds, starts, lengths, values, key_bytes, slots, bits, bits_shift):
    mask = len(slots) - 1
    for key in range(len(nodes)):
        keyed = _keyed(_bytes_hash(key_bytes, starts[key], starts[key] + lengths[key]), _salt(nodes[key], kinds[key]))
        _set_bits(bits, keyed, bits_shift)
        slot = _home_slot(keyed, mask)
        while slots[slot, 0] != 0:
            slot = (slot + 1) & mask
        slots[slot, 0] = np.int64(keyed)
        slots[slot, 1] = (nodes[key] << 8) | np.int64(kinds[key])
        slots[slot, 2] = (starts[key] << 24) | lengths[key]
        slots[slot, 3] = values[key]


@numba.njit(cache=True)
def insert_openings(key_bytes, starts, lengths, first_key, second_key, bits, bits_shift):
    """Set the bits of each word-mode pattern's opening (`_one_word_key`, `_two_words_key`): its first word is
    the bytes of key ``first_key[pattern]`` (as `insert_keys` stores them), its second those of
    ``second_key[pattern]``, or none where that is -1."""
    for pattern in range(len(first_key)):
        key = first_key[pattern]
        first_hash = _bytes_hash(key_bytes, starts[key], starts[key] + lengths[key])
        key = second_key[pattern]
        if key < 0:
            _set_bits(bits, _one_word_key(first_hash), bits_shift)
        else:
            _set_bits(bits, _two_words_key(first_hash, _bytes_hash(key_bytes, starts[key], starts[key] + lengths[key])), bits_shift)


@numba.njit(cache=True, inline="always")
def _in_bitset(bits, keyed, bits_shift):
    """Whether both of a key's bits are set: False means the key is surely absent. Only keys
    that pass are looked up in the table (`_probe`). Keep this test apart from the lookup: one
    inlined helper taking all four arrays, run at every byte, made the paper-mode scan 4.5
    times slower (measured while writing this module)."""
    first_bit, second_bit = _bloom_bits(keyed, bits_shift)
    if (bits[first_bit >> np.uint64(6)] >> (first_bit & np.uint64(63))) & np.uint64(1) == 0:
        return False
    return (bits[second_bit >> np.uint64(6)] >> (second_bit & np.uint64(63))) & np.uint64(1) != 0


@numba.njit(cache=True, inline="always")
def _probe(keyed, node, kind, data, start, length, slots, key_bytes):
    """The value of the key (node, kind, data[start:start + length]), or -1 when absent."""
    hashed = np.int64(keyed)
    node_kind = (np.int64(node) << 8) | np.int64(kind)
    mask = len(slots) - 1
    slot = _home_slot(keyed, mask)
    while slots[slot, 0] != 0:
        if slots[slot, 0] == hashed and slots[slot, 1] == node_kind and slots[slot, 2] & 0xFFFFFF == length:
            first = slots[slot, 2] >> 24
            same = True
            for offset in range(length):
                if key_bytes[first + offset] != data[start + offset]:
                    same = False
                    break
            if same:
                return slots[slot, 3]
        slot = (slot + 1) & mask
    return -1


@numba.njit(cache=True, inline="always")
def _keep(unit, unit_patterns, n_unit, found_unit, found_pattern, n_found):
    """Append one unit's patterns to the results, growing them (reallocating inside the scan
    loops makes numba's code several times slower, so it happens here, once per unit)."""
    if n_found + n_unit > len(found_pattern):
        capacity = 2 * (n_found + n_unit)
        grown_unit = np.empty(capacity, dtype=np.uint32)
        grown_pattern = np.empty(capacity, dtype=np.int64)
        grown_unit[:n_found] = found_unit[:n_found]
        grown_pattern[:n_found] = found_pattern[:n_found]
        found_unit, found_pattern = grown_unit, grown_pattern
    found_unit[n_found : n_found + n_unit] = unit
    found_pattern[n_found : n_found + n_unit] = unit_patterns[:n_unit]
    return found_unit, found_pattern, n_found + n_unit


@numba.njit(cache=True, nogil=True)
def find_paper(data, starts, ends, n_patterns, slots, key_bytes, bits, bits_shift):
    last_unit = np.full(n_patterns, -1, dtype=np.int64)  # the last unit each pattern was found in
    unit_patterns = np.empty(n_patterns, dtype=np.int64)  # one unit's distinct patterns
    found_unit = np.empty(1024, dtype=np.uint32)
    found_pattern = np.empty(1024, dtype=np.int64)
    n_found = 0
    root_final_salt, root_edge_salt = _salt(0, _FINAL), _salt(0, _EDGE)
    for unit in range(len(starts)):
        n_unit = 0
        end = ends[unit]
        anchor = starts[unit]
        while anchor < end and data[anchor] != _SPACE:
            anchor += 1
        while anchor < end:  # a match may start at the word after each space
            node = 0
            word_start = anchor + 1
            next_anchor = end
            while True:
                # Every prefix of this word (the empty one too) may be a pattern's last piece.
                final_salt = root_final_salt if node == 0 else _salt(node, _FINAL)
                hash_ = _HASH_START
                position = word_start
                while True:
                    keyed = _keyed(hash_, final_salt)
                    pattern = -1
                    if _in_bitset(bits, keyed, bits_shift):
                        pattern = _probe(keyed, node, _FINAL, data, word_start, position - word_start, slots, key_bytes)
                    if pattern >= 0 and last_unit[pattern] != unit:
                        last_unit[pattern] = unit
                        unit_patterns[n_unit] = pattern
                        n_unit += 1
                    if position == end or data[position] == _SPACE:
                        break
                    hash_ = _step(hash_, data[position])
                    position += 1
                if node == 0:
                    next_anchor = position
                if position == end:
                    break  # a piece followed by a space needs one here
                keyed = _keyed(hash_, root_edge_salt if node == 0 else _salt(node, _EDGE))
                if not _in_bitset(bits, keyed, bits_shift):
                    break
                node = _probe(keyed, node, _EDGE, data, word_start, position - word_start, slots, key_bytes)
                if node < 0:
                    break
                word_start = position + 1
            anchor = next_anchor
        found_unit, found_pattern, n_found = _keep(unit, unit_patterns, n_unit, found_unit, found_pattern, n_found)
    return found_unit[:n_found], found_pattern[:n_found]


@numba.njit(cache=True, inline="always")
def _code_point(data, position):
    """The code point whose multi-byte UTF-8 encoding starts at `position`, and its length."""
    lead = data[position]  # not ASCII: the caller handles those bytes itself
    if lead < 0xE0:
        return (np.int64(lead & 0x1F) << 6) | np.int64(data[position + 1] & 0x3F), 2
    if lead < 0xF0:
        return (np.int64(lead & 0x0F) << 12) | (np.int64(data[position + 1] & 0x3F) << 6) | np.int64(data[position + 2] & 0x3F), 3
    return (
        (np.int64(lead & 0x07) << 18)
        | (np.int64(data[position + 1] & 0x3F) << 12)
        | (np.int64(data[position + 2] & 0x3F) << 6)
        | np.int64(data[position + 3] & 0x3F),
        4,
    )


@numba.njit(cache=True, nogil=True)
def find_words(data, starts, ends, n_patterns, word_characters, node_pattern, slots, key_bytes, bits, bits_shift):
    last_unit = np.full(n_patterns, -1, dtype=np.int64)
    unit_patterns = np.empty(n_patterns, dtype=np.int64)
    found_unit = np.empty(1024, dtype=np.uint32)
    found_pattern = np.empty(1024, dtype=np.int64)
    n_found = 0
    # The current unit's words: where each starts and ends, and its hash; a unit of n bytes
    # has at most (n + 1) // 2 words.
    word_start = np.empty(1024, dtype=np.int64)
    word_end = np.empty(1024, dtype=np.int64)
    word_hash = np.empty(1024, dtype=np.uint64)
    root_edge_salt = _salt(0, _EDGE)
    for unit in range(len(starts)):
        position, end = starts[unit], ends[unit]
        if (end - position + 1) // 2 > len(word_start):
            word_start = np.empty(end - position, dtype=np.int64)
            word_end = np.empty(end - position, dtype=np.int64)
            word_hash = np.empty(end - position, dtype=np.uint64)
        n_words = 0
        in_word = False
        hash_ = _HASH_START
        while position < end:
            byte = data[position]
            if byte < 0x80:  # ASCII, nearly every byte of most corpora: no decoding
                is_word, width = word_characters[byte], 1
            else:
                point, width = _code_point(data, position)
                is_word = word_characters[point]
            if is_word:
                if not in_word:
                    word_start[n_words] = position
                    hash_ = _HASH_START
                    in_word = True
                hash_ = _step(hash_, byte)
                for continuation in range(position + 1, position + width):
                    hash_ = _step(hash_, data[continuation])
            elif in_word:
                word_end[n_words] = position
                word_hash[n_words] = hash_
                n_words += 1
                in_word = False
            position += width
        if in_word:
            word_end[n_words] = end
            word_hash[n_words] = hash_
            n_words += 1
        n_unit = 0
        for first in range(n_words):
            salt = root_edge_salt
            # The trie is walked from this word only where some pattern opens with it (the
            # root edge's bits; most words fail here) and is either this word alone or opens
            # with it and the next word: most words that open a pattern ("The", "New") are
            # followed by none of its second words, and this skips their table lookups.
            if not _in_bitset(bits, _keyed(word_hash[first], salt), bits_shift):
                continue
            if not _in_bitset(bits, _one_word_key(word_hash[first]), bits_shift) and not (
                first + 1 < n_words and _in_bitset(bits, _two_words_key(word_hash[first], word_hash[first + 1]), bits_shift)
            ):
                continue
            node = 0
            for word in range(first, n_words):
                keyed = _keyed(word_hash[word], salt)
                if not _in_bitset(bits, keyed, bits_shift):
                    break
                node = _probe(keyed, node, _EDGE, data, word_start[word], word_end[word] - word_start[word], slots, key_bytes)
                if node < 0:
                    break
                salt = _salt(node, _EDGE)
                pattern = node_pattern[node]
                if pattern >= 0 and last_unit[pattern] != unit:
                    last_unit[pattern] = unit
                    unit_patterns[n_unit] = pattern
                    n_unit += 1
        found_unit, found_pattern, n_found = _keep(unit, unit_patterns, n_unit, found_unit, found_pattern, n_found)
    return found_unit[:n_found], found_pattern[:n_found]


@numba.njit(cache=True, nogil=True)
def count_cooccurrences(unit, entity, subject_start, pair_object, n_entities):
    """For each unit: mark the entities it mentions, then for every pair whose subject it
    mentions, count the pair when the object is marked too. Linear in the mentions and their
    pairs, with one array of n_entities for the marks (no units x entities table)."""
    counts = np.zeros(len(pair_object), dtype=np.int64)
    marked_in = np.full(n_entities, -1, dtype=np.int64)  # the last unit that mentioned each entity
    first = 0
    while first < len(unit):
        current = unit[first]
        last = first
        while last < len(unit) and unit[last] == current:
            marked_in[entity[last]] = current
            last += 1
        for mention in range(first, last):
            subject = entity[mention]
            for pair in range(subject_start[subject], subject_start[subject + 1]):
                if marked_in[pair_object[pair]] == current:
                    counts[pair] += 1
        first = last
    return counts
