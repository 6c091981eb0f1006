"""Design-factor regression (after "Not Just Scaling", arXiv 2503.03862).

Per task, gradient-boosted trees predict a model's score from scale alone (log params,
log tokens) and from scale plus design features (data mix, architecture). Both are scored
by 3-fold cross-validated MAE over several seeds; the per-model absolute errors of the two
are compared with a one-sided paired Wilcoxon signed-rank test, corrected across tasks
(Benjamini-Hochberg), and the design features are ranked by permutation importance.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl
from scipy.stats import false_discovery_control, wilcoxon
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.model_selection import KFold
from threadpoolctl import threadpool_limits

SCALE_FEATURES = ("log_params", "log_tokens")
# How many design features `selected_features` lists: the top ones by positive importance.
MAX_SELECTED_FEATURES = 5


@dataclass(frozen=True)
class DesignData:
    """One row per model: feature matrix (NaN = unknown, categoricals as integer codes) and task scores."""

    models: list[str]
    features: np.ndarray  # models x features
    feature_names: list[str]  # starts with SCALE_FEATURES
    categorical: np.ndarray  # bool per feature
    scores: dict[str, np.ndarray]  # task -> per-model score, NaN where missing


def design_data(models: pl.DataFrame, model_features: pl.DataFrame, scores: pl.DataFrame) -> DesignData:
    """Arrays for :func:`evaluate_design_factors` from benchmark-table frames; only models
    with known params and tokens are kept (the paper's protocol)."""
    models = models.filter((pl.col("params") > 0) & (pl.col("tokens") > 0))
    names = models["model"].to_list()
    columns = [np.log10(models["params"].to_numpy()), np.log10(models["tokens"].to_numpy())]
    feature_names, categorical = list(SCALE_FEATURES), [False, False]
    aligned = pl.DataFrame({"model": names})
    for feature in dict.fromkeys(model_features["feature"].to_list()):
        rows = model_features.filter(pl.col("feature") == feature).unique(subset="model", keep="first")
        joined = aligned.join(rows, on="model", how="left", maintain_order="left")
        if joined["label"].null_count() == len(joined):  # numeric feature
            columns.append(joined["value"].to_numpy().astype(float))
            categorical.append(False)
        else:
            labels = joined["label"]
            levels = {level: code for code, level in enumerate(sorted(labels.drop_nulls().unique().to_list()))}
            columns.append(np.array([np.nan if label is None else levels[label] for label in labels.to_list()], dtype=float))
            categorical.append(True)
        feature_names.append(feature)
    per_task = {}
    for task in dict.fromkeys(scores["benchmark"].to_list()):
        joined = aligned.join(scores.filter(pl.col("benchmark") == task).unique(subset="model", keep="first"), on="model", how="left", maintain_order="left")
        per_task[task] = joined["score"].to_numpy().astype(float)
    return DesignData(names, np.column_stack(columns), feature_names, np.array(categorical), per_task)


def make_regressor(categorical: np.ndarray, seed: int) -> HistGradientBoostingRegressor:
    """Small trees for ~100 models; missing values go down a learnt branch, not to zero."""
    return HistGradientBoostingRegressor(
        max_iter=150, learning_rate=0.05, max_depth=3, min_samples_leaf=5,
        categorical_features=categorical if categorical.any() else None, random_state=seed,
    )  # fmt: skip


def cross_validated_errors(
    features: np.ndarray,
    target: np.ndarray,
    categorical: np.ndarray,
    seeds: tuple[int, ...],
    n_folds: int = 3,
    importance_repeats: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Absolute error of each model when held out, averaged over seeds (each seed shuffles
    the folds), and the mean permutation importance of each feature (increase of held-out
    MAE when that column is shuffled; zeros when `importance_repeats` is 0)."""
    errors = np.zeros((len(seeds), len(target)))
    importance = np.zeros(features.shape[1])
    for s, seed in enumerate(seeds):
        rng = np.random.default_rng(seed)
        for train, test in KFold(n_folds, shuffle=True, random_state=seed).split(features):
            regressor = make_regressor(categorical, seed).fit(features[train], target[train])
            errors[s, test] = np.abs(regressor.predict(features[test]) - target[test])
            for j in range(features.shape[1] if importance_repeats else 0):
                for _ in range(importance_repeats):
                    shuffled = features[test].copy()
                    shuffled[:, j] = rng.permutation(shuffled[:, j])
                    importance[j] += np.mean(np.abs(regressor.predict(shuffled) - target[test])) - np.mean(errors[s, test])
    folds = len(seeds) * n_folds * max(importance_repeats, 1)
    return errors.mean(axis=0), importance / folds


@dataclass(frozen=True)
class DesignFactorResult:
    tasks: pl.DataFrame  # task, mae_scale_only, mae_with_features, relative_improvement, p_value, p_value_raw, n_models, selected_features
    attributions: pl.DataFrame  # task, feature, importance


def evaluate_design_factors(
    data: DesignData,
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4),
    n_folds: int = 3,
    min_models: int = 30,
    importance_repeats: int = 2,
) -> DesignFactorResult:
    """Scale-only vs scale + design features for every task with at least `min_models` scores."""
    rows, attribution_frames = [], []
    scale = np.array([name in SCALE_FEATURES for name in data.feature_names])
    # Tiny trees on ~100 rows: threads cost more than they give, and cores are shared.
    with threadpool_limits(1):
        for task, target in data.scores.items():
            known = ~np.isnan(target)
            if known.sum() < min_models:
                continue
            features, y = data.features[known], target[known]
            scale_errors, _ = cross_validated_errors(features[:, scale], y, data.categorical[scale], seeds, n_folds)
            full_errors, importance = cross_validated_errors(features, y, data.categorical, seeds, n_folds, importance_repeats)
            differences = scale_errors - full_errors
            # One-sided: the question is whether the design features lower the error.
            p_value = float(wilcoxon(scale_errors, full_errors, alternative="greater").pvalue) if np.any(differences != 0) else 1.0
            mae_scale, mae_full = float(scale_errors.mean()), float(full_errors.mean())
            design = [(name, float(value)) for name, value, is_scale in zip(data.feature_names, importance, scale) if not is_scale]
            selected = [name for name, value in sorted(design, key=lambda item: -item[1]) if value > 0][:MAX_SELECTED_FEATURES]
            rows.append((task, mae_scale, mae_full, (mae_scale - mae_full) / mae_scale, p_value, int(known.sum()), ";".join(selected)))
            attribution_frames.append(pl.DataFrame({"task": task, "feature": data.feature_names, "importance": importance}))
    frame = pl.DataFrame(
        rows, orient="row",
        schema={"task": pl.Utf8, "mae_scale_only": pl.Float64, "mae_with_features": pl.Float64, "relative_improvement": pl.Float64,
                "p_value_raw": pl.Float64, "n_models": pl.Int64, "selected_features": pl.Utf8},
    )  # fmt: skip
    adjusted = false_discovery_control(frame["p_value_raw"].to_numpy(), method="bh") if frame.height else []
    frame = frame.with_columns(pl.Series("p_value", adjusted, dtype=pl.Float64)).select(
        "task", "mae_scale_only", "mae_with_features", "relative_improvement", "p_value", "p_value_raw", "n_models", "selected_features"
    )
    attributions = pl.concat(attribution_frames) if attribution_frames else pl.DataFrame(schema={"task": pl.Utf8, "feature": pl.Utf8, "importance": pl.Float64})
    return DesignFactorResult(frame, attributions)
