"""The matcher behind :class:`~smi_assets.frequency.matching.EntityMatcher`: a trie of the
patterns' words, walked word by word over each unit's text by kernels compiled with numba.

Both match modes find a pattern only where one of the text's words begins, so the text is
read as a sequence of words and each pattern as a sequence of words:

``paper``
    A pattern is ``" " + entity``; the text's words are the pieces after each space (up to
    the next space or the unit's end; a text piece before its first space follows no space
    and starts nothing). ``(" " + entity) in text`` holds exactly when, from some word on,
    the entity's space-separated pieces equal the text's words, except that the last piece
    only has to be a prefix of its word ("India" inside "Indiana"), and every piece before it
    needs a space after it.
``word``
    A pattern is a normalised word sequence (``" w1 w2 "``); the text's words are its maximal
    runs of word characters (polars' regex ``\\w``, from ``word_characters.txt``). It occurs
    when its words equal consecutive words of the text.

Edges of the trie (a node and the next whole word) and pattern ends (a node and the last
piece, in ``paper`` mode) live in one open-addressing hash table keyed by a 64-bit hash of
the bytes and the node; every hit is checked byte by byte against the pattern, so results
are exact. A bitset of the same hashes (about 45 bits a key, so it stays in cache) answers
most lookups, which miss, before the table is touched. A unit's patterns are kept distinct as
they are found (the last unit each pattern was seen in), so the kernels return distinct
(unit, pattern) numbers ready for counting. With ParaRel's 13,000 names on one core this
scans about as fast as polars' ``str.extract_many`` Aho-Corasick automaton
(``bench/count_throughput.py``), which returns every match as a string that counting then had
to turn into codes and make distinct.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numba
import numpy as np
import polars as pl
import pyarrow as pa

Mode = Literal["paper", "word"]

WORD_CHARACTERS_FILE = Path(__file__).with_name("word_characters.txt")
UNICODE_SIZE = 0x110000

# Bytes are hashed by h = (h + byte + 1) * _MULTIPLIER (mod 2**64): one multiplication a byte,
# and the high bits, which the bitset uses, depend on every byte.
_HASH_START = np.uint64(0)
_MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)
_MIX = np.uint64(0xFF51AFD7ED558CCD)
_MIX_AGAIN = np.uint64(0xC4CEB9FE1A85EC53)
_EDGE = np.uint64(1)  # a node followed by a whole word
_FINAL = np.uint64(2)  # a node followed by a pattern's last piece (paper mode)
_SPACE = 32


def word_character_ranges_from_polars() -> np.ndarray:
    """The code point ranges ``[start, end)`` that polars' regex ``\\w`` matches, as an (n, 2)
    array; ``word_characters.txt`` holds them so that no process pays the second this takes."""
    code_points = np.concatenate([np.arange(0xD800), np.arange(0xE000, UNICODE_SIZE)])
    is_word = pl.Series([chr(point) for point in code_points]).str.contains(r"^\w$").to_numpy()
    table = np.zeros(UNICODE_SIZE, dtype=np.int8)
    table[code_points[is_word]] = 1
    edges = np.diff(np.concatenate([[0], table, [0]]))
    return np.column_stack([np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)])


def write_word_characters(path: Path = WORD_CHARACTERS_FILE) -> None:
    """Regenerate ``word_characters.txt`` (run when a polars upgrade changes its Unicode tables;
    ``tests/test_matching.py`` says when)."""
    lines = [f"{start:X} {end:X}" for start, end in word_character_ranges_from_polars()]
    path.write_text("# Code point ranges [start, end) of polars' regex \\w, in hex; see word_trie.py.\n" + "\n".join(lines) + "\n")


def read_word_character_ranges(path: Path = WORD_CHARACTERS_FILE) -> np.ndarray:
    rows = [line.split() for line in path.read_text().splitlines() if line and not line.startswith("#")]
    return np.array([[int(start, 16), int(end, 16)] for start, end in rows], dtype=np.int64).reshape(-1, 2)


@functools.cache
def word_character_table() -> np.ndarray:
    """One byte per Unicode code point: 1 where it is a word character."""
    table = np.zeros(UNICODE_SIZE, dtype=np.uint8)
    for start, end in read_word_character_ranges():
        table[start:end] = 1
    return table


@dataclass(frozen=True, eq=False)
class WordTrie:
    """The patterns' words as a trie in a hash table, built once and used on any number of
    batches of units (see the module docstring)."""

    mode: Mode
    n_patterns: int
    # The hash table, one row of four integers per slot so that a lookup touches one cache
    # line: the key's hash (0 when empty), node << 8 | kind, where its bytes are in
    # `key_bytes` (start << 24 | length) and its value (an edge's child node, or the
    # pattern a last piece ends).
    slots: np.ndarray
    key_bytes: np.ndarray
    # Two bits of `bits` (taken from each key's hash by `_bloom_bits`) are set for every key.
    bits: np.ndarray
    bits_shift: int
    # The pattern each node completes (-1 for none; word mode).
    node_pattern: np.ndarray
    word_characters: np.ndarray

    @classmethod
    def build(cls, patterns: Sequence[str], mode: Mode) -> WordTrie:
        """`patterns`: ``paper`` ones start with a space; ``word`` ones are normalised word
        sequences (:func:`~smi_assets.frequency.matching.normalise_words`). A pattern's number
        is its position; duplicates are not allowed."""
        if mode not in ("paper", "word"):
            raise ValueError(f"unknown match mode {mode!r}; expected paper or word")
        if len(set(patterns)) != len(patterns):
            raise ValueError("patterns must be distinct")
        keys: list[tuple[int, int, bytes, int]] = []  # (node, kind, bytes, value)
        children: dict[tuple[int, bytes], int] = {}
        node_pattern = [-1]
        for number, pattern in enumerate(patterns):
            encoded = pattern.encode()
            if mode == "paper":
                if not encoded.startswith(b" "):
                    raise ValueError(f"a paper-mode pattern starts with a space, not {pattern!r}")
                *words, last = encoded[1:].split(b" ")
            else:
                words, last = [word for word in encoded.split(b" ") if word], None
                if not words:
                    raise ValueError(f"a word-mode pattern names at least one word, not {pattern!r}")
            node = 0
            for word in words:
                child = children.get((node, word))
                if child is None:
                    child = children[(node, word)] = len(node_pattern)
                    node_pattern.append(-1)
                    keys.append((node, int(_EDGE), word, child))
                node = child
            if last is None:
                node_pattern[node] = number
            else:
                keys.append((node, int(_FINAL), last, number))
        return cls._from_keys(mode, len(patterns), keys, np.array(node_pattern, dtype=np.int32))

    @classmethod
    def _from_keys(cls, mode: Mode, n_patterns: int, keys: list[tuple[int, int, bytes, int]], node_pattern: np.ndarray) -> WordTrie:
        size = 1 << max(4, int(2 * len(keys)).bit_length())
        # 32 to 64 bits per key: with two bits set per key, an absent key passes for about one
        # in 300 to 1,000.
        n_bits = max(1 << 16, size * 16)
        lengths = np.array([len(key[2]) for key in keys], dtype=np.int64)
        if lengths.max(initial=0) >= 1 << 24:
            raise ValueError("a pattern's word is longer than 16 MB")
        key_bytes = np.frombuffer(b"".join(key[2] for key in keys) + b"\0", dtype=np.uint8).copy()
        slots = np.zeros((size, 4), dtype=np.int64)
        bits = np.zeros(n_bits // 64, dtype=np.uint64)
        bits_shift = 64 - (n_bits.bit_length() - 1)
        _insert_keys(
            np.array([key[0] for key in keys], dtype=np.int64),
            np.array([key[1] for key in keys], dtype=np.uint64),
            (np.cumsum(lengths) - lengths).astype(np.int64),
            lengths,
            np.array([key[3] for key in keys], dtype=np.int64),
            key_bytes,
            slots,
            bits,
            bits_shift,
        )
        return cls(mode, n_patterns, slots, key_bytes, bits, bits_shift, node_pattern, word_character_table())

    def find(self, units: pl.Series) -> tuple[np.ndarray, np.ndarray]:
        """The distinct (unit, pattern) pairs where the unit contains the pattern, in unit
        order: two arrays, the unit's row in `units` and the pattern's number."""
        return self.find_in_buffers(*_utf8_buffers(units))

    def find_in_buffers(self, data: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`find` on the units' UTF-8 bytes back to back (`data`, uint8) and where each
        starts (`offsets`, int64, one more than units)."""
        tables = (self.slots, self.key_bytes, self.bits, self.bits_shift)
        if self.mode == "paper":
            return _find_paper(data, offsets, self.n_patterns, *tables)
        return _find_words(data, offsets, self.n_patterns, self.word_characters, self.node_pattern, *tables)


def load_kernels() -> None:
    """Compile the matching kernels now, or load them from numba's cache, on a tiny text, with
    numpy alone: the step server calls this before it forks (polars is not used here, since a
    process forked after polars started its thread pool hangs in its next polars call)."""
    text = np.frombuffer(b"in New York, USA", dtype=np.uint8)
    offsets = np.array([0, len(text)], dtype=np.int64)
    for mode, patterns in (("paper", [" New York", " USA"]), ("word", [" new york ", " usa "])):
        WordTrie.build(patterns, mode).find_in_buffers(text, offsets)


def _utf8_buffers(units: pl.Series) -> tuple[np.ndarray, np.ndarray]:
    """The UTF-8 bytes of all units back to back, and the offsets where each starts (one more
    than units), read from the Arrow form of the column without copying it again."""
    array = units.rechunk().to_arrow()
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if array.type != pa.large_string():
        array = array.cast(pa.large_string())
    _, offsets, data = array.buffers()
    offsets = np.frombuffer(offsets, dtype=np.int64)[array.offset : array.offset + len(array) + 1]
    data = np.frombuffer(data, dtype=np.uint8) if data is not None else np.zeros(0, dtype=np.uint8)
    return data, offsets


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


@numba.njit(cache=True)
def _insert_keys(nodes, kinds, starts, lengths, values, key_bytes, slots, bits, bits_shift):
    mask = len(slots) - 1
    for key in range(len(nodes)):
        hash_ = _HASH_START
        for position in range(starts[key], starts[key] + lengths[key]):
            hash_ = _step(hash_, key_bytes[position])
        keyed = _keyed(hash_, _salt(nodes[key], kinds[key]))
        first_bit, second_bit = _bloom_bits(keyed, bits_shift)
        bits[first_bit >> np.uint64(6)] |= np.uint64(1) << (first_bit & np.uint64(63))
        bits[second_bit >> np.uint64(6)] |= np.uint64(1) << (second_bit & np.uint64(63))
        slot = _home_slot(keyed, mask)
        while slots[slot, 0] != 0:
            slot = (slot + 1) & mask
        slots[slot, 0] = np.int64(keyed)
        slots[slot, 1] = (nodes[key] << 8) | np.int64(kinds[key])
        slots[slot, 2] = (starts[key] << 24) | lengths[key]
        slots[slot, 3] = values[key]


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
def _find_paper(data, offsets, n_patterns, slots, key_bytes, bits, bits_shift):
    last_unit = np.full(n_patterns, -1, dtype=np.int64)  # the last unit each pattern was found in
    unit_patterns = np.empty(n_patterns, dtype=np.int64)  # one unit's distinct patterns
    found_unit = np.empty(1024, dtype=np.uint32)
    found_pattern = np.empty(1024, dtype=np.int64)
    n_found = 0
    root_final_salt, root_edge_salt = _salt(0, _FINAL), _salt(0, _EDGE)
    for unit in range(len(offsets) - 1):
        n_unit = 0
        end = offsets[unit + 1]
        anchor = offsets[unit]
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
def _find_words(data, offsets, n_patterns, word_characters, node_pattern, slots, key_bytes, bits, bits_shift):
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
    for unit in range(len(offsets) - 1):
        position, end = offsets[unit], offsets[unit + 1]
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
