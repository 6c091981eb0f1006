"""Forecasts in (params, tokens) judged on models trained afterwards: issue 16's benchmark.

The data is generated in the run (19 minutes on the shared 2-core machine, most of it the
4x run's training), all from one small synthetic world (:data:`WORLD`: 100 people x 3
relations, each fact stated in 1-200 documents, a corpus of 118k tokens; 300 facts, 4 cloze
templates each; docs/forecast_tokens.md has the figures and why this size):

- a compute-efficient **ladder** of three GPTs (:data:`LADDER`, about 38k, 98k and 147k
  non-embedding parameters) trained at one tokens-per-parameter ratio, each leaving
  intermediate checkpoints at 25/50/75% of its run;
- two **target runs** of a GPT twice the ladder's largest size (:data:`TARGET_MODEL`), one at
  the ladder's ratio and one at 4x that ratio (the latter also leaving checkpoints at
  25/50/75%).

Every checkpoint is scored on every question (greedy, per-question accuracy = fraction of
its 4 templates answered). The forecasts use only what a team would have at that moment:

1. *Before training*: both target runs forecast from the ladder (every ladder checkpoint,
   intermediate ones included), judged on their final checkpoints; the params-only
   forecaster (:class:`ProxyForecaster`, which sees the ladder's final checkpoints and the
   planned size only) is printed beside it.
2. *During training*: the 4x run's final checkpoint forecast from the ladder plus the run's
   own checkpoints up to 25% and 50%, against the largest finished proxy (the ladder's
   largest, as is) and the run's latest checkpoint as is.
3. *Interval coverage* of the 80% intervals (mean and per relation) of the four forecasts
   above (16 intervals); the ladder's own backtests size the intervals, so they are not
   counted.

    python bench/forecast_tokens.py                          # generate, train, score, judge
    python bench/forecast_tokens.py --cache /tmp/fc.parquet  # reuse (or write) the scored checkpoints
    python bench/forecast_tokens.py --seed 1 --cache /tmp/fc1.parquet  # a second, independently drawn world
    python bench/forecast_tokens.py --ladder dense --cache /tmp/fc-dense.parquet  # another ladder design (LADDERS)
    python bench/forecast_tokens.py --cache /tmp/fc.parquet --training-seeds 3  # and how far one training draw is from another
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import polars as pl
import torch

from smi_assets.corpus.world import WorldConfig, build_world
from smi_assets.frequency.counting import CountConfig, count_corpus
from smi_assets.knowledge.questions import build_questions
from smi_assets.smi.fit import r_squared
from smi_assets.smi.forecast.counts_model import LogParamsLines
from smi_assets.smi.forecast.evaluation import evaluate_reference
from smi_assets.smi.forecast.proxy import PROXY_COLUMNS, ProxyForecaster
from smi_assets.smi.forecast.tokens import TokensForecaster
from smi_assets.smi.reference import load_reference
from training.config import DecodingConfig, ModelConfig, TrainConfig
from training.evaluation import evaluate_cbqa
from training.train import INTERMEDIATE_DIR, SUMMARY_FILE, train

TEMPLATES = 4  # cloze templates per relation: a question's accuracy is a fraction of 4 greedy answers
WORLD = WorldConfig(n_people=100, max_exposure=200, n_shards=2)
BLOCK_SIZE = 48
BATCH_SIZE = 32
# The ladder's tokens per non-embedding parameter (compute-efficient ladder: one ratio for
# every size); the largest ladder model's run is 576 steps of 32 x 48 tokens, about 7.5 epochs.
LADDER_TOKENS_PER_PARAM = 6.0


@dataclass(frozen=True)
class Run:
    """One planned training run: a model shape, its learning rate and its tokens per parameter."""

    name: str
    model: ModelConfig
    learning_rate: float
    tokens_per_param: float
    checkpoints_at: tuple[float, ...] = (0.25, 0.5, 0.75)  # fractions of the run left as intermediate checkpoints
    batch_size: int = BATCH_SIZE  # windows of BLOCK_SIZE tokens per optimizer step

    @property
    def non_embedding_params(self) -> int:
        return 12 * self.model.n_layer * self.model.n_embd**2

    @property
    def tokens(self) -> float:
        """The tokens the run is planned for."""
        return self.tokens_per_param * self.non_embedding_params

    def config(self, seed: int = 0) -> TrainConfig:
        tokens_per_step = self.batch_size * BLOCK_SIZE
        max_steps = max(40, round(self.tokens / tokens_per_step))
        every = round(max_steps * self.checkpoints_at[0]) if self.checkpoints_at else 0
        return TrainConfig(
            model=self.model, max_steps=max_steps, batch_size=self.batch_size, learning_rate=self.learning_rate,
            min_learning_rate=self.learning_rate / 10, warmup_steps=min(50, max_steps // 10),
            checkpoint_every=max_steps, intermediate_every=every, tokenizer="word", device="cpu", seed=seed,
        )  # fmt: skip


def _shape(n_layer: int, n_embd: int) -> ModelConfig:
    return ModelConfig(n_layer=n_layer, n_embd=n_embd, n_head=4, block_size=BLOCK_SIZE)


def with_steps(run: Run, steps: int) -> Run:
    """`run` with the batch that trains its tokens in about `steps` optimizer steps."""
    return replace(run, batch_size=max(1, round(run.tokens / (steps * BLOCK_SIZE))))


TARGET_MODEL = _shape(6, 64)  # 295k non-embedding parameters: 2x the ladder's largest
TARGETS = (
    Run("target-1x", TARGET_MODEL, 1.5e-3, LADDER_TOKENS_PER_PARAM, checkpoints_at=()),
    Run("target-4x", TARGET_MODEL, 1.5e-3, 4 * LADDER_TOKENS_PER_PARAM),
)
LADDER = (  # the benchmark's ladder: three sizes, every run in batches of BATCH_SIZE
    Run("ladder-38k", _shape(2, 40), 3e-3, LADDER_TOKENS_PER_PARAM),
    Run("ladder-98k", _shape(2, 64), 2.5e-3, LADDER_TOKENS_PER_PARAM),
    Run("ladder-147k", _shape(3, 64), 2e-3, LADDER_TOKENS_PER_PARAM),
)
# Other ladder designs, tried to see whether the before-training misses come from the ladder
# (docs/forecast_tokens.md): seven sizes between 25k and 147k in the same batches; the sizes
# from 38k up each trained in the target-1x run's number of steps, so the batch grows with the
# size (the target-1x run itself keeps its batch of 32 under that rule); and the same sizes
# each on the target-1x run's tokens in the same batches, as the built-in default ladder trains
# (one token budget, not one ratio): the target-1x run is then the ladder's recipe at twice its
# largest size, and the 4x run 4x those tokens.
DENSE_LADDER = tuple(sorted(LADDER + (
    Run("ladder-25k", _shape(2, 32), 3e-3, LADDER_TOKENS_PER_PARAM),
    Run("ladder-55k", _shape(2, 48), 2.8e-3, LADDER_TOKENS_PER_PARAM),
    Run("ladder-75k", _shape(2, 56), 2.6e-3, LADDER_TOKENS_PER_PARAM),
    Run("ladder-113k", _shape(3, 56), 2.2e-3, LADDER_TOKENS_PER_PARAM),
), key=lambda run: run.non_embedding_params))  # fmt: skip
EQUAL_STEPS_LADDER = tuple(with_steps(run, TARGETS[0].config().max_steps) for run in DENSE_LADDER[1:])
FIXED_TOKENS_LADDER = tuple(replace(run, tokens_per_param=TARGETS[0].tokens / run.non_embedding_params) for run in DENSE_LADDER[1:])
LADDERS = {"ratio": LADDER, "dense": DENSE_LADDER, "equal-steps": EQUAL_STEPS_LADDER, "fixed-tokens": FIXED_TOKENS_LADDER}
SCORE_SCHEMA = {
    "model": pl.Utf8, "params": pl.Int64, "idx": pl.Int64, "acc": pl.Float64, "tokens": pl.Int64,
    "run_id": pl.Utf8, "run_tokens": pl.Int64, "step": pl.Int64,
}  # fmt: skip


def build_inputs(folder: Path, seed: int = 0) -> tuple[list[Path], pl.DataFrame, pl.DataFrame]:
    """(corpus shard files written under `folder`, questions, frequency table) of :data:`WORLD`
    drawn with `seed`."""
    world = build_world(replace(WORLD, seed=seed))
    files = []
    for shard in world.shard_names:
        files.append(folder / f"{shard}.parquet")
        world.documents(shard).write_parquet(files[-1])
    questions = build_questions(world.triples, world.templates)
    frequency = count_corpus((world.documents(shard) for shard in world.shard_names), world.triples, CountConfig())
    frequency = frequency.join(world.triples.select("idx", "rel", "obj"), on="idx")
    return files, questions, frequency


def score_checkpoint(folder: Path, questions: pl.DataFrame, run: str, checkpoint_id: str) -> pl.DataFrame:
    """Per-question accuracy (mean over templates) of one checkpoint, with its tokens and run."""
    summary = json.loads((folder / SUMMARY_FILE).read_text())
    scores = evaluate_cbqa(folder, questions, DecodingConfig(max_new_tokens=4, batch_size=256))
    per_question = scores.group_by("idx").agg(pl.col("correct").cast(pl.Float64).mean().alias("acc"))
    return per_question.select(
        pl.lit(checkpoint_id).alias("model"), pl.lit(summary["non_embedding_params"]).alias("params"), "idx", "acc",
        pl.lit(summary["tokens_seen"]).alias("tokens"), pl.lit(run).alias("run_id"),
        pl.lit(summary["run_tokens"]).alias("run_tokens"), pl.lit(summary["step"]).alias("step"),
        pl.lit(summary["corpus_tokens"]).alias("corpus_tokens"),
    ).cast(SCORE_SCHEMA)  # fmt: skip


def generate(folder: Path, report=print, seed: int = 0, ladder: tuple[Run, ...] = LADDER) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Train and score every run of the benchmark under `folder`: (scores, frequency). `scores`
    has one row per checkpoint x question in the proxies shape (model, params, idx, acc,
    tokens, run_id, run_tokens, step) plus corpus_tokens. `seed` draws the world and every
    run's initialisation and batches (0: the documented figures)."""
    files, questions, frequency = build_inputs(folder, seed)
    report(f"world: {frequency.height} facts, {questions.height} questions, shards {[str(f) for f in files]}")
    parts = []
    for run in ladder + TARGETS:
        config, out_dir, scored = run.config(seed), folder / "runs" / run.name, folder / "scores" / f"{run.name}.parquet"
        if scored.is_file():  # a resumed generation keeps the runs it already scored
            parts.append(pl.read_parquet(scored))
            continue
        started = time.perf_counter()
        train(config, files, out_dir, tokenized_dir=folder / "tokenized")
        trained = time.perf_counter() - started
        checkpoints = sorted((out_dir / INTERMEDIATE_DIR).glob("step*")) if (out_dir / INTERMEDIATE_DIR).is_dir() else []
        for checkpoint in checkpoints:
            parts.append(score_checkpoint(checkpoint, questions, run.name, f"{run.name}@{checkpoint.name}"))
        parts.append(score_checkpoint(out_dir, questions, run.name, run.name))
        scored.parent.mkdir(exist_ok=True)
        pl.concat(parts[-len(checkpoints) - 1 :]).write_parquet(scored)
        report(
            f"{run.name}: {run.non_embedding_params:,} params, {config.max_steps} steps, trained in {trained:.0f} s, "
            f"scored {len(checkpoints) + 1} checkpoints in {time.perf_counter() - started - trained:.0f} s; "
            f"final mean accuracy {parts[-1]['acc'].mean():.3f}"
        )  # fmt: skip
    return pl.concat(parts), frequency


def load_or_generate(cache: Path | None, seed: int = 0, ladder: tuple[Run, ...] = LADDER) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The scored checkpoints and the frequency table: from `cache` (and its
    ``.frequency.parquet`` sibling) when both exist, else generated with `seed` (and written
    there). A cache does not record its seed: keep one cache file per seed."""
    frequency_cache = cache.with_suffix(".frequency.parquet") if cache else None
    if cache and cache.is_file() and frequency_cache.is_file():
        return pl.read_parquet(cache), pl.read_parquet(frequency_cache)
    with tempfile.TemporaryDirectory(prefix="forecast-tokens-") as folder:
        scores, frequency = generate(Path(folder), seed=seed, ladder=ladder)
    if cache:
        scores.write_parquet(cache)
        frequency.write_parquet(frequency_cache)
    return scores, frequency


REFERENCE_FIGURES = (  # (test family, proxy ratio, target, per-question R^2 before issue 16: docs/smi_results.md)
    ("pythia", 8, "pythia-12b", 0.7287),
    ("bloom", 4, "bloom-7b1", 0.7416),
    ("gpt-neo", 4, "gpt-neox-20b", 0.6701),
)
MEAN_ERROR_LIMIT = 0.02
COVERAGE_RANGE = (0.7, 0.9)


def check(name: str, passed: bool, detail: str) -> bool:
    print(f"{'PASS' if passed else 'FAIL'}  {name}: {detail}")
    return passed


def accuracy_of(scores: pl.DataFrame, model: str, questions: pl.DataFrame) -> np.ndarray:
    """`model`'s per-question accuracy in the order of `questions` (idx)."""
    return questions.select("idx").join(scores.filter(pl.col("model") == model), on="idx", how="left")["acc"].to_numpy()


def covered(aggregate: pl.DataFrame, actual: np.ndarray, relations: np.ndarray) -> list[bool]:
    """Whether each interval of `aggregate` (mean "*" and per relation) holds the actual mean."""
    result = []
    for rel, low, high in aggregate.select("rel", "acc_low", "acc_high").iter_rows():
        observed = actual.mean() if rel == "*" else actual[relations == rel].mean()
        result.append(bool(low <= observed <= high))
    return result


def checkpoints_of(scores: pl.DataFrame) -> pl.DataFrame:
    return scores.group_by("model").agg(pl.col("params", "tokens", "run_id", "run_tokens").first()).sort("params", "tokens")


def judge_before_training(scores: pl.DataFrame, frequency: pl.DataFrame, corpus_tokens: int, intervals: list[bool], ladder_runs: tuple[Run, ...]) -> list[bool]:
    """Target 1: both target runs forecast from the ladder alone, then judged."""
    ladder = scores.filter(pl.col("run_id").is_in([run.name for run in ladder_runs]))
    forecaster = TokensForecaster(generations=TEMPLATES).fit(frequency, ladder, corpus_tokens=corpus_tokens)
    finals = ladder.filter(pl.col("tokens") == pl.col("run_tokens"))
    params_only = ProxyForecaster(generations=TEMPLATES).fit(frequency, finals.select(PROXY_COLUMNS))
    scale_only = LogParamsLines().fit(finals)
    checkpoints = checkpoints_of(scores)
    print(f"\n=== before training: from the ladder's {ladder['model'].n_unique()} checkpoints (finals at {forecaster.tokens_per_param_:.2f} tokens/param; "
          f"interval spread {forecaster.spread_:.3f} logit per doubling of compute, {forecaster.backtests_.height} backtests)")  # fmt: skip
    print(
        f"{'run':<10} {'params':>8} {'tokens':>9} {'actual':>7} {'forecast [80%]':>24} {'error':>7} {'params-only':>11} {'error':>7} {'scale-only':>10} {'R2':>7} {'R2 params-only':>14}"
    )
    results, means = [], {}
    for run in TARGETS:
        row = checkpoints.filter(pl.col("model") == run.name).row(0, named=True)
        per_question = forecaster.predict(row["params"], row["tokens"])
        summary = forecaster.aggregate(row["params"], row["tokens"])
        actual = accuracy_of(scores, run.name, per_question)
        relations = per_question["rel"].to_numpy()
        intervals += covered(summary, actual, relations)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            baseline = per_question.select("idx").join(params_only.predict(row["params"]), on="idx")["predicted_acc"].to_numpy()
        mean = summary.row(0, named=True)
        means[run.name] = (mean["predicted_acc"], actual.mean())
        error, baseline_error = mean["predicted_acc"] - actual.mean(), baseline.mean() - actual.mean()
        print(
            f"{run.name:<10} {row['params']:>8,} {row['tokens']:>9,} {actual.mean():>7.4f} "
            f"{mean['predicted_acc']:>7.4f} [{mean['acc_low']:.3f}, {mean['acc_high']:.3f}] {error:>+7.4f} {baseline.mean():>11.4f} {baseline_error:>+7.4f} "
            f"{scale_only.predict(row['params']):>10.4f} {r_squared(actual, per_question['predicted_acc'].to_numpy()):>7.4f} {r_squared(actual, baseline):>14.4f}"
        )
        results.append(check(f"before training, {run.name}: mean error <= {MEAN_ERROR_LIMIT}", abs(error) <= MEAN_ERROR_LIMIT,
                             f"{error:+.4f} (params-only {baseline_error:+.4f})"))  # fmt: skip
    (forecast_1x, actual_1x), (forecast_4x, actual_4x) = means["target-1x"], means["target-4x"]
    results.append(check(
        "before training: the forecast orders the two token budgets as they came out",
        (forecast_4x - forecast_1x) * (actual_4x - actual_1x) > 0,
        f"forecast 4x - 1x {forecast_4x - forecast_1x:+.4f}, actual {actual_4x - actual_1x:+.4f} (params-only: 0, the same forecast for both)",
    ))  # fmt: skip
    return results


def judge_during_training(scores: pl.DataFrame, frequency: pl.DataFrame, corpus_tokens: int, intervals: list[bool], ladder_runs: tuple[Run, ...]) -> list[bool]:
    """Target 2: the 4x run's final checkpoint forecast at 25% and 50% of the run."""
    run = TARGETS[-1]
    checkpoints = checkpoints_of(scores)
    final = checkpoints.filter(pl.col("model") == run.name).row(0, named=True)
    own = checkpoints.filter((pl.col("run_id") == run.name) & (pl.col("model") != run.name)).sort("tokens")
    largest_proxy = checkpoints.filter(pl.col("run_id") == ladder_runs[-1].name, pl.col("tokens") == pl.col("run_tokens"))["model"][0]
    ladder = scores.filter(pl.col("run_id").is_in([ladder_run.name for ladder_run in ladder_runs]))
    print(f"\n=== during the run: {run.name}'s final checkpoint ({final['tokens']:,} tokens) from the ladder and its own checkpoints so far")
    print(f"{'at':>4} {'actual':>7} {'forecast [80%]':>24} {'error':>7} {'R2':>7} {'R2 largest proxy':>16} {'R2 own latest':>13} {'mean own latest':>15}")
    results = []
    for share in (0.25, 0.5):
        seen = own.filter(pl.col("tokens") <= share * final["tokens"] + 1)
        latest = seen["model"][-1]
        known = pl.concat([ladder, scores.filter(pl.col("model").is_in(seen["model"].to_list()))])
        forecaster = TokensForecaster(generations=TEMPLATES).fit(frequency, known, corpus_tokens=corpus_tokens)
        per_question = forecaster.predict(final["params"], final["tokens"], run_id=run.name)
        summary = forecaster.aggregate(final["params"], final["tokens"], run_id=run.name)
        actual = accuracy_of(scores, run.name, per_question)
        intervals += covered(summary, actual, per_question["rel"].to_numpy())
        mean = summary.row(0, named=True)
        error = mean["predicted_acc"] - actual.mean()
        r2 = r_squared(actual, per_question["predicted_acc"].to_numpy())
        r2_proxy = r_squared(actual, accuracy_of(scores, largest_proxy, per_question))
        own_latest = accuracy_of(scores, latest, per_question)
        print(f"{share:>4.0%} {actual.mean():>7.4f} {mean['predicted_acc']:>7.4f} [{mean['acc_low']:.3f}, {mean['acc_high']:.3f}] {error:>+7.4f} "
              f"{r2:>7.4f} {r2_proxy:>16.4f} {r_squared(actual, own_latest):>13.4f} {own_latest.mean():>15.4f}")  # fmt: skip
        results.append(check(f"at {share:.0%} of {run.name}: mean error <= {MEAN_ERROR_LIMIT}", abs(error) <= MEAN_ERROR_LIMIT,
                             f"{error:+.4f} (own latest checkpoint as is {own_latest.mean() - actual.mean():+.4f})"))  # fmt: skip
        if share == 0.5:
            results.append(check(f"at 50% of {run.name}: per-question R2 above the largest finished proxy's", r2 > r2_proxy,
                                 f"{r2:.4f} vs {r2_proxy:.4f} ({largest_proxy} as is)"))  # fmt: skip
    return results


def judge_reference(parquet: Path) -> list[bool]:
    """Target 3: without tokens the forecaster is ProxyForecaster: the reference figures stay."""
    if not parquet.is_file():
        print(f"\n=== reference data: {parquet} not found, skipped")
        return [check("reference figures unchanged", False, f"{parquet} not found")]
    reference = load_reference(parquet)
    print("\n=== reference data (echo-free), TokensForecaster without tokens, per-question R2 of the forecast")
    results = []
    for family, ratio, target, before in REFERENCE_FIGURES:
        started = time.perf_counter()
        table = evaluate_reference(reference, [family], [family], proxy_ratio=ratio, forecaster_factory=WithoutTokens)
        r2 = table.filter(pl.col("model") == target)["forecast_r2_question"][0]
        results.append(check(f"reference {target} (ratio {ratio}): R2 not below {before}", round(r2, 4) >= before,
                             f"{r2:.4f} ({time.perf_counter() - started:.0f} s)"))  # fmt: skip
    return results


def training_seed_spread(scores: pl.DataFrame, cache: Path | None, seed: int, runs: tuple[Run, ...], n_seeds: int) -> None:
    """How far one draw of a run's mean accuracy is from another in the same world: `runs`
    retrained with `n_seeds` other training seeds (initialisation and batches; the world and
    the run's shape, tokens and schedule unchanged), each printed beside the benchmark's own
    draw. A forecast is judged against one draw, so this spread is a floor under its error. The
    scores are kept in the cache's ``.training-seeds.parquet`` sibling."""
    kept = cache.with_suffix(".training-seeds.parquet") if cache else None
    spread = pl.read_parquet(kept) if kept and kept.is_file() else pl.DataFrame(schema=SCORE_SCHEMA)
    training_seeds = [seed + 1000 * k for k in range(1, n_seeds + 1)]  # never a world seed's own training seed
    wanted = [(run, training_seed) for run in runs for training_seed in training_seeds]
    done = set(spread["model"])
    missing = [(run, s) for run, s in wanted if f"{run.name}@seed{s}" not in done]
    if missing:
        with tempfile.TemporaryDirectory(prefix="forecast-tokens-seeds-") as folder:
            files, questions, _ = build_inputs(Path(folder), seed)
            for run, training_seed in missing:
                out_dir = Path(folder) / "runs" / f"{run.name}-{training_seed}"
                train(run.config(training_seed), files, out_dir, tokenized_dir=Path(folder) / "tokenized")
                spread = pl.concat([spread, score_checkpoint(out_dir, questions, run.name, f"{run.name}@seed{training_seed}")], how="diagonal_relaxed")
                if kept:
                    spread.write_parquet(kept)
    print(f"\n=== the same runs retrained with {n_seeds} other training seeds (world seed {seed}): mean accuracy of each draw")
    for run in runs:
        own = scores.filter(pl.col("model") == run.name)["acc"].mean()
        others = [spread.filter(pl.col("model") == f"{run.name}@seed{s}")["acc"].mean() for s in training_seeds]
        draws = np.array([own, *others])
        print(f"{run.name:<12} benchmark's draw {own:.4f}; others {' '.join(f'{value:.4f}' for value in others)}; "
              f"standard deviation {draws.std(ddof=1):.4f}, range {draws.max() - draws.min():.4f}")  # fmt: skip


class WithoutTokens:
    """TokensForecaster as `evaluate_reference` calls a forecaster: proxies without tokens."""

    def __init__(self, corpus_version: str | None = None, force: bool = False):
        self.forecaster = TokensForecaster(ProxyForecaster(corpus_version=corpus_version, force=force), calibrate=False)

    def fit(self, frequency: pl.DataFrame, proxies: pl.DataFrame) -> WithoutTokens:
        unknown = [pl.lit(None, pl.Int64).alias("tokens"), pl.lit(None, pl.Utf8).alias("run_id"), pl.lit(None, pl.Int64).alias("run_tokens")]
        self.forecaster.fit(frequency, proxies.with_columns(unknown))
        self.frequency_, self.counts_model_ = frequency, self.forecaster.proxy_.counts_model_
        return self

    def predict(self, params: float) -> pl.DataFrame:
        return self.forecaster.predict(params).select("idx", "rel", "predicted_acc")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=None, help="parquet of scored checkpoints to reuse, written when missing")
    parser.add_argument("--seed", type=int, default=0, help="world and training seed of generated data (0: the documented figures)")
    parser.add_argument(
        "--ladder", choices=sorted(LADDERS), default="ratio", help="the ladder design (ratio: the benchmark's; the others: docs/forecast_tokens.md)"
    )
    parser.add_argument(
        "--training-seeds",
        type=int,
        default=0,
        help="also retrain target-1x and the ladder's largest run with this many other training seeds and print the spread",
    )
    parser.add_argument("--reference", type=Path, default=Path("../shared/reference/smi/merge_outputs.parquet"))
    # One thread: on a shared 2-core machine two threads per process oversubscribe the cores
    # and ran 2-7x slower per step (measured on this machine while others trained).
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    if args.training_seeds < 0:
        parser.error(f"--training-seeds must be 0 or more, not {args.training_seeds}")
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    ladder = LADDERS[args.ladder]
    scores, frequency = load_or_generate(args.cache, args.seed, ladder)
    corpus_tokens = int(scores["corpus_tokens"][0])
    print(f"data ready after {time.perf_counter() - started:.0f} s: {scores['model'].n_unique()} checkpoints, "
          f"{frequency.height} facts, corpus {corpus_tokens:,} tokens")  # fmt: skip
    print(checkpoints_of(scores).with_columns(mean_acc=pl.col("model").map_elements(lambda m: scores.filter(pl.col("model") == m)["acc"].mean(), pl.Float64)))
    intervals: list[bool] = []
    results = judge_before_training(scores, frequency, corpus_tokens, intervals, ladder)
    results += judge_during_training(scores, frequency, corpus_tokens, intervals, ladder)
    share = sum(intervals) / len(intervals)
    print()
    results.append(check(f"80% interval coverage in {COVERAGE_RANGE}", COVERAGE_RANGE[0] <= share <= COVERAGE_RANGE[1],
                         f"{share:.2f} ({sum(intervals)} of {len(intervals)} intervals: mean and 3 relations x 4 forecasts)"))  # fmt: skip
    results += judge_reference(args.reference)
    if args.training_seeds:
        training_seed_spread(scores, args.cache, args.seed, (TARGETS[0], ladder[-1]), args.training_seeds)
    print(f"{sum(results)} of {len(results)} targets pass; {time.perf_counter() - started:.0f} s in all")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
