"""Which entities each co-occurrence unit mentions: unit splitting and multi-pattern matching.

All entities of a batch of units are searched in one pass over its text by a compiled word
trie (:mod:`smi_assets.frequency.word_trie`), never one search per triple per document. Two
match modes:

``paper``
    The reference rule of the SMI paper's code, reproduced exactly: an entity is present in a
    unit iff ``(" " + entity) in text`` (case-sensitive substring, no aliases). It has no word
    boundaries ("India" matches inside "Indiana") and misses an entity at the very start.

``word`` (default)
    The entity, or any of its aliases, occurs as whole words. Both the unit text and each
    surface form are reduced to their words (maximal runs of Unicode word characters, regex
    ``\\w+``) joined by single spaces; the entity is present iff its word sequence occurs
    contiguously in the unit's word sequence. So punctuation and whitespace between words do
    not matter ("Paris," and "Paris's" mention Paris; "Washington, D.C." matches "Washington
    D.C."), while a word never matches inside a longer word ("India" not in "Indiana"). A
    surface form without any word character (e.g. "+++") matches nothing. With
    ``case="insensitive"`` both sides are Unicode-lowercased first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import polars as pl

from smi_assets.frequency.word_trie import WordTrie

MatchMode = Literal["paper", "word"]
CasePolicy = Literal["sensitive", "insensitive"]
Unit = Literal["document", "sentence", "window"]

# Every maximal run of non-word characters (a run of two or more, or a single character
# other than a plain space) becomes one space, so a text padded with a space each side is
# reduced to its words joined and surrounded by single spaces. Single spaces are left alone.
_NON_WORD_RUN = r"[^\w]{2,}|[^\w ]"

# A sentence ends at ., ! or ? (with any closing quotes or brackets) followed by whitespace,
# or at a blank line. Cut points are marked with this control character, then split on it;
# text containing it is split there too, which real prose never does.
_SENTENCE_END = r"""([.!?]['"’”)\]]*)\s+|\n\s*\n"""
_CUT = "\x1e"


def split_units(texts: pl.Series, unit: Unit, window_tokens: int = 64) -> pl.Series:
    """The co-occurrence units of some documents' texts, as one Utf8 series (one unit a row).

    - ``document``: each text is one unit (an empty text still counts as a document, as in
      the reference counts).
    - ``sentence``: a regex splitter (sentence-final punctuation followed by whitespace, or a
      blank line). spaCy's ``sentencizer`` follows nearly the same rule but runs about
      0.35 MB/s here, hundreds of times slower than this whole counting stage. Empty
      sentences are dropped.
    - ``window``: consecutive non-overlapping windows of ``window_tokens`` whitespace tokens,
      rejoined with single spaces; the last window of a document may be shorter. Non-
      overlapping windows count each token once; an entity crossing a window edge is missed.
    """
    texts = texts.fill_null("").rename("text")
    if unit == "document":
        return texts
    if unit == "sentence":
        sentences = texts.str.replace_all(_SENTENCE_END, "${1}" + _CUT).str.split(_CUT).explode().str.strip_chars()
        return sentences.filter(sentences.str.len_bytes() > 0)
    if unit == "window":
        if window_tokens < 1:
            raise ValueError(f"window_tokens must be at least 1, got {window_tokens}")
        tokens = (
            pl.DataFrame({"text": texts})
            .with_row_index("document")
            .select("document", pl.col("text").str.extract_all(r"\S+").alias("token"))
            .explode("token")
            .drop_nulls("token")
            .with_columns((pl.int_range(pl.len()).over("document") // window_tokens).alias("window"))
        )
        windows = tokens.group_by("document", "window", maintain_order=True).agg(pl.col("token").str.join(" "))
        return windows.get_column("token").rename("text")
    raise ValueError(f"unknown co-occurrence unit {unit!r}; expected document, sentence or window")


def normalise_words(text: pl.Expr, case: CasePolicy) -> pl.Expr:
    """Reduce texts to their words joined by single spaces, padded with one space each side
    (a text without words becomes one space). Surface forms become word-mode patterns this
    way; the matcher splits unit texts into the same words itself, with the same ``\\w``."""
    if case == "insensitive":
        text = text.str.to_lowercase()
    # Padding first makes any leading or trailing non-word run part of a run the regex
    # replaces, so no strip pass (another copy of the text) is needed.
    return pl.concat_str(pl.lit(" "), text, pl.lit(" ")).str.replace_all(_NON_WORD_RUN, " ")


def entity_patterns(triples: pl.DataFrame, mode: MatchMode, case: CasePolicy) -> pl.DataFrame:
    """The matcher's patterns: ``entity`` (canonical name) -> ``pattern`` (one row each pair).

    An entity is identified by its canonical name, whether it appears as a subject or an
    object; in ``word`` mode its surface forms are the name plus every alias given for that
    name in any triple. Surface forms that match nothing (no word characters) are dropped.
    """
    names = pl.concat([triples.select(entity="subj"), triples.select(entity="obj")]).drop_nulls().unique()
    if mode == "paper":
        return names.with_columns(pattern=pl.concat_str(pl.lit(" "), "entity"))
    if mode != "word":
        raise ValueError(f"unknown match mode {mode!r}; expected paper or word")
    surfaces = [names.with_columns(surface="entity")]
    for name_column, alias_column in (("subj", "subj_aliases"), ("obj", "obj_aliases")):
        if alias_column in triples.columns:
            surfaces.append(triples.select(entity=name_column, surface=alias_column).explode("surface").drop_nulls("surface"))
    forms = pl.concat(surfaces).with_columns(pattern=normalise_words(pl.col("surface"), case))
    # A form with no word characters normalises to one space, which every normalised text
    # contains: drop it, since it names no word.
    return forms.filter(pl.col("pattern").str.contains(r"\w")).select("entity", "pattern").unique()


@dataclass(frozen=True, eq=False)
class EntityMatcher:
    """The patterns of :func:`entity_patterns` coded once (sorted, with their entities) into a
    :class:`~smi_assets.frequency.word_trie.WordTrie`, then used on any number of batches of
    units."""

    mode: MatchMode
    case: CasePolicy
    search_patterns: pl.Series  # the distinct patterns, sorted; a pattern's code is its position
    pattern_entities: pl.DataFrame  # pattern (code), entity: one row per (pattern, entity) pair
    # When every pattern names exactly one entity (always in paper mode, and in word mode
    # unless two names or aliases normalise alike), the entity of each pattern code, looked
    # up by position instead of a join.
    entity_by_code: pl.Series | None
    # Whether an entity has several patterns (aliases), so that one unit can match it twice.
    several_per_entity: bool
    trie: WordTrie

    @classmethod
    def build(cls, patterns: pl.DataFrame, mode: MatchMode, case: CasePolicy) -> EntityMatcher:
        """`patterns` comes from :func:`entity_patterns` with the same mode and case (its
        ``entity`` column may be recoded, e.g. to integers)."""
        if mode == "paper" and case != "sensitive":
            raise ValueError("paper mode reproduces the reference rule, which is case-sensitive")
        search_patterns = patterns.get_column("pattern").unique().sort()
        coded = patterns.select(pl.col("pattern").cast(pl.Enum(search_patterns)).to_physical(), "entity").sort("pattern")
        one_each = not coded.get_column("pattern").is_duplicated().any()
        several = bool(coded.get_column("entity").is_duplicated().any())
        trie = WordTrie.build(search_patterns.to_list(), mode)
        return cls(mode, case, search_patterns, coded, coded.get_column("entity") if one_each else None, several, trie)

    def find(self, units: pl.Series) -> pl.DataFrame:
        """The distinct (``unit``, ``entity``) pairs where the unit mentions the entity, in
        unit order; ``unit`` is the row number in `units`."""
        if self.search_patterns.is_empty() or units.is_empty():
            return self._entities(np.empty(0, dtype=np.uint32), np.empty(0, dtype=np.int64))
        texts = units.fill_null("")
        if self.case == "insensitive":
            texts = texts.str.to_lowercase()
        return self._entities(*self.trie.find(texts))

    def find_in_buffers(self, data: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> pl.DataFrame:
        """:meth:`find` on units given as UTF-8 bytes, unit i ``data[starts[i]:ends[i]]``
        (:meth:`WordTrie.find_in_buffers`), matched as they are: case-sensitive only."""
        if self.case != "sensitive":
            raise ValueError("units given as bytes are matched as they are; case-insensitive matching needs find()")
        if self.search_patterns.is_empty() or len(starts) == 0:
            return self._entities(np.empty(0, dtype=np.uint32), np.empty(0, dtype=np.int64))
        return self._entities(*self.trie.find_in_buffers(data, starts, ends))

    def _entities(self, unit: np.ndarray, pattern: np.ndarray) -> pl.DataFrame:
        """The distinct (unit, entity) pairs of the trie's distinct (unit, pattern) pairs."""
        matches = pl.DataFrame({"unit": unit, "pattern": pattern.astype(np.uint32)})
        if self.entity_by_code is not None:
            found = pl.DataFrame({"unit": matches.get_column("unit"), "entity": self.entity_by_code.gather(matches.get_column("pattern"))})
        else:
            found = matches.join(self.pattern_entities, on="pattern", maintain_order="left").select("unit", "entity")
        # Distinct patterns per unit are distinct entities unless an entity has several
        # surface forms (aliases) and more than one of them occurs in the same unit.
        return found.unique(maintain_order=True) if self.several_per_entity else found


def unit_entities(units: pl.Series, patterns: pl.DataFrame, mode: MatchMode, case: CasePolicy) -> pl.DataFrame:
    """The distinct (``unit``, ``entity``) pairs where the unit mentions the entity, found by
    an :class:`EntityMatcher` built from `patterns` (see :meth:`EntityMatcher.find`)."""
    return EntityMatcher.build(patterns, mode, case).find(units)
