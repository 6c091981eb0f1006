"""Corpus documents from local files (JSON lines, Parquet) or a saved Hugging Face dataset.

Every reader returns the shared Documents shape (``doc_id: Utf8, text: Utf8``). Bad records
raise :class:`~smi_assets.errors.InputError` naming the file and its line (JSON lines, 1-based)
or row (Parquet and datasets, 1-based); with ``on_error="skip"`` they are skipped and counted.
An empty file is an error in both modes: it has no records to skip, and a shard that silently
turns empty would erase its counts downstream.
"""

from __future__ import annotations

import glob
import gzip
import json
import re
from pathlib import Path

import polars as pl

from smi_assets.errors import InputError, LoadResult, OnError

DOCUMENT_SCHEMA = {"doc_id": pl.Utf8, "text": pl.Utf8}
JSON_LINES_SUFFIXES = (".jsonl", ".json", ".ndjson", ".jsonl.gz", ".json.gz", ".ndjson.gz")
PARQUET_SUFFIXES = (".parquet",)


def list_corpus_files(pattern: str) -> list[Path]:
    """The files matching a glob pattern (``**`` recurses), sorted; InputError if there are none."""
    paths = sorted(Path(match) for match in glob.glob(pattern, recursive=True) if Path(match).is_file())
    if not paths:
        raise InputError(pattern, "no corpus files match this pattern")
    return paths


def shard_name_for(path: str | Path) -> str:
    """A partition key for a corpus file: its name without corpus suffixes, lowercased, with
    every run of characters other than letters, digits, "_" and "-" replaced by "-".

    The name depends only on the file name, so it is stable across machines and working
    directories; :func:`corpus_shards` rejects two files that map to the same name.
    """
    name = Path(path).name.lower()
    for suffix in sorted(JSON_LINES_SUFFIXES + PARQUET_SUFFIXES, key=len, reverse=True):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    return re.sub(r"[^a-z0-9_-]+", "-", name).strip("-") or "shard"


def corpus_shards(pattern: str) -> dict[str, Path]:
    """Shard name -> file for every file matching `pattern`; InputError if two names collide."""
    shards: dict[str, Path] = {}
    for path in list_corpus_files(pattern):
        name = shard_name_for(path)
        if name in shards:
            raise InputError(path, f"its shard name {name!r} is already used by {shards[name]}; rename one of the files")
        shards[name] = path
    return shards


def _document_id(value: object, source: Path, where: dict[str, int]) -> str:
    if value is None or isinstance(value, (dict, list)) or str(value) == "":
        raise InputError(source, "the id field is missing, empty or not a scalar", **where)
    return str(value)


def _read_json_lines(path: Path, text_field: str, id_field: str | None, on_error: OnError) -> LoadResult:
    opener = gzip.open if path.name.endswith(".gz") else open
    doc_ids: list[str] = []
    texts: list[str] = []
    n_skipped = 0
    with opener(path, "rb") as handle:
        for line_number, raw in enumerate(handle, start=1):
            where = {"line": line_number}
            try:
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError as error:
                    raise InputError(path, f"not valid UTF-8 (byte {error.start})", **where) from None
                if not line.strip():
                    continue  # blank lines (e.g. a trailing newline) are not records
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as error:
                    raise InputError(path, f"malformed JSON: {error.msg} at column {error.colno}", **where) from None
                if not isinstance(record, dict):
                    raise InputError(path, f"expected a JSON object, got {type(record).__name__}", **where)
                if text_field not in record:
                    raise InputError(path, f"missing text field {text_field!r}", **where)
                text = record[text_field]
                if not isinstance(text, str):
                    raise InputError(path, f"text field {text_field!r} is {type(text).__name__}, not a string", **where)
                doc_id = f"{path.stem}:{line_number}" if id_field is None else _document_id(record.get(id_field), path, where)
            except InputError:
                if on_error == "raise":
                    raise
                n_skipped += 1
                continue
            doc_ids.append(doc_id)
            texts.append(text)
    if not doc_ids and n_skipped == 0:
        raise InputError(path, "the file is empty: no documents")
    return LoadResult(pl.DataFrame({"doc_id": doc_ids, "text": texts}, schema=DOCUMENT_SCHEMA), n_skipped)


def _documents_from_table(
    frame: pl.DataFrame, source: Path, text_field: str, id_field: str | None, default_prefix: str, on_error: OnError, first_row: int = 1
) -> LoadResult:
    """Documents from a table with a text column (Parquet file or saved dataset).

    Rows are numbered from `first_row` (1 for a whole file) in ids and error messages.
    """
    for column in (text_field, id_field):
        if column is not None and column not in frame.columns:
            raise InputError(source, f"missing column {column!r}; columns are {frame.columns}")
    if frame.schema[text_field] != pl.Utf8:
        raise InputError(source, f"column {text_field!r} is {frame.schema[text_field]}, not a string")
    if frame.is_empty():
        raise InputError(source, "the table is empty: no documents")
    row_number = pl.int_range(first_row, first_row + pl.len())
    doc_id = pl.format("{}:{}", pl.lit(default_prefix), row_number) if id_field is None else pl.col(id_field).cast(pl.Utf8)
    documents = frame.select(doc_id.alias("doc_id"), pl.col(text_field).alias("text"), row_number.alias("row"))
    bad = documents.filter(pl.col("text").is_null() | pl.col("doc_id").is_null() | (pl.col("doc_id") == ""))
    if not bad.is_empty() and on_error == "raise":
        first = bad.row(0, named=True)
        what = "text" if first["text"] is None else "id"
        raise InputError(source, f"the {what} is missing", row=first["row"])
    return LoadResult(documents.join(bad.select("row"), on="row", how="anti").drop("row"), len(bad))


def _check_unique_ids(result: LoadResult, source: Path, on_error: OnError) -> LoadResult:
    duplicated = result.frame.with_row_index("position").filter(pl.col("doc_id").is_duplicated())
    if duplicated.is_empty():
        return result
    if on_error == "raise":
        doc_id = duplicated["doc_id"][0]
        raise InputError(source, f"document id {doc_id!r} occurs more than once")
    first_seen = result.frame.unique("doc_id", keep="first", maintain_order=True)
    return LoadResult(first_seen, result.n_skipped + len(result.frame) - len(first_seen))


def read_documents(path: str | Path, *, text_field: str = "text", id_field: str | None = None, on_error: OnError = "raise") -> LoadResult:
    """Documents from one JSON-lines (optionally gzipped) or Parquet file.

    ``doc_id`` is `id_field` when given, else ``"<file stem>:<line or row>"``. Bad records
    (non-UTF-8 bytes, malformed JSON, a missing or non-string text, a missing id, a
    duplicate id) raise InputError, or are skipped and counted with ``on_error="skip"``.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "no such file")
    name = path.name.lower()
    if name.endswith(PARQUET_SUFFIXES):
        try:
            frame = pl.read_parquet(path)
        except Exception as error:  # polars raises several unrelated types for unreadable files
            raise InputError(path, f"not a readable Parquet file ({error})") from None
        result = _documents_from_table(frame, path, text_field, id_field, path.stem, on_error)
    elif name.endswith(JSON_LINES_SUFFIXES):
        result = _read_json_lines(path, text_field, id_field, on_error)
    else:
        raise InputError(path, f"unsupported corpus file type; expected one of {JSON_LINES_SUFFIXES + PARQUET_SUFFIXES}")
    return _check_unique_ids(result, path, on_error)


def read_saved_dataset(
    path: str | Path,
    *,
    text_field: str = "text",
    id_field: str | None = None,
    split: str | None = None,
    num_shards: int = 1,
    shard_index: int = 0,
) -> pl.DataFrame:
    """Documents from a Hugging Face dataset written with ``save_to_disk``.

    A DatasetDict needs `split` unless it has exactly one. ``num_shards``/``shard_index``
    read one contiguous shard (``Dataset.shard``), so a large dataset can be partitioned.
    ``doc_id`` is `id_field` when given, else ``"<folder name>:<row>"`` (1-based within the
    whole split).
    """
    import datasets  # imported here: it is slow to import and only this reader needs it

    path = Path(path)
    try:
        loaded = datasets.load_from_disk(str(path))
    except (FileNotFoundError, ValueError) as error:
        raise InputError(path, f"not a dataset saved with save_to_disk ({error})") from None
    if isinstance(loaded, datasets.DatasetDict):
        if split is None and len(loaded) == 1:
            split = next(iter(loaded))
        if split not in loaded:
            raise InputError(path, f"choose a split with split=...; available: {sorted(loaded)}")
        loaded = loaded[split]
    if not 0 <= shard_index < num_shards:
        raise InputError(path, f"shard_index {shard_index} is outside 0..{num_shards - 1}")
    prefix = path.name if split is None else f"{path.name}/{split}"
    columns = [column for column in (text_field, id_field) if column is not None]
    missing = [column for column in columns if column not in loaded.column_names]
    if missing:
        raise InputError(path, f"missing column(s) {missing}; columns are {loaded.column_names}")
    start, stop = (len(loaded) * index // num_shards for index in (shard_index, shard_index + 1))
    frame = loaded.select_columns(columns).select(range(start, stop)).to_polars()
    result = _documents_from_table(frame, path, text_field, id_field, prefix, "raise", first_row=start + 1)
    return _check_unique_ids(result, path, "raise").frame
