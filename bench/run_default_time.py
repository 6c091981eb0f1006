"""Wall time of the README's first command, `smi run-default`, against a baseline commit.

Checks the baseline (default: b9f7e90, the code when issue 7 asked for "at most the time it
takes today") out into a temporary git worktree, then runs `smi run-default` on a fresh data
directory with each code base in turn (`--rounds` repeats the pair, in ABBA order: baseline
first in odd rounds, this checkout first in even ones), on the same machine with the same
settings: the default synthetic world and ladder, the reference tables absent so both skip
the cross-model assets (the baseline has no forecast backtest and no cross-model step to
compare with). Prints each wall time, and the ratio current / baseline of the fastest and of
the mean run of each (target: at most 1.0).

    python bench/run_default_time.py [--baseline b9f7e90] [--rounds 2]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RUN_DEFAULT = "import sys; from smi_assets.cli import main; sys.exit(main(['run-default', '--data-dir', sys.argv[1]]))"


def timed_run_default(code_root: Path, data_dir: Path) -> float:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("SMI_", "DAGSTER_"))}
    env.update(PYTHONPATH=str(code_root), SMI_REFERENCE_DIR=str(data_dir / "no-reference"))
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", RUN_DEFAULT, str(data_dir)], cwd=code_root, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default="b9f7e90", help="commit to compare with")
    parser.add_argument("--rounds", type=int, default=2, help="pairs of runs, in ABBA order (default 2)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="run-default-bench-") as scratch:
        baseline = Path(scratch) / "baseline"
        subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", "-q", str(baseline), args.baseline], check=True)
        try:
            times: dict[str, list[float]] = {"baseline": [], "current": []}
            for round_number in range(args.rounds):
                # ABBA order: a machine that slows down under sustained load (a shared VM's CPU
                # credits, heat) must not favour whichever code always runs first.
                order = (("baseline", baseline), ("current", REPO))
                for name, root in order if round_number % 2 == 0 else order[::-1]:
                    seconds = timed_run_default(root, Path(scratch) / f"data-{name}-{round_number}")
                    times[name].append(seconds)
                    print(f"round {round_number + 1} {name:<8} {seconds:7.1f} s", flush=True)
        finally:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(baseline)], check=True)
    best = {name: min(values) for name, values in times.items()}
    mean = {name: sum(values) / len(values) for name, values in times.items()}
    print(f"best of {args.rounds}: baseline {best['baseline']:.1f} s ({args.baseline}), current {best['current']:.1f} s")
    print(f"mean of {args.rounds}: baseline {mean['baseline']:.1f} s, current {mean['current']:.1f} s")
    print(f"ratio current / baseline: {best['current'] / best['baseline']:.3f} fastest, {mean['current'] / mean['baseline']:.3f} mean (target: at most 1.0)")


if __name__ == "__main__":
    main()
