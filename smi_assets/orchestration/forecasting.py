"""The forecaster fitted on what the data directory holds, for the forecast assets and `smi plan`.

Every scored checkpoint the project trained on the current corpus is a proxy (an intermediate
checkpoint counts as its run's); one trained on an older corpus is left out and the notes say
so, as they say each fallback the forecaster states.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass

import polars as pl

from smi_assets.checkpoints import store
from smi_assets.checkpoints.store import TRAINING_INPUTS_FILE
from smi_assets.common.errors import InputError
from smi_assets.orchestration.resources import ModelingResource, StorageResource
from smi_assets.smi.forecast.proxy import ProxyForecaster
from smi_assets.smi.forecast.tokens import TokensForecaster
from training.data import corpus_sha256


@dataclass(frozen=True)
class FittedForecaster:
    forecaster: TokensForecaster
    proxies: pl.DataFrame  # model, params, idx, acc, tokens, run_id, run_tokens, step, corpus_version
    frequency: pl.DataFrame
    corpus_tokens: int | None
    notes: list[str]  # what was left out and which fallbacks were taken, for the run log


def proxies_on_this_corpus(storage: StorageResource, accuracy: pl.DataFrame, shards: list[str]) -> tuple[pl.DataFrame, str, list[str]]:
    """(the checkpoints' accuracies trained on the current corpus, its version, the stale ones):
    an intermediate checkpoint was trained on what its run was."""
    current = corpus_sha256([storage.shard_documents_path(shard) for shard in shards])
    runs = accuracy.select("model", "run_id").unique().rows()
    versions = {
        model: json.loads(marker.read_text()).get("corpus_sha256")
        if (marker := storage.checkpoint_dir(run_id or model) / TRAINING_INPUTS_FILE).is_file()
        else None
        for model, run_id in runs
    }
    stale = sorted(model for model, version in versions.items() if version != current)
    return accuracy.filter(~pl.col("model").is_in(stale)).with_columns(pl.lit(current).alias("corpus_version")), current, stale


def fit_forecaster(storage: StorageResource, modeling: ModelingResource, shards: list[str]) -> FittedForecaster:
    """Fit :class:`TokensForecaster` on every scored checkpoint trained on the corpus of `shards`;
    InputError when there is none."""
    with storage.connection(read_only=True) as connection:
        frequency = store.frequency_counts(connection)
        scored = store.proxy_accuracy(connection, modeling.decoding().label())
        corpus_tokens = store.corpus_tokens(connection)
    proxies, corpus_version, stale = proxies_on_this_corpus(storage, scored, shards)
    notes = [f"not proxies: {stale} were trained on another corpus than the current one (retrain them to use them)"] if stale else []
    if proxies.is_empty():
        raise InputError(storage.database_path, "no scored checkpoint trained on the current corpus to forecast from: materialize checkpoints and cbqa_scores")
    forecaster = TokensForecaster(proxy_forecaster=ProxyForecaster(corpus_version=corpus_version))
    with warnings.catch_warnings(record=True) as fallbacks:
        warnings.simplefilter("always")
        forecaster.fit(frequency, proxies, corpus_tokens)
    notes += [f"forecast: {fallback.message}" for fallback in fallbacks]
    return FittedForecaster(forecaster, proxies, frequency, corpus_tokens, notes)
