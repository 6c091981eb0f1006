"""The training loop: AdamW, warmup + cosine, gradient accumulation, periodic resumable checkpoints.

How a run is made resumable without repeating or skipping data
---------------------------------------------------------------
- The corpus is tokenized once into a token file (one stream of token ids, documents
  separated by ``<eos>``; `training.data`) that the loop memory-maps: the corpus is never
  held in memory.
- The micro-batch ``m`` of optimizer step ``s`` is a pure function of ``(seed, s, m)``: its
  window start offsets come from ``numpy.random.default_rng([seed, s, m])``. There is no
  data-loader position to save; resuming at step ``s`` draws exactly the batches an
  uninterrupted run would have drawn.
- The learning rate is a pure function of the step (`learning_rate_at`), so there is no
  scheduler object whose state could drift.
- ``out_dir/resume/run.json`` records the config and the sha256 of the corpus *content*
  (`training.data.corpus_sha256`), not file times: corpus files rewritten with the same
  documents leave it unchanged and the run resumes; another config or corpus discards the
  whole resume folder and starts over. The tokenizer (``resume/tokenizer``) and the token
  file are written there once.
- Every ``checkpoint_every`` steps, ``resume/state.pt`` (model, optimizer, step, loss curve,
  torch RNG state and the run key) is written to a unique temporary name and renamed into
  place. It holds only tensors and plain containers and is read back with
  ``torch.load(weights_only=True)``: a planted pickle there is refused, never executed
  (the run fails with an `InputError` naming the file and saying to delete the resume
  folder; the error is deliberate: a file the trainer did not write means someone else
  writes into this folder).
- The final HF checkpoint (safetensors, tokenizer, ``training_summary.json``) is staged in a
  folder unique to the process and moved into ``out_dir`` before the resume state is
  removed, so a kill at any point leaves either the previous checkpoint or enough state to
  finish.
- With ``intermediate_every``, the run also leaves loadable checkpoints while it is in progress,
  ``out_dir/intermediate/step<NNNNNN>/`` (same format, its summary saying the step and the
  tokens seen), each staged and renamed into place whole. They belong to the run: a run that
  starts from step 0 removes those of an earlier run.
- The whole run holds an exclusive lock on ``out_dir`` (`training.processes.folder_lock`):
  a second trainer on the same folder waits, then fails clearly.

On CPU training runs in fp32 and is bit-reproducible: a killed and resumed run ends with
the same weights as an uninterrupted one. On GPU it uses bf16 autocast, TF32 matmuls,
`torch.compile` and fused AdamW. With ``config.n_processes > 1`` it is data-parallel under
torchrun (`training.distributed`), with the same checkpoint and resume format.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import hashlib
import json
import math
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel
from transformers import PreTrainedModel, PreTrainedTokenizerFast

from smi_assets.common.errors import InputError
from smi_assets.common.storage import write_atomic, write_text_atomic
from training import data
from training.config import TrainConfig
from training.distributed import Ranks, barrier, current_ranks, data_parallel, process_group, rank_device, sum_over_ranks
from training.model import build_model, count_parameters
from training.processes import DEFAULT_LOCK_TIMEOUT_S, FolderLockedError, die_with_parent, folder_lock, parent_pid_from_environment
from training.tokenizer import train_tokenizer

RESUME_DIR = "resume"
RUN_FILE = "run.json"
STATE_FILE = "state.pt"
TOKENIZER_DIR = "tokenizer"
SUMMARY_FILE = "training_summary.json"
INTERMEDIATE_DIR = "intermediate"
STAGING_PREFIX = ".staging"
STATE_KEYS = frozenset({"model", "optimizer", "torch_rng", "step", "loss_curve", "tokens_seen", "run_key"})
PREPARE_TIMEOUT_S = 6 * 3600  # how long the other ranks wait for rank 0 to hash and tokenize the corpus

Progress = Callable[[dict], None]


@dataclass
class TrainResult:
    """What a finished run produced; `tokens_per_second` covers the steps run by this process."""

    path: Path
    params: int
    non_embedding_params: int
    tokens_seen: int
    final_loss: float
    loss_curve: list[tuple[int, float]]
    tokens_per_second: float


@dataclass
class TrainingData:
    """What rank 0 prepared in the resume folder, as every rank opens it."""

    tokenizer: PreTrainedTokenizerFast
    stream: np.ndarray  # memory-mapped token file
    run_key: str


def batch_at(stream: np.ndarray, seed: int, step: int, micro_step: int, batch_size: int, block_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs and next-token targets of one micro-batch: a pure function of (seed, step, micro_step)."""
    rng = np.random.default_rng([seed, step, micro_step])
    starts = rng.integers(0, len(stream) - block_size, size=batch_size)
    windows = stream[starts[:, None] + np.arange(block_size + 1)].astype(np.int64)
    return torch.from_numpy(windows[:, :-1]), torch.from_numpy(windows[:, 1:])


def learning_rate_at(step: int, config: TrainConfig) -> float:
    """Linear warmup to `learning_rate`, then cosine decay to `min_learning_rate` at `max_steps`."""
    if step < config.warmup_steps:
        return config.learning_rate * (step + 1) / config.warmup_steps
    progress = (step - config.warmup_steps) / max(1, config.max_steps - config.warmup_steps)
    cosine = 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
    return config.min_learning_rate + cosine * (config.learning_rate - config.min_learning_rate)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def autocast_for(device: torch.device) -> Callable[[], contextlib.AbstractContextManager]:
    """bf16 autocast on GPU (with TF32 for the fp32 matmuls left); plain fp32 on CPU, where it is exact."""
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        return lambda: torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext


def compiled_for(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """`torch.compile`d on GPU; on CPU the eager model (compiling tiny models costs more than it saves)."""
    return torch.compile(model) if device.type == "cuda" else model


def make_optimizer(model: torch.nn.Module, config: TrainConfig, device: torch.device) -> torch.optim.AdamW:
    """AdamW with weight decay on matrices only (not on norms and biases); fused on GPU. (Fused on
    CPU is about 5% faster per step but rounds differently: the published default results were
    trained with the per-tensor loop, so CPU keeps it.)"""
    parameters = [parameter for parameter in model.parameters() if parameter.requires_grad]
    groups = [
        {"params": [p for p in parameters if p.dim() >= 2], "weight_decay": config.weight_decay},
        {"params": [p for p in parameters if p.dim() < 2], "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=config.learning_rate, betas=(0.9, 0.95), eps=1e-8, fused=device.type == "cuda")


def optimizer_step(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    micro_batches: Sequence[tuple[torch.Tensor, torch.Tensor]],
    n_micro: int,
    learning_rate: float,
    autocast: Callable[[], contextlib.AbstractContextManager],
    device: torch.device,
    ddp: DistributedDataParallel | None = None,
) -> torch.Tensor:
    """One AdamW step over `n_micro` accumulated micro-batches; returns the summed loss of `micro_batches` (not synced).

    Under DDP (`ddp` is the wrapper `model` runs through) `micro_batches` are this rank's
    share of the step's `n_micro`: gradients are all-reduced once, on the last of them, and
    each loss is scaled by the world size because DDP averages where accumulation sums.
    """
    for group in optimizer.param_groups:
        group["lr"] = learning_rate
    total = torch.zeros((), device=device)
    for index, (inputs, targets) in enumerate(micro_batches):
        inputs = inputs.to(device, non_blocking=True)
        targets = targets.to(device, non_blocking=True)
        syncs = ddp is None or index == len(micro_batches) - 1
        with contextlib.nullcontext() if syncs else ddp.no_sync(), autocast():
            logits = model(input_ids=inputs).logits
            loss = F.cross_entropy(logits.float().flatten(0, 1), targets.flatten()) / n_micro
        (loss if ddp is None else loss * ddp.process_group.size()).backward()
        total += loss.detach()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return total


def _run_key(run: dict) -> str:
    return hashlib.sha256(json.dumps(run, sort_keys=True).encode()).hexdigest()


def _clear_leftovers(out_dir: Path) -> None:
    """Remove what killed runs left half-written (staging folders, temporary files); only under the folder lock."""
    for staging in out_dir.glob(f"{STAGING_PREFIX}*"):
        shutil.rmtree(staging, ignore_errors=True)
    for temporary in (out_dir / RESUME_DIR).glob(".*"):
        if temporary.is_dir():
            shutil.rmtree(temporary)
        else:
            temporary.unlink()


def _load_or_train_tokenizer(config: TrainConfig, corpus_files: list[Path], resume_dir: Path) -> PreTrainedTokenizerFast:
    folder = resume_dir / TOKENIZER_DIR
    if folder.is_dir():
        return PreTrainedTokenizerFast.from_pretrained(folder)
    tokenizer = train_tokenizer(data.texts(corpus_files), kind=config.tokenizer, vocab_size=config.vocab_size)
    staging = Path(tempfile.mkdtemp(dir=resume_dir, prefix=f".{TOKENIZER_DIR}."))
    tokenizer.save_pretrained(staging)
    os.replace(staging, folder)
    return tokenizer


def _read_run(run_file: Path) -> dict | None:
    """What a resume folder was written for; None if that is unknown (no or unreadable run.json)."""
    try:
        return json.loads(run_file.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def _prepare(config: TrainConfig, corpus_files: list[Path], out_dir: Path, report: Progress, tokenized_dir: Path | None = None) -> None:
    """Rank 0, holding the folder lock: keep the resume folder if it was written for this config
    and corpus content (else start it afresh), and make sure its tokenizer and token file exist:
    taken from `tokenized_dir` when another training left them there, else made here (and left
    there for the next one)."""
    _clear_leftovers(out_dir)
    resume_dir = out_dir / RESUME_DIR
    run = {"config": config.to_dict(), "corpus_sha256": data.corpus_sha256(corpus_files)}
    run_file = resume_dir / RUN_FILE
    if _read_run(run_file) != run:
        # Starting from step 0: checkpoints an earlier run left on its way are not this run's.
        shutil.rmtree(out_dir / INTERMEDIATE_DIR, ignore_errors=True)
        if resume_dir.exists():
            shutil.rmtree(resume_dir)
            report({"event": "restarted", "message": f"discarded {resume_dir}: it was written for another config or corpus content"})
        resume_dir.mkdir(parents=True)
        write_text_atomic(json.dumps(run, indent=2), run_file)
    shared = Path(tokenized_dir) / _tokenization_key(config, run["corpus_sha256"]) if tokenized_dir else None
    if shared is not None and shared.is_dir() and not (resume_dir / TOKENIZER_DIR).is_dir():
        _copy_into_place(shared / TOKENIZER_DIR, resume_dir / TOKENIZER_DIR)
    tokenizer = _load_or_train_tokenizer(config, corpus_files, resume_dir)
    token_file = resume_dir / data.token_file_name(run["corpus_sha256"], tokenizer)
    if not token_file.is_file() and shared is not None and (shared / token_file.name).is_file():
        _copy_into_place(shared / token_file.name, token_file)
        report({"event": "tokenized", "path": str(token_file), "shared_from": str(shared)})
    if not token_file.is_file():
        data.write_token_file(tokenizer, corpus_files, token_file)
        report({"event": "tokenized", "path": str(token_file), "tokens": int(token_file.stat().st_size // data.token_dtype(len(tokenizer)).itemsize)})
    if shared is not None and not shared.is_dir():
        _share_tokenization(resume_dir / TOKENIZER_DIR, token_file, shared)


def _tokenization_key(config: TrainConfig, corpus_sha256: str) -> str:
    """What a tokenizer and its token file depend on: the corpus content and the tokenizer settings."""
    settings = {"corpus_sha256": corpus_sha256, "tokenizer": config.tokenizer, "vocab_size": config.vocab_size}
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:24]


def _copy_into_place(source: Path, target: Path) -> None:
    """Give `target` the content of `source` (a file, hard-linked where the filesystem allows,
    or a folder), through a temporary name renamed into place."""
    staging = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    if source.is_dir():
        shutil.copytree(source, staging)
    else:
        try:
            os.link(source, staging)  # token files are written once and never changed in place
        except OSError:
            shutil.copyfile(source, staging)
    os.replace(staging, target)


def _share_tokenization(tokenizer_dir: Path, token_file: Path, shared: Path) -> None:
    """Leave the tokenizer and token file in `shared`, all at once: a folder renamed into
    place, so another training finds it complete or not at all (if two publish at once, the
    second finds the first's and discards its own)."""
    shared.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=shared.parent, prefix=f".{shared.name}."))
    try:
        _copy_into_place(tokenizer_dir, staging / TOKENIZER_DIR)
        _copy_into_place(token_file, staging / token_file.name)
        os.rename(staging, shared)
    except OSError:
        if not shared.is_dir():
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _open_prepared(resume_dir: Path, block_size: int, corpus_files: list[Path]) -> TrainingData:
    run = json.loads((resume_dir / RUN_FILE).read_text())
    tokenizer = PreTrainedTokenizerFast.from_pretrained(resume_dir / TOKENIZER_DIR)
    stream = data.open_token_file(resume_dir / data.token_file_name(run["corpus_sha256"], tokenizer))
    if len(stream) <= block_size + 1:
        raise InputError(corpus_files[0], f"the corpus has {len(stream)} tokens, fewer than one training window of {block_size + 1}")
    return TrainingData(tokenizer, stream, _run_key(run))


def _load_resume_state(path: Path, run_key: str) -> dict | None:
    """The saved state if it was trained in this run (config and corpus), else None.

    Only tensors and plain containers load (``weights_only=True``); anything else is an
    `InputError`, and nothing in the file runs.
    """
    if not path.is_file():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)  # written by rename: never torn
    except Exception as error:  # pickle.UnpicklingError for foreign objects, RuntimeError for a broken archive, ...
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise InputError(
            path,
            f"not a training state this trainer wrote: torch.load(weights_only=True) refused it ({reason}); "
            f"nothing in it was run. Delete {path.parent} to train this checkpoint from the start",
        ) from error
    if not isinstance(state, dict) or not STATE_KEYS <= state.keys():
        raise InputError(path, f"not a training state this trainer wrote: expected the keys {sorted(STATE_KEYS)}; delete {path.parent} to start over")
    return state if state["run_key"] == run_key else None


def _stage_checkpoint(model: PreTrainedModel, tokenizer: PreTrainedTokenizerFast, summary: dict, parent: Path) -> Path:
    """Write an HF checkpoint (weights, tokenizer, summary) into a new staging folder under `parent`."""
    staging = Path(tempfile.mkdtemp(dir=parent, prefix=STAGING_PREFIX))
    model.save_pretrained(staging, safe_serialization=True)
    tokenizer.save_pretrained(staging)
    (staging / SUMMARY_FILE).write_text(json.dumps(summary, indent=2))
    return staging


def _finalize(model: PreTrainedModel, tokenizer: PreTrainedTokenizerFast, summary: dict, out_dir: Path) -> None:
    """Stage the HF checkpoint in a folder of this process, then move it into `out_dir` file by file (each move is atomic)."""
    staging = _stage_checkpoint(model, tokenizer, summary, out_dir)
    for item in staging.iterdir():
        os.replace(item, out_dir / item.name)
    staging.rmdir()


def _save_intermediate(model: PreTrainedModel, tokenizer: PreTrainedTokenizerFast, summary: dict, out_dir: Path) -> Path:
    """The checkpoint of a run in progress, renamed into ``intermediate/step<NNNNNN>`` whole; a
    resumed run keeps the folder an earlier try wrote for the same step."""
    parent = out_dir / INTERMEDIATE_DIR
    parent.mkdir(exist_ok=True)
    target = parent / f"step{summary['step']:06d}"
    if not target.is_dir():
        os.replace(_stage_checkpoint(model, tokenizer, summary, parent), target)
    return target


def _summary(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerFast, config: TrainConfig, step: int, tokens_seen: int, loss_curve: list, corpus_tokens: int
) -> dict:
    """What a checkpoint's ``training_summary.json`` says: its step and tokens within the run, the
    run's planned tokens, and the sizes a forecast needs."""
    return {
        "params": count_parameters(model), "non_embedding_params": count_parameters(model, non_embedding=True),
        "step": step, "max_steps": config.max_steps, "tokens_seen": tokens_seen, "run_tokens": config.run_tokens,
        "loss": loss_curve[-1][1] if loss_curve else None, "loss_curve": loss_curve,
        "vocab_size": len(tokenizer), "corpus_tokens": corpus_tokens, "config": config.to_dict(),
    }  # fmt: skip


def train(
    config: TrainConfig,
    corpus_files: list[Path],
    out_dir: Path,
    on_progress: Progress | None = None,
    lock_timeout_s: float = DEFAULT_LOCK_TIMEOUT_S,
    tokenized_dir: Path | None = None,
) -> TrainResult:
    """Train (or resume) one model on the corpus and write an HF checkpoint into `out_dir`.

    Waits up to `lock_timeout_s` for another trainer on `out_dir` to finish, then raises
    `FolderLockedError`. With ``config.n_processes > 1`` every rank of the torchrun job calls
    this; only rank 0 reports progress and writes. With `tokenized_dir`, the tokenizer and
    token file are shared through it with every other training of the same corpus content and
    tokenizer settings (a ladder of model sizes tokenizes its corpus once).
    """
    out_dir = Path(out_dir)
    corpus_files = [Path(path) for path in corpus_files]
    ranks = current_ranks()
    if ranks.world_size != config.n_processes:
        raise InputError(
            "train config",
            f"n_processes={config.n_processes} but this process is one of {ranks.world_size}: "
            "start it with training.distributed.launch_command(config.n_processes, ...)",
        )
    report = (on_progress or (lambda progress: None)) if ranks.is_main else (lambda progress: None)
    device = rank_device(resolve_device(config.device), ranks)
    with process_group(ranks, device, timeout_s=lock_timeout_s + PREPARE_TIMEOUT_S):
        with folder_lock(out_dir, lock_timeout_s, report) if ranks.is_main else contextlib.nullcontext():
            if ranks.is_main:
                _prepare(config, corpus_files, out_dir, report, tokenized_dir)
            barrier(ranks, device)
            prepared = _open_prepared(out_dir / RESUME_DIR, config.model.block_size, corpus_files)
            return _train_prepared(config, prepared, out_dir, ranks, device, report)


def _train_prepared(config: TrainConfig, prepared: TrainingData, out_dir: Path, ranks: Ranks, device: torch.device, report: Progress) -> TrainResult:
    resume_dir = out_dir / RESUME_DIR
    autocast = autocast_for(device)
    tokenizer, stream, block_size = prepared.tokenizer, prepared.stream, config.model.block_size
    torch.manual_seed(config.seed)
    model_config = dataclasses.replace(config.model, vocab_size=len(tokenizer))
    model = build_model(model_config).to(device)
    optimizer = make_optimizer(model, config, device)
    step, loss_curve, tokens_seen = 0, [], 0
    state = _load_resume_state(resume_dir / STATE_FILE, prepared.run_key)
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["torch_rng"])
        if device.type == "cuda" and "cuda_rng" in state:
            torch.cuda.set_rng_state(state["cuda_rng"], device)
        step, loss_curve, tokens_seen = state["step"], [tuple(point) for point in state["loss_curve"]], state["tokens_seen"]
        report({"event": "resumed", "step": step, "max_steps": config.max_steps, "message": f"resuming from step {step} of {config.max_steps}"})
    ddp = data_parallel(model, ranks, device)
    forward_model = compiled_for(ddp or model, device)
    model.train()

    tokens_per_step = config.tokens_per_step
    started, tokens_this_run = time.perf_counter(), 0
    window_loss, window_steps = torch.zeros((), device=device), 0
    while step < config.max_steps:
        micro_batches = [batch_at(stream, config.seed, step, micro, config.batch_size, block_size) for micro in ranks.micro_steps(config.grad_accum_steps)]
        learning_rate = learning_rate_at(step, config)
        window_loss += optimizer_step(forward_model, optimizer, micro_batches, config.grad_accum_steps, learning_rate, autocast, device, ddp)
        window_steps += 1
        step += 1
        tokens_seen += tokens_per_step
        tokens_this_run += tokens_per_step
        if step % config.log_every == 0 or step == config.max_steps:
            loss = float(sum_over_ranks(window_loss, ranks)) / window_steps  # the only device sync in the loop
            window_loss.zero_()
            window_steps = 0
            loss_curve.append((step, loss))
            elapsed = time.perf_counter() - started
            report({
                "event": "step", "step": step, "max_steps": config.max_steps, "loss": loss, "learning_rate": learning_rate,
                "tokens_seen": tokens_seen, "tokens_per_second": tokens_this_run / elapsed,
            })  # fmt: skip
        # Before the resume state: a run resumed from step s has every intermediate checkpoint up to s.
        if ranks.is_main and config.intermediate_every and step % config.intermediate_every == 0 and step < config.max_steps:
            summary = _summary(model, tokenizer, config, step, tokens_seen, loss_curve, int(len(stream)))
            path = _save_intermediate(model, tokenizer, summary, out_dir)
            report({"event": "intermediate", "step": step, "tokens_seen": tokens_seen, "path": str(path)})
        if ranks.is_main and step % config.checkpoint_every == 0 and step < config.max_steps:
            state = {
                "model": model.state_dict(), "optimizer": optimizer.state_dict(), "torch_rng": torch.get_rng_state(),
                "step": step, "loss_curve": loss_curve, "tokens_seen": tokens_seen, "run_key": prepared.run_key,
            }  # fmt: skip
            if device.type == "cuda":
                state["cuda_rng"] = torch.cuda.get_rng_state(device)
            write_atomic(resume_dir / STATE_FILE, lambda temporary, state=state: torch.save(state, temporary))
            report({"event": "checkpoint", "step": step, "path": str(resume_dir / STATE_FILE)})
    elapsed = time.perf_counter() - started

    result = TrainResult(
        path=out_dir,
        params=count_parameters(model),
        non_embedding_params=count_parameters(model, non_embedding=True),
        tokens_seen=tokens_seen,
        final_loss=loss_curve[-1][1],
        loss_curve=loss_curve,
        tokens_per_second=tokens_this_run / elapsed if elapsed > 0 else 0.0,
    )
    if ranks.is_main:
        summary = {
            **_summary(model, tokenizer, config, step, tokens_seen, loss_curve, int(len(stream))),
            "final_loss": result.final_loss, "tokens_per_second": result.tokens_per_second,
        }  # fmt: skip
        _finalize(model, tokenizer, summary, out_dir)
        shutil.rmtree(resume_dir)
        report({"event": "done", "step": step, "path": str(out_dir), "final_loss": result.final_loss})
    return result


def main(argv: list[str] | None = None) -> int:
    die_with_parent(parent_pid_from_environment())
    parser = argparse.ArgumentParser(prog="python -m training.train", description="Train one model; progress as JSON lines on stdout.")
    parser.add_argument("--config", type=Path, required=True, help="TrainConfig as JSON (TrainConfig.to_dict())")
    parser.add_argument("--corpus", type=Path, nargs="+", required=True, help="parquet files with a `text` column")
    parser.add_argument("--out", type=Path, required=True, help="checkpoint folder (resume state is kept inside)")
    parser.add_argument("--lock-timeout", type=float, default=DEFAULT_LOCK_TIMEOUT_S, help="seconds to wait for another trainer on --out")
    parser.add_argument("--tokenized-dir", type=Path, help="folder sharing tokenizers and token files between trainings on the same corpus")
    args = parser.parse_args(argv)
    try:
        config = TrainConfig.from_dict(json.loads(args.config.read_text()))
        train(
            config, args.corpus, args.out, on_progress=lambda progress: print(json.dumps(progress), flush=True),
            lock_timeout_s=args.lock_timeout, tokenized_dir=args.tokenized_dir,
        )  # fmt: skip
    except (InputError, FolderLockedError, OSError, json.JSONDecodeError) as error:
        print(f"training failed: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
