"""Score per-question forecasts, and evaluate the proxy forecaster on the SMI reference data.

Every predictor is scored on the same questions against a model's observed per-question
accuracy with :data:`METRICS`:

- ``abs_error``: |mean predicted - mean observed accuracy|;
- ``relation_mae``: mean over relations of |mean predicted - mean observed|;
- ``r2_question``: R^2 over individual questions;
- ``brier``: mean over questions of (predicted - observed)^2, the observed accuracy being
  the fraction of correct generations;
- ``auc``: ROC-AUC of the prediction for "observed accuracy >= 0.5" (NaN when every
  question is on one side).

:func:`evaluate_reference` forecasts each model of the test families from its proxies and
scores the forecast next to five baselines fitted on the same proxies (:data:`PREDICTORS`).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
import polars as pl
from scipy.special import expit
from sklearn.metrics import roc_auc_score

from smi_assets.smi.fit import r_squared
from smi_assets.smi.forecast.counts_model import (
    FREQUENCY_COLUMNS,
    LogParamsLines,
    logit_shift_to_mean,
)
from smi_assets.smi.forecast.proxy import PROXY_COLUMNS, ProxyForecaster, smoothed_logit
from smi_assets.smi.metrics import prompt_echo

METRICS = ("abs_error", "relation_mae", "r2_question", "brier", "auc")
PREDICTORS = ("forecast", "scale_only", "scale_relation", "counts", "last_proxy", "shifted_proxy")
EVALUATION_COLUMNS = (
    "model", "params", "n_proxies", "n_questions", "prompt_echo",
    *(f"{predictor}_{metric}" for predictor in PREDICTORS for metric in METRICS),
)  # fmt: skip
# Accuracy at or above this counts as "the model knows the fact" for the AUC.
KNOWN_THRESHOLD = 0.5


def score_predictions(actual: np.ndarray, predicted: np.ndarray, relations: np.ndarray) -> dict[str, float]:
    """:data:`METRICS` of `predicted` against `actual` (per question, relations aligned)."""
    actual = np.asarray(actual, dtype=np.float64)
    predicted = np.asarray(predicted, dtype=np.float64)
    frame = pl.DataFrame({"rel": relations, "actual": actual, "predicted": predicted})
    per_relation = frame.group_by("rel").agg(pl.col("actual", "predicted").mean())
    known = actual >= KNOWN_THRESHOLD
    return {
        "abs_error": abs(float(predicted.mean() - actual.mean())),
        "relation_mae": float((per_relation["actual"] - per_relation["predicted"]).abs().mean()),
        "r2_question": r_squared(actual, predicted),
        "brier": float(np.mean((predicted - actual) ** 2)),
        "auc": float(roc_auc_score(known, predicted)) if 0 < known.sum() < len(known) else float("nan"),
    }


def shifted_to_relation_lines(acc: np.ndarray, relations: np.ndarray, targets: dict[object, float]) -> np.ndarray:
    """`acc` shifted in logit space, one shift per relation, so each relation's mean is its target."""
    logits = smoothed_logit(acc)
    for rel, target in targets.items():
        members = relations == rel
        logits[members] += logit_shift_to_mean(logits[members], float(np.clip(target, 1e-6, 1 - 1e-6)))
    return expit(logits)


def predictor_values(forecaster: ProxyForecaster, proxies: pl.DataFrame, questions: pl.DataFrame, params: float) -> dict[str, np.ndarray]:
    """Every predictor's per-question prediction at `params` for `questions` (idx, rel and
    the counts of the target's corpus), all fitted on `proxies` (`forecaster` is fitted)."""
    relations = questions["rel"].to_numpy()
    with_rel = proxies.join(forecaster.frequency_.select("idx", "rel"), on="idx")
    scale_only = LogParamsLines().fit(proxies).predict(params)
    relation_lines = LogParamsLines(by="rel").fit(with_rel).predict_groups(params, np.unique(relations), fallback=scale_only)
    sizes = proxies.group_by("model").agg(pl.col("params").first()).sort("params", "model")
    below = sizes.filter(pl.col("params") < params)
    last_model = (below if below.height else sizes)["model"][-1]
    last = questions.select("idx").join(proxies.filter(pl.col("model") == last_model), on="idx", how="left")["acc"].to_numpy()
    forecast = questions.select("idx").join(forecaster.predict(params), on="idx", how="left")["predicted_acc"]
    return {
        "forecast": forecast.to_numpy(),
        "scale_only": np.full(questions.height, scale_only),
        "scale_relation": np.array([relation_lines[rel] for rel in relations]),
        "counts": forecaster.counts_model_.predict(questions, params)["predicted_acc"].to_numpy(),
        "last_proxy": last,
        "shifted_proxy": shifted_to_relation_lines(last, relations, relation_lines),
    }


def side_by_side(table: pl.DataFrame) -> str:
    """The evaluation as text, one table per metric with the predictors as columns."""
    blocks = []
    with pl.Config(float_precision=4, tbl_rows=-1, tbl_cols=-1, tbl_width_chars=200,
                   tbl_hide_column_data_types=True, tbl_hide_dataframe_shape=True):  # fmt: skip
        for metric in METRICS:
            columns = {f"{predictor}_{metric}": predictor for predictor in PREDICTORS}
            blocks.append(f"{metric}:\n{table.select('model', 'n_proxies', *columns).rename(columns)}")
    return "\n".join(blocks)


def resolve_families(reference: pl.DataFrame, names: list[str]) -> list[str]:
    """The reference's spelling of each family name, matched case-insensitively."""
    families = sorted(set(reference["family"].unique().to_list()) - {""})
    by_lower = {family.lower(): family for family in families}
    unknown = [name for name in names if name.lower() not in by_lower]
    if unknown or not names:
        raise ValueError(f"unknown families {unknown}; the reference has {families} (any case)")
    return [by_lower[name.lower()] for name in names]


def proxy_sets(models: pl.DataFrame, train: list[str], test: list[str], proxy_ratio: float | None) -> list[tuple[str, list[str]]]:
    """(target, its proxies) for each test-family model, both smallest first. With `proxy_ratio`
    R the proxies are the same-family models of at most its size / R; without, the
    training-family models other than itself."""
    rows = []
    for model, family, params in models.filter(pl.col("family").is_in(test)).sort("params", "model").iter_rows():
        if proxy_ratio is None:
            candidates = models.filter(pl.col("family").is_in(train), pl.col("model") != model)
        else:
            candidates = models.filter(pl.col("family") == family, pl.col("params") <= params / proxy_ratio)
        rows.append((model, candidates.sort("params", "model")["model"].to_list()))
    return rows


def target_predictions(
    reference: pl.DataFrame, target: str, proxy_models: list[str], forecaster_factory: Callable[..., ProxyForecaster]
) -> tuple[pl.DataFrame, dict[str, np.ndarray]]:
    """(the target's questions with idx, rel, counts, acc; every predictor's values on them).

    Only the proxies' rows and the target's counts, relation and size reach the predictors;
    the target's accuracies are only returned, for scoring. Proxies from another corpus than
    the target's (family -> family across corpora) are used with ``force=True``.
    """
    actual = reference.filter(pl.col("model") == target)
    proxy_rows = reference.filter(pl.col("model").is_in(proxy_models))
    proxies = proxy_rows.select(*PROXY_COLUMNS, pl.col("corpus").alias("corpus_version"))
    # The proxies of a target share a corpus in the reference (one family, or families on
    # one corpus), so any proxy's rows carry the counts the forecaster is fitted with.
    frequency = proxy_rows.filter(pl.col("model") == proxy_models[0]).select(*FREQUENCY_COLUMNS, "obj")
    forecaster = forecaster_factory(corpus_version=actual["corpus"][0], force=True)
    questions = actual.select(*FREQUENCY_COLUMNS, "obj").join(frequency.select("idx"), on="idx", how="semi")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the command states proxies and corpora
        forecaster.fit(frequency, proxies)
        values = predictor_values(forecaster, proxies.drop("corpus_version"), questions, float(actual["params"][0]))
    return questions.join(actual.select("idx", "acc"), on="idx"), values


def evaluate_reference(
    reference: pl.DataFrame,
    train_families: list[str],
    test_families: list[str],
    proxy_ratio: float | None = None,
    keep_prompt_echo: bool = False,
    forecaster_factory: Callable[..., ProxyForecaster] = ProxyForecaster,
) -> pl.DataFrame:
    """One row of :data:`EVALUATION_COLUMNS` per test-family model that has a proxy.

    `reference`: :func:`smi_assets.smi.reference.load_reference`'s frame. Prompt-echo
    triples (object inside the subject) are left out of the fit and of every metric unless
    `keep_prompt_echo`. Targets without any proxy are left out.
    """
    if proxy_ratio is not None and proxy_ratio <= 1:
        raise ValueError(f"proxy_ratio must be above 1, not {proxy_ratio}")
    train = resolve_families(reference, train_families)
    test = resolve_families(reference, test_families)
    if not keep_prompt_echo:
        reference = reference.filter(~prompt_echo())
    models = reference.group_by("model").agg(pl.col("family", "params").first()).select("model", "family", "params")
    rows = []
    for target, proxy_models in proxy_sets(models, train, test, proxy_ratio):
        if not proxy_models:
            continue
        questions, values = target_predictions(reference, target, proxy_models, forecaster_factory)
        row: dict[str, object] = {
            "model": target, "params": float(models.filter(pl.col("model") == target)["params"][0]),
            "n_proxies": len(proxy_models), "n_questions": questions.height,
            "prompt_echo": "kept" if keep_prompt_echo else "excluded",
        }  # fmt: skip
        observed = questions["acc"].to_numpy()
        relations = questions["rel"].to_numpy()
        for predictor in PREDICTORS:
            for metric, value in score_predictions(observed, values[predictor], relations).items():
                row[f"{predictor}_{metric}"] = value
        rows.append(row)
    if not rows:
        raise ValueError("no test model has a proxy; lower --proxy-ratio or add training families")
    return pl.DataFrame(rows).select(EVALUATION_COLUMNS)
