"""Observational scaling laws (Ruan et al., arXiv 2405.10938).

A model's standard benchmark scores lie near a low-dimensional space of "capabilities"
(principal components); within a family each capability is linear in log-compute; and a
harder target benchmark is a sigmoid (with a floor) of a linear function of the top
capabilities. Missing benchmark scores are filled by PCA imputation, never by zeros.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl
from scipy.optimize import least_squares

# Llama-2-7B's training compute: the paper holds out every model above it.
LLAMA2_7B_FLOPS = 8.4e22

# Families of the paper's main analysis (reference README); the paper also drops models
# released after May 2024, which the public table has no column for.
PAPER_FAMILIES = (
    "Llama-2", "Llama", "Llama-3", "Llama-3.1", "Qwen2", "Qwen1.5", "Qwen", "Mistral", "Mixtral", "Yi", "Yi-1.5",
    "Gemma", "Gemma-2", "Falcon", "Phi", "Pythia", "BLOOM", "GPT-Neo/J", "OPT", "MPT", "XGLM", "CodeLlama",
    "StarCoder", "StarCoder2", "DeepSeek-Coder", "DeepSeek-V2", "DeepSeek-Coder-V2", "Jamba",
)  # fmt: skip


class PCAImputer:
    """Fill missing entries with a rank-`n_components` PCA reconstruction (iterated to a fixed point).

    `fit` learns the mean and components from the rows it is given; `transform` fills other
    rows with those, so test rows never influence the fit.
    """

    def __init__(self, n_components: int = 1, max_iter: int = 2000, tol: float = 1e-9):
        self.n_components = n_components
        self.max_iter = max_iter
        self.tol = tol

    def fit(self, scores: np.ndarray) -> PCAImputer:
        missing = np.isnan(scores)
        if missing.all(axis=0).any():
            raise ValueError("a column has no observed value")
        filled = np.where(missing, np.nanmean(scores, axis=0), scores)
        for _ in range(self.max_iter):
            mean = filled.mean(axis=0)
            _, _, vt = np.linalg.svd(filled - mean, full_matrices=False)
            components = vt[: self.n_components]
            reconstruction = mean + (filled - mean) @ components.T @ components
            change = np.abs(reconstruction[missing] - filled[missing]).max(initial=0.0)
            filled[missing] = reconstruction[missing]
            if change < self.tol:
                break
        self.mean_, self.components_ = mean, components
        return self

    def transform(self, scores: np.ndarray) -> np.ndarray:
        missing = np.isnan(scores)
        filled = np.where(missing, self.mean_, scores)
        for _ in range(self.max_iter):
            reconstruction = self.mean_ + (filled - self.mean_) @ self.components_.T @ self.components_
            change = np.abs(reconstruction[missing] - filled[missing]).max(initial=0.0)
            filled[missing] = reconstruction[missing]
            if change < self.tol:
                break
        return filled


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


class SigmoidRegressor:
    """y = floor + (ceiling - floor) * sigmoid(X w + b), floor fitted in [0, min y], ceiling fixed.

    Inputs are standardised inside the model, so the same code serves capabilities and
    log-compute baselines.
    """

    def __init__(self, ceiling: float = 1.0):
        self.ceiling = ceiling

    def fit(self, features: np.ndarray, target: np.ndarray) -> SigmoidRegressor:
        self.center_, self.scale_ = features.mean(axis=0), features.std(axis=0) + 1e-12
        x = (features - self.center_) / self.scale_
        floor_max = max(float(target.min()), 1e-6)
        start_level = np.clip(target.mean() / self.ceiling, 0.05, 0.95)
        start = np.concatenate([np.zeros(x.shape[1]), [np.log(start_level / (1 - start_level)), 0.0]])

        def residuals(theta: np.ndarray) -> np.ndarray:
            return self._curve(x, theta) - target

        lower = np.concatenate([np.full(x.shape[1] + 1, -np.inf), [0.0]])
        upper = np.concatenate([np.full(x.shape[1] + 1, np.inf), [floor_max]])
        self.theta_ = least_squares(residuals, start, bounds=(lower, upper)).x
        return self

    def _curve(self, x: np.ndarray, theta: np.ndarray) -> np.ndarray:
        weights, bias, floor = theta[:-2], theta[-2], theta[-1]
        return floor + (self.ceiling - floor) * sigmoid(x @ weights + bias)

    @property
    def floor_(self) -> float:
        return float(self.theta_[-1])

    def predict(self, features: np.ndarray) -> np.ndarray:
        return self._curve((features - self.center_) / self.scale_, self.theta_)


class ObservationalScalingLaw:
    """Target score from the top `n_components` capabilities of the benchmark scores.

    fit: PCA imputation and principal components on the training rows only, then a
    :class:`SigmoidRegressor` from the capabilities to the target.
    """

    def __init__(self, n_components: int = 3, impute_components: int = 1, ceiling: float = 1.0):
        self.n_components = n_components
        self.impute_components = impute_components
        self.ceiling = ceiling

    def fit(self, scores: np.ndarray, target: np.ndarray) -> ObservationalScalingLaw:
        self.imputer_ = PCAImputer(self.impute_components).fit(scores)
        filled = self.imputer_.transform(scores)
        self.mean_ = filled.mean(axis=0)
        _, singular, vt = np.linalg.svd(filled - self.mean_, full_matrices=False)
        # Sign convention: a capability grows with the mean benchmark score.
        signs = np.where(vt.sum(axis=1) < 0, -1.0, 1.0)
        self.components_ = vt * signs[:, None]
        self.explained_variance_ratio_ = singular**2 / np.sum(singular**2)
        labelled = ~np.isnan(target)
        self.regressor_ = SigmoidRegressor(self.ceiling).fit(self.capabilities(scores)[labelled], target[labelled])
        return self

    def capabilities(self, scores: np.ndarray) -> np.ndarray:
        """The top `n_components` principal capability measures of each row."""
        return (self.imputer_.transform(scores) - self.mean_) @ self.components_[: self.n_components].T

    def predict(self, scores: np.ndarray) -> np.ndarray:
        return self.regressor_.predict(self.capabilities(scores))


@dataclass(frozen=True)
class ObsScalingData:
    """Models with their capability benchmarks, compute and the target."""

    models: list[str]
    families: list[str]
    benchmarks: list[str]
    scores: np.ndarray  # models x benchmarks, NaN where missing
    log_params: np.ndarray  # log10 parameters
    log_flops: np.ndarray  # log10 training FLOPs
    target: np.ndarray  # NaN where missing
    flops: np.ndarray


@dataclass(frozen=True)
class ObsScalingResult:
    # predictor, chosen, cv_mse, train_mse, test_mse, n_train, n_test; `chosen` marks the
    # number of components picked by cross-validation on the training models.
    predictors: pl.DataFrame
    components: pl.DataFrame  # component, explained_variance_ratio, then one loading column per benchmark
    family_fits: pl.DataFrame  # family, component, slope, intercept, r2, n_models
    predictions: pl.DataFrame  # model, family, split, predictor, actual, predicted
    chosen_components: int


def _mse(actual: np.ndarray, predicted: np.ndarray) -> float:
    return float(np.mean((actual - predicted) ** 2)) if len(actual) else float("nan")


def family_capability_fits(capabilities: np.ndarray, log_flops: np.ndarray, families: list[str]) -> pl.DataFrame:
    """Per family and component: least-squares line of capability against log10 FLOPs
    (families with at least 3 models of distinct compute, so R^2 means something)."""
    rows = []
    families_array = np.array(families)
    for family in sorted(set(families)):
        members = families_array == family
        if len(np.unique(log_flops[members])) < 3:
            continue
        for k in range(capabilities.shape[1]):
            slope, intercept = np.polyfit(log_flops[members], capabilities[members, k], 1)
            fitted = slope * log_flops[members] + intercept
            residual = np.sum((capabilities[members, k] - fitted) ** 2)
            total = np.sum((capabilities[members, k] - capabilities[members, k].mean()) ** 2)
            rows.append((family, f"PC{k + 1}", float(slope), float(intercept), float(1 - residual / total) if total > 0 else float("nan"), int(members.sum())))
    return pl.DataFrame(
        rows,
        schema={"family": pl.Utf8, "component": pl.Utf8, "slope": pl.Float64, "intercept": pl.Float64, "r2": pl.Float64, "n_models": pl.Int64},
        orient="row",
    )


def cross_validated_component_errors(scores: np.ndarray, target: np.ndarray, max_components: int, n_folds: int = 5, seed: int = 0) -> np.ndarray:
    """Mean squared error of laws with 1..`max_components` components in `n_folds`-fold
    cross-validation over the labelled rows: each fold's rows are left out of the PCA, the
    imputation and the sigmoid fit that predict them. Pass training rows only."""
    labelled = np.flatnonzero(~np.isnan(target))
    if len(labelled) < n_folds:
        raise ValueError(f"only {len(labelled)} training models have the target; {n_folds}-fold cross-validation needs {n_folds}")
    folds = np.array_split(np.random.default_rng(seed).permutation(labelled), n_folds)
    squared_errors = np.zeros(max_components)
    for fold in folds:
        keep = np.ones(len(target), dtype=bool)
        keep[fold] = False
        for k in range(1, max_components + 1):
            law = ObservationalScalingLaw(n_components=k).fit(scores[keep], target[keep])
            squared_errors[k - 1] += np.sum((law.predict(scores[fold]) - target[fold]) ** 2)
    return squared_errors / len(labelled)


def evaluate_obs_scaling(
    data: ObsScalingData, cutoff_flops: float = LLAMA2_7B_FLOPS, n_components: int = 3, n_folds: int = 5, seed: int = 0
) -> ObsScalingResult:
    """Fit on models at or below `cutoff_flops`, test on those above; compare capability
    predictors (top 1..n_components PCs) with sigmoid baselines on log params and log FLOPs.

    The number of components to report is chosen by `n_folds`-fold cross-validation within
    the training models (smallest CV error; ties go to fewer components): the test models
    never take part in the choice, which is the row marked `chosen`.
    """
    known_compute = np.isfinite(data.flops)
    train = known_compute & (data.flops <= cutoff_flops)
    test = known_compute & (data.flops > cutoff_flops)
    labelled = ~np.isnan(data.target)
    if (train & labelled).sum() < n_components + 3:
        raise ValueError(f"only {(train & labelled).sum()} training models have the target")
    cv_errors = cross_validated_component_errors(data.scores[train], data.target[train], n_components, n_folds, seed)
    chosen = int(np.argmin(cv_errors)) + 1

    rows, prediction_frames = [], []

    def record(name: str, predicted: np.ndarray, cv_mse: float | None = None, is_chosen: bool = False) -> None:
        train_rows, test_rows = train & labelled, test & labelled
        rows.append(
            (
                name,
                is_chosen,
                cv_mse,
                _mse(data.target[train_rows], predicted[train_rows]),
                _mse(data.target[test_rows], predicted[test_rows]),
                int(train_rows.sum()),
                int(test_rows.sum()),
            )
        )
        shown = (train | test) & labelled
        prediction_frames.append(pl.DataFrame({
            "model": np.array(data.models)[shown], "family": np.array(data.families)[shown],
            "split": np.where(test[shown], "test", "train"), "predictor": name,
            "actual": data.target[shown], "predicted": predicted[shown],
        }))  # fmt: skip

    law = None
    for k in range(1, n_components + 1):
        law = ObservationalScalingLaw(n_components=k).fit(data.scores[train], data.target[train])
        record("PC1" if k == 1 else f"PC1-{k}", law.predict(data.scores), float(cv_errors[k - 1]), k == chosen)
    for name, feature in (("log_params", data.log_params), ("log_flops", data.log_flops)):
        usable = np.isfinite(feature)
        predicted = np.full(len(feature), np.nan)
        regressor = SigmoidRegressor().fit(feature[train & labelled & usable, None], data.target[train & labelled & usable])
        predicted[usable] = regressor.predict(feature[usable, None])
        record(name, predicted)

    ratios = law.explained_variance_ratio_
    components = pl.DataFrame({
        "component": [f"PC{i + 1}" for i in range(len(ratios))],
        "explained_variance_ratio": ratios,
        **{benchmark: law.components_[:, j] for j, benchmark in enumerate(data.benchmarks)},
    })  # fmt: skip
    capabilities = law.capabilities(data.scores)
    fits = family_capability_fits(capabilities[train], data.log_flops[train], [f for f, t in zip(data.families, train) if t])
    predictors = pl.DataFrame(
        rows, orient="row",
        schema={"predictor": pl.Utf8, "chosen": pl.Boolean, "cv_mse": pl.Float64, "train_mse": pl.Float64,
                "test_mse": pl.Float64, "n_train": pl.Int64, "n_test": pl.Int64},
    )  # fmt: skip
    return ObsScalingResult(predictors, components, fits, pl.concat(prediction_frames), chosen)


def obs_scaling_data(models: pl.DataFrame, scores: pl.DataFrame, target: str, families: tuple[str, ...] | None = None) -> ObsScalingData:
    """Arrays for :func:`evaluate_obs_scaling` from benchmark-table frames (see
    :mod:`smi_assets.crossmodel.benchmark_table`): every benchmark except `target` is a
    capability measure; models with no capability score at all are dropped."""
    if families is not None:
        models = models.filter(pl.col("family").is_in(list(families)))
    benchmarks = [name for name in dict.fromkeys(scores["benchmark"].to_list()) if name != target]
    if target not in set(scores["benchmark"].to_list()):
        raise KeyError(f"no scores for target benchmark {target!r}")
    wide = scores.pivot(on="benchmark", index="model", values="score", aggregate_function="mean")
    joined = models.join(wide, on="model", how="left")
    matrix = joined.select(benchmarks).to_numpy().astype(float)
    keep = ~np.isnan(matrix).all(axis=1)
    joined, matrix = joined.filter(pl.Series(keep)), matrix[keep]

    def log10(column: str) -> np.ndarray:
        values = joined[column].to_numpy().astype(float)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(values > 0, np.log10(values), np.nan)

    return ObsScalingData(
        models=joined["model"].to_list(), families=joined["family"].fill_null("unknown").to_list(),
        benchmarks=benchmarks, scores=matrix, log_params=log10("params"), log_flops=log10("flops"),
        target=joined[target].to_numpy().astype(float), flops=joined["flops"].to_numpy().astype(float),
    )  # fmt: skip
