"""training/: config round trip, tokenizer, models, data order, and exact resume after SIGKILL."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import torch
from safetensors.torch import load_file
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    GPT2LMHeadModel,
    LlamaForCausalLM,
)

from smi_assets.errors import InputError
from training.config import DEFAULT_LADDER, ModelConfig, TrainConfig
from training.model import build_model, count_parameters
from training.tokenizer import EOS_ID, PAD_ID, UNK_ID, train_tokenizer
from training.train import batch_at, learning_rate_at, train

REPO_ROOT = Path(__file__).resolve().parents[1]
CITIES = ["Paris", "Lima", "Oslo", "Rome", "Kyiv"]


def write_corpus(path: Path, n_docs: int = 400, seed: int = 0) -> dict[str, str]:
    """Documents stating where 20 people were born; returns person -> city."""
    rng = random.Random(seed)
    people = [f"{first} {last}" for first in ("Anna", "Bob", "Carl", "Dora") for last in ("Novak", "Smith", "Berg", "Kale", "Moss")]
    born = {person: rng.choice(CITIES) for person in people}
    texts = []
    for _ in range(n_docs):
        person = rng.choice(people)
        texts.append(f"{person} was born in {born[person]}. The weather was {rng.choice(['fine', 'cold'])}.")
    pl.DataFrame({"doc_id": [str(i) for i in range(n_docs)], "text": texts}).write_parquet(path)
    return born


def tiny_config(**overrides) -> TrainConfig:
    values = dict(
        model=ModelConfig(n_layer=1, n_embd=16, n_head=2, block_size=12), max_steps=30, batch_size=8,
        warmup_steps=5, learning_rate=3e-3, min_learning_rate=3e-4, checkpoint_every=10, log_every=5,
    )  # fmt: skip
    values.update(overrides)
    return TrainConfig(**values)


def test_train_config_round_trips_through_json():
    config = tiny_config(model=ModelConfig(n_layer=2, n_embd=32, n_head=4, block_size=20, positions="learned"), tokenizer="bpe")
    assert TrainConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    with pytest.raises(InputError, match="unknown fields"):
        TrainConfig.from_dict({**config.to_dict(), "lr": 1.0})
    with pytest.raises(InputError, match="divisible"):
        ModelConfig(n_layer=1, n_embd=30, n_head=4, block_size=8)


def test_default_ladder_spans_ten_times_in_non_embedding_parameters():
    sizes = []
    for config in DEFAULT_LADDER.values():
        model_config = ModelConfig(**{**config.model.__dict__, "vocab_size": 3000})
        sizes.append(count_parameters(build_model(model_config), non_embedding=True))
    assert sizes == sorted(sizes) and sizes[-1] >= 10 * sizes[0]


def test_word_tokenizer_keeps_whole_words_and_fixed_special_ids():
    tokenizer = train_tokenizer(["Anna Novak was born in Paris.", "Bob Smith was born in Lima."], kind="word", vocab_size=100)
    assert [tokenizer.pad_token_id, tokenizer.unk_token_id, tokenizer.eos_token_id] == [PAD_ID, UNK_ID, EOS_ID]
    assert tokenizer.convert_ids_to_tokens(tokenizer("Anna Smith was born in Lima.")["input_ids"]) == [
        "Anna", "Smith", "was", "born", "in", "Lima", ".",
    ]  # fmt: skip
    assert tokenizer("Zoe")["input_ids"] == [UNK_ID]
    assert tokenizer.padding_side == "left"


def test_bpe_tokenizer_round_trips_text():
    texts = ["Anna Novak was born in Paris.", "Bob Smith, a baker, was born in Lima."] * 20
    tokenizer = train_tokenizer(texts, kind="bpe", vocab_size=300)
    ids = tokenizer("Bob Novak was born in Paris.")["input_ids"]
    assert tokenizer.decode(ids).strip() == "Bob Novak was born in Paris."


@pytest.mark.parametrize(("positions", "model_class"), [("rotary", LlamaForCausalLM), ("learned", GPT2LMHeadModel)])
def test_non_embedding_count_leaves_out_token_and_position_embeddings(positions, model_class):
    config = ModelConfig(n_layer=2, n_embd=16, n_head=2, block_size=10, positions=positions, vocab_size=50)
    model = build_model(config)
    assert isinstance(model, model_class)
    position_table = 10 * 16 if positions == "learned" else 0
    assert count_parameters(model) == count_parameters(model, non_embedding=True) + 50 * 16 + position_table
    # Tied output weights count once.
    assert count_parameters(model) == sum(p.numel() for p in model.state_dict().values() if p.dtype.is_floating_point) - 50 * 16


def test_batches_are_a_pure_function_of_seed_and_step():
    stream = np.arange(1000, dtype=np.int32)
    inputs, targets = batch_at(stream, seed=1, step=7, micro_step=0, batch_size=4, block_size=8)
    again, _ = batch_at(stream, seed=1, step=7, micro_step=0, batch_size=4, block_size=8)
    other, _ = batch_at(stream, seed=1, step=8, micro_step=0, batch_size=4, block_size=8)
    assert torch.equal(inputs, again) and not torch.equal(inputs, other)
    assert inputs.shape == (4, 8) and torch.equal(targets, inputs + 1)  # targets are the next tokens


def test_learning_rate_warms_up_then_decays_to_the_minimum():
    config = tiny_config(max_steps=100, warmup_steps=10, learning_rate=1e-3, min_learning_rate=1e-4)
    rates = [learning_rate_at(step, config) for step in range(101)]
    assert rates[:10] == sorted(rates[:10]) and rates[9] == pytest.approx(1e-3)
    assert rates[10:] == sorted(rates[10:], reverse=True)
    assert rates[100] == pytest.approx(1e-4)


def test_train_writes_a_loadable_checkpoint_and_learns(tmp_path):
    corpus = tmp_path / "corpus.parquet"
    write_corpus(corpus)
    config = tiny_config(model=ModelConfig(n_layer=1, n_embd=16, n_head=2, block_size=12, positions="learned"), max_steps=60, learning_rate=1e-2)
    events = []
    result = train(config, [corpus], tmp_path / "ckpt", on_progress=events.append)

    assert not (tmp_path / "ckpt" / "resume").exists()
    model = AutoModelForCausalLM.from_pretrained(tmp_path / "ckpt")
    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "ckpt")
    assert isinstance(model, GPT2LMHeadModel) and (tmp_path / "ckpt" / "model.safetensors").is_file()
    assert tokenizer.convert_ids_to_tokens(tokenizer("Anna Novak")["input_ids"]) == ["Anna", "Novak"]
    assert [step for step, _ in result.loss_curve] == list(range(5, 61, 5))
    assert result.loss_curve[-1][1] < 0.6 * result.loss_curve[0][1]
    assert result.tokens_seen == 60 * 8 * 12 and result.tokens_per_second > 0
    summary = json.loads((tmp_path / "ckpt" / "training_summary.json").read_text())
    assert summary["params"] == count_parameters(model) and summary["final_loss"] == result.final_loss
    assert [event["step"] for event in events if event["event"] == "checkpoint"] == [10, 20, 30, 40, 50]


def test_corpus_without_text_column_names_the_file(tmp_path):
    corpus = tmp_path / "bad.parquet"
    pl.DataFrame({"doc_id": ["a"], "body": ["hello"]}).write_parquet(corpus)
    with pytest.raises(InputError, match="bad.parquet"):
        train(tiny_config(), [corpus], tmp_path / "ckpt")


def _run_training(config_file: Path, corpus: Path, out: Path, kill_after_checkpoint: int | None = None) -> list[dict]:
    """Run `python -m training.train` in a subprocess; optionally SIGKILL it right after a checkpoint event."""
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO_ROOT)}
    command = [sys.executable, "-m", "training.train", "--config", str(config_file), "--corpus", str(corpus), "--out", str(out)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=environment, cwd=REPO_ROOT)
    events = []
    for line in process.stdout:
        event = json.loads(line)
        events.append(event)
        if event["event"] == "checkpoint" and event["step"] == kill_after_checkpoint:
            process.send_signal(signal.SIGKILL)
            break
    process.stdout.close()
    return_code = process.wait(timeout=120)
    assert return_code == (-signal.SIGKILL if kill_after_checkpoint is not None else 0)
    return events


def test_resume_after_sigkill_ends_with_the_same_weights(tmp_path):
    corpus = tmp_path / "corpus.parquet"
    write_corpus(corpus)
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps(tiny_config(max_steps=40, checkpoint_every=10).to_dict()))

    _run_training(config_file, corpus, tmp_path / "straight")
    killed = _run_training(config_file, corpus, tmp_path / "resumed", kill_after_checkpoint=20)
    assert killed[-1]["event"] == "checkpoint" and not (tmp_path / "resumed" / "model.safetensors").exists()
    assert (tmp_path / "resumed" / "resume" / "state.pt").is_file()
    resumed = _run_training(config_file, corpus, tmp_path / "resumed")

    assert resumed[0] == {"event": "resumed", "step": 20, "max_steps": 40}
    straight_weights = load_file(tmp_path / "straight" / "model.safetensors")
    resumed_weights = load_file(tmp_path / "resumed" / "model.safetensors")
    assert straight_weights.keys() == resumed_weights.keys()
    for name, tensor in straight_weights.items():
        assert torch.equal(tensor, resumed_weights[name]), name
    straight_summary = json.loads((tmp_path / "straight" / "training_summary.json").read_text())
    resumed_summary = json.loads((tmp_path / "resumed" / "training_summary.json").read_text())
    assert resumed_summary["loss_curve"] == straight_summary["loss_curve"]  # every step logged once
    assert resumed_summary["tokens_seen"] == straight_summary["tokens_seen"]
    assert not (tmp_path / "resumed" / "resume").exists()


def test_stale_resume_state_from_another_config_is_discarded(tmp_path):
    corpus = tmp_path / "corpus.parquet"
    write_corpus(corpus)
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps(tiny_config(max_steps=40, checkpoint_every=10).to_dict()))
    _run_training(config_file, corpus, tmp_path / "out", kill_after_checkpoint=10)
    events = []
    train(tiny_config(max_steps=20, seed=3), [corpus], tmp_path / "out", on_progress=events.append)
    assert all(event["event"] != "resumed" for event in events)
    assert json.loads((tmp_path / "out" / "training_summary.json").read_text())["config"]["seed"] == 3
