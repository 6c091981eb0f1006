"""Knowledge-frequency counting: per-shard counts summed in DuckDB give the 2x2 table per triple."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow.parquet as pq
import pytest

from smi_assets.cli import main as smi_main
from smi_assets.common.errors import InputError
from smi_assets.corpus import sources
from smi_assets.corpus.sources import iter_documents, iter_text_spans, read_documents, write_shard_documents
from smi_assets.frequency.counting import (
    FREQUENCY_COLUMNS,
    SHARD_COUNTS_FILE,
    CountConfig,
    SubjectObjectPairs,
    TripleCounter,
    count_corpus,
    count_documents_file,
    count_shard,
    count_shard_file,
    knowledge_frequency,
    sum_shard_counts,
    write_shard_counts,
)
from smi_assets.orchestration.resources import DEFAULT_REFERENCE_DIR

ENTITIES = ["India", "Indiana", "New York", "York", "São Paulo", "東京", "Paris", "France", "a"]
FILLERS = ["", "x", "ab", "\n", ",", "'s", "é", "City", "-", ". ", "the"]


def random_documents(rng: random.Random, count: int) -> pl.DataFrame:
    texts = []
    for _ in range(count):
        pieces = [rng.choice(ENTITIES if rng.random() < 0.4 else FILLERS) for _ in range(rng.randint(0, 10))]
        texts.append("".join(rng.choice(["", " "]) + piece for piece in pieces))
    return pl.DataFrame({"doc_id": [str(number) for number in range(count)], "text": texts})


def triples_frame(pairs: list[tuple[str, str]]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "idx": [100 + number for number in range(len(pairs))],
            "subj": [subj for subj, _ in pairs],
            "rel": ["r"] * len(pairs),
            "obj": [obj for _, obj in pairs],
            "subj_aliases": [[] for _ in pairs],
            "obj_aliases": [[] for _ in pairs],
        },
        schema_overrides={"subj_aliases": pl.List(pl.Utf8), "obj_aliases": pl.List(pl.Utf8)},
    )


def reference_counts(texts: list[str], triples: pl.DataFrame) -> pl.DataFrame:
    """The SMI reference code's counts: per triple, documents by `" " + entity in text`."""
    rows = []
    for idx, subj, obj in triples.select("idx", "subj", "obj").iter_rows():
        has_subj = [(" " + subj) in text for text in texts]
        has_obj = [(" " + obj) in text for text in texts]
        both = sum(s and o for s, o in zip(has_subj, has_obj))
        only_subj = sum(s and not o for s, o in zip(has_subj, has_obj))
        only_obj = sum(o and not s for s, o in zip(has_subj, has_obj))
        rows.append((idx, len(texts), sum(has_subj), sum(has_obj), both, only_subj, only_obj, len(texts) - both - only_subj - only_obj))
    return pl.DataFrame(rows, schema=list(FREQUENCY_COLUMNS), orient="row").sort("idx")


def shards_of(documents: pl.DataFrame, sizes: list[int]) -> list[pl.DataFrame]:
    shards, start = [], 0
    for size in sizes:
        shards.append(documents.slice(start, size))
        start += size
    return shards


def test_paper_mode_counts_equal_the_reference_rule_over_shards():
    rng = random.Random(7)
    documents = random_documents(rng, 1200)
    triples = triples_frame([(rng.choice(ENTITIES), rng.choice(ENTITIES)) for _ in range(30)])
    frequency = count_corpus(shards_of(documents, [500, 0, 1, 699]), triples, CountConfig(match_mode="paper"))
    expected = reference_counts(documents.get_column("text").to_list(), triples)
    assert frequency.equals(expected)


def test_sharding_does_not_change_the_counts():
    rng = random.Random(11)
    documents = random_documents(rng, 600)
    triples = triples_frame([(rng.choice(ENTITIES), rng.choice(ENTITIES)) for _ in range(20)])
    for config in (CountConfig(), CountConfig(case="insensitive", unit="sentence"), CountConfig(unit="window", window_tokens=3)):
        whole = count_corpus([documents], triples, config)
        sharded = count_corpus(shards_of(documents, [100, 250, 250]), triples, config)
        assert whole.equals(sharded), config
        cells_add_up = pl.col("N_so") + pl.col("N_s_only") + pl.col("N_o_only") + pl.col("N_neither") == pl.col("N")
        within_marginals = pl.col("N_so") <= pl.min_horizontal("N_s", "N_o")
        assert whole.select((cells_add_up & within_marginals).all()).item()
        assert whole["N_so"].sum() > 0


def test_word_mode_counts_co_occurrence_per_unit():
    documents = pl.DataFrame(
        {
            "doc_id": ["1", "2", "3", "4"],
            "text": ["Paris is in France. India is in Asia.", "Indiana, France", "paris", "India and France"],
        }
    )
    triples = triples_frame([("Paris", "France"), ("India", "France"), ("India", "India")])
    by_document = count_corpus([documents], triples, CountConfig())
    assert by_document.rows() == [
        # idx, N, N_s, N_o, N_so, N_s_only, N_o_only, N_neither
        (100, 4, 1, 3, 1, 0, 2, 1),
        (101, 4, 2, 3, 2, 0, 1, 1),
        (102, 4, 2, 2, 2, 0, 0, 2),
    ]
    by_sentence = count_corpus([documents], triples, CountConfig(unit="sentence", case="insensitive"))
    assert by_sentence.rows() == [
        (100, 5, 2, 3, 1, 1, 2, 1),
        (101, 5, 2, 3, 1, 1, 2, 1),
        (102, 5, 2, 2, 2, 0, 0, 3),
    ]


def test_pair_cooccurrences_equal_a_brute_force_count():
    """Pairs of subjects with several objects, entities that are both subject and object, and
    units without mentions."""
    rng = np.random.default_rng(3)
    n_entities = 12
    pairs = sorted({(int(s), int(o)) for s, o in rng.integers(0, n_entities, size=(30, 2)) if s != o})
    subj, obj = (np.array(column) for column in zip(*pairs, strict=True))
    mentions = sorted({(int(u), int(e)) for u, e in zip(rng.integers(5, 60, 400), rng.integers(0, n_entities, 400), strict=True)})
    unit, entity = (np.array(column, dtype=np.uint32) for column in zip(*mentions, strict=True))
    mentioned = {}
    for u, e in mentions:
        mentioned.setdefault(u, set()).add(e)
    expected = [sum(s in entities and o in entities for entities in mentioned.values()) for s, o in pairs]
    counted = SubjectObjectPairs.build(subj, obj, n_entities).cooccurrences(unit, entity)
    assert counted.tolist() == expected
    assert max(expected) > 0


def test_entities_without_words_or_empty_do_not_crash():
    documents = pl.DataFrame({"doc_id": ["1", "2"], "text": ["a +++ b", "C++ and Paris"]})
    triples = triples_frame([("", "+++"), ("C++", "!"), ("Paris", "")])
    word = count_corpus([documents], triples, CountConfig())
    assert word.select("idx", "N_s", "N_o").rows() == [(100, 0, 0), (101, 1, 0), (102, 1, 0)]
    paper = count_corpus([documents], triples, CountConfig(match_mode="paper"))
    assert paper.equals(reference_counts(documents.get_column("text").to_list(), triples))


def test_write_shard_counts_replaces_the_previous_version(tmp_path: Path):
    triples = triples_frame([("Paris", "France")])
    first = count_shard(pl.DataFrame({"text": ["x Paris France", "x Paris"]}), triples, CountConfig(match_mode="paper"))
    second = count_shard(pl.DataFrame({"text": ["x France"]}), triples, CountConfig(match_mode="paper"))
    directory = tmp_path / "counts" / "shard-a"
    write_shard_counts(first, directory)
    write_shard_counts(first, directory)
    assert knowledge_frequency([directory], triples).rows() == [(100, 2, 2, 1, 1, 1, 0, 0)]
    write_shard_counts(second, directory)
    assert knowledge_frequency([directory], triples).rows() == [(100, 1, 0, 1, 0, 0, 1, 0)]
    assert sorted(path.name for path in directory.iterdir()) == [SHARD_COUNTS_FILE]


def test_shards_counted_differently_are_not_summed(tmp_path: Path):
    triples = triples_frame([("Paris", "France")])
    documents = pl.DataFrame({"text": ["Paris France"]})
    write_shard_counts(count_shard(documents, triples, CountConfig()), tmp_path / "a")
    write_shard_counts(count_shard(documents, triples, CountConfig(unit="sentence")), tmp_path / "b")
    with pytest.raises(ValueError, match="different configurations"):
        knowledge_frequency([tmp_path / "a", tmp_path / "b"], triples)


def test_missing_shard_counts_and_no_shards(tmp_path: Path):
    triples = triples_frame([("Paris", "France"), ("India", "Asia")])
    with pytest.raises(FileNotFoundError):
        knowledge_frequency([tmp_path / "never-counted"], triples)
    empty = knowledge_frequency([], triples)
    assert empty.columns == list(FREQUENCY_COLUMNS)
    assert empty.rows() == [(100, 0, 0, 0, 0, 0, 0, 0), (101, 0, 0, 0, 0, 0, 0, 0)]


@pytest.mark.parametrize(
    "settings",
    [{"match_mode": "fuzzy"}, {"match_mode": "paper", "case": "insensitive"}, {"unit": "page"}, {"unit": "window", "window_tokens": 0}],
)
def test_bad_configuration_is_rejected(settings):
    with pytest.raises(ValueError):
        CountConfig(**settings)


def test_duplicate_triple_ids_are_rejected():
    triples = triples_frame([("Paris", "France"), ("India", "Asia")]).with_columns(idx=pl.lit(1))
    with pytest.raises(ValueError, match="duplicate idx"):
        count_shard(pl.DataFrame({"text": ["Paris"]}), triples, CountConfig())


def test_paper_mode_matches_reference_rule_on_pararel_entities():
    path = DEFAULT_REFERENCE_DIR / "smi" / "pararel_15classes.json"
    if not path.is_file():
        pytest.skip(f"reference data absent: {path} (shared/reference is not checked out beside the repo)")
    records = json.loads(path.read_text())
    rng = random.Random(3)
    sample = rng.sample(records, 300)
    triples = triples_frame([(record["subj"], record["obj"]) for record in sample]).with_columns(idx=pl.Series([record["idx"] for record in sample]))
    names = [record[key] for record in sample for key in ("subj", "obj")]
    texts = ["".join(rng.choice(["", " ", "x", ", "]) + rng.choice(names + ["the", "of", "an"]) for _ in range(rng.randint(1, 25))) for _ in range(400)]
    frequency = count_corpus([pl.DataFrame({"text": texts})], triples, CountConfig(match_mode="paper"))
    assert frequency.equals(reference_counts(texts, triples))
    assert frequency["N_so"].sum() > 0


def test_smi_count_command_writes_the_frequency_table(tmp_path: Path, capsys):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shards = [["x Paris France", "in Indiana"], ["Paris, France!", "India, Paris", "nothing"]]
    for number, texts in enumerate(shards):
        lines = [json.dumps({"id": f"{number}-{row}", "body": text}) for row, text in enumerate(texts)]
        (corpus / f"part-{number}.jsonl").write_text("\n".join(lines) + "\n")
    triples_path = tmp_path / "triples.json"
    triples_path.write_text(
        json.dumps([{"idx": 7, "subj": "Paris", "rel": "capital", "obj": "France"}, {"idx": 9, "subj": "India", "rel": "r", "obj": "Paris"}])
    )
    texts = [text for texts in shards for text in texts]
    outputs = {}
    for match in ("paper", "word"):
        out = tmp_path / f"{match}.parquet"
        code = smi_main(["count", "--corpus", str(corpus / "*.jsonl"), "--triples", str(triples_path), "--match", match,
                         "--text-field", "body", "--out", str(out)])  # fmt: skip
        assert code == 0
        outputs[match] = pl.read_parquet(out)
    expected_paper = reference_counts(texts, triples_frame([("Paris", "France"), ("India", "Paris")]).with_columns(idx=pl.Series([7, 9])))
    assert outputs["paper"].equals(expected_paper)
    # Word mode also finds "India" at the start of a text and "Paris," before a comma.
    assert outputs["word"].select("idx", "N_s", "N_o", "N_so").rows() == [(7, 3, 2, 2), (9, 1, 3, 1)]
    assert "wrote" in capsys.readouterr().out


def test_smi_count_reports_bad_input(tmp_path: Path, capsys):
    triples_path = tmp_path / "triples.json"
    triples_path.write_text(json.dumps([{"idx": 1, "subj": "Paris", "rel": "r", "obj": "France"}]))
    code = smi_main(["count", "--corpus", str(tmp_path / "none-*.jsonl"), "--triples", str(triples_path), "--out", str(tmp_path / "o.parquet")])
    assert code == 2
    assert "none-*.jsonl" in capsys.readouterr().err
    assert smi_main(["count", "--corpus", str(triples_path), "--triples", str(triples_path), "--match", "paper",
                     "--case", "insensitive", "--out", str(tmp_path / "o.parquet")]) == 2  # fmt: skip
    assert not (tmp_path / "o.parquet").exists()


# `smi count` in a fresh interpreter, then the modules it must not have imported: each adds
# from a tenth of a second (pandas, scipy) to several seconds to every count's start-up.
COUNT_AND_LIST_HEAVY_IMPORTS = """
import sys
from smi_assets.cli import main
assert main(["count", "--corpus", sys.argv[1], "--triples", sys.argv[2], "--out", sys.argv[3]]) == 0
heavy = ["dagster", "torch", "transformers", "sklearn", "spacy", "datasets", "scipy", "numba"]
print(sorted(name for name in heavy if name in sys.modules))
"""


def test_smi_count_imports_no_heavy_library(tmp_path: Path):
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text(json.dumps({"text": "Paris, France"}) + "\n")
    triples_path = tmp_path / "triples.json"
    triples_path.write_text(json.dumps([{"idx": 1, "subj": "Paris", "rel": "r", "obj": "France"}]))
    arguments = [str(corpus), str(triples_path), str(tmp_path / "out.parquet")]
    result = subprocess.run([sys.executable, "-c", COUNT_AND_LIST_HEAVY_IMPORTS, *arguments], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "[]"


# --- streaming: a file counted in batches gives exactly the whole-file counts ------------------

STREAMING_CONFIGS = [
    CountConfig(match_mode="paper"),
    CountConfig(match_mode="paper", unit="sentence"),
    CountConfig(match_mode="paper", unit="window", window_tokens=2),
    CountConfig(),
    CountConfig(case="insensitive", unit="sentence"),
    CountConfig(unit="window", window_tokens=3),
]
# (batch_rows, batch_bytes): one document a batch, a row count that splits the file
# unevenly, and a byte bound that closes batches of varying row counts.
BATCHINGS = [(1, 1 << 30), (7, 1 << 30), (1000, 90)]


def corpus_with_bad_lines(path: Path, seed: int, n_documents: int, n_triples: int) -> tuple[pl.DataFrame, int]:
    """Random documents written to `path` as JSON lines with a bad line after every 17th,
    and random triples of their entities; returns the triples and the bad line count."""
    rng = random.Random(seed)
    documents = random_documents(rng, n_documents)
    triples = triples_frame([(rng.choice(ENTITIES), rng.choice(ENTITIES)) for _ in range(n_triples)])
    lines, n_bad = [], 0
    for number, text in enumerate(documents.get_column("text")):
        lines.append(json.dumps({"text": text + ". " + text}).encode())
        if number % 17 == 5:
            lines.append([b'{"text": 3}', b"{broken", b'{"text": "caf\xe9"}'][n_bad % 3])
            n_bad += 1
    path.write_bytes(b"\n".join(lines) + b"\n")
    return triples, n_bad


def test_streamed_file_counts_equal_whole_file_counts(tmp_path: Path):
    path = tmp_path / "corpus.jsonl"
    triples, n_bad = corpus_with_bad_lines(path, seed=5, n_documents=160, n_triples=25)
    whole = read_documents(path, on_error="skip")
    assert whole.n_skipped == n_bad > 0
    for config in STREAMING_CONFIGS:
        expected = count_corpus([whole.frame], triples, config)
        assert expected["N_so"].sum() > 0, config
        counter = TripleCounter.build(triples, config)
        for batch_rows, batch_bytes in BATCHINGS:
            counts, n_skipped = count_documents_file(path, triples, config, on_error="skip", batch_rows=batch_rows, batch_bytes=batch_bytes, counter=counter)
            assert n_skipped == n_bad
            assert sum_shard_counts([counts], triples).equals(expected), (config, batch_rows, batch_bytes)


def test_text_spans_are_the_texts_the_documents_reader_gives(tmp_path: Path, monkeypatch):
    path = tmp_path / "corpus.jsonl"
    _, n_bad = corpus_with_bad_lines(path, seed=7, n_documents=200, n_triples=5)
    expected = read_documents(path, on_error="skip")
    for chunk_bytes in (64, 1000, 1 << 20):  # down to a chunk a line
        monkeypatch.setattr(sources, "_JSON_CHUNK_BYTES", chunk_bytes)
        spans = list(iter_text_spans(path, on_error="skip"))
        texts = [bytes(part.data[start:end]).decode() for part in spans for start, end in zip(part.starts, part.ends)]
        assert texts == expected.frame["text"].to_list(), chunk_bytes
        assert sum(part.n_skipped for part in spans) == n_bad, chunk_bytes
        assert len(spans) > 100 if chunk_bytes == 64 else len(spans) >= 1
    parquet = tmp_path / "corpus.parquet"
    expected.frame.write_parquet(parquet)
    with pytest.raises(InputError, match="from JSON lines"):
        next(iter_text_spans(parquet))


def test_counts_of_text_spans_equal_counts_of_strings(tmp_path: Path, monkeypatch):
    path = tmp_path / "corpus.jsonl"
    triples, _ = corpus_with_bad_lines(path, seed=11, n_documents=150, n_triples=25)
    whole = read_documents(path, on_error="skip").frame
    monkeypatch.setattr(sources, "_JSON_CHUNK_BYTES", 300)
    spans = list(iter_text_spans(path, on_error="skip"))
    assert len(spans) > 10
    for config in (CountConfig(), CountConfig(match_mode="paper")):
        expected = count_corpus([whole], triples, config)
        assert expected["N_so"].sum() > 0, config
        assert sum_shard_counts([TripleCounter.build(triples, config).count(spans)], triples).equals(expected), config
    with pytest.raises(ValueError, match="document units, case-sensitive"):
        TripleCounter.build(triples, CountConfig(unit="sentence")).count(spans)


def test_shard_parquet_written_and_counted_in_batches_equals_whole_file(tmp_path: Path):
    source = tmp_path / "corpus.jsonl"
    triples, n_bad = corpus_with_bad_lines(source, seed=9, n_documents=120, n_triples=20)
    shard = tmp_path / "corpus" / "shard-a.parquet"
    stats = write_shard_documents(iter_documents(source, on_error="skip", batch_rows=13), shard)
    whole = read_documents(source, on_error="skip").frame
    assert pl.read_parquet(shard).equals(whole)
    assert (stats.documents, stats.skipped, stats.bytes) == (len(whole), n_bad, whole["text"].str.len_bytes().sum())
    assert pq.ParquetFile(shard).metadata.num_row_groups == -(-len(whole) // 13)
    for config in STREAMING_CONFIGS:
        expected = count_shard(whole, triples, config)
        for batch_rows in (1, 10, 10_000):
            counts = count_shard_file(shard, triples, config, batch_rows=batch_rows)
            assert counts.n_units == expected.n_units
            assert counts.entity_units.equals(expected.entity_units) and counts.pair_units.equals(expected.pair_units)


def test_streaming_bad_input_names_the_file_and_line(tmp_path: Path):
    triples = triples_frame([("Paris", "France")])
    path = tmp_path / "late.jsonl"
    path.write_text("".join(json.dumps({"text": f"x Paris {n}"}) + "\n" for n in range(40)) + '{"text": "x France"\n')
    with pytest.raises(InputError, match="malformed JSON") as raised:
        count_documents_file(path, triples, CountConfig(), batch_rows=3)
    assert raised.value.line == 41 and "late.jsonl, line 41" in str(raised.value)
    counts, n_skipped = count_documents_file(path, triples, CountConfig(), batch_rows=3, on_error="skip")
    assert (counts.n_units, n_skipped) == (40, 1)


def test_shard_writer_keeps_the_previous_file_when_reading_fails(tmp_path: Path):
    good = tmp_path / "good.jsonl"
    good.write_text(json.dumps({"text": "x Paris"}) + "\n" + json.dumps({"text": "y"}) + "\n")
    shard = tmp_path / "shard.parquet"
    assert write_shard_documents(iter_documents(good, batch_rows=1), shard).documents == 2
    before = shard.read_bytes()
    write_shard_documents(iter_documents(good, batch_rows=1), shard)
    assert shard.read_bytes() == before  # the same documents give the same bytes (data version)
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"text": "z"}) + "\n{oops\n")
    with pytest.raises(InputError, match="bad.jsonl, line 2"):
        write_shard_documents(iter_documents(bad, batch_rows=1), shard)
    only_bad = tmp_path / "only-bad.jsonl"
    only_bad.write_text("{oops\n")
    with pytest.raises(InputError, match="only-bad.jsonl: the shard has no documents"):
        write_shard_documents(iter_documents(only_bad, on_error="skip"), shard, source=only_bad)
    assert shard.read_bytes() == before
    assert sorted(path.name for path in tmp_path.iterdir()) == ["bad.jsonl", "good.jsonl", "only-bad.jsonl", "shard.parquet"]


# Run in a fresh interpreter: load the kernels as the step server does, fork as it does for a
# step, and use polars in the child. If loading the kernels had run polars, its thread pool
# would be missing from the child and the child's polars call would never return.
FORK_AFTER_LOADING_KERNELS = """
import os, sys, time
import polars as pl
from smi_assets.frequency.counting import load_kernels
load_kernels()
child = os.fork()
if child == 0:
    frame = pl.DataFrame({"a": list(range(100000)), "b": ["x", "y"] * 50000})
    frame.group_by("b").agg(pl.col("a").sum()).write_parquet(sys.argv[1])
    os._exit(0)
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    done, status = os.waitpid(child, os.WNOHANG)
    if done:
        sys.exit(os.waitstatus_to_exitcode(status))
    time.sleep(0.05)
os.kill(child, 9)
sys.exit("the forked child hung in polars")
"""


def test_a_step_forked_after_loading_the_kernels_can_use_polars(tmp_path):
    result = subprocess.run([sys.executable, "-c", FORK_AFTER_LOADING_KERNELS, str(tmp_path / "out.parquet")], capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr
    assert pl.read_parquet(tmp_path / "out.parquet").height == 2
