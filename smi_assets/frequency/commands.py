"""`smi count`: knowledge-frequency counts of a corpus, outside Dagster, with the assets' code."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from smi_assets.common.storage import write_parquet_atomic
from smi_assets.frequency.counting import CountConfig, ShardCounts, TripleCounter, count_documents_file, sum_shard_counts


def run_count(args: argparse.Namespace) -> int:
    # Imported here so that `smi --help` does not load the corpus and knowledge readers.
    from smi_assets.corpus.sources import list_corpus_files
    from smi_assets.knowledge.loaders import load_triples

    try:
        config = CountConfig(match_mode=args.match, case=args.case, unit=args.unit, window_tokens=args.window_tokens)
    except ValueError as error:
        print(f"smi count: {error}", file=sys.stderr)
        return 2
    files = list_corpus_files(args.corpus)  # InputError when nothing matches
    triples = load_triples(args.triples).frame
    counter = TripleCounter.build(triples, config)
    skipped = 0

    def shard_counts() -> Iterator[ShardCounts]:
        # Each file is read in bounded batches, so memory does not grow with the file sizes.
        nonlocal skipped
        for path in files:
            counts, n_skipped = count_documents_file(path, triples, config, text_field=args.text_field, on_error=args.on_error, counter=counter)
            skipped += n_skipped
            yield counts

    started = time.perf_counter()
    frequency = sum_shard_counts(shard_counts(), triples)
    seconds = time.perf_counter() - started
    write_parquet_atomic(frequency, Path(args.out))
    sizes = sum(Path(path).stat().st_size for path in files)
    print(
        f"counted {len(triples)} triples over {len(files)} files ({sizes / 1e6:.1f} MB, "
        f"{int(frequency['N'].max() or 0)} units, {config.label}) in {seconds:.1f} s; "
        f"{skipped} bad records skipped; wrote {args.out}"
    )
    return 0


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Register `smi count` on the `smi` parser."""
    count = subparsers.add_parser(
        "count",
        help="count units mentioning each triple's subject, object and both",
        description=(
            "One row per triple: idx, N, N_s, N_o, N_so, N_s_only, N_o_only, N_neither, where N counts "
            "units (documents, sentences or token windows) over all corpus files."
        ),
    )
    count.add_argument("--corpus", required=True, help="glob of .jsonl or .parquet corpus files (quote it)")
    count.add_argument("--triples", required=True, help="triples file (ParaRel JSON or PopQA TSV)")
    count.add_argument("--out", required=True, help="output .parquet file")
    count.add_argument(
        "--match",
        choices=["paper", "word"],
        default="word",
        help="paper: the SMI reference rule (' ' + entity as a case-sensitive substring, no aliases); word: whole words of the entity or an alias (default)",
    )
    count.add_argument("--case", choices=["sensitive", "insensitive"], default="sensitive", help="case policy of word matching")
    count.add_argument("--unit", choices=["document", "sentence", "window"], default="document", help="co-occurrence unit")
    count.add_argument("--window-tokens", type=int, default=64, help="tokens per window with --unit window (default 64)")
    count.add_argument("--text-field", default="text", help="field or column holding the document text (default text)")
    count.add_argument("--on-error", choices=["raise", "skip"], default="raise", help="what to do with a malformed corpus record")
    count.set_defaults(run=run_count)
