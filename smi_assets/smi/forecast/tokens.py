"""Forecast a planned run given as (parameters, tokens), from checkpoints scored so far; invert it into a plan.

A pre-training team plans a run as N parameters trained on D tokens, and its checkpoints
arrive during the run. :class:`TokensForecaster` forecasts the per-question accuracy of
such a run (:meth:`~TokensForecaster.predict`), with 80% intervals on the mean and the
per-relation means (:meth:`~TokensForecaster.aggregate`); it answers "what run reaches
accuracy A" (:meth:`~TokensForecaster.plan`) and "which facts stay below A, and how many more
co-occurrences would each need" (:meth:`~TokensForecaster.knowledge_gaps`).

Inputs. Every scored checkpoint (the *proxies* frame: model, params, idx, acc, tokens,
run_id, run_tokens, step): a ladder run's final checkpoint and the intermediate ones of any
run, each with the tokens it has seen (``tokens``) and the tokens its whole run is planned
for (``run_tokens``); the corpus counts of every question (idx, rel, N, N_s, N_o, N_so) and
the corpus size in tokens. A checkpoint without ``tokens`` stays out of the D axis (warned);
one without ``run_tokens`` counts as a finished run.

The model has three parts.

1. **Exposure model (the D axis), fitted on every checkpoint with tokens, intermediate ones
   included.** A question's *expected exposure* in a checkpoint is its co-occurrence count
   times the share of the corpus the model has seen, ``E = N_so * tokens / corpus_tokens``
   (epochs above 1 multiply it), and

       logit acc(q, c) = a_rel(q) + (b + b_n n) e + b_n' n + u (c_u + c_ue e) + o (d + d_n n)

   with ``e = log2(1 + E)``, ``n = log2 params`` (centred), ``o`` the object's standardised
   log share of the corpus (popular objects are guessed more often) and ``u = 1 -
   tokens / run_tokens`` the unfinished fraction of the checkpoint's run (0 for a finished
   run): an intermediate checkpoint of a warmup + cosine run has not annealed its learning
   rate and is *not* a finished shorter run, so ``u`` carries that difference, learned from
   the intermediate checkpoints. Soft-label cross-entropy with a small L2 penalty. Because
   ``e`` varies across the questions of one checkpoint by two orders of magnitude (N_so
   spans 1 to hundreds), the exposure slope is identified within every checkpoint, not only
   from the few (N, D) points; this is how a ladder trained at one tokens-per-parameter
   ratio can still speak about other ratios.
2. **Before training: the params-only forecast's shape, at part 1's level.** The finished
   checkpoints are the proxies of :class:`~.proxy.ProxyForecaster`; its per-question shape
   (the transition model over the proxies) is read as the forecast on the ladder's recipe
   ``D = r(N)``, ``log r(N) = a + b log N`` fitted over the finished proxies (``r N`` with
   one tokens-per-parameter ratio, ``b = 1``; one token budget for every size, ``b = 0``, as
   the built-in ladder trains): the tokens a run of N gets when none are planned. A run
   planned at D moves each question's logit by ``M_q(N, D) - M_q(N, r(N))`` (part 1), then
   the logits are shifted, one shift per relation, to the **level**: part 1's mean
   accuracy of the relation at (N, D), a fit in log N and log D over every checkpoint,
   intermediate ones included. When the checkpoints hold no D variation (all at one
   tokens-per-parameter ratio, no intermediate ones) N and D cannot be told apart; the level
   is then ProxyForecaster's lines in log2 params, moved by part 1's difference between D and
   r N, and on the ratio line (or without tokens) the forecast *is* ProxyForecaster's,
   number for number (so the reference data's figures do not change). This follows
   compute-efficient model ladders for task prediction (Bhagia et al. 2024, the OLMo
   ladder: small models at a fixed tokens-per-parameter ratio, their fit extrapolated to the
   target's N and D) and Chinchilla-style fits in N and D (Hoffmann et al. 2022), here for
   per-fact accuracy with the data term entering through each fact's exposures. Tried and
   dropped: the level of a run off the ratio taken as that of the ratio-line run with the
   same compute (N' = sqrt(N D / r): no ratio effect at fixed compute, the first-order
   answer around a compute-optimal ratio). A one-ratio ladder identifies neither choice; on
   the benchmark's second world it over-forecast the 4x run by 0.19 (this one: +0.07),
   docs/forecast_tokens.md.
3. **During a run: the run's own checkpoints, each moved to the end of the run.** With
   ``run_id``, every scored checkpoint k of that run is projected to its final checkpoint:
   the relation's logit mean accuracy at k plus ``rate(N) * log2(D / tokens_k)``; the
   projections are averaged with weights ``1 / max(reach_k, 0.5)^2`` (reach_k = log2 of the
   final's over k's compute, the doublings left; the intervals below assume an error
   proportional to reach, so this is the inverse-variance combination), and the latest
   checkpoint's smoothed per-question logits are shifted per relation to the combined
   means. One late checkpoint that happens to sit high or low then moves the forecast less.
   ``rate(N) = exp(alpha + kappa n)``: the logit gain per doubling of tokens from an
   intermediate checkpoint to its run's final one (the finish of the run: more tokens and
   the learning rate annealed), fitted over every (intermediate, final) pair of the finished
   runs by least squares weighted by each pair's sampling variance (delta method, ``1 / (n
   p (1 - p))`` per mean: a checkpoint near accuracy 0 has not started learning and its
   logit rests on the clip, so it weighs little). The rate is a power of N rather than
   linear in n: the ladder's smaller runs gain more per doubling than its larger ones, and
   a linear size term extrapolated one doubling beyond the ladder turned the gain
   negative (floored at 0, it was "no gain at all" for the benchmark's target). A rate
   pooled over sizes without a size term was tried and dropped: it ignores that trend and
   overshot. Part 1 is not used here: its exposure slope is a cross-section between facts,
   and within one run the gain from more epochs of the same facts was far smaller (the
   benchmark's ladder, docs/forecast_tokens.md).

**Intervals (80%).** Half-width in logit space ``z_0.9 * s * max(d, 0.5)``: d is how far the
forecast reaches, log2 of the planned compute (6 N D) over the compute of the checkpoint it
starts from (the largest finished proxy; for a run forecast from its own checkpoints, the
reach whose 1 / d^2 is the sum of theirs), and s the spread of ``error / d`` over the
forecaster's own backtests on the data it was fitted on, as 1.4826 x its weighted median
absolute value: every intermediate checkpoint of every finished run forecasting that run's
final one, and every finished run forecast from the finished runs smaller than it (when two
or more are). Robust (one run that had learned nothing at a checkpoint must not set every
width) and weighted by each backtest's precision, the inverse of the sampling variances of
the two logit means it compares (its target's and that of the checkpoint it starts from): a
backtest from a checkpoint near accuracy 0 compares a logit resting on the clip, which
says little about the forecaster's error on runs that have learned. All logits move by the
half-width for the bounds. Per question, the bounds are those of the question's expected
accuracy under the level uncertainty; they do not cover the noise of one question's
observed accuracy.

**How far the D axis is extrapolated.** When every finished proxy shares one ratio, part 2's
D term rests on part 1 alone: the cross-section of exposures within checkpoints and the
intermediate checkpoints (fractions of r). A run planned at ``k r`` tokens per parameter
extrapolates the ratio k-fold beyond any finished run (:attr:`TokensForecaster.d_extrapolation`
gives the factor) and the largest exposures ``E`` beyond the largest seen.

Stated fallbacks and errors: no checkpoint with tokens (or no ``corpus_tokens``): the D axis
is absent, the forecast is ProxyForecaster's for every D (UserWarning when a D is given);
planned tokens or params at or below zero, a run_id without scored checkpoints or of another
size, a target accuracy unreachable within 1000x the largest proxy's compute: ValueError
naming the value.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable

import numpy as np
import polars as pl
from scipy.optimize import brentq, least_squares, minimize
from scipy.special import expit, logit

from smi_assets.smi.forecast.counts_model import FREQUENCY_COLUMNS, logit_shift_to_mean
from smi_assets.smi.forecast.proxy import DEFAULT_GENERATIONS, PROXY_COLUMNS, ProxyForecaster, smoothed_logit
from smi_assets.smi.metrics import check_columns

TOKEN_PROXY_COLUMNS = (*PROXY_COLUMNS, "tokens", "run_id", "run_tokens")
# A checkpoint at the end of its run, or of a run whose length is unknown: a finished model of its size.
FINISHED = pl.col("tokens").is_null() | pl.col("run_tokens").is_null() | (pl.col("tokens") >= pl.col("run_tokens"))
INTERVAL_Z = 1.2816  # the 90th percentile of a standard normal: two-sided 80% intervals
MIN_REACH = 0.5  # forecasts closer than this (log2 compute) get this reach's interval
# Used when the data allow no backtest (one finished run, no intermediate checkpoints): a
# logit spread per doubling of compute of the order the benchmark's backtests show; warned.
DEFAULT_SPREAD = 0.25
MAX_PLAN_COMPUTE_FACTOR = 1000.0  # plan() searches up to this multiple of the largest proxy's compute
PROB_MARGIN = 1e-6
ERROR_MARGIN = 0.01


def _ladder_recipe(finished: pl.DataFrame) -> tuple[float, float] | None:
    """(a, b) of ``log D = a + b log N`` over finished runs with tokens: how the ladder gave
    its sizes tokens. One size (or sizes too close to tell a slope): one ratio, ``b = 1``."""
    if finished.height == 0:
        return None
    log_params = np.log(finished["params"].to_numpy().astype(np.float64))
    log_tokens = np.log(finished["tokens"].to_numpy().astype(np.float64))
    if np.ptp(log_params) < np.log(1.1):
        return float(np.mean(log_tokens - log_params)), 1.0
    slope, intercept = np.polyfit(log_params, log_tokens, 1)
    return float(intercept), float(slope)


def _recipe_tokens(recipe: tuple[float, float], params: float) -> float:
    """The tokens ``log D = a + b log N`` gives a run of `params`, for `recipe` (a, b)."""
    intercept, slope = recipe
    return float(np.exp(intercept + slope * np.log(params)))


def flops(params: float, tokens: float) -> float:
    """Training compute by the usual 6 N D approximation."""
    return 6.0 * float(params) * float(tokens)


class ExposureModel:
    """Part 1 of the module docstring: per-question logit accuracy in expected exposure,
    params and the unfinished fraction of a run. ``l2``: penalty on the non-intercept weights."""

    def __init__(self, l2: float = 1e-3):
        self.l2 = l2

    def _design(self, questions: pl.DataFrame, params: np.ndarray, tokens: np.ndarray, unfinished: np.ndarray) -> np.ndarray:
        """Rows: questions x checkpoints (checkpoint-major); columns as in the docstring."""
        n_so = questions["N_so"].to_numpy().astype(np.float64)
        exposure = np.log2(1.0 + n_so[None, :] * (np.asarray(tokens, dtype=np.float64)[:, None] / self.corpus_tokens_))
        size = (np.log2(np.asarray(params, dtype=np.float64)) - self.size_center_)[:, None] * np.ones_like(exposure)
        left = np.asarray(unfinished, dtype=np.float64)[:, None] * np.ones_like(exposure)
        share = np.log2(np.maximum(questions["N_o"].to_numpy(), 1) / questions["N"].to_numpy())
        objects = np.broadcast_to((share - self.share_center_) / self.share_scale_, exposure.shape)
        relations = np.broadcast_to(self.relation_indicators(questions)[None], (*exposure.shape, len(self.relations_)))
        columns = [exposure, exposure * size, size, left, left * exposure, objects, objects * size]
        return np.column_stack([relations.reshape(-1, len(self.relations_)), *(column.reshape(-1) for column in columns)])

    def relation_indicators(self, questions: pl.DataFrame) -> np.ndarray:
        relations = questions["rel"].to_numpy()
        return (relations[:, None] == np.asarray(self.relations_)[None, :]).astype(np.float64)

    def fit(self, questions: pl.DataFrame, checkpoints: pl.DataFrame, accuracy: np.ndarray, corpus_tokens: int) -> ExposureModel:
        """`questions`: idx, rel, N, N_o, N_so; `checkpoints`: params, tokens, unfinished (one
        row per column of `accuracy`, a question x checkpoint matrix of accuracies)."""
        self.corpus_tokens_ = float(corpus_tokens)
        self.relations_ = sorted(set(questions["rel"].to_list()))
        self.size_center_ = float(np.mean(np.log2(checkpoints["params"].to_numpy().astype(np.float64))))
        share = np.log2(np.maximum(questions["N_o"].to_numpy(), 1) / questions["N"].to_numpy())
        self.share_center_, self.share_scale_ = float(share.mean()), float(share.std() or 1.0)
        design = self._design(questions, checkpoints["params"].to_numpy(), checkpoints["tokens"].to_numpy(), checkpoints["unfinished"].to_numpy())
        actual = np.asarray(accuracy, dtype=np.float64).T.reshape(-1)
        n_rows, n_intercepts = len(actual), len(self.relations_)
        penalised = np.r_[np.zeros(n_intercepts), np.ones(design.shape[1] - n_intercepts)]

        def loss_and_gradient(weights: np.ndarray) -> tuple[float, np.ndarray]:
            logits = design @ weights
            loss = np.mean(np.logaddexp(0.0, logits) - actual * logits) + 0.5 * self.l2 * np.sum(penalised * weights**2)
            gradient = design.T @ ((expit(logits) - actual) / n_rows) + self.l2 * penalised * weights
            return float(loss), gradient

        result = minimize(loss_and_gradient, np.zeros(design.shape[1]), jac=True, method="L-BFGS-B", options={"maxiter": 5000})
        self.weights_ = result.x
        return self

    def logits(self, questions: pl.DataFrame, params: float, tokens: float, unfinished: float = 0.0) -> np.ndarray:
        """Part 1's logit of every question for one checkpoint (or planned run, unfinished 0)."""
        return self._design(questions, np.array([params]), np.array([tokens]), np.array([unfinished])) @ self.weights_

    def exposure_slope(self, params: float) -> float:
        """d logit / d log2(1 + E) of a finished run of `params`."""
        n_relations = len(self.relations_)
        return float(self.weights_[n_relations] + self.weights_[n_relations + 1] * (np.log2(params) - self.size_center_))


def _group_shift(logits: np.ndarray, relations: np.ndarray, targets: dict[str, float]) -> np.ndarray:
    """`logits` shifted, one shift per relation, so each relation's mean accuracy is its target."""
    shifted = logits.copy()
    for rel, target in targets.items():
        members = relations == rel
        shifted[members] += logit_shift_to_mean(logits[members], float(np.clip(target, PROB_MARGIN, 1 - PROB_MARGIN)))
    return shifted


def _robust_spread(errors: np.ndarray, weights: np.ndarray | None = None) -> float:
    """The standard deviation of normal errors, estimated from their (weighted) median
    absolute size (1.4826 x median |e|): one run that had learned nothing at its checkpoint
    must not set every interval's width. `weights`: each error's precision (the backtests:
    the inverse sampling variance of the logit means it compares, :func:`_mean_logit_variance`,
    so a backtest from or to a checkpoint near accuracy 0 weighs little: its logit error
    measures the clip more than the forecaster). None: all alike."""
    size = np.abs(np.asarray(errors, dtype=np.float64))
    weights = np.ones_like(size) if weights is None else np.asarray(weights, dtype=np.float64)
    order = np.argsort(size)
    cumulative = np.cumsum(weights[order]) / weights.sum()
    # The weighted median; with equal weights and an even count, the mean of the middle two.
    below, above = np.searchsorted(cumulative, 0.5, side="left"), np.searchsorted(cumulative, 0.5 + 1e-12, side="left")
    return float(1.4826 * 0.5 * (size[order][below] + size[order][min(above, len(size) - 1)]))


def _logits(probabilities: np.ndarray) -> np.ndarray:
    return logit(np.clip(probabilities, PROB_MARGIN, 1 - PROB_MARGIN))


def _mean_logit(acc: np.ndarray) -> float:
    """Logit of a mean accuracy kept ERROR_MARGIN inside (0, 1): a checkpoint that has learned
    nothing yet (mean 0) would otherwise weigh without bound."""
    return float(logit(np.clip(np.mean(acc), ERROR_MARGIN, 1 - ERROR_MARGIN)))


def _mean_logit_variance(acc: np.ndarray) -> float:
    """Sampling variance of :func:`_mean_logit` of `acc` (delta method, the questions as
    independent draws): 1 / (n p (1 - p)), p kept ERROR_MARGIN inside (0, 1). A checkpoint
    near accuracy 0 (one that has not learned yet) gets a large variance: its logit mean
    rests on the margin, not on what it has learned."""
    p = float(np.clip(np.mean(acc), ERROR_MARGIN, 1 - ERROR_MARGIN))
    return 1.0 / (len(acc) * p * (1 - p))


def _relation_means(acc: np.ndarray, relations: np.ndarray) -> dict[str, float]:
    return {rel: float(acc[relations == rel].mean()) for rel in np.unique(relations)}


class TokensForecaster:
    """Per-question accuracy of a planned run (params, tokens) from scored checkpoints.

    See the module docstring for the model. ``proxy_forecaster``: the params-only forecaster
    of part 2 (default: ``ProxyForecaster(generations=generations)``). ``l2``: penalty of
    the exposure model. ``generations``: samples behind each accuracy (smoothed logits).
    ``calibrate``: run the backtests that size the intervals (off inside the backtests).
    """

    def __init__(
        self,
        proxy_forecaster: ProxyForecaster | None = None,
        l2: float = 1e-3,
        generations: int = DEFAULT_GENERATIONS,
        calibrate: bool = True,
    ):
        self.proxy_forecaster = proxy_forecaster
        self.l2 = l2
        self.generations = generations
        self.calibrate = calibrate

    # ------------------------------------------------------------------- fit
    def fit(self, frequency: pl.DataFrame, proxies: pl.DataFrame, corpus_tokens: int | None = None) -> TokensForecaster:
        """Fit parts 1-2 and size the intervals. `proxies`: one row per scored checkpoint x
        question (:data:`TOKEN_PROXY_COLUMNS`, optionally step); `frequency`: the counts
        of every question; `corpus_tokens`: the corpus size in tokens (None: no D axis)."""
        check_columns(frequency, FREQUENCY_COLUMNS, "frequency table")
        check_columns(proxies, TOKEN_PROXY_COLUMNS, "proxy accuracy table")
        if corpus_tokens is not None and corpus_tokens <= 0:
            raise ValueError(f"corpus_tokens must be positive, got {corpus_tokens}")
        self.frequency_, self.proxies_, self.corpus_tokens_ = frequency, proxies, corpus_tokens
        self.checkpoints_ = self._checkpoint_table(proxies)
        no_tokens = self.checkpoints_.filter(pl.col("tokens").is_null())["model"].to_list()
        if no_tokens:
            warnings.warn(f"checkpoints {no_tokens} have no tokens: left out of the D axis", UserWarning, stacklevel=2)
        finished = self.checkpoints_.filter(pl.col("finished"))
        if finished.height == 0:
            raise ValueError("no finished checkpoint (tokens == run_tokens, or run_tokens unknown): nothing to forecast a new run from")
        # A fresh copy: the backtests fit forecasters of their own with the same settings.
        template = self.proxy_forecaster or ProxyForecaster(generations=self.generations)
        base = ProxyForecaster(**{name: value for name, value in vars(template).items() if not name.endswith("_")})
        self.proxy_ = base.fit(frequency, proxies.filter(pl.col("model").is_in(finished["model"].to_list())).select(PROXY_COLUMNS))
        self.questions_ = self.proxy_.questions_
        self.relations_ = self.questions_["rel"].to_numpy()
        with_tokens = self.checkpoints_.filter(pl.col("tokens").is_not_null())
        self.size_center_ = float(np.mean(np.log2(self.checkpoints_["params"].to_numpy().astype(np.float64))))
        self.run_progress_ = self._fit_run_progress()
        self.has_d_axis_ = corpus_tokens is not None and with_tokens.height > 0
        finished_with_tokens = finished.filter(pl.col("tokens").is_not_null())
        self.largest_proxy_ = finished.sort("compute", "params", nulls_last=False)[-1]
        if not self.has_d_axis_:
            self.tokens_per_param_ = None
            self.ladder_recipe_ = None
            self.exposure_model_ = None
        else:
            ratios = (finished_with_tokens["tokens"] / finished_with_tokens["params"]).to_numpy().astype(np.float64)
            self.tokens_per_param_ = float(np.exp(np.mean(np.log(ratios)))) if len(ratios) else None
            self.ladder_recipe_ = _ladder_recipe(finished_with_tokens)
            self.exposure_model_ = ExposureModel(self.l2).fit(self.questions_, with_tokens, self._accuracy(with_tokens["model"].to_list()), corpus_tokens)
        ratios = with_tokens["tokens"] / with_tokens["params"]
        self.d_varies_ = self.has_d_axis_ and bool((ratios.max() / ratios.min()) > 1 + 1e-9)
        self.spread_, self.relation_spread_, self.backtests_ = DEFAULT_SPREAD, DEFAULT_SPREAD, pl.DataFrame()
        if self.calibrate:
            self._calibrate_intervals()
        return self

    def _checkpoint_table(self, proxies: pl.DataFrame) -> pl.DataFrame:
        """One row per checkpoint: model, params, tokens, run_id, run_tokens, unfinished, finished, compute."""
        table = proxies.group_by("model").agg(pl.col("params").first(), pl.col("tokens").first(), pl.col("run_id").first(), pl.col("run_tokens").first())
        fraction = pl.when(pl.col("run_tokens").is_null() | pl.col("tokens").is_null()).then(1.0)
        fraction = fraction.otherwise((pl.col("tokens") / pl.col("run_tokens")).clip(upper_bound=1.0))
        return (
            table.with_columns(pl.col("run_id").fill_null(pl.col("model")), (1.0 - fraction).alias("unfinished"))
            .with_columns(FINISHED.alias("finished"), (6.0 * pl.col("params") * pl.col("tokens")).alias("compute"))
            .sort("params", "tokens", "model")
        )

    def _accuracy(self, models: list[str]) -> np.ndarray:
        """Question x checkpoint accuracy matrix, questions in the order of `questions_`."""
        wide = self.questions_.select("idx").join(
            self.proxies_.filter(pl.col("model").is_in(models)).pivot(on="model", index="idx", values="acc"), on="idx", how="left"
        )
        return wide.select(models).to_numpy().astype(np.float64)

    def _fit_run_progress(self) -> np.ndarray:
        """(log rate, kappa, smallest n) of part 3: the logit mean accuracy gained per doubling of tokens
        from an intermediate checkpoint to its run's final one is ``exp(log rate + kappa n)``
        (n: centred log2 params), fitted by weighted least squares over every such pair of
        the finished runs (weights: the inverse of the pair's sampling variance, see
        :func:`_mean_logit_variance`); smallest n: that of the smallest run with pairs (the
        rate is not extrapolated below it). kappa is 0 with one run size; the rate is 0 (log
        rate -inf) without pairs or when the pooled gain is not positive."""
        known = self.checkpoints_.filter(pl.col("tokens").is_not_null())
        rows = []
        for _, part in known.group_by("run_id"):
            finals = part.filter(pl.col("finished"))
            if finals.height == 0:
                continue
            final = finals.row(0, named=True)
            final_acc = self._accuracy([final["model"]])[:, 0]
            for earlier in part.filter(~pl.col("finished")).iter_rows(named=True):
                earlier_acc = self._accuracy([earlier["model"]])[:, 0]
                rows.append((
                    np.log2(final["tokens"] / earlier["tokens"]), np.log2(final["params"]) - self.size_center_,
                    _mean_logit(final_acc) - _mean_logit(earlier_acc), 1.0 / (_mean_logit_variance(final_acc) + _mean_logit_variance(earlier_acc)),
                ))  # fmt: skip
        if not rows:
            return np.array([-np.inf, 0.0, -np.inf])
        doublings, size, gain, weight = np.asarray(rows).T
        pooled = float(np.sum(weight * doublings * gain) / np.sum(weight * doublings**2))
        if pooled <= 0:  # training on does not lower the expected accuracy: no gain
            return np.array([-np.inf, 0.0, -np.inf])
        if np.ptp(size) < 1e-9:  # one run size: no size term
            return np.array([np.log(pooled), 0.0, -np.inf])

        def residuals(theta: np.ndarray) -> np.ndarray:
            return np.sqrt(weight) * (gain - np.exp(theta[0] + theta[1] * size) * doublings)

        return np.r_[least_squares(residuals, np.array([np.log(pooled), 0.0])).x, size.min()]

    def _run_rate(self, params: float) -> float:
        """Part 3's logit gain per doubling of tokens for a run of `params`."""
        log_rate, kappa, smallest = self.run_progress_
        # Not extrapolated below the smallest run it was fitted on, where a falling power
        # of N would grow without bound; above the ladder it decays towards 0.
        size = max(np.log2(params) - self.size_center_, smallest)
        return float(np.exp(log_rate + kappa * size)) if np.isfinite(log_rate) else 0.0

    # ------------------------------------------------------------ intervals
    def _calibrate_intervals(self) -> None:
        """s of the intervals (module docstring) from backtests on the fitted data."""
        rows = []
        known = self.checkpoints_.filter(pl.col("tokens").is_not_null())
        if self.has_d_axis_:
            for run_id, part in known.group_by("run_id"):
                finals = part.filter(pl.col("finished"))
                if finals.height == 0:
                    continue
                final = finals.row(0, named=True)
                for earlier in part.filter(~pl.col("finished")).iter_rows(named=True):
                    kept = self.checkpoints_.filter((pl.col("run_id") != run_id[0]) | (pl.col("tokens") <= earlier["tokens"]))["model"]
                    rows.append(self._backtest("run", final, kept.to_list(), run_id=run_id[0]))
        for final in self.checkpoints_.filter(pl.col("finished")).iter_rows(named=True):
            smaller = self.checkpoints_.filter(pl.col("params") < final["params"])
            if smaller.filter(pl.col("finished")).height >= 2:
                rows.append(self._backtest("ladder", final, smaller["model"].to_list()))
        rows = [row for row in rows if row is not None]
        if not rows:
            warnings.warn(f"no backtest possible: intervals use the default spread {DEFAULT_SPREAD} per doubling of compute", UserWarning, stacklevel=3)
            return
        self.backtests_ = pl.DataFrame(rows)
        reach = self.backtests_["reach"].to_numpy()
        weight = self.backtests_["weight"].to_numpy()
        relation_errors = np.vstack(self.backtests_["relation_errors"].to_list()) / reach[:, None]
        self.spread_ = _robust_spread(self.backtests_["error"].to_numpy() / reach, weight)
        self.relation_spread_ = _robust_spread(relation_errors.ravel(), np.repeat(weight, relation_errors.shape[1]))

    def _backtest(self, kind: str, final: dict, models: list[str], run_id: str | None = None) -> dict | None:
        """Forecast checkpoint `final` from checkpoints `models` alone; its logit errors."""
        proxies = self.proxies_.filter(pl.col("model").is_in(models))
        forecaster = TokensForecaster(self.proxy_forecaster, self.l2, self.generations, calibrate=False)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                forecaster.fit(self.frequency_, proxies, self.corpus_tokens_)
                predicted, reach = forecaster._forecast(final["params"], final["tokens"], run_id)
            except ValueError:
                return None
        actual = self._accuracy([final["model"]])[:, 0]
        if run_id is None:  # the checkpoint the forecast starts from, as its reach counts
            start = forecaster.largest_proxy_["model"][0]
        else:
            start = forecaster.checkpoints_.filter((pl.col("run_id") == run_id) & pl.col("tokens").is_not_null()).sort("tokens")["model"][-1]
        weight = 1.0 / (_mean_logit_variance(actual) + _mean_logit_variance(self._accuracy([start])[:, 0]))

        def error(members: np.ndarray) -> float:
            return _mean_logit(actual[members]) - _mean_logit(predicted[members])

        relation_errors = [error(self.relations_ == rel) for rel in np.unique(self.relations_)]
        everything = np.ones(len(actual), dtype=bool)
        return {"kind": kind, "target": final["model"], "reach": max(reach, MIN_REACH), "error": error(everything),
                "relation_errors": relation_errors, "start": start, "weight": weight}  # fmt: skip

    # --------------------------------------------------------------- predict
    def ladder_tokens(self, params: float) -> float | None:
        """The tokens the ladder's recipe gives a run of `params`: ``log D = a + b log N``
        fitted over its finished runs (``b = 1``, one tokens-per-parameter ratio, for a
        compute-efficient ladder; ``b = 0`` for one whose sizes all train on the same tokens);
        None when no checkpoint has tokens. What a planned run without tokens is trained on."""
        return None if self.ladder_recipe_ is None else _recipe_tokens(self.ladder_recipe_, params)

    def _planned_tokens(self, params: float, tokens: float | None) -> float | None:
        if not params > 0:
            raise ValueError(f"planned params must be positive, got {params}")
        if tokens is None:
            return self.ladder_tokens(params)
        if not tokens > 0:
            raise ValueError(f"planned tokens must be positive, got {tokens}")
        return float(tokens)

    def _forecast(self, params: float, tokens: float | None, run_id: str | None = None) -> tuple[np.ndarray, float]:
        """(per-question predicted accuracy, reach: log2 of planned over starting compute).
        Probabilities, not logits: on the ladder's ratio they are ProxyForecaster's to the bit."""
        params = float(params)
        tokens = self._planned_tokens(params, tokens)
        if run_id is not None:
            return self._run_forecast(params, tokens, run_id)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*not a forecast.*")
            base = self.proxy_.predict(params)["predicted_acc"].to_numpy()
        base_logits = _logits(base)
        largest = self.largest_proxy_.row(0, named=True)
        if not self.has_d_axis_ or tokens is None or self.ladder_recipe_ is None:
            if tokens is not None:
                warnings.warn("no checkpoint has tokens: the forecast ignores the planned tokens", UserWarning, stacklevel=3)
            return base, 2 * float(np.log2(params / largest["params"]))
        reach = float(np.log2(flops(params, tokens) / largest["compute"])) if largest["compute"] else 2 * float(np.log2(params / largest["params"]))
        on_line = self.ladder_tokens(params)
        if not self.d_varies_ and abs(np.log(tokens / on_line)) < 1e-9:
            return base, reach
        planned = self.exposure_model_.logits(self.questions_, params, tokens)
        line = self.exposure_model_.logits(self.questions_, params, on_line)
        targets = _relation_means(expit(planned), self.relations_)
        if not self.d_varies_:
            # One tokens-per-parameter ratio: part 1 only moves ProxyForecaster's level off it.
            on_line_means = _relation_means(expit(line), self.relations_)
            targets = {rel: base[self.relations_ == rel].mean() + targets[rel] - on_line_means[rel] for rel in targets}
        return expit(_group_shift(base_logits + planned - line, self.relations_, targets)), reach

    def _run_forecast(self, params: float, tokens: float | None, run_id: str) -> tuple[np.ndarray, float]:
        """Part 3: run `run_id`'s final checkpoint from its own scored checkpoints."""
        own = self.checkpoints_.filter((pl.col("run_id") == run_id) & pl.col("tokens").is_not_null()).sort("tokens")
        if own.height == 0:
            raise ValueError(f"run_id {run_id!r} has no scored checkpoint with tokens")
        latest = own.row(own.height - 1, named=True)
        if latest["params"] != params:
            raise ValueError(f"run {run_id!r} has {latest['params']} params, not the planned {params:g}")
        if tokens is None:
            tokens = float(latest["run_tokens"]) if latest["run_tokens"] is not None else self.ladder_tokens(params)
        relations, rate = np.unique(self.relations_), self._run_rate(params)
        projections, weights = [], []
        for checkpoint in own.iter_rows(named=True):
            observed = self._accuracy([checkpoint["model"]])[:, 0]
            doublings = float(np.log2(tokens / checkpoint["tokens"]))
            gain = rate * max(doublings, 0.0)
            projections.append([_mean_logit(observed[self.relations_ == rel]) + gain for rel in relations])
            # The error of a projection grows with its reach (as the intervals assume): weights 1 / reach^2.
            weights.append(1.0 / max(doublings, MIN_REACH) ** 2)
        weights = np.asarray(weights)
        combined = weights @ np.asarray(projections) / weights.sum()
        targets = {rel: float(expit(value)) for rel, value in zip(relations, combined, strict=True)}
        observed = self._accuracy([latest["model"]])[:, 0]
        reach = float(weights.sum() ** -0.5)  # the reach whose interval the combination's precision has
        return expit(_group_shift(smoothed_logit(observed, self.generations), self.relations_, targets)), reach

    def _half_width(self, reach: float, per_relation: bool) -> float:
        return INTERVAL_Z * (self.relation_spread_ if per_relation else self.spread_) * max(reach, MIN_REACH)

    def predict(self, params: float, tokens: float | None = None, run_id: str | None = None) -> pl.DataFrame:
        """Per-question forecast of a run of `params` trained on `tokens` (None: the ladder's
        recipe, :meth:`ladder_tokens`; with `run_id`: that run's planned tokens): idx, rel,
        predicted_acc, acc_low, acc_high (the 80% interval of part 1's level uncertainty,
        per relation). With `run_id`, the forecast of that run's final checkpoint from its
        own latest checkpoint (part 3)."""
        predicted, reach = self._forecast(params, tokens, run_id)
        logits, width = _logits(predicted), self._half_width(reach, per_relation=True)
        return self.questions_.select("idx", "rel").with_columns(
            pl.Series("predicted_acc", predicted),
            pl.Series("acc_low", np.minimum(expit(logits - width), predicted)),  # the clip of _logits must not push a bound past the forecast
            pl.Series("acc_high", np.maximum(expit(logits + width), predicted)),
        )

    def aggregate(self, params: float, tokens: float | None = None, run_id: str | None = None) -> pl.DataFrame:
        """Mean forecast overall (rel "*") and per relation with 80% intervals: rel,
        predicted_acc, acc_low, acc_high, n_questions, reach (log2 compute beyond the start)."""
        predicted, reach = self._forecast(params, tokens, run_id)
        logits, rows = _logits(predicted), []
        for rel in ["*", *np.unique(self.relations_).tolist()]:
            members = np.ones(len(logits), dtype=bool) if rel == "*" else self.relations_ == rel
            width = self._half_width(reach, per_relation=rel != "*")
            chosen = logits[members]
            mean = float(predicted[members].mean())
            rows.append({"rel": rel, "predicted_acc": mean, "acc_low": min(float(expit(chosen - width).mean()), mean),
                         "acc_high": max(float(expit(chosen + width).mean()), mean), "n_questions": int(members.sum()), "reach": reach})  # fmt: skip
        return pl.DataFrame(rows)

    @property
    def d_extrapolation(self) -> float | None:
        """Largest tokens-per-parameter ratio among finished runs over the smallest: 1 when
        the ladder shares one ratio (then every other ratio is extrapolated by part 1)."""
        finished = self.checkpoints_.filter(pl.col("finished") & pl.col("tokens").is_not_null())
        if finished.height == 0:
            return None
        ratios = (finished["tokens"] / finished["params"]).to_numpy()
        return float(ratios.max() / ratios.min())

    # ------------------------------------------------------------------ plan
    def _selection(self, relation: str | None, questions: Iterable[int] | None) -> np.ndarray:
        members = np.ones(self.questions_.height, dtype=bool)
        if relation is not None:
            if relation not in set(self.relations_.tolist()):
                raise ValueError(f"relation {relation!r} has no scored question; relations: {sorted(set(self.relations_.tolist()))}")
            members &= self.relations_ == relation
        if questions is not None:
            wanted = np.isin(self.questions_["idx"].to_numpy(), np.asarray(list(questions)))
            if not wanted.any():
                raise ValueError("none of the given questions was scored by the proxies")
            members &= wanted
        if not members.any():
            raise ValueError(f"no scored question is in relation {relation!r} and the given questions")
        return members

    def plan(self, target_accuracy: float, relation: str | None = None, questions: Iterable[int] | None = None, tokens_per_param: float | None = None) -> dict:
        """The smallest run on the ladder's recipe (:meth:`ladder_tokens`), or at
        `tokens_per_param` when given, whose forecast mean
        over the chosen questions (all; a relation; given idx) reaches `target_accuracy`:
        params, tokens, compute, and the 80% range (params_low where the interval's upper
        bound reaches the target, params_high where its lower bound does; None beyond the
        search). ValueError naming the value when the forecast stays below the target up
        to 1000x the largest proxy's compute."""
        if not 0 < target_accuracy < 1:
            raise ValueError(f"target accuracy must be in (0, 1), got {target_accuracy}")
        if tokens_per_param is not None and not tokens_per_param > 0:
            raise ValueError(f"tokens_per_param must be positive, got {tokens_per_param}")
        recipe = (float(np.log(tokens_per_param)), 1.0) if tokens_per_param is not None else self.ladder_recipe_
        if recipe is None:
            raise ValueError("plan needs tokens_per_param: the checkpoints carry no tokens")
        intercept, slope = recipe
        if slope <= -0.5:
            raise ValueError(f"the ladder gave larger runs fewer tokens (tokens ~ params^{slope:.2f}): pass tokens_per_param")

        def tokens_at(params: float) -> float:
            return _recipe_tokens(recipe, params)

        members = self._selection(relation, questions)
        largest = self.largest_proxy_.row(0, named=True)
        start_compute = largest["compute"] or flops(largest["params"], tokens_at(largest["params"]))
        # The largest N whose compute 6 N D(N) = 6 e^a N^(1+b) is within the search.
        low_log = np.log2(largest["params"])
        high_log = (np.log(MAX_PLAN_COMPUTE_FACTOR * start_compute / 6.0) - intercept) / (1.0 + slope) / np.log(2.0)
        width = lambda reach: self._half_width(reach, per_relation=relation is not None)  # noqa: E731

        def mean_at(log_params: float, side: float) -> float:
            predicted, reach = self._forecast(2.0**log_params, tokens_at(2.0**log_params))
            return float(expit(_logits(predicted[members]) + side * width(reach)).mean())

        def solve(side: float) -> float | None:
            if mean_at(high_log, side) < target_accuracy:
                return None
            if mean_at(low_log, side) >= target_accuracy:
                return float(2.0**low_log)
            return float(2.0 ** brentq(lambda x: mean_at(x, side) - target_accuracy, low_log, high_log, xtol=1e-6))

        params = solve(0.0)
        if params is None:
            reached = mean_at(high_log, 0.0)
            raise ValueError(
                f"target accuracy {target_accuracy} is not reached within {MAX_PLAN_COMPUTE_FACTOR:g}x the largest proxy's compute "
                f"({MAX_PLAN_COMPUTE_FACTOR * start_compute:.3g} FLOPs, {tokens_at(2.0**high_log):.3g} tokens): the forecast there is {reached:.4f}"
            )
        if params == 2.0**low_log:
            warnings.warn(f"target accuracy {target_accuracy} is already forecast at the largest proxy's size", UserWarning, stacklevel=2)
        optimistic, pessimistic = solve(+1.0), solve(-1.0)
        return {
            "target_accuracy": target_accuracy, "relation": relation, "n_questions": int(members.sum()),
            "tokens_per_param": tokens_at(params) / params, "params": params, "tokens": tokens_at(params), "compute": flops(params, tokens_at(params)),
            "params_low": optimistic, "params_high": pessimistic,
            "compute_low": None if optimistic is None else flops(optimistic, tokens_at(optimistic)),
            "compute_high": None if pessimistic is None else flops(pessimistic, tokens_at(pessimistic)),
        }  # fmt: skip

    def knowledge_gaps(self, params: float, tokens: float | None, target_accuracy: float) -> pl.DataFrame:
        """One row per question forecast below `target_accuracy` for the run (params, tokens):
        idx, rel, predicted_acc, N_so, needed_N_so (co-occurrences for its forecast to reach
        the target, by part 1's exposure slope; null when more co-occurrences do not raise
        it), extra_cooccurrences; fewest extra first."""
        if not 0 < target_accuracy < 1:
            raise ValueError(f"target accuracy must be in (0, 1), got {target_accuracy}")
        if not self.has_d_axis_:
            raise ValueError("knowledge gaps need the D axis: checkpoints with tokens and corpus_tokens")
        tokens = self._planned_tokens(params, tokens)
        forecast = self.predict(params, tokens).select("idx", "rel", "predicted_acc")
        n_so = self.questions_["N_so"].to_numpy().astype(np.float64)
        share = tokens / self.corpus_tokens_
        slope = self.exposure_model_.exposure_slope(params)
        predicted = forecast["predicted_acc"].to_numpy()
        gap = logit(target_accuracy) - _logits(predicted)
        needed = np.full(len(n_so), np.nan)
        if slope > 0:
            exposure = np.log2(1.0 + n_so * share) + gap / slope
            needed = np.ceil((2.0**exposure - 1.0) / share)
        return (
            forecast.with_columns(pl.Series("N_so", n_so.astype(np.int64)), pl.Series("needed_N_so", needed).fill_nan(None).cast(pl.Int64))
            .with_columns((pl.col("needed_N_so") - pl.col("N_so")).alias("extra_cooccurrences"))
            .filter(pl.col("predicted_acc") < target_accuracy)
            .sort("extra_cooccurrences", "idx", nulls_last=True)
        )
