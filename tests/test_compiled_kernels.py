"""The counting kernels are built once into a cached extension module, saying so, and loaded
from it without numba; where they cannot be built, numba's functions count alike, saying so."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

# Counts a small corpus with the kernels of a fresh interpreter, and reports whether numba was
# imported (it must not be when the compiled module is loaded).
COUNT_IN_A_FRESH_PROCESS = """
import sys
import polars as pl
from smi_assets.frequency.counting import CountConfig, count_shard
texts = ["Paris is in France.", "New York, USA", "in Indiana, not India", "Paris Paris"]
triples = pl.DataFrame({"idx": [1, 2, 3], "subj": ["Paris", "New York", "India"], "rel": ["r"] * 3, "obj": ["France", "USA", "Paris"]})
for mode in ("paper", "word"):
    counts = count_shard(pl.DataFrame({"text": texts}), triples, CountConfig(match_mode=mode))
    print(mode, counts.n_units, sorted(counts.entity_units.rows()), counts.pair_units.rows())
print("numba imported:", "numba" in sys.modules)
"""
# By hand: paper mode finds " " + name, so no name at a text's start ("Paris is", "New York,")
# and "India" inside "Indiana"; word mode finds whole words anywhere.
EXPECTED_COUNTS = [
    "paper 4 [('France', 1), ('India', 1), ('Paris', 1), ('USA', 1)] []",
    "word 4 [('France', 1), ('India', 1), ('New York', 1), ('Paris', 2), ('USA', 1)] [(1, 1), (2, 1)]",
]


def count_in_a_fresh_process(kernel_cache: Path) -> subprocess.CompletedProcess:
    environment = {**os.environ, "SMI_KERNEL_CACHE": str(kernel_cache)}
    return subprocess.run([sys.executable, "-c", COUNT_IN_A_FRESH_PROCESS], capture_output=True, text=True, timeout=600, env=environment)


def test_first_use_builds_the_kernels_saying_so_and_later_processes_load_them_without_numba(tmp_path: Path):
    cache = tmp_path / "kernels"
    first = count_in_a_fresh_process(cache)
    assert first.returncode == 0, first.stderr
    assert f"smi: compiling the counting kernels once (about 20 s); they are cached in {cache}" in first.stderr
    assert first.stdout.splitlines()[:2] == EXPECTED_COUNTS
    assert len(list(cache.glob("smi_counting_kernels_*.so"))) == 1
    assert not [path for path in cache.iterdir() if path.name.startswith(".build-")]

    second = count_in_a_fresh_process(cache)
    assert second.returncode == 0, second.stderr
    assert second.stderr == ""
    assert second.stdout.splitlines() == [*EXPECTED_COUNTS, "numba imported: False"]


def test_kernels_that_cannot_be_built_fall_back_to_numba_saying_so(tmp_path: Path):
    blocked = tmp_path / "a-file"
    blocked.write_text("the cache directory cannot be created under a file")
    result = count_in_a_fresh_process(blocked / "kernels")
    assert result.returncode == 0, result.stderr
    assert "smi: could not compile them ahead of time" in result.stderr
    assert "numba compiles them instead, cached by numba" in result.stderr
    assert result.stdout.splitlines() == [*EXPECTED_COUNTS, "numba imported: True"]
