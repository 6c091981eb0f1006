"""Entity matching: `paper` mode equals the reference rule exactly; `word` mode differs where
whole-word matching is the better answer (India/Indiana, case, aliases, punctuation)."""

from __future__ import annotations

import random
import re

import numpy as np
import polars as pl
import pytest

from smi_assets.frequency.matching import EntityMatcher, entity_patterns, normalise_words, split_units, unit_entities
from smi_assets.frequency.word_trie import WordTrie, read_word_character_ranges, word_character_ranges_from_polars


def triples_frame(pairs: list[tuple[str, str]], subj_aliases=None, obj_aliases=None) -> pl.DataFrame:
    count = len(pairs)
    return pl.DataFrame(
        {
            "idx": list(range(count)),
            "subj": [subj for subj, _ in pairs],
            "rel": ["r"] * count,
            "obj": [obj for _, obj in pairs],
            "subj_aliases": subj_aliases or [[] for _ in pairs],
            "obj_aliases": obj_aliases or [[] for _ in pairs],
        },
        schema_overrides={"subj_aliases": pl.List(pl.Utf8), "obj_aliases": pl.List(pl.Utf8)},
    )


def found_sets(texts: list[str], triples: pl.DataFrame, mode: str, case: str = "sensitive") -> list[set[str]]:
    """For each text, the set of entities the matcher finds in it."""
    units = pl.Series("text", texts, dtype=pl.Utf8)
    found = unit_entities(units, entity_patterns(triples, mode, case), mode, case)
    result: list[set[str]] = [set() for _ in texts]
    for unit, entity in found.iter_rows():
        result[unit].add(entity)
    return result


def reference_rule(texts: list[str], entities: set[str]) -> list[set[str]]:
    """The SMI reference code's rule, written out directly."""
    return [{entity for entity in entities if (" " + entity) in text} for text in texts]


# Pieces chosen to produce the tricky cases: an entity at the start of a text, inside a
# longer word, overlapping another entity, repeated, next to punctuation, in other scripts.
ENTITIES = ["India", "Indiana", "Ind", "New York", "York", "York City", "São Paulo", "東京", "a", "é", "Paris", "ab ab"]
FILLERS = ["", " ", "  ", "x", "ab", "\n", ",", "'s", "n", "é", "ä", "Ö", "東", "City", " City", "-"]


def random_text(rng: random.Random) -> str:
    pieces = [rng.choice(ENTITIES if rng.random() < 0.5 else FILLERS) for _ in range(rng.randint(0, 12))]
    return "".join(rng.choice(["", " "]) + piece for piece in pieces)


def test_paper_mode_equals_reference_rule_on_random_text():
    rng = random.Random(20250204)
    texts = [random_text(rng) for _ in range(3000)]
    pairs = [(rng.choice(ENTITIES), rng.choice(ENTITIES)) for _ in range(40)]
    triples = triples_frame(pairs)
    entities = {name for pair in pairs for name in pair}
    assert found_sets(texts, triples, "paper") == reference_rule(texts, entities)


def test_paper_mode_tricky_cases_follow_the_reference_rule():
    triples = triples_frame([("India", "New York"), ("York", "東京")])
    texts = ["India first", "in Indiana", "New York", " New York", "a York Yorkshire", "x 東京!", ""]
    assert found_sets(texts, triples, "paper") == reference_rule(texts, {"India", "New York", "York", "東京"})
    # Spelled out, as the paper's counts have them: no match at the start of a text, a match
    # inside a longer word, and the inner entity of an overlapping pair.
    assert found_sets(texts, triples, "paper") == [set(), {"India"}, {"York"}, {"New York", "York"}, {"York"}, {"東京"}, set()]


def test_paper_mode_empty_and_symbol_entities_do_not_crash():
    triples = triples_frame([("", "+++"), ("Paris", "  ")])
    texts = ["a b", "ab", "x +++", "x  y", "Paris"]
    assert found_sets(texts, triples, "paper") == reference_rule(texts, {"", "+++", "Paris", "  "})


def test_word_mode_needs_whole_words():
    triples = triples_frame([("India", "New York")])
    texts = ["India first", "in Indiana", "New Yorker", "New York", "Greater New York"]
    assert found_sets(texts, triples, "word") == [{"India"}, set(), set(), {"New York"}, {"New York"}]
    # The reference rule finds India inside Indiana and misses India at the start.
    assert found_sets(texts, triples, "paper") == [set(), {"India"}, set(), set(), {"New York"}]


def test_word_mode_ignores_punctuation_between_and_around_words():
    triples = triples_frame([("Paris", "Washington, D.C.")])
    texts = ["Paris, France", "Paris's mayor", "(Paris)", "to Washington D.C. today", "Washington,\nD.C.", "Washington DC"]
    assert found_sets(texts, triples, "word") == [{"Paris"}, {"Paris"}, {"Paris"}, {"Washington, D.C."}, {"Washington, D.C."}, set()]
    assert found_sets(texts, triples, "paper") == [set(), set(), set(), set(), set(), set()]


def test_word_mode_case_policy():
    triples = triples_frame([("Paris", "Élysée")])
    texts = ["paris", "PARIS", "Paris", "élysée", "ÉLYSÉE"]
    assert found_sets(texts, triples, "word", "sensitive") == [set(), set(), {"Paris"}, set(), set()]
    assert found_sets(texts, triples, "word", "insensitive") == [{"Paris"}, {"Paris"}, {"Paris"}, {"Élysée"}, {"Élysée"}]


def test_word_mode_aliases_count_once_per_unit_under_the_canonical_name():
    triples = triples_frame(
        [("United States", "Washington"), ("Mark Twain", "United States")],
        subj_aliases=[["USA", "U.S."], ["Samuel Clemens"]],
        obj_aliases=[[], ["America"]],
    )
    texts = ["the USA and America and the United States", "Samuel Clemens wrote", "U.S. policy", "USAF base"]
    units = pl.Series("text", texts)
    found = unit_entities(units, entity_patterns(triples, "word", "sensitive"), "word", "sensitive")
    assert found.filter(pl.col("unit") == 0).get_column("entity").to_list() == ["United States"]
    assert found_sets(texts, triples, "word") == [{"United States"}, {"Mark Twain"}, {"United States"}, set()]
    # Paper mode ignores aliases.
    assert found_sets(texts, triples, "paper") == [{"United States"}, set(), set(), set()]


def test_word_mode_skips_entities_without_word_characters():
    triples = triples_frame([("+++", ""), ("C++", "!")])
    # "C++" keeps its word "C"; "+++", "" and "!" have no words and match nothing.
    assert found_sets(["+++ ! C++", "C", ""], triples, "word") == [{"C++"}, {"C++"}, set()]


def test_sentence_units():
    texts = pl.Series(['First one. Second one! Third?  Fourth "quoted." Fifth', "", "Para one\n\nPara two", "3.5 m"])
    assert split_units(texts, "sentence").to_list() == [
        "First one.",
        "Second one!",
        "Third?",
        'Fourth "quoted."',
        "Fifth",
        "Para one",
        "Para two",
        "3.5 m",
    ]


def test_window_units_are_consecutive_and_non_overlapping():
    texts = pl.Series(["a b c d e", "", "  f\tg\n h  "])
    assert split_units(texts, "window", window_tokens=2).to_list() == ["a b", "c d", "e", "f g", "h"]
    assert split_units(texts, "window", window_tokens=10).to_list() == ["a b c d e", "f g h"]


def test_document_units_keep_every_document():
    texts = pl.Series(["a", "", None], dtype=pl.Utf8)
    assert split_units(texts, "document").to_list() == ["a", "", ""]


@pytest.mark.parametrize("unit", ["page", "paragraph"])
def test_unknown_unit_is_rejected(unit):
    with pytest.raises(ValueError, match="unit"):
        split_units(pl.Series(["a"]), unit)


def test_names_sharing_a_pattern_are_all_found_and_aliases_once():
    # Case-insensitively "Paris" and "PARIS" are one pattern for two names (a join per
    # pattern); "Big Apple" is one of two patterns of one name (distinct per unit).
    triples = triples_frame([("Paris", "PARIS"), ("New York", "France")], subj_aliases=[[], ["Big Apple", "NYC"]])
    texts = ["paris, big apple and NYC", "New York", "france"]
    matcher = EntityMatcher.build(entity_patterns(triples, "word", "insensitive"), "word", "insensitive")
    assert matcher.entity_by_code is None and matcher.several_per_entity
    found = matcher.find(pl.Series("text", texts))
    assert sorted(found.rows()) == [(0, "New York"), (0, "PARIS"), (0, "Paris"), (1, "New York"), (2, "France")]
    paper = EntityMatcher.build(entity_patterns(triples, "paper", "sensitive"), "paper", "sensitive")
    assert paper.entity_by_code is not None and not paper.several_per_entity


def test_one_matcher_gives_the_same_matches_for_any_batching():
    rng = random.Random(8)
    texts = [random_text(rng) for _ in range(300)]
    triples = triples_frame([(rng.choice(ENTITIES), rng.choice(ENTITIES)) for _ in range(30)])
    for mode, case in (("paper", "sensitive"), ("word", "sensitive"), ("word", "insensitive")):
        matcher = EntityMatcher.build(entity_patterns(triples, mode, case), mode, case)
        whole = matcher.find(pl.Series("text", texts)).sort("unit", "entity")
        parts = [matcher.find(pl.Series("text", texts[start : start + 37])).with_columns(pl.col("unit") + start) for start in range(0, len(texts), 37)]
        assert pl.concat(parts).sort("unit", "entity").equals(whole) and len(whole) > 0


def test_normalised_text_is_its_words_between_single_spaces():
    # The rule written out with Python's regex (its \w agrees with polars' on these letters).
    rng = random.Random(4)
    alphabet = ["a", "Z", "9", "_", "é", "東", " ", "  ", ",", ".", "'", "\n", "\t", "-", "!?", "«", "»"]
    texts = ["", " ", "+++", "a", " a ", ", a, b."] + ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 15))) for _ in range(500)]
    normalised = pl.DataFrame({"text": texts}).select(normalise_words(pl.col("text"), "sensitive")).to_series().to_list()
    for text, result in zip(texts, normalised):
        words = re.findall(r"\w+", text)
        assert result == (" " + " ".join(words) + " " if words else " "), text


def test_word_characters_file_is_polars_regex_word_class():
    """The matcher splits words with `word_characters.txt`; patterns are normalised with
    polars' regex. If a polars upgrade changes its Unicode tables, regenerate the file with
    `python -c "from smi_assets.frequency.word_trie import write_word_characters as w; w()"`."""
    assert np.array_equal(read_word_character_ranges(), word_character_ranges_from_polars())


def normalised_scan(texts: list[str], triples: pl.DataFrame, case: str) -> list[set[str]]:
    """Word mode as the rule defines it, with polars alone: normalise the texts with the
    regex, then find every normalised pattern as a substring."""
    patterns = entity_patterns(triples, "word", case)
    normalised = pl.DataFrame({"text": texts}).select(normalise_words(pl.col("text"), case)).to_series().to_list()
    return [{entity for entity, pattern in patterns.iter_rows() if pattern in text} for text in normalised]


@pytest.mark.parametrize("case", ["sensitive", "insensitive"])
def test_word_mode_equals_the_normalised_text_rule_on_random_text(case):
    rng = random.Random(31)
    pieces = ENTITIES + FILLERS + ["NEW YORK", "new  york", "ÉCOLE", "école", "İstanbul", "x_y", "9", "«Paris»", "—", "\t", "York-City"]
    texts = ["".join(rng.choice(["", " ", ", ", "-"]) + rng.choice(pieces) for _ in range(rng.randint(0, 14))) for _ in range(3000)]
    names = ENTITIES + ["École", "x_y", "İstanbul", "9"]
    triples = triples_frame([(rng.choice(names), rng.choice(names)) for _ in range(40)])
    found = found_sets(texts, triples, "word", case)
    assert found == normalised_scan(texts, triples, case)
    assert sum(map(len, found)) > 1000


def test_matcher_reads_sliced_chunked_and_null_units():
    triples = triples_frame([("New York", "Paris"), ("India", "York")])
    texts = ["New York and Paris", None, "", "India, New", "York", "in India's York"] * 5
    for mode in ("paper", "word"):
        matcher = EntityMatcher.build(entity_patterns(triples, mode, "sensitive"), mode, "sensitive")
        whole = pl.Series("text", texts, dtype=pl.Utf8)
        expected = matcher.find(pl.Series("text", [text or "" for text in texts])).rows()
        chunked = pl.concat([whole.slice(0, 7), whole.slice(7)], rechunk=False)
        assert chunked.n_chunks() == 2
        assert matcher.find(whole).rows() == matcher.find(chunked).rows() == expected
        sliced = matcher.find(whole.slice(6, 12)).with_columns(pl.col("unit") + 6).rows()
        assert sliced == [row for row in expected if 6 <= row[0] < 18] and sliced


def test_word_trie_rejects_patterns_it_cannot_match():
    with pytest.raises(ValueError, match="distinct"):
        WordTrie.build([" a", " a"], "paper")
    with pytest.raises(ValueError, match="starts with a space"):
        WordTrie.build(["a"], "paper")
    with pytest.raises(ValueError, match="at least one word"):
        WordTrie.build(["  "], "word")
    with pytest.raises(ValueError, match="match mode"):
        WordTrie.build([" a "], "words")
