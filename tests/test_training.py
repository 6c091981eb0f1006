"""training/: config round trip, tokenizer, models, data order, streaming token files, exact resume
after SIGKILL, refusal of planted pickles, process hygiene (death with the parent, folder lock) and
data-parallel training under torchrun."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
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

from smi_assets.common.errors import InputError
from training import data
from training.config import DEFAULT_LADDER, PLANNED_CONFIGS, ModelConfig, TrainConfig
from training.distributed import launch_command
from training.model import build_model, count_parameters
from training.processes import FolderLockedError, folder_lock
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
    with pytest.raises(InputError, match=r"even head size, not n_embd / n_head = 44 / 4 = 11"):
        ModelConfig(n_layer=1, n_embd=44, n_head=4, block_size=8)
    assert ModelConfig(n_layer=1, n_embd=44, n_head=4, block_size=8, positions="learned").n_embd == 44  # GPT-2 has no such limit


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


def test_trainings_of_one_corpus_tokenize_it_once_and_train_as_without_sharing(tmp_path):
    corpus = tmp_path / "corpus.parquet"
    write_corpus(corpus)
    shared = tmp_path / "tokenized"
    small, larger = tiny_config(max_steps=10), tiny_config(model=ModelConfig(n_layer=2, n_embd=16, n_head=2, block_size=12), max_steps=10)
    tokenized = {}
    for name, config in (("small", small), ("larger", larger)):
        events = []
        train(config, [corpus], tmp_path / name, on_progress=events.append, tokenized_dir=shared)
        tokenized[name] = [event for event in events if event["event"] == "tokenized"]

    assert len(tokenized["small"]) == 1 and tokenized["small"][0]["tokens"] > 0  # made, then shared
    assert [event.get("shared_from") for event in tokenized["larger"]] == [str(next(shared.iterdir()))]
    assert not any(path.name.startswith(".") for path in shared.iterdir())  # no staging left behind
    train(larger, [corpus], tmp_path / "larger-alone")
    for tensor_name, tensor in _load_weights(tmp_path / "larger-alone").items():
        assert torch.equal(_load_weights(tmp_path / "larger")[tensor_name], tensor), tensor_name
    # Another tokenizer setting is another entry, never the first one's files.
    events = []
    train(tiny_config(max_steps=10, vocab_size=64), [corpus], tmp_path / "other-vocab", on_progress=events.append, tokenized_dir=shared)
    assert [event for event in events if event["event"] == "tokenized"][0].get("tokens") and len(list(shared.iterdir())) == 2


def test_corpus_without_text_column_names_the_file(tmp_path):
    corpus = tmp_path / "bad.parquet"
    pl.DataFrame({"doc_id": ["a"], "body": ["hello"]}).write_parquet(corpus)
    with pytest.raises(InputError, match="bad.parquet"):
        train(tiny_config(), [corpus], tmp_path / "ckpt")


SUBPROCESS_ENVIRONMENT = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO_ROOT)}


def _training_args(config_file: Path, corpus: Path, out: Path) -> list[str]:
    return ["--config", str(config_file), "--corpus", str(corpus), "--out", str(out)]


def _run_training(config_file: Path, corpus: Path, out: Path, kill_after_checkpoint: int | None = None, n_processes: int = 1) -> list[dict]:
    """Run `python -m training.train` (under torchrun for `n_processes` > 1); optionally SIGKILL it right after a checkpoint event."""
    command = launch_command(n_processes, "training.train", *_training_args(config_file, corpus, out))
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=SUBPROCESS_ENVIRONMENT, cwd=REPO_ROOT)
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


def _load_weights(folder: Path) -> dict[str, torch.Tensor]:
    return load_file(folder / "model.safetensors")


def test_resume_after_sigkill_ends_with_the_same_weights_even_if_the_corpus_is_rewritten(tmp_path):
    corpus = tmp_path / "corpus.parquet"
    write_corpus(corpus)
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps(tiny_config(max_steps=40, checkpoint_every=10).to_dict()))

    _run_training(config_file, corpus, tmp_path / "straight")
    killed = _run_training(config_file, corpus, tmp_path / "resumed", kill_after_checkpoint=20)
    assert killed[-1]["event"] == "checkpoint" and not (tmp_path / "resumed" / "model.safetensors").exists()
    assert (tmp_path / "resumed" / "resume" / "state.pt").is_file()
    # The pipeline rewrites its corpus files on every run: same documents, new file (other bytes, new mtime).
    before = corpus.read_bytes()
    pl.read_parquet(corpus).write_parquet(corpus, compression="uncompressed", row_group_size=50)
    assert corpus.read_bytes() != before
    resumed = _run_training(config_file, corpus, tmp_path / "resumed")

    assert resumed[0] == {"event": "resumed", "step": 20, "max_steps": 40, "message": "resuming from step 20 of 40"}
    straight_weights = _load_weights(tmp_path / "straight")
    resumed_weights = _load_weights(tmp_path / "resumed")
    assert straight_weights.keys() == resumed_weights.keys()
    for name, tensor in straight_weights.items():
        assert torch.equal(tensor, resumed_weights[name]), name
    straight_summary = json.loads((tmp_path / "straight" / "training_summary.json").read_text())
    resumed_summary = json.loads((tmp_path / "resumed" / "training_summary.json").read_text())
    assert resumed_summary["loss_curve"] == straight_summary["loss_curve"]  # every step logged once
    assert resumed_summary["tokens_seen"] == straight_summary["tokens_seen"]
    assert not (tmp_path / "resumed" / "resume").exists()


class _StopAtCheckpoint(Exception):
    """Raised from a progress callback: the run stops as a crash would, its resume folder left behind."""


def _stop_at_checkpoint(event: dict) -> None:
    if event["event"] == "checkpoint":
        raise _StopAtCheckpoint


def _crashed_run(corpus: Path, out: Path, config: TrainConfig) -> None:
    with pytest.raises(_StopAtCheckpoint):
        train(config, [corpus], out, on_progress=_stop_at_checkpoint)


def test_stale_resume_state_from_another_config_or_corpus_is_discarded(tmp_path):
    corpus = tmp_path / "corpus.parquet"
    write_corpus(corpus)
    _crashed_run(corpus, tmp_path / "out", tiny_config(max_steps=40, checkpoint_every=10))
    events = []
    train(tiny_config(max_steps=20, seed=3), [corpus], tmp_path / "out", on_progress=events.append)
    assert [event["event"] for event in events[:2]] == ["restarted", "tokenized"]
    assert json.loads((tmp_path / "out" / "training_summary.json").read_text())["config"]["seed"] == 3

    _crashed_run(corpus, tmp_path / "out", tiny_config(max_steps=40, checkpoint_every=10))
    write_corpus(corpus, seed=1)  # other documents
    events = []
    train(tiny_config(max_steps=40, checkpoint_every=10), [corpus], tmp_path / "out", on_progress=events.append)
    assert events[0]["event"] == "restarted" and all(event["event"] != "resumed" for event in events)


def test_a_run_leaves_loadable_intermediate_checkpoints_with_their_tokens(tmp_path):
    corpus = tmp_path / "corpus.parquet"
    write_corpus(corpus)
    config = tiny_config(max_steps=30, checkpoint_every=10, intermediate_every=10)
    _crashed_run(corpus, tmp_path / "out", config)  # stops at step 10, after its intermediate checkpoint
    events = []
    train(config, [corpus], tmp_path / "out", on_progress=events.append)

    folders = sorted((tmp_path / "out" / "intermediate").iterdir())
    assert [folder.name for folder in folders] == ["step000010", "step000020"]
    assert [event["step"] for event in events if event["event"] == "intermediate"] == [20]  # step 10's was kept from the first try
    tokens_per_step = 8 * 12
    for folder, step in zip(folders, (10, 20)):
        summary = json.loads((folder / "training_summary.json").read_text())
        assert (summary["step"], summary["tokens_seen"], summary["run_tokens"]) == (step, step * tokens_per_step, 30 * tokens_per_step)
        assert AutoModelForCausalLM.from_pretrained(folder).num_parameters() == summary["params"]
    final = json.loads((tmp_path / "out" / "training_summary.json").read_text())
    assert (final["step"], final["tokens_seen"], final["run_tokens"]) == (30, 30 * tokens_per_step, 30 * tokens_per_step)
    assert _load_weights(folders[1]).keys() == _load_weights(tmp_path / "out").keys()
    assert not any(torch.equal(_load_weights(folders[1])[name], tensor) for name, tensor in _load_weights(tmp_path / "out").items() if "weight" in name)

    train(tiny_config(max_steps=30, seed=1, intermediate_every=15), [corpus], tmp_path / "out")  # another run in the same folder
    assert [folder.name for folder in (tmp_path / "out" / "intermediate").iterdir()] == ["step000015"]
    with pytest.raises(InputError, match="intermediate_every"):
        tiny_config(intermediate_every=-1)


class _Payload:
    """Unpickling this writes a marker file: what a planted pickle could do instead."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({str(self.marker)!r}, 'w').write('ran')",))


def test_a_planted_pickle_in_the_resume_folder_is_refused_not_run(tmp_path):
    corpus = tmp_path / "corpus.parquet"
    write_corpus(corpus)
    config = tiny_config(max_steps=40, checkpoint_every=10)
    _crashed_run(corpus, tmp_path / "out", config)
    state_file = tmp_path / "out" / "resume" / "state.pt"
    state = torch.load(state_file, weights_only=True)  # what the trainer writes loads without pickle objects
    assert state["step"] == 10 and [step for step, _ in state["loss_curve"]] == [5, 10]

    probe, marker = tmp_path / "probe.pt", tmp_path / "marker"
    torch.save({"model": _Payload(tmp_path / "probe-ran")}, probe)
    torch.load(probe, weights_only=False)
    assert (tmp_path / "probe-ran").exists()  # the payload is live: a full unpickle runs it
    torch.save({"model": _Payload(marker)}, state_file)

    with pytest.raises(InputError, match=r"state\.pt: not a training state this trainer wrote.*weights_only=True.*Delete .*resume"):
        train(config, [corpus], tmp_path / "out")
    assert not marker.exists()


def test_corpus_hash_follows_the_documents_not_the_files(tmp_path):
    texts = ["Anna Novak was born in Paris.", "", "Bob Smith was born in Lima."] * 50
    pl.DataFrame({"text": texts}).write_parquet(tmp_path / "a.parquet")
    pl.DataFrame({"doc_id": range(len(texts)), "text": texts}).write_parquet(tmp_path / "b.parquet", compression="uncompressed", row_group_size=7)
    pl.DataFrame({"text": texts[:10]}).write_parquet(tmp_path / "first.parquet")
    pl.DataFrame({"text": texts[10:]}).write_parquet(tmp_path / "rest.parquet")
    shifted = ["Anna Novak was born in Paris. ", "Bob Smith was born in Lima."]  # same bytes, other document boundary
    pl.DataFrame({"text": shifted}).write_parquet(tmp_path / "shifted.parquet")
    pl.DataFrame({"text": ["Anna Novak was born in Paris.", " Bob Smith was born in Lima."]}).write_parquet(tmp_path / "shifted2.parquet")

    reference = data.corpus_sha256([tmp_path / "a.parquet"])
    assert data.corpus_sha256([tmp_path / "b.parquet"]) == reference
    assert data.corpus_sha256([tmp_path / "first.parquet", tmp_path / "rest.parquet"]) == reference
    assert data.corpus_sha256([tmp_path / "rest.parquet", tmp_path / "first.parquet"]) != reference
    assert data.corpus_sha256([tmp_path / "shifted.parquet"]) != data.corpus_sha256([tmp_path / "shifted2.parquet"])

    pl.DataFrame({"text": ["fine", None]}).write_parquet(tmp_path / "null.parquet")
    with pytest.raises(InputError, match="null.parquet, row 1: `text` is null"):
        data.corpus_sha256([tmp_path / "null.parquet"])


def test_token_file_holds_the_corpus_stream_and_batches_come_from_it(tmp_path):
    texts = [f"{first} Novak was born in {city}." for first in ("Anna", "Bob", "Carl") for city in CITIES] * 7
    files = [tmp_path / "a.parquet", tmp_path / "b.parquet"]
    pl.DataFrame({"text": texts[:40]}).write_parquet(files[0])
    pl.DataFrame({"text": texts[40:]}).write_parquet(files[1])
    tokenizer = train_tokenizer(texts, vocab_size=200)
    name = data.token_file_name(data.corpus_sha256(files), tokenizer)
    path = data.write_token_file(tokenizer, files, tmp_path / name)

    stream = data.open_token_file(path)
    assert isinstance(stream, np.memmap) and stream.dtype == np.uint16 and name.endswith(".uint16")
    expected = [EOS_ID]
    for text in texts:
        expected += [*tokenizer(text)["input_ids"], EOS_ID]
    assert stream.tolist() == expected
    in_memory = np.asarray(expected, dtype=np.int32)
    for inputs, again in zip(batch_at(stream, 3, 5, 1, 4, 6), batch_at(in_memory, 3, 5, 1, 4, 6)):
        assert torch.equal(inputs, again)
    assert [path.name for path in tmp_path.iterdir() if path.name.startswith(".")] == []  # no temporary left
    other_tokenizer = train_tokenizer(["Zoe Moss was born in Baku.", *texts], vocab_size=200)
    assert data.token_file_name(data.corpus_sha256(files), other_tokenizer) != name
    assert data.token_dtype(70_000) == np.uint32


def test_folder_lock_waits_for_the_holder_then_gives_up_naming_it(tmp_path):
    messages = []
    with folder_lock(tmp_path / "ckpt"):
        started = time.monotonic()
        with pytest.raises(FolderLockedError, match=rf"pid {os.getpid()} .* is training into this checkpoint folder; gave up waiting after 0.3 s"):
            with folder_lock(tmp_path / "ckpt", timeout_s=0.3, on_wait=messages.append, poll_s=0.05):
                pass
        assert time.monotonic() - started >= 0.3
    assert [message["event"] for message in messages] == ["waiting"]
    assert messages[0]["holder"].startswith(f"pid {os.getpid()}") and "waiting up to 0.3 s" in messages[0]["message"]

    first = folder_lock(tmp_path / "ckpt")
    first.__enter__()
    release = threading.Timer(0.3, first.__exit__, args=(None, None, None))
    release.start()
    with folder_lock(tmp_path / "ckpt", timeout_s=10, poll_s=0.05):
        assert not release.is_alive()  # got the lock only once the holder let go
    release.join()


def test_a_second_trainer_on_the_same_folder_fails_clearly_and_leaves_the_first_alone(tmp_path):
    corpus = tmp_path / "corpus.parquet"
    write_corpus(corpus)
    config = tiny_config(max_steps=100_000, checkpoint_every=20, log_every=20)
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps(config.to_dict()))
    out = tmp_path / "ckpt"
    first = subprocess.Popen(
        launch_command(1, "training.train", *_training_args(config_file, corpus, out)),
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=SUBPROCESS_ENVIRONMENT, cwd=REPO_ROOT,
    )  # fmt: skip
    try:
        checkpoints = (json.loads(line)["step"] for line in first.stdout if json.loads(line)["event"] == "checkpoint")
        next(checkpoints)
        run_record = (out / "resume" / "run.json").read_text()
        events = []
        with pytest.raises(FolderLockedError, match=rf"{out}: pid {first.pid} on .* is training into this checkpoint folder"):
            train(config, [corpus], out, on_progress=events.append, lock_timeout_s=1.0)
        assert [event["event"] for event in events] == ["waiting"] and events[0]["holder"].startswith(f"pid {first.pid}")
        assert (out / "resume" / "run.json").read_text() == run_record
        last = next(checkpoints)  # the first trainer carries on
    finally:
        first.kill()
        first.wait(timeout=60)
        first.stdout.close()
    assert torch.load(out / "resume" / "state.pt", weights_only=True)["step"] >= last
    with folder_lock(out, timeout_s=5):  # the kernel released the dead holder's lock
        pass


def _live_processes_mentioning(text: str) -> list[int]:
    """Processes (zombies aside) whose command line contains `text`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command_line = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if text in command_line and state != "Z":
            found.append(int(entry.name))
    return found


def _wait_until_gone(text: str, timeout_s: float = 30.0) -> list[int]:
    deadline = time.monotonic() + timeout_s
    while (left := _live_processes_mentioning(text)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


# Starts the command argv[3:] with its output in the file argv[1] (not a pipe: the child must
# not die of a broken pipe), waits until that output contains argv[2], then SIGKILLs itself.
KILLED_PARENT = """
import os, signal, subprocess, sys, time
from training.processes import PARENT_PID_ENV
log_path, marker, command = sys.argv[1], sys.argv[2], sys.argv[3:]
with open(log_path, "w") as log:
    child = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, PARENT_PID_ENV: str(os.getpid())})
while marker not in open(log_path).read():
    if child.poll() is not None:
        sys.exit(f"the child exited with {child.returncode} before printing {marker!r}")
    time.sleep(0.01)
os.kill(os.getpid(), signal.SIGKILL)
"""


def _kill_parent_once_child_prints(log: Path, marker: str, command: list[str]) -> None:
    parent = subprocess.run(
        [sys.executable, "-c", KILLED_PARENT, str(log), marker, *command],
        env=SUBPROCESS_ENVIRONMENT, cwd=REPO_ROOT, timeout=180,
    )  # fmt: skip
    assert parent.returncode == -signal.SIGKILL, log.read_text()


@pytest.mark.parametrize("asks_to_die", [True, False])
def test_a_child_that_asked_dies_with_its_parent(tmp_path, asks_to_die):
    tag = f"child-of-killed-parent-{tmp_path.name}"
    setup = "from training.processes import die_with_parent, parent_pid_from_environment; die_with_parent(parent_pid_from_environment())"
    child = f"{setup if asks_to_die else ''}\nimport time\nprint('ready', flush=True)\ntime.sleep(60)  # {tag}"
    _kill_parent_once_child_prints(tmp_path / "log", "ready", [sys.executable, "-c", child])
    left = _wait_until_gone(tag, timeout_s=10 if asks_to_die else 1)
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert (left == []) is asks_to_die  # without the signal the orphan lives on: the test can tell


def test_a_child_whose_parent_is_already_gone_exits_at_once():
    code = "from training.processes import die_with_parent; die_with_parent(expected_parent_pid=1 << 22); print('survived')"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=SUBPROCESS_ENVIRONMENT, timeout=30)
    assert result.returncode == -signal.SIGKILL and "survived" not in result.stdout and "is gone" in result.stderr


def test_launch_command_runs_more_than_one_process_under_torchrun():
    assert launch_command(1, "pkg.entry", "--x", "1") == [sys.executable, "-m", "pkg.entry", "--x", "1"]
    assert launch_command(4, "pkg.entry", "--x", "1") == [
        sys.executable, "-m", "training.torchrun", "--standalone", "--nproc-per-node", "4", "-m", "pkg.entry", "--x", "1",
    ]  # fmt: skip
    with pytest.raises(InputError, match="grad_accum_steps \\(3\\) must be a multiple of n_processes \\(2\\)"):
        tiny_config(grad_accum_steps=3, n_processes=2)
    with pytest.raises(InputError, match="n_processes=2 but this process is one of 1"):
        train(tiny_config(grad_accum_steps=2, n_processes=2), [Path("unused.parquet")], Path("unused"))


DATA_PARALLEL_LOSS_TOLERANCE = 1e-5


def test_data_parallel_training_matches_one_process_and_resumes_after_its_launcher_dies(tmp_path):
    """Two gloo ranks vs one process on the same global batch (2 micro-batches of 4 windows per step).

    Each step's gradient is bitwise the same (each rank's loss is scaled by 2 and DDP halves
    the all-reduced sum: both exact in binary floating point), so the weights agree exactly;
    the logged loss sums the same per-micro-batch losses in another order (over steps, then
    over ranks, instead of step by step), which moves it by float32 rounding only: relative
    differences stay within DATA_PARALLEL_LOSS_TOLERANCE = 1e-5 (about 100 float32 ulps; measured: 1.4e-7).
    """
    corpus = tmp_path / "corpus.parquet"
    write_corpus(corpus)
    # 60 steps: the launcher is killed within milliseconds of the first checkpoint (step 10), long before the end.
    single = tiny_config(max_steps=60, batch_size=4, grad_accum_steps=2, checkpoint_every=10, log_every=5)
    parallel = tiny_config(max_steps=60, batch_size=4, grad_accum_steps=2, checkpoint_every=10, log_every=5, n_processes=2)
    config_file = tmp_path / "parallel.json"
    config_file.write_text(json.dumps(parallel.to_dict()))
    out = tmp_path / "parallel"
    args = _training_args(config_file, corpus, out)

    _kill_parent_once_child_prints(tmp_path / "log", '"event": "checkpoint"', launch_command(2, "training.train", *args))
    assert _wait_until_gone(str(out)) == [], "a torchrun agent or rank outlived its launcher"
    saved_step = torch.load(out / "resume" / "state.pt", weights_only=True)["step"]
    events = _run_training(config_file, corpus, out, n_processes=2)
    assert events[0]["event"] == "resumed" and events[0]["step"] == saved_step < parallel.max_steps

    expected = train(single, [corpus], tmp_path / "single")
    summary = json.loads((out / "training_summary.json").read_text())
    assert [step for step, _ in summary["loss_curve"]] == [step for step, _ in expected.loss_curve]
    assert summary["tokens_seen"] == expected.tokens_seen
    for (step, loss), (_, single_loss) in zip(summary["loss_curve"], expected.loss_curve):
        assert loss == pytest.approx(single_loss, rel=DATA_PARALLEL_LOSS_TOLERANCE), step
    parallel_weights, single_weights = _load_weights(out), _load_weights(tmp_path / "single")
    for name, tensor in single_weights.items():
        assert torch.equal(tensor, parallel_weights[name]), name


def test_planned_configs_are_larger_than_the_ladder_and_not_trained_by_default():
    def non_embedding(config: TrainConfig) -> int:
        return count_parameters(build_model(ModelConfig(**{**config.model.__dict__, "vocab_size": 3000})), non_embedding=True)

    assert not set(PLANNED_CONFIGS) & set(DEFAULT_LADDER)
    largest = max(non_embedding(config) for config in DEFAULT_LADDER.values())
    assert min(non_embedding(config) for config in PLANNED_CONFIGS.values()) > largest


def test_step_progress_through_pipes_is_throttled_but_the_last_step_and_other_events_pass():
    from smi_assets.checkpoints.train_process import throttled

    now = [0.0]
    sent = []
    report = throttled(sent.append, interval_s=2.0, clock=lambda: now[0])
    for step in range(1, 11):
        now[0] = step * 0.5  # a step every half second
        report({"event": "step", "step": step, "max_steps": 10})
        if step == 5:
            report({"event": "checkpoint", "step": step})
    assert [(item["event"], item["step"]) for item in sent] == [("step", 1), ("step", 5), ("checkpoint", 5), ("step", 9), ("step", 10)]
