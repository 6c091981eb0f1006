"""Fixtures shared by the SMI test modules: the `smi` subcommands, a generated reference file
and the real one (tests that need it are skipped when it is absent)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from smi_assets.orchestration.resources import DEFAULT_REFERENCE_DIR
from smi_assets.smi.commands import add_commands

REFERENCE_PARQUET = DEFAULT_REFERENCE_DIR / "smi" / "merge_outputs.parquet"


def run_smi_command(*argv: str) -> int:
    """Run an SMI subcommand (other domains' commands are not needed here)."""
    parser = argparse.ArgumentParser(prog="smi")
    add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.run(args)


def write_toy_reference(folder: Path, n_triples: int = 120, seed: int = 0) -> Path:
    """A small reference parquet in the original column names, two models, plus models.csv.

    The first five triples are prompt echoes (object inside the subject) scoring 1.0.
    """
    rng = np.random.default_rng(seed)
    n_s = rng.integers(20, 3000, n_triples)
    n_o = rng.integers(20, 3000, n_triples)
    n_so = (np.minimum(n_s, n_o) * rng.uniform(0.0, 0.8, n_triples)).astype(np.int64)
    corpus = 100_000
    rows = []
    for model, skill in [("toy-small", 0.2), ("toy-large", 0.5)]:
        for i in range(n_triples):
            rows.append({
                "model": model, "idx": i, "subj": f"subject {i}", "rel": ["born", "capital"][i % 2],
                "obj": "subject" if i < 5 else f"object {i}", "qus": f"subject {i} was born in",
                "time_seqs": corpus, "time_subj": int(n_s[i]), "time_obj": int(n_o[i]),
                "time_s1j1": int(n_so[i]), "time_s1j0": int(n_s[i] - n_so[i]),
                "time_s0j1": int(n_o[i] - n_so[i]), "time_s0j0": int(corpus - n_s[i] - n_o[i] + n_so[i]),
                "acc": 1.0 if i < 5 else float(min(1.0, skill * n_so[i] / n_s[i] + rng.uniform(0, 0.1))),
                "mi": 0.0,
            })  # fmt: skip
    path = folder / "merge_outputs.parquet"
    pl.DataFrame(rows).write_parquet(path)
    (folder / "models.csv").write_text(
        "models,model_series,model_size,datasets,dataset_id\norg/toy-small,Toy,0.1,toycorpus,\norg/toy-large,Toy,2.0,toycorpus,\n"
    )
    return path


@pytest.fixture
def run_smi() -> Callable[..., int]:
    """`run_smi("fit-reference", ...)` runs the subcommand and returns its exit code."""
    return run_smi_command


@pytest.fixture
def toy_reference(tmp_path: Path) -> Path:
    """Path of a generated two-model reference parquet (models.csv beside it) in tmp_path."""
    return write_toy_reference(tmp_path)


@pytest.fixture
def reference_parquet() -> Path:
    """The paper's published reference parquet; skips the test when it is absent."""
    if not REFERENCE_PARQUET.is_file():
        pytest.skip(f"SMI reference data not found at {REFERENCE_PARQUET}")
    return REFERENCE_PARQUET


@pytest.fixture
def settled_graph(tmp_path):
    """A fully materialized graph (2 shards, 2 checkpoints) that automation has seen once
    (`tests/test_dagster_layer.py` and `tests/test_checkpoint_runs.py`)."""
    import dagster as dg  # here, not at the top: most test modules need no Dagster

    from smi_assets.definitions import build_definitions
    from smi_assets.orchestration.observe import observe_and_register
    from tests.test_dagster_layer import Graph, tiny_resources

    resources = tiny_resources(tmp_path)
    with dg.instance_for_test() as instance:
        observe_and_register(instance, resources["inputs"], resources["storage"], resources["modeling"], None, register=True)
        graph = Graph(build_definitions(resources), instance, datetime(2026, 11, 30, 12, 0, tzinfo=timezone.utc))
        graph.materialize_everything()
        assert graph.tick() == set(), "a complete, unchanged graph requests nothing"
        yield graph
