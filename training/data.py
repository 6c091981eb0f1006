"""Training data on disk: the corpus read in bounded batches, its content hash, and the token file.

Nothing here holds the whole corpus in memory. The `text` column of each Parquet file is
read one record batch at a time (`text_batches`): to hash the corpus, to train the
tokenizer, and once to tokenize it into a flat token file (`write_token_file`) that the
training loop memory-maps (`open_token_file`). The token file holds one stream,
``<eos> doc <eos> doc ... <eos>``, as ``uint16`` when the vocabulary fits (else
``uint32``), and is named by the corpus content and the tokenizer, so a file on disk is
never read for another corpus or tokenizer.

`corpus_sha256` hashes the documents' text (lengths and bytes, in file order), not the
files: a corpus rewritten with the same documents (new mtime, other compression or row
groups) keeps its hash, so a killed training resumes instead of starting over.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from transformers import PreTrainedTokenizerFast

from smi_assets.common.errors import InputError
from training.tokenizer import EOS_ID

TEXT_COLUMN = "text"
BATCH_ROWS = 8192  # documents per read: bounded memory whatever the file size


def text_batches(corpus_files: list[Path], batch_rows: int = BATCH_ROWS) -> Iterator[pa.LargeStringArray]:
    """The `text` column of every Parquet file, in file order, `batch_rows` documents at a time."""
    if not corpus_files:
        raise InputError("corpus", "no corpus files given")
    for path in corpus_files:
        try:
            parquet = pq.ParquetFile(path)
        except FileNotFoundError as error:
            raise InputError(path, "corpus file does not exist") from error
        except Exception as error:  # pyarrow raises several types for unreadable files
            raise InputError(path, f"cannot read this parquet file ({error})") from error
        schema = parquet.schema_arrow
        if TEXT_COLUMN not in schema.names:
            raise InputError(path, f"no `{TEXT_COLUMN}` column (columns: {schema.names})")
        if not (pa.types.is_string(schema.field(TEXT_COLUMN).type) or pa.types.is_large_string(schema.field(TEXT_COLUMN).type)):
            raise InputError(path, f"`{TEXT_COLUMN}` must be a string column, not {schema.field(TEXT_COLUMN).type}")
        first_row = 0
        try:
            for batch in parquet.iter_batches(batch_size=batch_rows, columns=[TEXT_COLUMN]):
                column = batch.column(0).cast(pa.large_string())
                if column.null_count:
                    raise InputError(path, f"`{TEXT_COLUMN}` is null", row=first_row + pc.index(pc.is_null(column), True).as_py())
                yield column
                first_row += len(column)
        except (pa.ArrowException, OSError) as error:
            raise InputError(path, f"cannot read the `{TEXT_COLUMN}` column after row {first_row} ({error})") from error


def texts(corpus_files: list[Path]) -> Iterator[list[str]]:
    """The documents as Python strings, one batch at a time (what the tokenizer trainer takes)."""
    for batch in text_batches(corpus_files):
        yield batch.to_pylist()


def corpus_sha256(corpus_files: list[Path]) -> str:
    """sha256 of the documents' lengths and UTF-8 text, in order: the corpus content, not its files.

    Lengths and text go to two digests, so neither the files' nor the read batches'
    boundaries change the hash, while document boundaries do.
    """
    lengths, text = hashlib.sha256(), hashlib.sha256()
    for batch in text_batches(corpus_files):
        _, offsets, values = batch.buffers()
        bounds = np.frombuffer(offsets, dtype=np.int64)[batch.offset : batch.offset + len(batch) + 1]
        lengths.update(np.diff(bounds).astype("<i8").tobytes())
        if values is not None:  # None when every text of the batch is empty
            text.update(memoryview(values)[bounds[0] : bounds[-1]])
    return hashlib.sha256(lengths.digest() + text.digest()).hexdigest()


def token_dtype(vocab_size: int) -> np.dtype:
    return np.dtype(np.uint16 if vocab_size <= np.iinfo(np.uint16).max + 1 else np.uint32)


def token_file_name(corpus_hash: str, tokenizer: PreTrainedTokenizerFast) -> str:
    """`tokens-<key>.<dtype>`: the key covers the corpus content and the tokenizer's full definition."""
    key = hashlib.sha256(f"{corpus_hash}\n{tokenizer.backend_tokenizer.to_str()}".encode()).hexdigest()[:24]
    return f"tokens-{key}.{token_dtype(len(tokenizer)).name}"


def write_token_file(tokenizer: PreTrainedTokenizerFast, corpus_files: list[Path], path: Path) -> Path:
    """Tokenize the corpus batch by batch into `path` (written to a unique temporary name, then renamed)."""
    dtype = token_dtype(len(tokenizer))
    eos = np.array([EOS_ID], dtype=dtype)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            eos.tofile(out)
            for batch in texts(corpus_files):
                # The fast variant skips character offsets: only the ids are kept.
                encodings = tokenizer.backend_tokenizer.encode_batch_fast(batch, add_special_tokens=False)
                pieces = [part for encoding in encodings for part in (np.asarray(encoding.ids, dtype=dtype), eos)]
                np.concatenate(pieces).tofile(out)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    return path


def open_token_file(path: Path) -> np.memmap:
    """The token stream of `path`, memory-mapped read-only (pages load as batches touch them)."""
    return np.memmap(path, dtype=np.dtype(path.suffix.lstrip(".")), mode="r")
