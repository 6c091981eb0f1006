"""The synthetic world: determinism, planned exposures, heavy tail, templates and traps."""

from __future__ import annotations

import re
from collections import Counter

import numpy as np
import polars as pl
import pytest

from smi_assets.common.errors import InputError
from smi_assets.corpus.world import PREFIX_TRAPS, RELATIONS, WorldConfig, build_world
from smi_assets.knowledge.questions import build_questions

SMALL = WorldConfig(seed=3, n_people=40, n_shards=3, max_exposure=120)


def all_documents(world) -> pl.DataFrame:
    return pl.concat([world.documents(name) for name in world.shard_names])


def fresh_world(config: WorldConfig):
    """Build without the cache, so determinism is tested on independent builds."""
    build_world.cache_clear()
    return build_world(config)


def test_same_seed_same_world_and_different_seed_differs():
    first, second = fresh_world(SMALL), fresh_world(SMALL)
    assert first is not second
    assert first.triples.equals(second.triples)
    for name in first.shard_names:
        assert first.documents(name).equals(second.documents(name))
    other = fresh_world(WorldConfig(seed=4, n_people=40, n_shards=3, max_exposure=120))
    assert not other.documents("shard-000").equals(first.documents("shard-000"))
    assert not other.triples.equals(first.triples)


def test_documents_have_the_shared_shape_and_unique_ids():
    world = build_world(SMALL)
    documents = all_documents(world)
    assert documents.schema == pl.Schema({"doc_id": pl.Utf8, "text": pl.Utf8})
    assert documents["doc_id"].n_unique() == len(documents)
    assert world.shard_names == ["shard-000", "shard-001", "shard-002"]
    assert all(len(world.documents(name)) > 0 for name in world.shard_names)
    with pytest.raises(InputError, match="shard-999"):
        world.documents("shard-999")


def test_triples_have_the_shared_shape():
    triples = build_world(SMALL).triples
    assert triples.schema["idx"] == pl.Int64 and triples.schema["obj_aliases"] == pl.List(pl.Utf8)
    assert triples["idx"].is_unique().all()
    assert len(triples) == SMALL.n_people * len(SMALL.relations)
    # Aliases never repeat the canonical name.
    for row in triples.iter_rows(named=True):
        assert row["subj"] not in row["subj_aliases"] and row["obj"] not in row["obj_aliases"]
    # Objects are shared by many subjects.
    assert triples.group_by("rel").agg(pl.col("obj").n_unique()).get_column("obj").max() < SMALL.n_people


def statement_patterns(world) -> dict[int, re.Pattern]:
    """For each fact, a regex matching any corpus phrasing of it with any surface forms."""
    patterns = {}
    for row in world.triples.iter_rows(named=True):
        subjects = "|".join(re.escape(s) for s in [row["subj"], *row["subj_aliases"]])
        objects = "|".join(re.escape(o) for o in [row["obj"], *row["obj_aliases"]])
        alternatives = []
        for statement in RELATIONS[row["rel"]].statements:
            text = re.escape(statement)
            text = text.replace(re.escape("[a] "), "an? ").replace(re.escape("[S]"), f"(?:{subjects})").replace(re.escape("[O]"), f"(?:{objects})")
            alternatives.append(text)
        patterns[row["idx"]] = re.compile(f"(?:^|(?<=\\. ))(?:{'|'.join(alternatives)})(?= |$)")
    return patterns


def test_documents_stating_each_fact_match_the_planned_exposure():
    world = build_world(SMALL)
    documents = all_documents(world)["text"].to_list()
    patterns = statement_patterns(world)
    stated = Counter()
    for text in documents:
        for idx, pattern in patterns.items():
            if pattern.search(text):
                stated[idx] += 1
    planned = dict(world.exposures.iter_rows())
    assert stated == Counter({idx: n for idx, n in planned.items() if n})
    assert min(planned.values()) >= SMALL.min_exposure


def test_exposure_is_heavy_tailed_into_the_thousands():
    world = build_world(WorldConfig())
    n_documents = world.exposures["n_documents"].to_numpy()
    assert n_documents.min() == 1
    assert n_documents.max() >= 1000
    # Most facts are rare, a few are stated in thousands of documents.
    assert np.median(n_documents) <= 10
    assert 5 <= (n_documents >= 1000).sum() <= 0.05 * len(n_documents)
    # Every decade of exposure holds facts, so accuracy can be compared across them.
    decades = np.floor(np.log10(n_documents)).astype(int)
    assert set(decades) >= {0, 1, 2, 3}


def test_default_corpus_size_and_vocabulary_fit_small_models():
    world = build_world(WorldConfig())
    words = Counter()
    for name in world.shard_names:
        for text in world.documents(name)["text"]:
            words.update(re.findall(r"\w+|[^\w\s]", text))
    assert 1_000_000 < sum(words.values()) < 6_000_000
    assert len(words) < 3000


def test_templates_have_subject_and_some_but_not_all_appear_in_the_corpus():
    world = build_world(SMALL)
    assert set(world.templates) == set(SMALL.relations)
    corpus = " ".join(all_documents(world)["text"])
    questions = build_questions(world.triples, world.templates)
    for relation, templates in world.templates.items():
        assert len(templates) >= 3 and all("[S]" in t for t in templates)
        asked = questions.filter(pl.col("rel") == relation)
        in_corpus = asked.with_columns(pl.lit(corpus).str.contains(pl.col("prompt") + " ", literal=True).alias("found"))
        found_ids = set(in_corpus.filter(pl.col("found"))["template_id"])
        assert 0 < len(found_ids) < len(templates), relation


def test_aliases_appear_in_the_corpus():
    world = build_world(SMALL)
    corpus = " ".join(all_documents(world)["text"])
    subject_aliases = {alias for aliases in world.triples["subj_aliases"] for alias in aliases}
    object_aliases = {alias for aliases in world.triples["obj_aliases"] for alias in aliases}
    assert subject_aliases and object_aliases
    assert any(re.search(rf"\b{re.escape(a)}\b", corpus) for a in subject_aliases)
    assert any(re.search(rf"\b{re.escape(a)}\b", corpus) for a in object_aliases)


def test_subjects_are_mentioned_without_their_objects():
    world = build_world(SMALL)
    documents = all_documents(world)["text"].to_list()
    patterns = statement_patterns(world)
    row = world.triples.sort("idx").row(0, named=True)
    mentioning = [text for text in documents if re.search(rf"\b{re.escape(row['subj'])}\b", text)]
    stating = [text for text in mentioning if patterns[row["idx"]].search(text)]
    assert len(mentioning) > len(stating)


def test_paper_and_word_matching_differ_only_on_documented_prefix_traps():
    world = build_world(SMALL)
    documents = all_documents(world)["text"].to_list()
    entities = {e.name for r in SMALL.relations for e in RELATIONS[r].objects}
    entities |= {a for r in SMALL.relations for e in RELATIONS[r].objects for a in e.aliases}
    entities |= set(world.triples["subj"]) | {a for aliases in world.triples["subj_aliases"] for a in aliases}
    over_counted = set()
    for entity in entities:
        word = re.compile(rf"(?<!\w){re.escape(entity)}(?!\w)")
        paper = sum((" " + entity) in text for text in documents)
        whole = sum(bool(word.search(" " + text)) for text in documents)
        if paper > whole:
            over_counted.add(entity)
    assert over_counted <= set(PREFIX_TRAPS)
    assert "baker" in over_counted  # "bakery" is in a distractor sentence


def test_some_people_are_named_after_their_birth_city():
    triples = build_world(WorldConfig()).triples
    born = triples.filter(pl.col("rel") == "born")
    echo = born.filter(pl.col("subj").str.split(" ").list.first() == pl.col("obj"))
    assert 0 < len(echo) < 0.05 * len(born)


def test_bad_config_raises():
    with pytest.raises(InputError, match="unknown relations"):
        WorldConfig(relations=("born", "nope"))
    with pytest.raises(InputError, match="min_exposure"):
        WorldConfig(min_exposure=10, max_exposure=5)


def test_every_word_of_the_cloze_templates_occurs_in_the_corpus():
    # A word-level tokenizer built from the corpus must be able to encode every prompt.
    world = build_world(SMALL)
    corpus_words = set(re.findall(r"\w+", " ".join(all_documents(world)["text"])))
    for relation, templates in world.templates.items():
        for template in templates:
            assert set(re.findall(r"\w+", template.replace("[S]", ""))) <= corpus_words, (relation, template)
