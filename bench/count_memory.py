"""Peak memory of counting one corpus file: streaming stays flat in file size.

Generates JSON-lines corpora of 0.3 GB and 2 GB in a temporary directory (documents of
the synthetic world, the pipeline's default text, repeated in order until the size is
reached; deterministic, deleted afterwards), then counts each in its own subprocess with
`count_documents_file` (batches of at most 32 MB) and reads that process's peak resident
memory from the kernel (``wait4``'s ``ru_maxrss``). The old whole-file path (read the file
into one frame, then `count_shard`) runs on the 0.3 GB file in the same run as the
baseline, and its counts must equal the streamed ones. Target: under 1 GB at 2 GB.
With --shard-files it also measures the assets' two streaming steps on each file: writing
the shard Parquet (`write_shard_documents`) and counting it (`count_shard_file`).

    python bench/count_memory.py [--sizes-gb 0.3 2] [--config word/sensitive/document] [--shard-files]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

TARGET_PEAK_MB = 1024


def _config(label: str):
    from smi_assets.frequency.counting import CountConfig

    match_mode, case, unit = label.split("/")
    window_tokens = int(unit.removeprefix("window")) if unit.startswith("window") else 64
    return CountConfig(match_mode=match_mode, case=case, unit="window" if unit.startswith("window") else unit, window_tokens=window_tokens)


def write_corpus(path: Path, documents: pl.DataFrame, size_bytes: int) -> int:
    """`documents` as JSON lines, repeated in order up to `size_bytes` (whole lines); returns
    the number of lines."""
    lines = documents.select(pl.struct("text").struct.json_encode()).to_series().to_list()
    block = ("\n".join(lines) + "\n").encode()
    n_lines = 0
    with open(path, "wb") as handle:
        while handle.tell() + len(block) <= size_bytes:
            handle.write(block)
            n_lines += len(lines)
        for line in lines:
            encoded = line.encode() + b"\n"
            if handle.tell() + len(encoded) > size_bytes:
                break
            handle.write(encoded)
            n_lines += 1
    return n_lines


def run_child(method: str, path: str, triples_path: str, label: str, out: str) -> None:
    """Count one file (in this process) and write the frequency table to `out`; or, with
    method shard-write, write the file's documents to the shard Parquet file `out`."""
    from smi_assets.corpus.sources import iter_documents, read_documents, write_shard_documents
    from smi_assets.frequency.counting import count_documents_file, count_shard, count_shard_file, sum_shard_counts

    if method == "shard-write":
        write_shard_documents(iter_documents(path), out)
        return
    triples = pl.read_parquet(triples_path)
    config = _config(label)
    if method == "streaming":
        counts, _ = count_documents_file(path, triples, config)
    elif method == "shard-count":
        counts = count_shard_file(path, triples, config)
    else:
        counts = count_shard(read_documents(path).frame, triples, config)
    sum_shard_counts([counts], triples).write_parquet(out)


def measure(path: Path, triples_path: Path, method: str, label: str, out: Path) -> tuple[float, float]:
    """Run the count in a subprocess; its peak RSS in MB and its wall seconds."""
    started = time.perf_counter()
    command = [sys.executable, __file__, "--child", method, str(path), str(triples_path), label, str(out)]
    process = subprocess.Popen(command, env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    _, status, usage = os.wait4(process.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"the {method} count of {path.name} failed (exit {os.waitstatus_to_exitcode(status)})")
    return usage.ru_maxrss / 1024, time.perf_counter() - started  # ru_maxrss is in KiB on Linux


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes-gb", type=float, nargs="+", default=[0.3, 2.0], help="corpus sizes (default 0.3 2)")
    parser.add_argument("--config", default="word/sensitive/document", help="match/case/unit (default word/sensitive/document)")
    parser.add_argument("--shard-files", action="store_true", help="also measure writing and counting the shard Parquet")
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_child(*args.child)
        return 0

    from smi_assets.corpus.world import WorldConfig, build_world

    world = build_world(WorldConfig())
    documents = pl.concat(world.documents(shard) for shard in world.shard_names)
    sizes = sorted(args.sizes_gb)
    with tempfile.TemporaryDirectory(prefix="smi-count-memory-") as scratch:
        scratch = Path(scratch)
        triples_path = scratch / "triples.parquet"
        world.triples.write_parquet(triples_path)
        print(f"{len(world.triples)} triples of the synthetic world; {args.config}; streaming batches of at most 32 MB")
        peaks, shard_peaks = {}, {}
        same = True
        for size in sizes:
            path = scratch / f"corpus-{size:g}gb.jsonl"
            n_lines = write_corpus(path, documents, int(size * 1e9))
            peak, seconds = measure(path, triples_path, "streaming", args.config, scratch / f"streaming-{size:g}.parquet")
            peaks[size] = peak
            streamed = pl.read_parquet(scratch / f"streaming-{size:g}.parquet")
            print(f"streaming {size:g} GB ({n_lines:,} documents): peak RSS {peak:,.0f} MB ({seconds:.0f} s)", flush=True)
            if args.shard_files:
                shard = scratch / "shard.parquet"
                write_peak, write_seconds = measure(path, triples_path, "shard-write", args.config, shard)
                count_peak, count_seconds = measure(shard, triples_path, "shard-count", args.config, scratch / "shard-counts.parquet")
                same_shard = pl.read_parquet(scratch / "shard-counts.parquet").equals(streamed)
                shard_peaks[size] = max(write_peak, count_peak)
                print(
                    f"  shard files {size:g} GB: write_shard_documents peak RSS {write_peak:,.0f} MB ({write_seconds:.0f} s), "
                    f"count_shard_file peak RSS {count_peak:,.0f} MB ({count_seconds:.0f} s); counts "
                    f"{'equal' if same_shard else 'DIFFER'}",
                    flush=True,
                )
                same &= same_shard
                shard.unlink()
            if size == sizes[0]:
                whole_peak, seconds = measure(path, triples_path, "whole", args.config, scratch / "whole.parquet")
                same_whole = pl.read_parquet(scratch / "whole.parquet").equals(streamed)
                same &= same_whole
                print(
                    f"whole-file {size:g} GB (baseline): peak RSS {whole_peak:,.0f} MB ({seconds:.0f} s); "
                    f"{whole_peak / peak:.1f}x the streaming peak; counts {'equal' if same_whole else 'DIFFER'}",
                    flush=True,
                )
            path.unlink()  # keep at most one corpus file on disk at a time
    smallest, largest = sizes[0], sizes[-1]
    passed = same and max(peaks[largest], shard_peaks.get(largest, 0)) < TARGET_PEAK_MB
    print(
        f"streaming peak at {largest:g} GB / at {smallest:g} GB: {peaks[largest] / peaks[smallest]:.2f} "
        f"(file {largest / smallest:.1f}x larger); {peaks[largest]:,.0f} MB at {largest:g} GB: "
        f"{'PASS' if passed else 'FAIL'} (target under {TARGET_PEAK_MB} MB, counts equal to the whole-file path)"
    )
    if shard_peaks:
        print(f"shard files: peak RSS {', '.join(f'{shard_peaks[size]:,.0f} MB at {size:g} GB' for size in sizes)}")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
