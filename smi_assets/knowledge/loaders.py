"""Knowledge triples and cloze templates from files, and writers for the same formats.

Formats:

- ParaRel-style JSON (``.json``): a list of objects with ``subj, rel, obj`` and optionally
  ``idx`` (default: the 0-based position), ``subj_aliases``, ``obj_aliases`` (lists) and
  ``qus`` (ignored). ``.jsonl`` holds one such object per line.
- PopQA-style TSV (``.tsv``): columns ``subj, prop, obj`` and optionally ``id`` (default:
  the 0-based data row), ``s_aliases``, ``o_aliases`` and ``possible_answers`` (JSON lists).
  Object aliases are ``o_aliases`` plus the possible answers other than the object.
- Templates (``.json``): an object mapping each relation to a list of cloze templates, each
  containing "[S]" (``multi_templates.json`` of the SMI reference uses this format).

Errors name the file and the line (TSV and JSON lines, 1-based, the header is line 1) or
the row (position in a JSON list, 1-based).
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Literal

import polars as pl

from smi_assets.common.errors import InputError, LoadResult, OnError
from smi_assets.common.storage import write_text_atomic

TRIPLE_SCHEMA = {
    "idx": pl.Int64,
    "subj": pl.Utf8,
    "rel": pl.Utf8,
    "obj": pl.Utf8,
    "subj_aliases": pl.List(pl.Utf8),
    "obj_aliases": pl.List(pl.Utf8),
}
TriplesFormat = Literal["auto", "pararel", "popqa"]


def _decode(path: Path) -> str:
    """The file's text; InputError naming the line of the first non-UTF-8 byte."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise InputError(path, f"not valid UTF-8 (byte {error.start})", line=line) from None


def _alias_list(value: object, what: str, source: Path, where: dict[str, int]) -> list[str]:
    """A list of alias strings from a JSON list (or its text); empty for None or ""."""
    if value is None or value == "":
        return []
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as error:
            raise InputError(source, f"{what} is not a JSON list ({error.msg})", **where) from None
    if not isinstance(value, list) or not all(isinstance(alias, str) for alias in value):
        raise InputError(source, f"{what} must be a list of strings", **where)
    return value


def _clean_aliases(aliases: list[str], canonical: str) -> list[str]:
    """Aliases stripped, deduplicated in order, without empties or the canonical name."""
    if not aliases:  # most triples have none; this runs for every one of them
        return []
    seen = {canonical}
    cleaned = []
    for alias in (alias.strip() for alias in aliases):
        if alias and alias not in seen:
            seen.add(alias)
            cleaned.append(alias)
    return cleaned


def _triple(record: dict, default_idx: int, source: Path, where: dict[str, int]) -> dict:
    """One validated triple row from a parsed record with keys idx, subj, rel, obj and aliases."""
    row = {}
    for field in ("subj", "rel", "obj"):
        value = record.get(field)
        if not isinstance(value, str) or not value.strip():
            raise InputError(source, f"field {field!r} is missing or empty", **where)
        row[field] = value
    idx = record.get("idx")
    if idx is None or idx == "":
        idx = default_idx
    try:
        row["idx"] = int(idx)
    except (TypeError, ValueError):
        raise InputError(source, f"idx {idx!r} is not an integer", **where) from None
    row["subj_aliases"] = _clean_aliases(_alias_list(record.get("subj_aliases"), "subj_aliases", source, where), row["subj"])
    row["obj_aliases"] = _clean_aliases(_alias_list(record.get("obj_aliases"), "obj_aliases", source, where), row["obj"])
    return row


def _collect(records, source: Path, on_error: OnError) -> LoadResult:
    """Validate (position, where, record) items into a Triples frame, skipping or raising.

    A record may be an InputError found while parsing it; it is raised or skipped like any
    other bad record.
    """
    rows: list[dict] = []
    seen_idx: dict[int, dict[str, int]] = {}  # where each idx was first seen
    n_skipped = 0
    for position, where, record in records:
        try:
            if isinstance(record, InputError):
                raise record
            if not isinstance(record, dict):
                raise InputError(source, f"expected an object, got {type(record).__name__}", **where)
            row = _triple(record, position, source, where)
            if row["idx"] in seen_idx:
                first = ", ".join(f"{key} {value}" for key, value in seen_idx[row["idx"]].items())
                raise InputError(source, f"duplicate idx {row['idx']} (first at {first})", **where)
        except InputError:
            if on_error == "raise":
                raise
            n_skipped += 1
            continue
        seen_idx[row["idx"]] = where
        rows.append(row)
    if not rows:
        raise InputError(source, "no triples" + (f" ({n_skipped} bad records skipped)" if n_skipped else ""))
    return LoadResult(pl.DataFrame(rows, schema=TRIPLE_SCHEMA), n_skipped)


def _pararel_records(path: Path, text: str):
    if path.suffix.lower() == ".jsonl":
        for line_number, line in enumerate(text.split("\n"), start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                record = InputError(path, f"malformed JSON: {error.msg}", line=line_number)
            yield line_number - 1, {"line": line_number}, record
        return
    try:
        records = json.loads(text)
    except json.JSONDecodeError as error:
        raise InputError(path, f"malformed JSON: {error.msg}", line=error.lineno) from None
    if not isinstance(records, list):
        raise InputError(path, "expected a JSON list of triples")
    for position, record in enumerate(records):
        yield position, {"row": position + 1}, record


def _popqa_records(path: Path, text: str):
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter="\t")
    missing = [column for column in ("subj", "prop", "obj") if column not in (reader.fieldnames or [])]
    if missing:
        raise InputError(path, f"missing column(s) {missing}; header is {reader.fieldnames}", line=1)
    for position, record in enumerate(reader):
        where = {"line": reader.line_num}
        if None in record:
            yield position, where, InputError(path, "more fields than header columns", **where)
            continue
        try:
            obj_aliases = _alias_list(record.get("o_aliases"), "o_aliases", path, where)
            answers = _alias_list(record.get("possible_answers"), "possible_answers", path, where)
        except InputError as error:
            yield position, where, error
            continue
        yield (
            position,
            where,
            {
                "idx": record.get("id"),
                "subj": record["subj"],
                "rel": record["prop"],
                "obj": record["obj"],
                "subj_aliases": record.get("s_aliases"),
                "obj_aliases": obj_aliases + answers,
            },
        )


def load_triples(path: str | Path, format: TriplesFormat = "auto", on_error: OnError = "raise") -> LoadResult:
    """Triples from a ParaRel-style JSON(L) or PopQA-style TSV file, in the Triples shape.

    ``format="auto"`` picks by suffix (.json/.jsonl: ParaRel, .tsv: PopQA). Empty fields,
    malformed lines, bad alias lists and duplicate idx raise InputError naming the line or
    row, or are skipped and counted with ``on_error="skip"``.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "no such file")
    if format == "auto":
        suffix = path.suffix.lower()
        format = "popqa" if suffix == ".tsv" else "pararel" if suffix in (".json", ".jsonl") else None
        if format is None:
            raise InputError(path, "cannot tell the triples format from the suffix; use .json, .jsonl or .tsv, or pass format=")
    text = _decode(path)
    if not text.strip():
        raise InputError(path, "the file is empty: no triples")
    records = _pararel_records(path, text) if format == "pararel" else _popqa_records(path, text)
    return _collect(records, path, on_error)


def validate_triples(frame: pl.DataFrame, source: str) -> None:
    """Check a Triples frame: the columns, no empty subj/rel/obj, unique idx (rows are 1-based)."""
    missing = [column for column in TRIPLE_SCHEMA if column not in frame.columns]
    if missing:
        raise InputError(source, f"missing column(s) {missing}")
    numbered = frame.with_row_index("row", offset=1)
    empty = numbered.filter(pl.any_horizontal(pl.col(c).is_null() | (pl.col(c).str.strip_chars() == "") for c in ("subj", "rel", "obj")))
    if not empty.is_empty():
        raise InputError(source, "subj, rel or obj is empty", row=empty["row"][0])
    if frame["idx"].null_count():
        raise InputError(source, "idx is missing", row=numbered.filter(pl.col("idx").is_null())["row"][0])
    duplicates = numbered.filter(pl.col("idx").is_duplicated() & (pl.int_range(pl.len()).over("idx") > 0))
    if not duplicates.is_empty():
        raise InputError(source, f"duplicate idx {duplicates['idx'][0]}", row=duplicates["row"][0])


def save_triples(frame: pl.DataFrame, path: str | Path) -> Path:
    """Write triples as ParaRel-style JSON (``.json``) or PopQA-style TSV (``.tsv``), atomically."""
    path = Path(path)
    validate_triples(frame, str(path))
    rows = frame.select(*TRIPLE_SCHEMA).to_dicts()
    suffix = path.suffix.lower()
    if suffix == ".json":
        return write_text_atomic(json.dumps(rows, ensure_ascii=False, indent=1) + "\n", path)
    if suffix != ".tsv":
        raise InputError(path, "triples can be saved as .json (ParaRel) or .tsv (PopQA)")
    names = [value for row in rows for value in (row["subj"], row["rel"], row["obj"])]
    if any("\n" in value or "\r" in value for value in names):
        raise InputError(path, "a subj, rel or obj contains a line break, which TSV cannot hold")
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter="\t", lineterminator="\n")
    writer.writerow(["id", "subj", "prop", "obj", "s_aliases", "o_aliases", "possible_answers"])
    for row in rows:
        aliases = [json.dumps(row[column], ensure_ascii=False) for column in ("subj_aliases", "obj_aliases")]
        answers = json.dumps([row["obj"], *row["obj_aliases"]], ensure_ascii=False)
        writer.writerow([row["idx"], row["subj"], row["rel"], row["obj"], *aliases, answers])
    return write_text_atomic(buffer.getvalue(), path)


def load_templates(path: str | Path) -> dict[str, list[str]]:
    """Cloze templates per relation from JSON; InputError for a template without "[S]"."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "no such file")
    text = _decode(path)
    if not text.strip():
        raise InputError(path, "the file is empty: no templates")
    try:
        templates = json.loads(text)
    except json.JSONDecodeError as error:
        raise InputError(path, f"malformed JSON: {error.msg}", line=error.lineno) from None
    if not isinstance(templates, dict) or not templates:
        raise InputError(path, "expected a JSON object mapping each relation to a list of templates")
    for relation, relation_templates in templates.items():
        if not isinstance(relation_templates, list) or not relation_templates:
            raise InputError(path, f"relation {relation!r} must have a non-empty list of templates")
        for number, template in enumerate(relation_templates, start=1):
            if not isinstance(template, str) or "[S]" not in template:
                raise InputError(path, f'template {number} of relation {relation!r} has no "[S]": {template!r}')
    return templates


def save_templates(templates: dict[str, list[str]], path: str | Path) -> Path:
    """Write templates as JSON in the format :func:`load_templates` reads, atomically."""
    path = Path(path)
    for relation, relation_templates in templates.items():
        for number, template in enumerate(relation_templates, start=1):
            if "[S]" not in template:
                raise InputError(path, f'template {number} of relation {relation!r} has no "[S]": {template!r}')
    return write_text_atomic(json.dumps(templates, ensure_ascii=False, indent=4) + "\n", path)
