"""Forecast which questions a larger model will answer from smaller proxies and corpus counts.

Inputs, all known before the target is trained: the per-question accuracies of one or more
already-scored *proxies* (smaller checkpoints trained on the same corpus), each question's
corpus counts and relation, and the planned size. Output: the probability that a model of
the planned size answers each question (:meth:`ProxyForecaster.predict`).

The model (:class:`ProxyForecaster`) has two parts, both fitted on the proxies alone.

1. **Shape: a transition model in logit space, fitted on pairs of proxies.** For a pair
   "the proxies up to size a -> the larger proxy of size b" it models

       logit acc_b(q) = c_pair + w . f(q),
       f(q) = [L, L d, s d, h, h d, spline bases of the counts, relation indicators]

   where L is the smoothed logit of the largest input proxy's accuracy on question q,
   d = log2(b / a) the size gap, s the per-question slope of L in log2 params between the
   two largest inputs, h the largest input's mean logit over the other questions with the
   same relation and object (how readily that proxy produces this object for this
   relation), and c_pair one free intercept per pair (the level is part 2's job). The
   counts bases are those of :func:`~smi_assets.smi.forecast.counts_model.count_features`. w minimises
   soft-label cross-entropy against the fractional accuracies plus ``l2/2 * |w - e_L|^2``:
   the penalty shrinks toward "the largest proxy as is" (weight 1 on L), which after the
   anchoring below is the shifted-proxy baseline, so with little evidence the forecast
   falls back to it. The training pairs are those whose larger proxy is the largest input
   of the forecast and whose gap is at least ``min_gap_fraction`` of the forecast's gap
   (every gap when none is that large): the regime nearest to the one forecast.
2. **Level: anchoring.** The forecast applies w to the features of the proxies below the
   planned size at the planned gap, then shifts the logits, one shift per relation
   (``anchor="relation"``; ``"mean"``: one overall), until each relation's mean prediction
   equals the average of two scaling lines at the planned size (mean accuracy linear in
   log2 params): one over all proxies and one over the largest two (``level_proxies``).
   Accuracy grows faster than linearly at small sizes and slower at large ones, so the
   first line under-shoots early and the second over-shoots late; their average was the
   better level on Pythia (docs/smi_results.md, section 5). Known defect: both lines use
   every proxy, also those above the planned size, so a "not a forecast" size far below the
   largest proxies (leave-one-size-out) gets a badly extrapolated level; a real forecast
   (all proxies smaller) is not affected.

Stated fallbacks and errors (never a silent number):

- no proxies: the counts model given as ``counts_model``
  (:class:`~smi_assets.smi.forecast.counts_model.SizeConditionedForecaster`); without one, ValueError;
- no training pair (only one proxy below the planned size): that proxy shifted to the
  level lines (UserWarning);
- fewer than 3 proxies: the slope term is left out (two for the slope and a larger one to
  learn its weight are needed); a forecast with one proxy below the planned size has no
  slope either (UserWarning);
- a planned size at or below the largest proxy: UserWarning "not a forecast"; the proxies
  smaller than the planned size are the inputs, the counts model fitted on the proxies
  when none is smaller;
- a proxy whose ``corpus_version`` differs from the forecaster's: ValueError unless
  ``force=True`` (then a UserWarning);
- proxy questions without counts, or proxies that scored different questions: ValueError
  naming the questions or the model.
"""

from __future__ import annotations

import warnings

import numpy as np
import polars as pl
from scipy.optimize import minimize
from scipy.special import expit
from sklearn.preprocessing import SplineTransformer

from smi_assets.smi.forecast.counts_model import (
    FREQUENCY_COLUMNS,
    Anchor,
    LogParamsLines,
    SizeConditionedForecaster,
    count_features,
    logit_shift_to_mean,
)
from smi_assets.smi.metrics import check_columns

PROXY_COLUMNS = ("model", "params", "idx", "acc")
# Accuracies are fractions of this many generations (20 templates x 20 samples in the
# paper); the logit of (successes + 0.5) / (n + 1) keeps 0 and 1 finite.
DEFAULT_GENERATIONS = 400


def smoothed_logit(acc: np.ndarray, generations: int = DEFAULT_GENERATIONS) -> np.ndarray:
    """Logit of the accuracy with half a success added (Jeffreys-like), finite at 0 and 1."""
    share = (np.asarray(acc, dtype=np.float64) * generations + 0.5) / (generations + 1)
    return np.log(share / (1 - share))


class ProxyForecaster:
    """Per-question accuracy of a planned size from smaller proxies, counts and relation.

    See the module docstring for the model. ``l2``: penalty on the shape weights.
    ``anchor``: "relation" or "mean" (see part 2). ``min_gap_fraction``: training pairs
    need a size gap of at least this fraction of the forecast's gap (log2 scale).
    ``corpus_version``: the corpus the forecast is for; proxies with another
    ``corpus_version`` are refused unless ``force``. ``generations``: samples behind each
    accuracy (for the smoothed logit). ``level_proxies``: the scaling lines whose average
    is the level, each over the largest n proxies (0: all).
    """

    def __init__(
        self,
        l2: float = 1e-2,
        anchor: Anchor = "relation",
        min_gap_fraction: float = 0.5,
        n_knots: int = 4,
        corpus_version: str | None = None,
        force: bool = False,
        generations: int = DEFAULT_GENERATIONS,
        level_proxies: tuple[int, ...] = (0, 2),
    ):
        self.l2 = l2
        self.anchor = anchor
        self.min_gap_fraction = min_gap_fraction
        self.n_knots = n_knots
        self.corpus_version = corpus_version
        self.force = force
        self.generations = generations
        self.level_proxies = level_proxies

    # ----------------------------------------------------------------- inputs
    def _check_corpus(self, proxies: pl.DataFrame) -> None:
        if self.corpus_version is None or "corpus_version" not in proxies.columns:
            return
        other = proxies.filter(pl.col("corpus_version") != self.corpus_version)
        if other.height == 0:
            return
        found = sorted(set(zip(other["model"].to_list(), other["corpus_version"].to_list())))
        message = f"proxies {found} were trained on another corpus than the forecast's corpus_version {self.corpus_version!r}"
        if not self.force:
            raise ValueError(message + "; pass force=True to use them anyway")
        warnings.warn(message + " (forced)", UserWarning, stacklevel=3)

    def _proxy_matrix(self, proxies: pl.DataFrame, frequency: pl.DataFrame) -> None:
        """Store the proxies as a (question x proxy) accuracy matrix, smallest first."""
        sizes = proxies.group_by("model").agg(pl.col("params").first(), pl.col("params").n_unique().alias("n_sizes"))
        ambiguous = sizes.filter(pl.col("n_sizes") > 1)["model"].to_list()
        if ambiguous:
            raise ValueError(f"proxies {ambiguous} have more than one params value")
        sizes = sizes.sort("params", "model")
        questions = sizes.select("model").join(proxies.group_by("model").agg(pl.col("idx").sort()), on="model", maintain_order="left")
        reference = questions["idx"][0].to_list()
        for model, idx in questions.iter_rows():
            if idx != reference:
                raise ValueError(
                    f"proxy {model!r} scored {len(idx)} questions, proxy {questions['model'][0]!r} {len(reference)}: every proxy must score the same questions"
                )
        no_counts = pl.DataFrame({"idx": reference}).join(frequency.select("idx"), on="idx", how="anti")
        if no_counts.height:
            raise ValueError(f"{no_counts.height} proxy questions have no counts in the frequency table (first idx: {no_counts['idx'].head(5).to_list()})")
        wide = proxies.pivot(on="model", index="idx", values="acc").sort("idx")
        self.models_ = sizes["model"].to_list()
        self.log_params_ = np.log2(sizes["params"].to_numpy().astype(np.float64))
        self.questions_ = wide.select("idx").join(frequency, on="idx", how="left")
        self.accuracy_ = wide.select(self.models_).to_numpy().astype(np.float64)
        self.logits_ = smoothed_logit(self.accuracy_, self.generations)

    # --------------------------------------------------------------- features
    def _object_logits(self, column: int) -> np.ndarray:
        """Mean logit of proxy `column` over the other questions with the same relation and object."""
        if "obj" not in self.questions_.columns:
            return np.zeros(self.questions_.height)
        frame = self.questions_.select("rel", "obj").with_columns(pl.Series("logit", self.logits_[:, column]))
        keys = ["rel", "obj"]
        total, count = pl.col("logit").sum().over(keys), pl.len().over(keys)
        leave_one_out = pl.when(count > 1).then((total - pl.col("logit")) / (count - 1)).otherwise(pl.col("logit"))
        return frame.select(leave_one_out)["logit"].to_numpy()

    def _features(self, inputs: list[int], gap: float) -> np.ndarray:
        """f(q) of the module docstring for input proxies `inputs` (column indices, smallest
        first) and a size gap `gap` (log2) from the largest of them."""
        last = self.logits_[:, inputs[-1]]
        if self.use_slope_ and len(inputs) >= 2:
            previous = inputs[-2]
            slope = (last - self.logits_[:, previous]) / (self.log_params_[inputs[-1]] - self.log_params_[previous])
        else:
            slope = np.zeros_like(last)
        parts = [np.column_stack([last, last * gap])]
        if self.use_slope_:
            parts.append((slope * gap)[:, None])
        objects = self._object_logits(inputs[-1])
        parts += [np.column_stack([objects, objects * gap]), self.count_bases_, self.relation_indicators_]
        return np.hstack(parts)

    def _training_pairs(self, last: int, gap: float) -> list[tuple[list[int], int, float]]:
        """(input columns, target column, pair gap) for the pairs whose larger proxy is column
        `last` and whose gap is at least `min_gap_fraction` of `gap` (every gap when none is);
        the inputs of a pair are all proxies up to its smaller size."""
        pairs = []
        for smaller in range(last):
            pair_gap = float(self.log_params_[last] - self.log_params_[smaller])
            if pair_gap > 0:
                inputs = [i for i in range(last) if self.log_params_[i] <= self.log_params_[smaller]]
                pairs.append((inputs, last, pair_gap))
        wide_enough = [pair for pair in pairs if pair[2] >= self.min_gap_fraction * gap]
        return wide_enough or pairs

    # ------------------------------------------------------------------- fit
    def fit(
        self,
        frequency: pl.DataFrame,
        proxies: pl.DataFrame,
        counts_model: SizeConditionedForecaster | None = None,
    ) -> ProxyForecaster:
        """Store the proxies and fit the counts model on them (the fallback below the
        smallest proxy). `proxies`: model, params, idx, acc (and optionally corpus_version,
        checked against the forecaster's). `frequency`: idx, rel, N, N_s, N_o, N_so (and
        optionally obj) of the forecast's corpus. `counts_model`: a fitted counts model to
        use when there are no proxies. The transition model is fitted per planned gap in
        :meth:`predict` (it depends on the gap) and cached."""
        if self.anchor not in ("mean", "relation"):
            raise ValueError(f"anchor must be 'mean' or 'relation', not {self.anchor!r}")
        check_columns(frequency, FREQUENCY_COLUMNS, "frequency table")
        check_columns(proxies, PROXY_COLUMNS, "proxy accuracy table")
        self.frequency_ = frequency
        self.counts_model_ = counts_model
        self.n_proxies_ = proxies["model"].n_unique()
        self.transitions_: dict[tuple[int, float], np.ndarray] = {}
        if self.n_proxies_ == 0:
            if counts_model is None:
                raise ValueError("no proxies and no counts model to fall back to")
            return self
        self._check_corpus(proxies)
        self._proxy_matrix(proxies.select(PROXY_COLUMNS), frequency)
        counts = count_features(self.questions_)
        self.count_bases_ = np.hstack([
            SplineTransformer(n_knots=self.n_knots, degree=3, extrapolation="constant").fit_transform(counts[:, :4]),
            counts[:, 4:],
        ])  # fmt: skip
        relations = self.questions_["rel"].to_numpy()
        self.relations_ = sorted(set(relations.tolist()))
        self.relation_codes_ = np.searchsorted(np.asarray(self.relations_), relations)
        self.relation_indicators_ = (relations[:, None] == np.asarray(self.relations_)[None, :]).astype(np.float64)
        # The slope's weight is learnable only if some training pair has two inputs.
        self.use_slope_ = self.n_proxies_ >= 3
        if self.n_proxies_ == 2:
            warnings.warn(
                "2 proxies: the slope term needs 3 (two for the slope, one larger to learn its weight); left out",
                UserWarning, stacklevel=2,
            )  # fmt: skip
        with_rel = proxies.join(frequency.select("idx", "rel"), on="idx")
        self.level_lines_ = []
        for n_largest in self.level_proxies:
            rows = with_rel.filter(pl.col("model").is_in(self.models_[-n_largest:] if n_largest else self.models_))
            self.level_lines_.append((LogParamsLines().fit(rows), LogParamsLines(by="rel").fit(rows)))
        if counts_model is None:
            self.counts_model_ = SizeConditionedForecaster().fit(frequency, proxies.select(PROXY_COLUMNS))
        return self

    def _fit_transition(self, last: int, gap: float) -> np.ndarray:
        """Shape weights w (module docstring, part 1) for a forecast `gap` from column `last`."""
        key = (last, round(gap, 6))
        if key in self.transitions_:
            return self.transitions_[key]
        identity = np.zeros(self._features([last], gap).shape[1])
        identity[0] = 1.0
        pairs = self._training_pairs(last, gap)
        if not pairs:
            warnings.warn("no proxy pair to learn from: the largest proxy shifted to the level lines", UserWarning, stacklevel=3)
            self.transitions_[key] = identity
            return identity
        design = np.vstack([self._features(inputs, pair_gap) for inputs, _, pair_gap in pairs])
        actual = np.concatenate([self.accuracy_[:, target] for _, target, _ in pairs])
        # One intercept per pair: the level comes from anchoring, not from these.
        group_of_row = np.repeat(np.arange(len(pairs)), self.questions_.height)
        n_intercepts = len(pairs)
        width = design.shape[1]
        # Shrink toward "the largest proxy as is" (weight 1 on its logit, 0 elsewhere):
        # anchored, that is the shifted-proxy baseline, so the penalty pulls toward it.
        n_rows = len(actual)

        def loss_and_gradient(weights: np.ndarray) -> tuple[float, np.ndarray]:
            shape, intercepts = weights[:width], weights[width:]
            logits = design @ shape + intercepts[group_of_row]
            deviation = shape - identity
            loss = np.mean(np.logaddexp(0.0, logits) - actual * logits) + 0.5 * self.l2 * np.sum(deviation**2)
            residual = (expit(logits) - actual) / n_rows
            gradient = np.concatenate([design.T @ residual + self.l2 * deviation, np.bincount(group_of_row, residual, n_intercepts)])
            return float(loss), gradient

        start = np.concatenate([identity, np.zeros(n_intercepts)])
        result = minimize(loss_and_gradient, start, jac=True, method="L-BFGS-B", options={"maxiter": 3000})
        self.transitions_[key] = result.x[:width]
        return self.transitions_[key]

    # --------------------------------------------------------------- predict
    def _anchor(self, logits: np.ndarray, params: float) -> np.ndarray:
        relations = self.questions_["rel"].to_numpy()
        if self.anchor == "mean":
            groups = {None: np.ones(len(logits), dtype=bool)}
        else:
            groups = {rel: relations == rel for rel in np.unique(relations)}
        targets = {group: 0.0 for group in groups}
        for overall_line, relation_lines in self.level_lines_:
            overall = overall_line.predict(params)
            if self.anchor == "mean":
                level = {None: overall}
            else:
                level = relation_lines.predict_groups(params, groups, fallback=overall)
            for group in groups:
                targets[group] += level[group] / len(self.level_lines_)
        shifted = logits.copy()
        for group, members in groups.items():
            target = float(np.clip(targets[group], 1e-6, 1 - 1e-6))
            shifted[members] += logit_shift_to_mean(logits[members], target)
        return shifted

    def predict(self, params: float) -> pl.DataFrame:
        """Predicted accuracy at `params` of every question the proxies scored: columns idx,
        rel, predicted_acc, n_inputs (proxies the forecast used; 0 for the counts model)."""
        params = float(params)
        if self.n_proxies_ == 0:
            return self._counts_fallback(self.frequency_, params)
        log_params = np.log2(params)
        if log_params <= self.log_params_[-1]:
            warnings.warn(
                f"planned size {params:.3g} is at or below the largest proxy ({2 ** self.log_params_[-1]:.3g}): "
                "not a forecast", UserWarning, stacklevel=2,
            )  # fmt: skip
        inputs = [i for i, size in enumerate(self.log_params_) if size < log_params]
        if not inputs:
            return self._counts_fallback(self.questions_, params)
        if len(inputs) < 2 and self.use_slope_:
            warnings.warn("fewer than 2 proxies below the planned size: no slope for this forecast", UserWarning, stacklevel=2)
        gap = float(log_params - self.log_params_[inputs[-1]])
        weights = self._fit_transition(inputs[-1], gap)
        predicted = expit(self._anchor(self._features(inputs, gap) @ weights, params))
        return self.questions_.select("idx", "rel").with_columns(pl.Series("predicted_acc", predicted), pl.lit(len(inputs)).alias("n_inputs"))

    def _counts_fallback(self, questions: pl.DataFrame, params: float) -> pl.DataFrame:
        warnings.warn("no proxy below the planned size: the counts model's forecast", UserWarning, stacklevel=3)
        return self.counts_model_.predict(questions, params).with_columns(pl.lit(0).alias("n_inputs"))
