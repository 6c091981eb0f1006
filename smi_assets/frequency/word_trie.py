"""The matcher behind :class:`~smi_assets.frequency.matching.EntityMatcher`: a trie of the
patterns' words, walked word by word over each unit's text by compiled kernels
(:mod:`smi_assets.frequency.kernels`).

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
piece, in ``paper`` mode) live in one open-addressing hash table keyed by a 64-bit hash of the
bytes and the node; every hit is checked byte by byte against the pattern, so results are
exact. A bitset of the same hashes (about 45 bits a key, so it stays in cache) answers most
lookups, which miss, before the table is touched. In word mode it also holds each pattern's
opening (its only word, or its first two words), so a word that opens some pattern ("The",
"New") is looked up only when it is a pattern alone or the next word may follow it. A unit's
patterns are kept distinct as they are found (the last unit each pattern was seen in), so the
kernels return distinct (unit, pattern) numbers ready for counting. With ParaRel's 13,000
names on one core this scans about as fast as polars' ``str.extract_many`` Aho-Corasick
automaton (``bench/count_throughput.py``), which returns every match as a string that counting
then had to turn into codes and make distinct.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import polars as pl
import pyarrow as pa

from smi_assets.frequency.compiled_kernels import compiled_kernels

Mode = Literal["paper", "word"]

WORD_CHARACTERS_FILE = Path(__file__).with_name("word_characters.txt")
UNICODE_SIZE = 0x110000

# The two kinds of keys in the hash table.
EDGE = 1  # a node followed by a whole word
FINAL = 2  # a node followed by a pattern's last piece (paper mode)
# Two kinds of keys only in the bitset (word mode): a pattern's only word, and a pattern's
# first two words. A scan looks a word up at the root only when one of them passes, which
# skips the lookups of words that open some pattern but are followed by none of its second
# words ("The", "New"): a tenth to a fifth of the word-mode scan's time on the corpus of
# bench/count_throughput.py (measured while writing it).
ONE_WORD = 3
TWO_WORDS = 4


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
        edge_key: dict[tuple[int, bytes], int] = {}  # (node, word) -> its EDGE key's position
        openings: list[tuple[int, int]] = []  # word mode: each pattern's first and second EDGE keys (-1: none)
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
            path: list[int] = []
            for word in words:
                key = edge_key.get((node, word))
                if key is None:
                    key = edge_key[(node, word)] = len(keys)
                    keys.append((node, EDGE, word, len(node_pattern)))
                    node_pattern.append(-1)
                path.append(key)
                node = keys[key][3]
            if last is None:
                node_pattern[node] = number
                openings.append((path[0], path[1] if len(path) > 1 else -1))
            else:
                keys.append((node, FINAL, last, number))
        return cls._from_keys(mode, len(patterns), keys, openings, np.array(node_pattern, dtype=np.int32))

    @classmethod
    def _from_keys(
        cls, mode: Mode, n_patterns: int, keys: list[tuple[int, int, bytes, int]], openings: list[tuple[int, int]], node_pattern: np.ndarray
    ) -> WordTrie:
        size = _power_of_two_above(2 * len(keys))
        # 32 to 64 bits per key of the table or the bitset: with two bits set per key, an
        # absent key passes for about one in 300 to 1,000.
        n_bits = max(1 << 16, _power_of_two_above(2 * (len(keys) + len(openings))) * 16)
        lengths = np.array([len(key[2]) for key in keys], dtype=np.int64)
        if lengths.max(initial=0) >= 1 << 24:
            raise ValueError("a pattern's word is longer than 16 MB")
        key_bytes = np.frombuffer(b"".join(key[2] for key in keys) + b"\0", dtype=np.uint8).copy()
        starts = (np.cumsum(lengths) - lengths).astype(np.int64)
        slots = np.zeros((size, 4), dtype=np.int64)
        bits = np.zeros(n_bits // 64, dtype=np.uint64)
        bits_shift = 64 - (n_bits.bit_length() - 1)
        kernels = compiled_kernels()
        kernels.insert_keys(
            np.array([key[0] for key in keys], dtype=np.int64),
            np.array([key[1] for key in keys], dtype=np.uint64),
            starts,
            lengths,
            np.array([key[3] for key in keys], dtype=np.int64),
            key_bytes,
            slots,
            bits,
            bits_shift,
        )
        first_key = np.array([opening[0] for opening in openings], dtype=np.int64)
        second_key = np.array([opening[1] for opening in openings], dtype=np.int64)
        kernels.insert_openings(key_bytes, starts, lengths, first_key, second_key, bits, bits_shift)
        return cls(mode, n_patterns, slots, key_bytes, bits, bits_shift, node_pattern, word_character_table())

    def find(self, units: pl.Series) -> tuple[np.ndarray, np.ndarray]:
        """The distinct (unit, pattern) pairs where the unit contains the pattern, in unit
        order: two arrays, the unit's row in `units` and the pattern's number."""
        data, offsets = _utf8_buffers(units)
        return self.find_in_buffers(data, offsets[:-1], offsets[1:])

    def find_in_buffers(self, data: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`find` on units given as UTF-8 bytes: unit i is ``data[starts[i]:ends[i]]``
        (`data` uint8, `starts` and `ends` int64, contiguous; units may sit anywhere in `data`,
        as the texts of JSON lines sit in the bytes read from the file)."""
        tables = (self.slots, self.key_bytes, self.bits, self.bits_shift)
        if self.mode == "paper":
            return compiled_kernels().find_paper(data, starts, ends, self.n_patterns, *tables)
        return compiled_kernels().find_words(data, starts, ends, self.n_patterns, self.word_characters, self.node_pattern, *tables)


def _power_of_two_above(count: int) -> int:
    """The smallest power of two above `count`, at least 16."""
    return 1 << max(4, count.bit_length())


def load_kernels() -> None:
    """Load the compiled matching kernels now (building them if they are not cached, see
    :mod:`~smi_assets.frequency.compiled_kernels`) and run them on a tiny text, with numpy
    alone: the step server calls this before it forks (polars is not used here, since a process
    forked after polars started its thread pool hangs in its next polars call)."""
    text = np.frombuffer(b"in New York, USA", dtype=np.uint8)
    starts, ends = np.array([0], dtype=np.int64), np.array([len(text)], dtype=np.int64)
    for mode, patterns in (("paper", [" New York", " USA"]), ("word", [" new york ", " usa "])):
        WordTrie.build(patterns, mode).find_in_buffers(text, starts, ends)


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
