"""Collaborative performance prediction (Zhang et al., arXiv 2407.01300).

The model x task score matrix is mostly empty; its observed cells are predicted from the
others by matrix factorisation (MF) or neural collaborative filtering (NCF), optionally
with model design factors (size, data, architecture) and task design factors (ability,
output format, shots). Held-out cells are a seeded random share of the observed ones;
missing cells are never filled with zeros, they are simply not trained on.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import polars as pl
import torch
from torch import nn

from smi_assets.crossmodel.benchmark_table import BenchmarkTable, score_matrix

VARIANTS = ("mf", "ncf", "ncf_factors", "factors_only")


@dataclass(frozen=True)
class FactorMatrix:
    """Standardised design factors of the rows of a matrix and the group each column belongs to."""

    values: np.ndarray  # rows x columns, 0 = the training mean where unknown
    columns: list[str]
    groups: list[str]  # one per column: the original factor it encodes


def encode_factors(records: pl.DataFrame, key: str, keys: list[str], log_columns: tuple[str, ...] = ()) -> FactorMatrix:
    """Numeric factor columns are z-scored (log10 first for `log_columns`), categorical ones
    one-hot encoded; unknown values become 0, the mean. `records` has a `key` column and
    one column per factor; the result has one row per entry of `keys`, in order."""
    records = records.unique(subset=key, keep="first")
    aligned = pl.DataFrame({key: keys}).join(records, on=key, how="left", maintain_order="left")
    blocks, columns, groups = [], [], []
    for name in [c for c in aligned.columns if c != key]:
        column = aligned[name]
        numeric = column.cast(pl.Float64, strict=False) if column.dtype == pl.Utf8 else column.cast(pl.Float64)
        if column.dtype != pl.Utf8 or numeric.null_count() == column.null_count():
            values = numeric.to_numpy().astype(float)
            if name in log_columns:
                values = np.where(values > 0, np.log10(np.where(values > 0, values, 1.0)), np.nan)
            if np.isnan(values).all():
                continue
            centred = (values - np.nanmean(values)) / (np.nanstd(values) + 1e-12)
            blocks.append(np.nan_to_num(centred, nan=0.0)[:, None])
            columns.append(name)
            groups.append(name)
        else:
            for level in sorted(column.drop_nulls().unique().to_list()):
                blocks.append((column == level).fill_null(False).to_numpy().astype(float)[:, None])
                columns.append(f"{name}={level}")
                groups.append(name)
    values = np.hstack(blocks) if blocks else np.zeros((len(keys), 0))
    return FactorMatrix(values, columns, groups)


class CollaborativeNet(nn.Module):
    """Score of (model i, task j). `kind`: "mf" = global + row + column bias + <u_i, v_j>;
    "ncf" = biases + MLP([u_i, v_j, model factors, task factors]); the factors are zero-width
    when not used, and `use_ids=False` drops the embeddings (factors only)."""

    def __init__(self, n_models: int, n_tasks: int, kind: str, dim: int, model_factors: int, task_factors: int, use_ids: bool, hidden: int):
        super().__init__()
        self.kind, self.use_ids = kind, use_ids
        self.model_embedding = nn.Embedding(n_models, dim)
        self.task_embedding = nn.Embedding(n_tasks, dim)
        self.model_bias = nn.Embedding(n_models, 1)
        self.task_bias = nn.Embedding(n_tasks, 1)
        for table in (self.model_embedding, self.task_embedding):
            nn.init.normal_(table.weight, std=0.1)
        for table in (self.model_bias, self.task_bias):
            nn.init.zeros_(table.weight)
        self.global_bias = nn.Parameter(torch.zeros(1))
        width = (2 * dim if use_ids else 0) + model_factors + task_factors
        self.mlp = nn.Sequential(nn.Linear(width, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 1)) if kind == "ncf" else None

    def forward(self, model: torch.Tensor, task: torch.Tensor, model_factors: torch.Tensor, task_factors: torch.Tensor) -> torch.Tensor:
        u, v = self.model_embedding(model), self.task_embedding(task)
        if self.kind == "mf":
            interaction = (u * v).sum(dim=1)
        else:
            parts = ([u, v] if self.use_ids else []) + [model_factors, task_factors]
            interaction = self.mlp(torch.cat(parts, dim=1)).squeeze(1)
        bias = self.global_bias + (self.model_bias(model).squeeze(1) + self.task_bias(task).squeeze(1) if self.use_ids else 0.0)
        return bias + interaction


class CollaborativePredictor:
    """scikit-learn style wrapper: `fit(cells, scores)` / `predict(cells)` where `cells` is an
    (n, 2) integer array of (model row, task column). Full-batch Adam, seeded."""

    def __init__(
        self, kind: str = "mf", *, model_factors: np.ndarray | None = None, task_factors: np.ndarray | None = None,
        use_ids: bool = True, dim: int = 8, hidden: int = 32, epochs: int = 400, lr: float = 0.02,
        weight_decay: float = 1e-4, seed: int = 0,
    ):  # fmt: skip
        self.kind, self.use_ids, self.dim, self.hidden = kind, use_ids, dim, hidden
        self.model_factors, self.task_factors = model_factors, task_factors
        self.epochs, self.lr, self.weight_decay, self.seed = epochs, lr, weight_decay, seed

    def _factor_tensors(self, cells: np.ndarray, model_mask: np.ndarray | None = None, task_mask: np.ndarray | None = None):
        def pick(factors: np.ndarray | None, rows: np.ndarray, mask: np.ndarray | None) -> torch.Tensor:
            if factors is None:
                return torch.zeros((len(rows), 0))
            chosen = factors[rows] if mask is None else factors[rows] * mask
            return torch.as_tensor(chosen, dtype=torch.float32)

        return pick(self.model_factors, cells[:, 0], model_mask), pick(self.task_factors, cells[:, 1], task_mask)

    def fit(self, cells: np.ndarray, scores: np.ndarray, n_models: int, n_tasks: int) -> CollaborativePredictor:
        torch.manual_seed(self.seed)
        width = lambda factors: 0 if factors is None else factors.shape[1]  # noqa: E731
        self.net_ = CollaborativeNet(n_models, n_tasks, self.kind, self.dim, width(self.model_factors), width(self.task_factors), self.use_ids, self.hidden)
        model, task = torch.as_tensor(cells[:, 0]), torch.as_tensor(cells[:, 1])
        model_factors, task_factors = self._factor_tensors(cells)
        target = torch.as_tensor(scores, dtype=torch.float32)
        with torch.no_grad():
            self.net_.global_bias.fill_(float(target.mean()))
        optimizer = torch.optim.Adam(self.net_.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        for _ in range(self.epochs):
            optimizer.zero_grad()
            loss = torch.mean((self.net_(model, task, model_factors, task_factors) - target) ** 2)
            loss.backward()
            optimizer.step()
        return self

    @torch.no_grad()
    def predict(self, cells: np.ndarray, model_mask: np.ndarray | None = None, task_mask: np.ndarray | None = None) -> np.ndarray:
        """Scores of `cells`; the masks (one weight per factor column) zero out factors, i.e.
        set them to their mean, for attribution."""
        model_factors, task_factors = self._factor_tensors(cells, model_mask, task_mask)
        return self.net_(torch.as_tensor(cells[:, 0]), torch.as_tensor(cells[:, 1]), model_factors, task_factors).numpy()


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run the block with `n` torch threads, then restore the previous setting. The models here
    are tiny: extra threads only add synchronisation (9x slower on 2 busy cores, measured)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def split_cells(observed: np.ndarray, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Observed (row, column) cells split at random into train and test by `seed`; every row
    and column keeps at least one training cell where it has one, so embeddings are learnt."""
    cells = np.argwhere(observed)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(cells))
    n_test = int(round(test_fraction * len(cells)))
    is_test = np.zeros(len(cells), dtype=bool)
    row_left = observed.sum(axis=1).astype(int)
    column_left = observed.sum(axis=0).astype(int)
    for index in order:
        if is_test.sum() >= n_test:
            break
        i, j = cells[index]
        if row_left[i] > 1 and column_left[j] > 1:
            is_test[index] = True
            row_left[i] -= 1
            column_left[j] -= 1
    return cells[~is_test], cells[is_test]


def rank_accuracy(cells: np.ndarray, actual: np.ndarray, predicted: np.ndarray) -> tuple[float, float, int]:
    """Share of held-out cells whose rank among the held-out models of the same task is
    predicted exactly, and within 2 places; over tasks with at least 2 held-out cells."""
    exact = within = total = 0
    for task in np.unique(cells[:, 1]):
        members = cells[:, 1] == task
        if members.sum() < 2:
            continue
        true_rank = np.argsort(np.argsort(-actual[members], kind="stable"), kind="stable")
        predicted_rank = np.argsort(np.argsort(-predicted[members], kind="stable"), kind="stable")
        exact += int(np.sum(true_rank == predicted_rank))
        within += int(np.sum(np.abs(true_rank - predicted_rank) <= 2))
        total += int(members.sum())
    return (exact / total if total else float("nan")), (within / total if total else float("nan")), total


def make_variant(variant: str, model_factors: FactorMatrix, task_factors: FactorMatrix, seed: int) -> CollaborativePredictor:
    if variant == "mf":
        return CollaborativePredictor("mf", seed=seed)
    if variant == "ncf":
        return CollaborativePredictor("ncf", seed=seed)
    if variant == "ncf_factors":
        return CollaborativePredictor("ncf", model_factors=model_factors.values, task_factors=task_factors.values, seed=seed)
    if variant == "factors_only":
        return CollaborativePredictor("ncf", model_factors=model_factors.values, task_factors=task_factors.values, use_ids=False, seed=seed)
    raise ValueError(f"unknown variant {variant!r}; expected one of {VARIANTS}")


@dataclass(frozen=True)
class CppResult:
    variants: pl.DataFrame  # variant, mse, rank_exact, rank_within_2, n_test (means over seeds)
    per_seed: pl.DataFrame  # seed, variant, mse, rank_exact, rank_within_2, n_test
    shapley: pl.DataFrame  # side, factor, shapley_mse_reduction, share
    predictions: pl.DataFrame  # seed, variant, model, task, actual, predicted


def shapley_values(value: callable, players: list[str]) -> dict[str, float]:
    """Exact Shapley values of `players` for the set function `value(frozenset) -> float`
    (2^n evaluations, so keep n small: each group of factors is one player)."""
    n = len(players)
    cache = {frozenset(c): value(frozenset(c)) for size in range(n + 1) for c in itertools.combinations(players, size)}
    result = {}
    for player in players:
        others = [p for p in players if p != player]
        total = 0.0
        for size in range(n):
            weight = math.factorial(size) * math.factorial(n - size - 1) / math.factorial(n)
            for coalition in itertools.combinations(others, size):
                total += weight * (cache[frozenset(coalition) | {player}] - cache[frozenset(coalition)])
        result[player] = total
    return result


MAX_EXACT_SHAPLEY_PLAYERS = 12


def factor_shapley(
    predictor: CollaborativePredictor, cells: np.ndarray, actual: np.ndarray, model_factors: FactorMatrix, task_factors: FactorMatrix
) -> pl.DataFrame:
    """Exact Shapley values of factor groups for the held-out MSE of a trained `predictor`:
    value(S) = MSE with every factor set to its mean - MSE with the groups in S present.
    No retraining: absent groups are set to their training mean (zero once standardised)."""
    players = [("model", g) for g in dict.fromkeys(model_factors.groups)] + [("task", g) for g in dict.fromkeys(task_factors.groups)]
    if len(players) > MAX_EXACT_SHAPLEY_PLAYERS:
        raise ValueError(f"{len(players)} factor groups; exact Shapley values are limited to {MAX_EXACT_SHAPLEY_PLAYERS}")
    model_groups, task_groups = np.array(model_factors.groups), np.array(task_factors.groups)

    def mse_with(present: frozenset) -> float:
        model_mask = np.array([("model", g) in present for g in model_groups], dtype=float)
        task_mask = np.array([("task", g) in present for g in task_groups], dtype=float)
        return float(np.mean((predictor.predict(cells, model_mask, task_mask) - actual) ** 2))

    baseline = mse_with(frozenset())
    values = shapley_values(lambda present: baseline - mse_with(present), players)
    total = sum(values.values())
    return pl.DataFrame(
        {
            "side": [p[0] for p in players],
            "factor": [p[1] for p in players],
            "shapley_mse_reduction": [values[p] for p in players],
            "share": [values[p] / total if total else float("nan") for p in players],
        }  # fmt: skip
    ).sort("shapley_mse_reduction", descending=True)


def evaluate_cpp(
    scores: np.ndarray,
    model_factors: FactorMatrix,
    task_factors: FactorMatrix,
    *,
    models: list[str],
    tasks: list[str],
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4),
    test_fraction: float = 0.2,
    variants: tuple[str, ...] = VARIANTS,
) -> CppResult:
    """Held-out MSE and rank accuracy of each variant, averaged over seeded splits, and the
    factor Shapley table of ncf_factors (averaged over the same seeds)."""
    observed = ~np.isnan(scores)
    rows, shapley_frames, prediction_frames = [], [], []
    with torch_threads(1):
        for seed in seeds:
            train, test = split_cells(observed, test_fraction, seed)
            train_scores, test_scores = scores[train[:, 0], train[:, 1]], scores[test[:, 0], test[:, 1]]
            for variant in variants:
                predictor = make_variant(variant, model_factors, task_factors, seed).fit(train, train_scores, *scores.shape)
                predicted = predictor.predict(test)
                exact, within, _ = rank_accuracy(test, test_scores, predicted)
                rows.append((seed, variant, float(np.mean((predicted - test_scores) ** 2)), exact, within, len(test)))
                prediction_frames.append(pl.DataFrame({
                    "seed": seed, "variant": variant, "model": np.array(models)[test[:, 0]], "task": np.array(tasks)[test[:, 1]],
                    "actual": test_scores, "predicted": predicted,
                }))  # fmt: skip
                if variant == "ncf_factors":
                    shapley_frames.append(factor_shapley(predictor, test, test_scores, model_factors, task_factors).with_columns(pl.lit(seed).alias("seed")))
    per_seed = pl.DataFrame(
        rows,
        schema={"seed": pl.Int64, "variant": pl.Utf8, "mse": pl.Float64, "rank_exact": pl.Float64, "rank_within_2": pl.Float64, "n_test": pl.Int64},
        orient="row",
    )
    summary = per_seed.group_by("variant", maintain_order=True).agg(
        pl.col("mse").mean(), pl.col("rank_exact").mean(), pl.col("rank_within_2").mean(), pl.col("n_test").first()
    )
    shapley = (
        pl.concat(shapley_frames).group_by("side", "factor").agg(pl.col("shapley_mse_reduction").mean(), pl.col("share").mean()).sort("shapley_mse_reduction", descending=True)
        if shapley_frames else pl.DataFrame(schema={"side": pl.Utf8, "factor": pl.Utf8, "shapley_mse_reduction": pl.Float64, "share": pl.Float64})
    )  # fmt: skip
    return CppResult(summary, per_seed, shapley, pl.concat(prediction_frames))


# CPP's model_feature.csv columns grouped into design factors (the Shapley players) and the
# ones whose scale is multiplicative. Columns not listed form a group of their own.
CPP_MODEL_FACTOR_GROUPS = {
    "family": "family",
    "Pretraining Dataset Size(B)": "data size", "Parameter Size(M)": "model size",
    "GPUh": "compute", "FLOPs": "compute", "Carbon Emission (tCO2Eq)": "compute",
    "Finetuning": "finetuning", "Context window": "context window", "batch size(M)": "batch size",
    "Layers": "shape", "Number Heads": "shape", "Key/Value Size": "shape", "bottleneck activation size": "shape",
}  # fmt: skip
CPP_LOG_FACTORS = ("Pretraining Dataset Size(B)", "Parameter Size(M)", "GPUh", "FLOPs", "Carbon Emission (tCO2Eq)", "batch size(M)", "Context window")


def grouped(factors: FactorMatrix, groups: dict[str, str]) -> FactorMatrix:
    """`factors` with each column's group renamed through `groups` (unlisted names kept)."""
    return FactorMatrix(factors.values, factors.columns, [groups.get(g, g) for g in factors.groups])


def cpp_inputs(models_frame: pl.DataFrame, model_features: pl.DataFrame, scores: pl.DataFrame, benchmark_features: pl.DataFrame):
    """(models, tasks, score matrix, model factors, task factors) from benchmark-table frames."""
    table = BenchmarkTable(models_frame, model_features, scores, benchmark_features)
    models, tasks, matrix = score_matrix(table)
    model_wide = _features_wide(model_features, "model", models)
    task_wide = _features_wide(benchmark_features.rename({"benchmark": "task"}).with_columns(pl.lit(None, dtype=pl.Float64).alias("value")), "task", tasks)
    model_factors = grouped(encode_factors(model_wide, "model", models, CPP_LOG_FACTORS), CPP_MODEL_FACTOR_GROUPS)
    task_factors = encode_factors(task_wide, "task", tasks)
    return models, tasks, matrix, model_factors, task_factors


def _features_wide(features: pl.DataFrame, key: str, keys: list[str]) -> pl.DataFrame:
    """One row per key, one column per feature; numeric features stay numbers, the others text."""
    if features.is_empty():
        return pl.DataFrame({key: keys})
    long = features.with_columns(pl.when(pl.col("label").is_not_null()).then(pl.col("label")).otherwise(pl.col("value").cast(pl.Utf8)).alias("cell"))
    wide = long.pivot(on="feature", index=key, values="cell", aggregate_function="first")
    return pl.DataFrame({key: keys}).join(wide, on=key, how="left", maintain_order="left")
