"""Corpus documents from local files (JSON lines, Parquet) or a saved Hugging Face dataset.

Every reader returns the shared Documents shape (``doc_id: Utf8, text: Utf8``). Bad records
raise :class:`~smi_assets.common.errors.InputError` naming the file and its line (JSON lines, 1-based)
or row (Parquet and datasets, 1-based); with ``on_error="skip"`` they are skipped and counted.
An empty file is an error in both modes: it has no records to skip, and a shard that silently
turns empty would erase its counts downstream.
"""

from __future__ import annotations

import glob
import gzip
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import orjson
import polars as pl
import pyarrow as pa

from smi_assets.common.errors import InputError, LoadResult, OnError
from smi_assets.common.storage import write_atomic

DOCUMENT_SCHEMA = {"doc_id": pl.Utf8, "text": pl.Utf8}
_SHARD_ARROW_SCHEMA = pa.schema([("doc_id", pa.large_string()), ("text", pa.large_string())])
# Streaming batch bounds: a batch closes at whichever comes first. 32 MB of text keeps the
# counting stage's working set (texts, units, their Arrow copy, matches) a few hundred MB,
# and large enough that per-batch set-up (a few ms) stays noise.
DEFAULT_BATCH_ROWS = 50_000
DEFAULT_BATCH_BYTES = 32 * 2**20
SHARD_HEAD_ROWS = 5  # documents kept in ShardStats.head, for previews
_PARQUET_READ_BUFFER = 8 * 2**20
_JSON_CHUNK_BYTES = 8 * 2**20  # JSON lines scanned at a time by the fast path
JSON_LINES_SUFFIXES = (".jsonl", ".json", ".ndjson", ".jsonl.gz", ".json.gz", ".ndjson.gz")
PARQUET_SUFFIXES = (".parquet",)
# The word-level training tokenizer's pre-tokenizer (`pre_tokenizers.Whitespace()`,
# training.tokenizer): a token is a run of word characters or a run of other non-space ones.
WORD_TOKEN_PATTERN = r"\w+|[^\w\s]+"


@dataclass(frozen=True)
class ShardStats:
    """What :func:`write_shard_documents` wrote: its file, how many documents, bytes of text
    (UTF-8) and tokens, how many bad records were skipped, and the first few documents.

    `tokens` is the shard's share of a word-level training token stream (`training.data`):
    the pre-tokenizer's tokens of every text plus the ``<eos>`` after each document."""

    path: Path
    documents: int
    bytes: int
    tokens: int
    skipped: int
    head: pl.DataFrame


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


class _SeenIds:
    """The document ids met so far in one file, to refuse (or skip) a repeated one.

    Only ids read from an id field can repeat (the default ids name the line or row), so
    only those are remembered; this set is the one part of streaming whose memory grows
    with the file, by the ids alone (tens of bytes a document), never with the text.
    """

    def __init__(self, source: Path, tracked: bool):
        self.source = source
        self.first_seen: dict[str, int] | None = {} if tracked else None

    def check(self, doc_id: str, where: dict[str, int]) -> None:
        """InputError if `doc_id` was met before; otherwise remember where (``{"line": n}``
        or ``{"row": n}``) it was met."""
        if self.first_seen is None:
            return
        ((kind, location),) = where.items()
        first = self.first_seen.setdefault(doc_id, location)
        if first != location:
            raise InputError(self.source, f"document id {doc_id!r} occurs more than once (first at {kind} {first})", **where)


def _json_lines_batch(stem: str, line_numbers: list[int], doc_ids: list[str] | None, texts: list[str], n_skipped: int) -> LoadResult:
    """Documents of a JSON-lines batch: `doc_ids` read from the id field, or else (None) the
    default ids ``"<stem>:<line>"``, formatted here by polars rather than one Python string a
    line."""
    if doc_ids is None:
        doc_id = pl.format("{}:{}", pl.lit(stem), pl.Series(line_numbers, dtype=pl.Int64))
        frame = pl.select(doc_id.alias("doc_id"), pl.Series("text", texts, dtype=pl.Utf8))
    else:
        frame = pl.DataFrame({"doc_id": doc_ids, "text": texts}, schema=DOCUMENT_SCHEMA)
    return LoadResult(frame, n_skipped)


def _bad_record(record: object, text_field: str) -> str:
    """What is wrong with a decoded line that is not an object with a string `text_field`."""
    if not isinstance(record, dict):
        return f"expected a JSON object, got {type(record).__name__}"
    if text_field not in record:
        return f"missing text field {text_field!r}"
    return f"text field {text_field!r} is {type(record[text_field]).__name__}, not a string"


def _decode_json_line(raw: bytes, path: Path, line_number: int, id_field: str | None) -> object:
    """The JSON value of one line, or None for a blank line; InputError naming the line if it
    is not valid UTF-8 or not JSON.

    orjson decodes a well-formed line about five times faster than the json module (0.17 s
    against 0.9 s for 97 MB of documents). It accepts a subset of what the json module accepts
    and decodes it alike, so whatever it rejects (a blank line, NaN, a lone surrogate escape, a
    bad line) goes to the json module, which decides and words the error as before. The one
    difference in what both accept, integers beyond 64 bits (orjson gives a float), matters
    only in an id, so a line whose id orjson read as a float is decoded again by the json module.
    """
    try:
        record = orjson.loads(raw)
    except orjson.JSONDecodeError:
        pass
    else:
        if id_field is None or not isinstance(record, dict) or not isinstance(record.get(id_field), float):
            return record
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InputError(path, f"not valid UTF-8 (byte {error.start})", line=line_number) from None
    if not line.strip():
        return None
    try:
        return json.loads(line)
    except json.JSONDecodeError as error:
        raise InputError(path, f"malformed JSON: {error.msg} at column {error.colno}", line=line_number) from None


def _check_encodable(text: str, text_field: str, path: Path, line_number: int) -> None:
    """InputError naming the line when `text` holds a lone surrogate (an escape such as
    ``\\ud800`` without its pair, which the json module decodes): not Unicode text, and no
    tokenizer or Arrow string can hold it."""
    try:
        text.encode()
    except UnicodeEncodeError as error:
        code = ord(text[error.start])
        message = f"text field {text_field!r} holds a lone surrogate escape \\u{code:04x} at character {error.start + 1}, not valid Unicode"
        raise InputError(path, message, line=line_number) from None


def _exact_line(raw: bytes, path: Path, line_number: int, text_field: str, id_field: str | None, seen: _SeenIds) -> tuple[str, str | None] | None:
    """The text and id (None without an id field) of one line, read by :func:`_decode_json_line`;
    None for a blank line; InputError naming the line for a bad record."""
    record = _decode_json_line(raw, path, line_number, id_field)
    if record is None:
        return None  # blank lines (e.g. a trailing newline) are not records
    text = record.get(text_field) if isinstance(record, dict) else None
    if not isinstance(text, str):
        raise InputError(path, _bad_record(record, text_field), line=line_number)
    if not text.isascii():
        _check_encodable(text, text_field, path, line_number)
    if id_field is None:
        return text, None
    where = {"line": line_number}
    doc_id = _document_id(record.get(id_field), path, where)
    seen.check(doc_id, where)
    return text, doc_id


def _iter_json_lines(path: Path, text_field: str, id_field: str | None, on_error: OnError, batch_rows: int, batch_bytes: int) -> Iterator[LoadResult]:
    if id_field is None:
        return _iter_json_lines_fast(path, text_field, on_error, batch_rows, batch_bytes)
    return _iter_json_lines_exact(path, text_field, id_field, on_error, batch_rows, batch_bytes)


def _iter_json_lines_exact(path: Path, text_field: str, id_field: str | None, on_error: OnError, batch_rows: int, batch_bytes: int) -> Iterator[LoadResult]:
    """Every line through :func:`_exact_line`: the reader of files with an id field."""
    opener = gzip.open if path.name.endswith(".gz") else open
    seen = _SeenIds(path, tracked=id_field is not None)
    line_numbers: list[int] = []
    doc_ids: list[str] | None = None if id_field is None else []
    texts: list[str] = []
    n_skipped = batch_size = 0
    n_records = 0  # documents and skipped records in earlier batches
    with opener(path, "rb") as handle:
        for line_number, raw in enumerate(handle, start=1):
            try:
                read = _exact_line(raw, path, line_number, text_field, id_field, seen)
            except InputError:
                if on_error == "raise":
                    raise
                n_skipped += 1
                continue
            if read is None:
                continue
            line_numbers.append(line_number)
            texts.append(read[0])
            if doc_ids is not None:
                doc_ids.append(read[1])
            batch_size += len(raw)
            if len(texts) >= batch_rows or batch_size >= batch_bytes:
                yield _json_lines_batch(path.stem, line_numbers, doc_ids, texts, n_skipped)
                n_records += len(texts) + n_skipped
                line_numbers, texts, n_skipped, batch_size = [], [], 0, 0
                doc_ids = None if id_field is None else []
    if n_records + len(texts) + n_skipped == 0:
        raise InputError(path, "the file is empty: no documents")
    if texts or n_skipped:
        yield _json_lines_batch(path.stem, line_numbers, doc_ids, texts, n_skipped)


def _read_chunks(handle, chunk_bytes: int) -> Iterator[np.ndarray]:
    """The bytes of a file read from `handle`, in writable arrays of whole lines (the last may
    lack its newline), each about `chunk_bytes` or one line if longer."""
    leftover = np.empty(0, dtype=np.uint8)
    while True:
        buffer = np.empty(len(leftover) + chunk_bytes, dtype=np.uint8)
        buffer[: len(leftover)] = leftover
        filled, view = len(leftover), memoryview(buffer)
        while filled < len(buffer):
            got = handle.readinto(view[filled:])
            if not got:
                break
            filled += got
        if filled < len(buffer):  # the end of the file
            if filled:
                yield buffer[:filled]
            return
        cut = bytes(buffer[max(0, filled - 65536) : filled]).rfind(b"\n")
        cut = filled - min(filled, 65536) + cut + 1 if cut >= 0 else buffer.tobytes().rfind(b"\n") + 1
        if cut == 0:  # no newline yet: one long line, read on
            leftover = buffer
            continue
        leftover = buffer[cut:].copy()
        yield buffer[:cut]


class _ArrowStream:
    """An Arrow array seen only through the Arrow C stream interface."""

    def __init__(self, array: pa.ChunkedArray) -> None:
        self.array = array

    def __arrow_c_stream__(self, requested_schema: object = None) -> object:
        return self.array.__arrow_c_stream__(requested_schema)


class _TextBatch:
    """A JSON-lines batch being gathered: the kept lines' numbers and their texts, as Arrow
    string views into the chunks' own buffers, and the bad records skipped since the previous
    batch."""

    def __init__(self) -> None:
        self.line_numbers: list[np.ndarray] = []
        self.texts: list[pa.Array] = []
        self.rows = self.bytes = self.skipped = 0

    def add(self, line_numbers: np.ndarray, views: np.ndarray, chunk: np.ndarray, n_bytes: int) -> None:
        """Lines `line_numbers`, whose texts are Arrow string `views` (16 bytes each) into
        `chunk`, `n_bytes` of input."""
        self.line_numbers.append(line_numbers)
        self.texts.append(pa.Array.from_buffers(pa.string_view(), len(line_numbers), [None, pa.py_buffer(views), pa.py_buffer(chunk)]))
        self.rows += len(line_numbers)
        self.bytes += n_bytes

    def result(self, stem: str) -> LoadResult:
        line_numbers = np.concatenate(self.line_numbers) if self.line_numbers else np.empty(0, dtype=np.int64)
        doc_id = pl.format("{}:{}", pl.lit(stem), pl.Series(line_numbers, dtype=pl.Int64))
        # Through the Arrow C stream: pl.from_arrow would import pyarrow.compute (0.07 s).
        texts = pl.Series("text", _ArrowStream(pa.chunked_array(self.texts, type=pa.string_view()))).alias("text")
        return LoadResult(pl.select(doc_id.alias("doc_id"), texts), self.skipped)


@dataclass(frozen=True, eq=False)
class TextSpans:
    """Texts as UTF-8 bytes where they lie: text i is ``data[starts[i]:ends[i]]`` (int64,
    contiguous), and the bad records skipped among them."""

    data: np.ndarray  # uint8
    starts: np.ndarray
    ends: np.ndarray
    n_skipped: int


@dataclass(frozen=True, eq=False)
class _JsonChunk:
    """One chunk of whole lines read by the JSON-lines fast path, its texts found in place."""

    chunk: np.ndarray  # the bytes read (a decoded text with escapes is written over its line)
    lines_before: int  # lines in earlier chunks
    line_start: np.ndarray  # where each line starts and ends (up to a bad line being raised)
    line_end: np.ndarray
    kept: np.ndarray  # the lines with a text, in order
    text_start: np.ndarray  # where the text of each kept line starts and ends
    text_end: np.ndarray
    skipped: np.ndarray  # the bad lines skipped


def _json_chunks(path: Path, text_field: str, on_error: OnError) -> Iterator[_JsonChunk]:
    """The texts of a JSON-lines file without an id field, a chunk of lines at a time: the
    compiled scan (:mod:`smi_assets.corpus.json_scan`) finds the text of every plain line, and
    only the others are read one by one by :func:`_exact_line`, so texts and errors are those
    of :func:`_iter_json_lines_exact`. A bad line raised on is raised after the chunk of the
    lines before it; an empty file raises at the end."""
    from smi_assets.frequency.compiled_kernels import compiled_kernels  # built with the counting kernels

    kernels = compiled_kernels()
    key = np.frombuffer(bytearray(text_field.encode()), dtype=np.uint8)
    opener = gzip.open if path.name.endswith(".gz") else open
    seen = _SeenIds(path, tracked=False)
    lines_before = n_records = 0  # lines in earlier chunks; their texts and skipped records
    with opener(path, "rb") as handle:
        # Read, not mapped: a file truncated while mapped kills the process (SIGBUS), and
        # reading costs 0.02 s per 100 MB more.
        for chunk in _read_chunks(handle, _JSON_CHUNK_BYTES):
            line_end, text_start, text_end = kernels.scan_json_lines(chunk, key)
            line_start = np.concatenate([np.zeros(1, dtype=np.int64), line_end[:-1]])
            keep = text_start >= 0
            skipped: list[int] = []
            error = None
            for line in np.flatnonzero(~keep).tolist():
                start = int(line_start[line])
                raw = chunk[start : line_end[line]].tobytes()
                try:
                    read = _exact_line(raw, path, lines_before + line + 1, text_field, None, seen)
                except InputError as bad:
                    if on_error == "raise":
                        error = bad  # raised once the lines before it are yielded, as the line-by-line reader does
                        line_start, line_end, text_start, text_end, keep = line_start[:line], line_end[:line], text_start[:line], text_end[:line], keep[:line]
                        break
                    skipped.append(line)
                    continue
                if read is None:
                    continue
                # The text, decoded, is never longer than the line it was read from, so it is
                # written over the line, in the chunk that holds the other texts.
                encoded = read[0].encode()  # :func:`_exact_line` has rejected lone surrogates
                chunk[start : start + len(encoded)] = np.frombuffer(encoded, dtype=np.uint8)
                text_start[line], text_end[line] = start, start + len(encoded)
                keep[line] = True
            kept = np.flatnonzero(keep)
            n_records += len(kept) + len(skipped)
            yield _JsonChunk(
                chunk, lines_before, line_start, line_end, kept,
                np.ascontiguousarray(text_start[kept]), np.ascontiguousarray(text_end[kept]), np.asarray(skipped, dtype=np.int64),
            )  # fmt: skip
            if error is not None:
                raise error
            lines_before += len(line_end)
    if n_records == 0:
        raise InputError(path, "the file is empty: no documents")


def iter_text_spans(path: str | Path, *, text_field: str = "text", on_error: OnError = "raise") -> Iterator[TextSpans]:
    """The texts of a JSON-lines file (without an id field) as :func:`iter_documents` reads
    them, a chunk of about 8 MB at a time, as bytes in the buffer they were read into: no
    string column is built and nothing is copied. `smi count` reads its corpus so, about 0.15
    CPU s per 100 MB faster than through :func:`iter_documents` (``bench/count_end_to_end.py``).
    Errors as :func:`iter_documents`."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "no such file")
    if not path.name.lower().endswith(JSON_LINES_SUFFIXES):
        raise InputError(path, f"text spans are read from JSON lines ({', '.join(JSON_LINES_SUFFIXES)}) only")
    for part in _json_chunks(path, text_field, on_error):
        yield TextSpans(part.chunk, part.text_start, part.text_end, len(part.skipped))


def _iter_json_lines_fast(path: Path, text_field: str, on_error: OnError, batch_rows: int, batch_bytes: int) -> Iterator[LoadResult]:
    """The documents of a JSON-lines file without an id field (:func:`_json_chunks`) in
    batches. A batch's texts are Arrow string views into the chunks' own buffers: no Python
    object a line, and no copy of the texts."""
    from smi_assets.frequency.compiled_kernels import compiled_kernels  # built with the counting kernels

    kernels = compiled_kernels()
    batch = _TextBatch()
    for part in _json_chunks(path, text_field, on_error):
        kept, chunk, skipped_lines = part.kept, part.chunk, part.skipped
        views = kernels.string_views(chunk, part.text_start, part.text_end)
        sizes = np.cumsum(part.line_end[kept] - part.line_start[kept])
        first, last_cut = 0, 0  # the next kept line to batch; the first line of the open batch in this chunk
        while first < len(kept):
            before = sizes[first - 1] if first else 0
            last = min(first + batch_rows - batch.rows - 1, int(np.searchsorted(sizes, before + batch_bytes - batch.bytes)))
            if last >= len(kept):
                break
            batch.add(part.lines_before + kept[first : last + 1] + 1, views[16 * first : 16 * (last + 1)], chunk, int(sizes[last] - before))
            batch.skipped += int(np.count_nonzero((skipped_lines >= last_cut) & (skipped_lines < kept[last])))
            yield batch.result(path.stem)
            batch = _TextBatch()
            first, last_cut = last + 1, int(kept[last]) + 1
        if first < len(kept):
            before = sizes[first - 1] if first else 0
            batch.add(part.lines_before + kept[first:] + 1, views[16 * first :], chunk, int(sizes[-1] - before))
        batch.skipped += int(np.count_nonzero(skipped_lines >= last_cut))
    if batch.rows or batch.skipped:
        yield batch.result(path.stem)


def _check_columns(schema: pl.Schema, source: Path, text_field: str, id_field: str | None) -> None:
    for column in (text_field, id_field):
        if column is not None and column not in schema:
            raise InputError(source, f"missing column {column!r}; columns are {schema.names()}")
    if schema[text_field] != pl.Utf8:
        raise InputError(source, f"column {text_field!r} is {schema[text_field]}, not a string")


def _table_batch(
    frame: pl.DataFrame, source: Path, text_field: str, id_field: str | None, default_prefix: str, on_error: OnError,
    first_row: int, seen: _SeenIds,
) -> LoadResult:  # fmt: skip
    """Documents from rows of a table with a text column (Parquet file or saved dataset).

    Rows are numbered from `first_row` (1-based within the whole table) in ids and error
    messages; a row with a null text or a null or empty id is bad, and so is a repeated id.
    """
    row_number = pl.int_range(first_row, first_row + pl.len())
    doc_id = pl.format("{}:{}", pl.lit(default_prefix), row_number) if id_field is None else pl.col(id_field).cast(pl.Utf8)
    documents = frame.select(doc_id.alias("doc_id"), pl.col(text_field).alias("text"), row_number.alias("row"))
    missing = pl.col("text").is_null() | pl.col("doc_id").is_null() | (pl.col("doc_id") == "")
    bad_rows = documents.filter(missing).get_column("row").to_list()
    if bad_rows and on_error == "raise":
        first = documents.row(bad_rows[0] - first_row, named=True)
        raise InputError(source, f"the {'text' if first['text'] is None else 'id'} is missing", row=first["row"])
    if seen.first_seen is not None:
        bad = set(bad_rows)
        for doc_id, row in documents.select("doc_id", "row").iter_rows():
            if row in bad:
                continue
            try:
                seen.check(doc_id, {"row": row})
            except InputError:
                if on_error == "raise":
                    raise
                bad_rows.append(row)
    kept = documents.filter(~pl.col("row").is_in(bad_rows)) if bad_rows else documents
    return LoadResult(kept.drop("row"), len(bad_rows))


def _rows_per_batch(batch_rows: int, batch_bytes: int, total_bytes: int, n_rows: int) -> int:
    """At most `batch_rows`, and about `batch_bytes` of a table of `total_bytes` in `n_rows`."""
    return max(1, min(batch_rows, batch_bytes * n_rows // max(total_bytes, 1)))


def _iter_parquet(path: Path, text_field: str, id_field: str | None, on_error: OnError, batch_rows: int, batch_bytes: int) -> Iterator[LoadResult]:
    import pyarrow.parquet as pq  # here, not at the top: 15 ms that counting JSON lines does not need

    try:
        # A read buffer makes pyarrow read a column chunk page by page instead of whole, so a
        # file written as one huge row group is still read a batch at a time.
        parquet = pq.ParquetFile(path, buffer_size=_PARQUET_READ_BUFFER)
        schema = pl.from_arrow(parquet.schema_arrow.empty_table()).schema
    except Exception as error:  # pyarrow raises several unrelated types for unreadable files
        raise InputError(path, f"not a readable Parquet file ({error})") from None
    _check_columns(schema, path, text_field, id_field)
    if parquet.metadata.num_rows == 0:
        raise InputError(path, "the table is empty: no documents")
    seen = _SeenIds(path, tracked=id_field is not None)
    columns = list(dict.fromkeys(column for column in (text_field, id_field) if column is not None))
    metadata = parquet.metadata
    column_indices = [parquet.schema_arrow.get_field_index(column) for column in columns]
    total_bytes = sum(metadata.row_group(group).column(index).total_uncompressed_size for group in range(metadata.num_row_groups) for index in column_indices)
    rows = _rows_per_batch(batch_rows, batch_bytes, total_bytes, metadata.num_rows)
    first_row = 1
    for group in range(metadata.num_row_groups):
        # One reader per row group: a single reader over the whole file keeps about 1 MB per
        # row group it has read (pyarrow 26), so its memory grew with the file.
        batches = parquet.iter_batches(batch_size=rows, row_groups=[group], columns=columns)
        while True:
            try:
                batch = next(batches, None)
            except Exception as error:  # a corrupt page shows only when it is read
                raise InputError(path, f"not a readable Parquet file ({error})", row=first_row) from None
            if batch is None:
                break
            frame = pl.from_arrow(batch)
            yield _table_batch(frame, path, text_field, id_field, path.stem, on_error, first_row, seen)
            first_row += len(frame)


def iter_documents(
    path: str | Path,
    *,
    text_field: str = "text",
    id_field: str | None = None,
    on_error: OnError = "raise",
    batch_rows: int = DEFAULT_BATCH_ROWS,
    batch_bytes: int = DEFAULT_BATCH_BYTES,
) -> Iterator[LoadResult]:
    """The documents of one JSON-lines (optionally gzipped) or Parquet file, in batches.

    Each batch is a :class:`LoadResult` of at most `batch_rows` documents and about
    `batch_bytes` of input (JSON lines: the lines read; Parquet: the columns read, uncompressed,
    by their average row size) and the number of bad records skipped since the previous batch,
    so memory does not grow with the file. The
    batches together hold exactly what :func:`read_documents` returns. Errors are raised
    when the reader reaches the bad record (or, for a missing column or an empty file,
    before the first batch).
    """
    path = Path(path)
    if batch_rows < 1 or batch_bytes < 1:
        raise ValueError(f"batch_rows and batch_bytes must be at least 1, got {batch_rows} and {batch_bytes}")
    if not path.is_file():
        raise InputError(path, "no such file")
    name = path.name.lower()
    if name.endswith(PARQUET_SUFFIXES):
        return _iter_parquet(path, text_field, id_field, on_error, batch_rows, batch_bytes)
    if name.endswith(JSON_LINES_SUFFIXES):
        return _iter_json_lines(path, text_field, id_field, on_error, batch_rows, batch_bytes)
    raise InputError(path, f"unsupported corpus file type; expected one of {JSON_LINES_SUFFIXES + PARQUET_SUFFIXES}")


def _collect(batches: Iterable[LoadResult]) -> LoadResult:
    frames, n_skipped = [], 0
    for batch in batches:
        frames.append(batch.frame)
        n_skipped += batch.n_skipped
    return LoadResult(pl.concat(frames) if frames else pl.DataFrame(schema=DOCUMENT_SCHEMA), n_skipped)


def read_documents(path: str | Path, *, text_field: str = "text", id_field: str | None = None, on_error: OnError = "raise") -> LoadResult:
    """Documents from one JSON-lines (optionally gzipped) or Parquet file, all at once.

    ``doc_id`` is `id_field` when given, else ``"<file stem>:<line or row>"``. Bad records
    (non-UTF-8 bytes, malformed JSON, a missing or non-string text, a missing id, a
    duplicate id) raise InputError, or are skipped and counted with ``on_error="skip"``.
    For large files use :func:`iter_documents`, which reads the same documents in batches.
    """
    return _collect(iter_documents(path, text_field=text_field, id_field=id_field, on_error=on_error))


def iter_saved_dataset(
    path: str | Path,
    *,
    text_field: str = "text",
    id_field: str | None = None,
    split: str | None = None,
    num_shards: int = 1,
    shard_index: int = 0,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    batch_bytes: int = DEFAULT_BATCH_BYTES,
) -> Iterator[pl.DataFrame]:
    """Documents from a Hugging Face dataset written with ``save_to_disk``, in batches of at
    most `batch_rows` and about `batch_bytes` (by the average row size of the columns read;
    the dataset is memory-mapped, so only a batch is held in memory).

    A DatasetDict needs `split` unless it has exactly one. ``num_shards``/``shard_index``
    read one contiguous shard (``Dataset.shard``), so a large dataset can be partitioned.
    ``doc_id`` is `id_field` when given, else ``"<folder name>:<row>"`` (1-based within the
    whole split). Bad records always raise.
    """
    import datasets  # imported here: it is slow to import and only this reader needs it

    path = Path(path)
    if batch_rows < 1 or batch_bytes < 1:
        raise ValueError(f"batch_rows and batch_bytes must be at least 1, got {batch_rows} and {batch_bytes}")
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
    rows = loaded.select_columns(list(dict.fromkeys(columns))).with_format("arrow")
    _check_columns(pl.from_arrow(rows.features.arrow_schema.empty_table()).schema, path, text_field, id_field)
    if start == stop:
        raise InputError(path, "the table is empty: no documents")
    seen = _SeenIds(path, tracked=id_field is not None)
    step = _rows_per_batch(batch_rows, batch_bytes, rows.data.nbytes, len(rows))
    for offset in range(start, stop, step):
        frame = pl.from_arrow(rows[offset : min(offset + step, stop)])
        yield _table_batch(frame, path, text_field, id_field, prefix, "raise", offset + 1, seen).frame


def read_saved_dataset(path: str | Path, **options) -> pl.DataFrame:
    """All documents of :func:`iter_saved_dataset` (same keyword options) in one frame."""
    return _collect(LoadResult(frame) for frame in iter_saved_dataset(path, **options)).frame


def write_shard_documents(batches: Iterable[LoadResult | pl.DataFrame], path: str | Path, *, source: str | Path | None = None) -> ShardStats:
    """Write a shard's document batches (doc_id, text; a frame or a LoadResult that also
    counts skipped records) to one Parquet file, streaming.

    Each batch becomes a row group of a file written beside `path` and renamed over it
    when complete, so memory holds one batch and a failed or killed write (a bad record in
    raise mode, no documents at all) leaves the previous file in place. InputError naming
    `source` (default `path`) if the batches hold no documents.
    """
    path = Path(path)
    stats = {"documents": 0, "bytes": 0, "tokens": 0, "skipped": 0}
    head: list[pl.DataFrame] = []

    def write(temporary: str) -> None:
        import pyarrow.parquet as pq  # see _iter_parquet

        with pq.ParquetWriter(temporary, _SHARD_ARROW_SCHEMA, compression="zstd") as writer:
            for batch in batches:
                frame, n_skipped = (batch, 0) if isinstance(batch, pl.DataFrame) else batch
                stats["skipped"] += n_skipped
                if frame.is_empty():
                    continue
                documents = frame.select(list(DOCUMENT_SCHEMA))
                writer.write_table(documents.to_arrow().cast(_SHARD_ARROW_SCHEMA))
                stats["documents"] += len(documents)
                stats["bytes"] += int(documents.get_column("text").str.len_bytes().sum())
                stats["tokens"] += int(documents.get_column("text").str.count_matches(WORD_TOKEN_PATTERN).cast(pl.Int64).sum()) + len(documents)
                if sum(map(len, head)) < SHARD_HEAD_ROWS:
                    head.append(documents.head(SHARD_HEAD_ROWS))
        if stats["documents"] == 0:
            raise InputError(source or path, "the shard has no documents")

    write_atomic(path, write)
    head_frame = pl.concat(head).head(SHARD_HEAD_ROWS) if head else pl.DataFrame(schema=DOCUMENT_SCHEMA)
    return ShardStats(path=path, head=head_frame, **stats)
