"""`smi count` end to end against the counting kernel alone, on one core, in one run.

Writes a ~100 MB JSON-lines corpus (`count_throughput.py`'s generator and ParaRel triples) and
a ~1 GB one (the same documents repeated, `--gb`), then measures, interleaved over `--rounds`
rounds, each at its fastest round:
- `smi count` as a user runs it (a fresh `python -m smi_assets.cli count` process, start-up,
  JSON decoding and writing included) on each file;
- the kernel alone as `count_throughput.py` measures it: `count_corpus` in `word` mode, the
  default of `smi count`, over the corpus already in memory in 25 MB shards, kernels loaded
  (so it includes preparing the triples, about 0.1 s a call, and summing the shard counts);
- the prepared counter alone: `TripleCounter.count` over the corpus in memory, triples prepared
  beforehand, nothing summed: the per-byte part of counting, shown beside for comparison;
- the raw polars `str.extract_many` scan of all entities over the corpus in memory.
Everything runs on one core: this process pins itself to one CPU (its children inherit it) and
sets POLARS_MAX_THREADS=1. Rates are MB of document text per CPU second (user + system, of this
process or of the `smi count` child), which other processes on a shared machine barely change;
on an idle core wall time is the same, and `smi count`'s wall-clock rate is printed beside it.
Targets: `smi count` at least 60 MB/s on the ~100 MB file, and at least 0.9 of the kernel's
rate on the ~1 GB file. The generated files are deleted at the end.

    python bench/count_end_to_end.py [--size-mb 100] [--gb 1] [--rounds 3]
"""

from __future__ import annotations

import os

os.environ["POLARS_MAX_THREADS"] = "1"  # before polars starts its thread pool

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import polars as pl
from count_throughput import PARAREL, generate_corpus, megabytes, pararel_triples, sample, shards

from smi_assets.frequency.counting import CountConfig, TripleCounter, count_corpus, load_kernels

END_TO_END_MB_S = 60.0  # smi count on the ~100 MB file
VERSUS_KERNEL = 0.9  # smi count on the ~1 GB file / the kernel alone


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def smi_count(corpus: Path, triples: Path, out: Path) -> tuple[float, float]:
    """CPU and wall seconds of one `smi count` process on `corpus`."""
    command = [sys.executable, "-m", "smi_assets.cli", "count", "--corpus", str(corpus), "--triples", str(triples), "--out", str(out)]
    cpu_before, started = children_cpu_seconds(), time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True)
    wall, cpu = time.perf_counter() - started, children_cpu_seconds() - cpu_before
    if result.returncode != 0:
        raise SystemExit(f"smi count failed ({result.returncode}):\n{result.stderr}")
    if result.stderr:
        print(f"smi count said on stderr: {result.stderr.strip()}")
    return cpu, wall


def cpu_seconds(function) -> float:
    started = time.process_time()
    function()
    return time.process_time() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=float, default=100.0, help="text of the small corpus, MB (default 100)")
    parser.add_argument("--gb", type=float, default=1.0, help="text of the large corpus, GB (default 1)")
    parser.add_argument("--rounds", type=int, default=3, help="measurement rounds (default 3)")
    args = parser.parse_args()
    triples = pararel_triples()
    if triples is None:
        return 2
    core = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {core})
    documents = generate_corpus(triples, args.size_mb)
    small_mb = megabytes(documents)
    repeats = max(1, round(args.gb * 1000 / small_mb))
    print(f"pinned to CPU {core}; polars threads: {pl.thread_pool_size()}; {len(triples)} triples")

    with tempfile.TemporaryDirectory(prefix="smi-count-e2e-") as scratch:
        scratch = Path(scratch)
        small, large = scratch / "small.jsonl", scratch / "large.jsonl"
        documents.write_ndjson(small)
        with large.open("wb") as handle:
            for _ in range(repeats):
                handle.write(small.read_bytes())
        sizes = {"small": (small, small_mb), "large": (large, small_mb * repeats)}
        for name, (path, text_mb) in sizes.items():
            print(f"{name} corpus: {path.stat().st_size / 1e6:.1f} MB of JSON lines, {text_mb:.1f} MB of text")

        # As count_throughput.py does: no timed round pays this process's one-time costs (loading
        # the kernels).
        load_kernels()
        count_corpus([sample(documents, 0.05)], triples, CountConfig(match_mode="word"))
        counter = TripleCounter.build(triples, CountConfig(match_mode="word"))
        patterns = pl.Series(sorted({" " + name for name in set(triples["subj"]) | set(triples["obj"])}))
        in_process = {
            "scan": lambda: documents.select(pl.col("text").str.extract_many(patterns.implode(), overlapping=True)),
            "kernel": lambda: count_corpus(shards(documents, 25.0), triples, CountConfig(match_mode="word")),
            "counter": lambda: counter.count([documents.get_column("text")]),
        }
        best_cpu: dict[str, float] = {}
        best_wall: dict[str, float] = {}
        for round_number in range(1, args.rounds + 1):
            rates = {name: small_mb / cpu_seconds(run) for name, run in in_process.items()}
            for name, (path, text_mb) in sizes.items():
                cpu, wall = smi_count(path, PARAREL, scratch / f"{name}.parquet")
                rates[name] = text_mb / cpu
                best_wall[name] = max(best_wall.get(name, 0.0), text_mb / wall)
            for name, rate in rates.items():
                best_cpu[name] = max(best_cpu.get(name, 0.0), rate)
            print(
                f"round {round_number}, MB/s per CPU second: raw scan {rates['scan']:.1f}, kernel {rates['kernel']:.1f}, counter {rates['counter']:.1f}, "
                f"smi count {small_mb:.0f} MB {rates['small']:.1f}, smi count {small_mb * repeats:.0f} MB {rates['large']:.1f}",
                flush=True,
            )
        expected = count_corpus([documents], triples, CountConfig(match_mode="word"))
        same = pl.read_parquet(scratch / "small.parquet").equals(expected)

    print(
        f"fastest of {args.rounds} rounds, MB/s per CPU second: raw polars extract_many scan {best_cpu['scan']:.1f}; "
        f"kernel alone {best_cpu['kernel']:.1f}; prepared counter alone {best_cpu['counter']:.1f}; smi count end to end {best_cpu['small']:.1f} on {small_mb:.0f} MB "
        f"({best_wall['small']:.1f} wall), {best_cpu['large']:.1f} on {small_mb * repeats:.0f} MB ({best_wall['large']:.1f} wall)"
    )
    ratio = best_cpu["large"] / best_cpu["kernel"]
    print(
        f"smi count on {small_mb * repeats:.0f} MB: {ratio:.2f} of the kernel alone, {best_cpu['large'] / best_cpu['counter']:.2f} of the prepared counter alone"
    )
    verdicts = {
        f"smi count's table equals count_corpus's on the {small_mb:.0f} MB corpus": same,
        f"smi count end to end {best_cpu['small']:.1f} MB/s on {small_mb:.0f} MB (target {END_TO_END_MB_S:.0f})": best_cpu["small"] >= END_TO_END_MB_S,
        f"smi count {ratio:.2f} of the kernel's rate on {small_mb * repeats:.0f} MB (target {VERSUS_KERNEL})": ratio >= VERSUS_KERNEL,
    }
    for claim, ok in verdicts.items():
        print(f"{'PASS' if ok else 'FAIL'}: {claim}")
    return 0 if all(verdicts.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
