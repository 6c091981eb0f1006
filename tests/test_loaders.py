"""Corpus readers, triple/template loaders and the question builder, on small generated files."""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

import polars as pl
import pytest

from smi_assets.common.errors import InputError
from smi_assets.corpus.sources import (
    corpus_shards,
    iter_documents,
    iter_saved_dataset,
    list_corpus_files,
    read_documents,
    read_saved_dataset,
    shard_name_for,
)
from smi_assets.knowledge.loaders import (
    load_templates,
    load_triples,
    save_templates,
    save_triples,
    validate_triples,
)
from smi_assets.knowledge.questions import build_questions
from smi_assets.orchestration.resources import DEFAULT_REFERENCE_DIR

PARAREL = DEFAULT_REFERENCE_DIR / "smi" / "pararel_15classes.json"
TEMPLATES = DEFAULT_REFERENCE_DIR / "smi" / "multi_templates.json"


def write_lines(path: Path, lines: list[bytes]) -> Path:
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


GOOD = json.dumps({"text": "Anna was born in Paris.", "id": "a"}).encode()


# --- corpus files -----------------------------------------------------------------------


def test_json_lines_ids_default_to_stem_and_line(tmp_path):
    path = write_lines(tmp_path / "part-1.jsonl", [GOOD, b"", json.dumps({"text": "Second."}).encode()])
    result = read_documents(path)
    assert result.n_skipped == 0
    assert result.frame.to_dicts() == [
        {"doc_id": "part-1:1", "text": "Anna was born in Paris."},
        {"doc_id": "part-1:3", "text": "Second."},
    ]


def test_json_lines_custom_text_and_id_fields(tmp_path):
    path = write_lines(tmp_path / "c.jsonl", [json.dumps({"body": "x", "key": 7}).encode()])
    assert read_documents(path, text_field="body", id_field="key").frame.to_dicts() == [{"doc_id": "7", "text": "x"}]


BAD_LINES = {
    "malformed JSON": b'{"text": "unclosed',
    "not valid UTF-8": b'{"text": "caf\xe9"}',
    "missing text field": b'{"body": "no text here"}',
    "not a string": b'{"text": 12}',
    "expected a JSON object": b'["text"]',
}


@pytest.mark.parametrize("problem", sorted(BAD_LINES))
def test_bad_json_line_names_file_and_line_or_is_skipped(tmp_path, problem):
    path = write_lines(tmp_path / "bad.jsonl", [GOOD, json.dumps({"text": "ok", "id": "b"}).encode(), BAD_LINES[problem]])
    with pytest.raises(InputError, match=problem) as raised:
        read_documents(path)
    assert raised.value.line == 3 and "bad.jsonl, line 3" in str(raised.value)
    skipped = read_documents(path, on_error="skip")
    assert skipped.n_skipped == 1
    assert skipped.frame["text"].to_list() == ["Anna was born in Paris.", "ok"]


def test_empty_file_raises_in_both_modes(tmp_path):
    path = tmp_path / "empty.jsonl"
    path.write_bytes(b"\n\n")
    for on_error in ("raise", "skip"):
        with pytest.raises(InputError, match="empty.jsonl: the file is empty"):
            read_documents(path, on_error=on_error)


def test_duplicate_document_ids(tmp_path):
    path = write_lines(tmp_path / "dup.jsonl", [GOOD, GOOD.replace(b"Anna", b"Bob")])
    with pytest.raises(InputError, match="'a' occurs more than once"):
        read_documents(path, id_field="id")
    kept = read_documents(path, id_field="id", on_error="skip")
    assert kept.n_skipped == 1 and kept.frame["text"].to_list() == ["Anna was born in Paris."]


def test_json_lines_batches_hold_the_whole_file_and_ids_repeat_across_batches(tmp_path):
    lines = [json.dumps({"text": f"t{n}", "id": f"d{n % 7}"}).encode() for n in range(10)]
    path = write_lines(tmp_path / "rep.jsonl", lines[:4] + [b"{bad"] + lines[4:])
    for batch_rows, batch_bytes in ((1, 1 << 20), (3, 1 << 20), (100, 60)):
        batches = list(iter_documents(path, id_field="id", on_error="skip", batch_rows=batch_rows, batch_bytes=batch_bytes))
        assert all(len(batch.frame) <= batch_rows for batch in batches)
        assert pl.concat(batch.frame for batch in batches)["doc_id"].to_list() == [f"d{n}" for n in range(7)]
        assert sum(batch.n_skipped for batch in batches) == 1 + 3  # the bad line, then d0..d2 again
        assert read_documents(path, id_field="id", on_error="skip").frame.equals(pl.concat(batch.frame for batch in batches))
    repeated = write_lines(tmp_path / "repeated.jsonl", lines)
    with pytest.raises(InputError, match="repeated.jsonl, line 8: document id 'd0' occurs more than once \\(first at line 1\\)"):
        list(iter_documents(repeated, id_field="id", batch_rows=2))


def test_json_lines_decode_as_the_json_module_does(tmp_path):
    # Lines the fast decoder (orjson) rejects or reads differently from the json module, among
    # ordinary ones: each must come out as the json module reads it.
    lines = [
        json.dumps({"text": 'caf\u00e9 \U0001f600 "quoted"\n東京', "id": 1}).encode(),
        b'{"text": "score is not a number", "id": 2, "score": NaN}',
        b"   ",
        b'{"text": "an id beyond 64 bits", "id": 123456789012345678901234567890}',
        b'{"text": "first", "text": "the last duplicate key wins", "id": 4}',
        json.dumps({"text": "x" * 100_000, "id": 5.5}).encode(),
    ]
    path = write_lines(tmp_path / "tricky.jsonl", lines)
    expected = [json.loads(line) for line in lines if line.strip()]
    documents = read_documents(path, id_field="id").frame
    assert documents["text"].to_list() == [record["text"] for record in expected]
    assert documents["doc_id"].to_list() == ["1", "2", "123456789012345678901234567890", "4", "5.5"]
    assert read_documents(path).frame["doc_id"].to_list() == ["tricky:1", "tricky:2", "tricky:4", "tricky:5", "tricky:6"]


# Lines for the JSON-lines fast path (the compiled scan) against the exact reader (orjson and
# the json module, line by line): each must come out alike, document, batch, skip and error.
TRICKY_LINES = [
    b'{"text": "plain"}',
    json.dumps({"text": 'caf\u00e9 \U0001f600 "quoted"\n\u6771\u4eac'}).encode(),
    json.dumps({"text": "caf\u00e9 \U0001f600 \u6771\u4eac"}, ensure_ascii=False).encode(),
    b'{"text": "tab\\tand \\u00e9 and \\ud83d\\ude00"}',
    b'  {"a": [1, {"b": [true, false, null, -0.5e+3, 1E9, 0]}], "text": "nested", "c": {}} \r',
    b'{"text": "crlf"}\r',
    b'{"text": "first", "text": "the last duplicate key wins"}',
    b'{"te\\u0078t": "an escaped key spelling the text field"}',
    b'{"text": "x", "te\\u0078t": "escaped duplicate"}',
    b'{"x": "\\ud800 a lone surrogate elsewhere", "text": "kept"}',
    b'{"text": "big", "n": 123456789012345678901234567890, "f": 1e999}',
    b'{"text": "score", "score": NaN}',
    b'{"text": "deep", "d": ' + b"[" * 70 + b"]" * 70 + b"}",
    b"",
    b"   ",
    b"\x0c",
    b'{"Text": "other case", "text": "right case"}',
    b'{"text": "\xc3\xa9t\xc3\xa9 raw UTF-8"}',
    b'{"text": "\x7f del is allowed"}',
    b'{"text": "", "empty": ""}',
    b'{"text": "unicode key", "cl\xc3\xa9": 1}',
]
BAD_TRICKY_LINES = [
    b'\xef\xbb\xbf{"text": "a BOM"}',
    b'{"text": "caf\xe9"}',
    b'{"text": "\xed\xa0\x80 an encoded surrogate"}',
    b'{"text": "\xc0\xaf overlong"}',
    b'{"text": "\xf4\x90\x80\x80 beyond U+10FFFF"}',
    b'{"text": "truncated \xe2\x82"}',
    b'{"text": "x"} trailing garbage',
    b'{"text": "x"}}',
    b'{"text": "x",}',
    b'{"text": "x", "n": 01}',
    b'{"text": "x", "n": -}',
    b'{"text": "x", "n": 1.}',
    b'{"text": "x", "e": [1,]}',
    b'{"text": "x", "e": {"a" 1}}',
    b'{"text": "x", "t": tru}',
    b'{"text": "bad \\x escape"}',
    b'{"text": "bad \\u12G4 escape"}',
    b'{"text": "raw\ttab"}',
    b'{"text": 12}',
    b'{"text": null}',
    b'{"text": ["a"]}',
    b'{"body": "no text"}',
    b"{}",
    b'["text"]',
    b'"text"',
    b'{"text": "unclosed',
    b'{"text": "\\udc80 a lone surrogate in the text"}',
]


def _json_lines_readings(path: Path, reader, **options) -> object:
    try:
        batches = reader(path, text_field="text", batch_rows=options.pop("batch_rows", 50_000), batch_bytes=options.pop("batch_bytes", 1 << 25), **options)
        return [(batch.frame.to_dicts(), batch.n_skipped) for batch in batches]
    except InputError as error:
        return str(error), error.line


def test_json_lines_fast_path_reads_as_the_exact_reader(tmp_path):
    from smi_assets.corpus import sources

    rng = random.Random(0)
    good = write_lines(tmp_path / "good.jsonl", TRICKY_LINES)
    expected = [json.loads(line)["text"] for line in TRICKY_LINES if line.strip()]
    assert read_documents(good).frame["text"].to_list() == expected
    assert read_documents(good).frame["doc_id"].to_list() == [f"good:{n}" for n, line in enumerate(TRICKY_LINES, 1) if line.strip()]
    files = {"good": good}
    for n, bad in enumerate(BAD_TRICKY_LINES):
        lines = TRICKY_LINES[:]
        lines.insert(rng.randrange(len(lines)), bad)
        files[f"bad{n}"] = write_lines(tmp_path / f"bad{n}.jsonl", lines)
    mixed = TRICKY_LINES * 3 + BAD_TRICKY_LINES
    rng.shuffle(mixed)
    files["mixed"] = tmp_path / "mixed.jsonl"
    files["mixed"].write_bytes(b"\n".join(mixed))  # no newline after the last line
    for name, path in files.items():
        for on_error in ("raise", "skip"):
            for batching in ({}, {"batch_rows": 1}, {"batch_rows": 4}, {"batch_bytes": 90}, {"batch_rows": 3, "batch_bytes": 200}):
                fast = _json_lines_readings(path, sources._iter_json_lines_fast, on_error=on_error, **batching)
                exact = _json_lines_readings(path, sources._iter_json_lines_exact, id_field=None, on_error=on_error, **batching)
                assert fast == exact, (name, on_error, batching)
                if name != "good" and on_error == "raise":
                    assert isinstance(fast, tuple), name  # every bad line is an error


def test_a_lone_surrogate_in_the_text_is_an_error_naming_the_line(tmp_path):
    path = write_lines(tmp_path / "s.jsonl", [b'{"text": "fine"}', b'{"text": "ab\\ud800c"}'])
    for id_field in (None, "text"):  # the fast path's fallback, and the exact reader
        with pytest.raises(InputError, match=r"s.jsonl, line 2: text field 'text' holds a lone surrogate escape \\ud800 at character 3"):
            read_documents(path, id_field=id_field)
    assert read_documents(path, on_error="skip").frame["text"].to_list() == ["fine"]


def test_json_lines_fast_path_across_chunks(tmp_path, monkeypatch):
    from smi_assets.corpus import sources

    rng = random.Random(1)
    lines = [rng.choice(TRICKY_LINES + BAD_TRICKY_LINES[:3]) for _ in range(400)] + [b'{"text": "' + b"long " * 5000 + b'"}']
    path = tmp_path / "chunks.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    zipped = tmp_path / "chunks.jsonl.gz"
    zipped.write_bytes(gzip.compress(path.read_bytes()))
    exact = {source: _json_lines_readings(source, sources._iter_json_lines_exact, id_field=None, on_error="skip", batch_rows=7) for source in (path, zipped)}
    for chunk_bytes in (64, 1000, 5000, 1 << 20):  # chunks shorter than a line, a few lines, the whole file
        monkeypatch.setattr(sources, "_JSON_CHUNK_BYTES", chunk_bytes)
        for source in (path, zipped):  # plain, and gzip
            assert _json_lines_readings(source, sources._iter_json_lines_fast, on_error="skip", batch_rows=7) == exact[source], (chunk_bytes, source)


def test_gzipped_json_lines(tmp_path):
    path = tmp_path / "z.jsonl.gz"
    path.write_bytes(gzip.compress(GOOD + b"\n"))
    assert read_documents(path).frame["doc_id"].to_list() == ["z.jsonl:1"]


def test_parquet_rows_and_errors(tmp_path):
    path = tmp_path / "p.parquet"
    pl.DataFrame({"content": ["one", None, "three"]}).write_parquet(path)
    with pytest.raises(InputError, match="missing column 'text'"):
        read_documents(path)
    with pytest.raises(InputError, match="p.parquet, row 2: the text is missing"):
        read_documents(path, text_field="content")
    skipped = read_documents(path, text_field="content", on_error="skip")
    assert skipped.n_skipped == 1
    assert skipped.frame.to_dicts() == [{"doc_id": "p:1", "text": "one"}, {"doc_id": "p:3", "text": "three"}]
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"not parquet")
    with pytest.raises(InputError, match="broken.parquet"):
        read_documents(broken)


def test_parquet_batches_number_rows_across_the_file(tmp_path):
    path = tmp_path / "q.parquet"
    texts = [f"text {n}" for n in range(9)]
    texts[6] = None
    pl.DataFrame({"text": texts, "key": [f"k{n % 8}" for n in range(9)]}).write_parquet(path, row_group_size=4)
    with pytest.raises(InputError, match="q.parquet, row 7: the text is missing"):
        list(iter_documents(path, batch_rows=2))
    with pytest.raises(InputError, match="q.parquet, row 9: document id 'k0' occurs more than once \\(first at row 1\\)"):
        list(iter_documents(path, text_field="key", id_field="key", batch_rows=2))
    for batch_rows in (1, 2, 5, 100):
        batches = list(iter_documents(path, on_error="skip", batch_rows=batch_rows))
        assert sum(batch.n_skipped for batch in batches) == 1
        assert pl.concat(batch.frame for batch in batches)["doc_id"].to_list() == [f"q:{n}" for n in (1, 2, 3, 4, 5, 6, 8, 9)]
    keyed = read_documents(path, id_field="key", on_error="skip")
    assert keyed.n_skipped == 2 and keyed.frame["doc_id"].to_list() == [f"k{n}" for n in (0, 1, 2, 3, 4, 5, 7)]
    empty = tmp_path / "empty.parquet"
    pl.DataFrame({"text": []}, schema={"text": pl.Utf8}).write_parquet(empty)
    with pytest.raises(InputError, match="empty.parquet: the table is empty"):
        list(iter_documents(empty))


def test_listing_and_shard_names(tmp_path):
    for name in ("b.jsonl", "a.parquet", "notes.txt"):
        (tmp_path / name).write_text("")
    assert [p.name for p in list_corpus_files(str(tmp_path / "[ab].*"))] == ["a.parquet", "b.jsonl"]
    with pytest.raises(InputError, match="no corpus files"):
        list_corpus_files(str(tmp_path / "*.nothing"))
    assert shard_name_for(Path("/x/My Data (v2).jsonl.gz")) == "my-data-v2"
    assert shard_name_for("part-00001.parquet") == "part-00001"
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.jsonl").write_text("")
    with pytest.raises(InputError, match="already used"):
        corpus_shards(str(tmp_path / "**" / "*.jsonl"))


def test_saved_dataset_splits_shards_and_columns(tmp_path):
    datasets = pytest.importorskip("datasets")
    texts = [f"document {number}" for number in range(10)]
    path = tmp_path / "saved"
    datasets.DatasetDict({"train": datasets.Dataset.from_dict({"text": texts}), "test": datasets.Dataset.from_dict({"text": ["t"]})}).save_to_disk(str(path))
    with pytest.raises(InputError, match="choose a split"):
        read_saved_dataset(path)
    whole = read_saved_dataset(path, split="train")
    assert whole["text"].to_list() == texts and whole["doc_id"][0] == "saved/train:1"
    parts = [read_saved_dataset(path, split="train", num_shards=3, shard_index=index) for index in range(3)]
    assert pl.concat(parts).equals(whole)
    batches = list(iter_saved_dataset(path, split="train", num_shards=2, shard_index=1, batch_rows=2))
    assert [len(batch) for batch in batches] == [2, 2, 1]
    assert pl.concat(batches).equals(whole.slice(5, 5)) and batches[0]["doc_id"][0] == "saved/train:6"
    with pytest.raises(InputError, match="missing column"):
        read_saved_dataset(path, split="train", text_field="body")


# --- triples ------------------------------------------------------------------------------


def test_pararel_reference_has_12671_unique_triples():
    if not PARAREL.exists():
        pytest.skip(f"SMI reference data not found at {PARAREL}")
    result = load_triples(PARAREL)
    assert result.n_skipped == 0
    assert len(result.frame) == 12_671 and result.frame["idx"].n_unique() == 12_671
    assert result.frame.select("subj", "rel", "obj").unique().height == 12_671


def test_popqa_tsv_aliases_and_round_trip(tmp_path):
    path = tmp_path / "popqa.tsv"
    path.write_text(
        "id\tsubj\tprop\tobj\ts_aliases\to_aliases\tpossible_answers\n"
        '7\tGeorge Rankin\toccupation\tpolitician\t["George James Rankin"]\t["political leader"]\t["politician", "political leader", "statesman"]\n'
        '9\tJohn Mayne\toccupation\tjournalist\t[]\t[]\t["journalist"]\n',
        encoding="utf-8",
    )
    frame = load_triples(path).frame
    assert frame.to_dicts() == [
        {
            "idx": 7,
            "subj": "George Rankin",
            "rel": "occupation",
            "obj": "politician",
            "subj_aliases": ["George James Rankin"],
            "obj_aliases": ["political leader", "statesman"],
        },
        {"idx": 9, "subj": "John Mayne", "rel": "occupation", "obj": "journalist", "subj_aliases": [], "obj_aliases": []},
    ]
    for suffix in (".tsv", ".json"):
        saved = save_triples(frame, tmp_path / f"again{suffix}")
        assert load_triples(saved).frame.equals(frame)


BAD_TRIPLES = {
    "empty": ("8\t\toccupation\tjournalist\t[]\t[]\t[]", "field 'subj' is missing or empty"),
    "duplicate": ("7\tJohn Mayne\toccupation\tjournalist\t[]\t[]\t[]", "duplicate idx 7 \\(first at line 2\\)"),
    "aliases": ('8\tJohn Mayne\toccupation\tjournalist\t["unclosed\t[]\t[]', "s_aliases|subj_aliases"),
}


@pytest.mark.parametrize("case", sorted(BAD_TRIPLES))
def test_bad_popqa_rows_name_the_line_or_are_skipped(tmp_path, case):
    bad_line, problem = BAD_TRIPLES[case]
    path = tmp_path / "t.tsv"
    path.write_text(
        "id\tsubj\tprop\tobj\ts_aliases\to_aliases\tpossible_answers\n7\tGeorge Rankin\toccupation\tpolitician\t[]\t[]\t[]\n" + bad_line + "\n",
        encoding="utf-8",
    )
    with pytest.raises(InputError, match=problem) as raised:
        load_triples(path)
    assert "t.tsv, line 3" in str(raised.value)
    skipped = load_triples(path, on_error="skip")
    assert skipped.n_skipped == 1 and skipped.frame["subj"].to_list() == ["George Rankin"]


def test_bad_pararel_records_name_the_row(tmp_path):
    path = tmp_path / "p.json"
    records = [{"idx": 1, "subj": "A", "rel": "born", "obj": "Paris"}, {"idx": 2, "subj": "B", "rel": "born", "obj": " "}]
    path.write_text(json.dumps(records))
    with pytest.raises(InputError, match=r"p.json, row 2: field 'obj'"):
        load_triples(path)
    assert load_triples(path, on_error="skip").n_skipped == 1
    path.write_text('[{"idx": 1,\n "subj": }]')
    with pytest.raises(InputError, match="p.json, line 2: malformed JSON"):
        load_triples(path)
    path.write_bytes(b'[{"idx": 1, "subj": "caf\xe9", "rel": "r", "obj": "o"}]')
    with pytest.raises(InputError, match="p.json, line 1: not valid UTF-8"):
        load_triples(path)
    path.write_text("")
    with pytest.raises(InputError, match="empty"):
        load_triples(path)


def test_validate_triples_names_the_row():
    frame = pl.DataFrame(
        {"idx": [1, 2, 1], "subj": ["A", "B", "C"], "rel": ["r"] * 3, "obj": ["x", "y", "z"], "subj_aliases": [[]] * 3, "obj_aliases": [[]] * 3},
        schema_overrides={"subj_aliases": pl.List(pl.Utf8), "obj_aliases": pl.List(pl.Utf8)},
    )
    with pytest.raises(InputError, match="mine, row 3: duplicate idx 1"):
        validate_triples(frame, "mine")
    with pytest.raises(InputError, match="mine, row 2: subj, rel or obj is empty"):
        validate_triples(frame.with_columns(pl.Series("obj", ["x", "", "z"])), "mine")


# --- templates and questions ----------------------------------------------------------------


def test_templates_round_trip_and_reject_missing_subject(tmp_path):
    templates = {"born": ["[S] was born in", "The birthplace of [S] is"]}
    assert load_templates(save_templates(templates, tmp_path / "t.json")) == templates
    (tmp_path / "bad.json").write_text(json.dumps({"born": ["[S] was born in", "Born in"]}))
    with pytest.raises(InputError, match="template 2 of relation 'born' has no"):
        load_templates(tmp_path / "bad.json")
    with pytest.raises(InputError, match="has no"):
        save_templates({"born": ["no subject"]}, tmp_path / "never.json")
    assert not (tmp_path / "never.json").exists()


def test_reference_templates_load():
    if not TEMPLATES.exists():
        pytest.skip(f"SMI reference data not found at {TEMPLATES}")
    templates = load_templates(TEMPLATES)
    assert len(templates) == 15 and all(len(t) == 20 for t in templates.values())


def test_build_questions_fills_subject_and_lists_answers():
    triples = pl.DataFrame(
        {
            "idx": [5, 6],
            "subj": ["Anna Berg", "Bob Hale"],
            "rel": ["born", "play"],
            "obj": ["New York", "piano"],
            "subj_aliases": [[], []],
            "obj_aliases": [["NYC"], []],
        },
        schema_overrides={"subj_aliases": pl.List(pl.Utf8), "obj_aliases": pl.List(pl.Utf8)},
    )
    templates = {"born": ["[S] was born in", "The birthplace of [S] is", "third [S]"], "play": ["[S] plays the"]}
    questions = build_questions(triples, templates, max_templates=2)
    assert questions.to_dicts() == [
        {"idx": 5, "rel": "born", "template_id": 0, "prompt": "Anna Berg was born in", "answers": ["New York", "NYC"]},
        {"idx": 5, "rel": "born", "template_id": 1, "prompt": "The birthplace of Anna Berg is", "answers": ["New York", "NYC"]},
        {"idx": 6, "rel": "play", "template_id": 0, "prompt": "Bob Hale plays the", "answers": ["piano"]},
    ]
    with pytest.raises(InputError, match="no cloze templates for relation"):
        build_questions(triples, {"born": ["[S] was born in"]})


def test_table_batches_are_bounded_by_bytes_too(tmp_path):
    texts = [("x" * 1000) + str(n) for n in range(40)]
    path = tmp_path / "wide.parquet"
    pl.DataFrame({"text": texts}).write_parquet(path, row_group_size=40)
    batches = list(iter_documents(path, batch_rows=100, batch_bytes=10_000))
    assert max(len(batch.frame) for batch in batches) <= 10 and len(batches) >= 4
    assert pl.concat(batch.frame for batch in batches)["text"].to_list() == texts
    datasets = pytest.importorskip("datasets")
    saved = tmp_path / "wide-saved"
    datasets.Dataset.from_dict({"text": texts}).save_to_disk(str(saved))
    frames = list(iter_saved_dataset(saved, batch_rows=100, batch_bytes=10_000))
    assert max(len(frame) for frame in frames) <= 10 and pl.concat(frames)["text"].to_list() == texts
