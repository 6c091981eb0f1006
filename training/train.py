"""The training loop: AdamW, warmup + cosine, gradient accumulation, periodic resumable checkpoints.

How a run is made resumable without repeating or skipping data
---------------------------------------------------------------
- The corpus is tokenized into one stream of token ids (documents separated by ``<eos>``).
- The micro-batch ``m`` of optimizer step ``s`` is a pure function of ``(seed, s, m)``: its
  window start offsets come from ``numpy.random.default_rng([seed, s, m])``. There is no
  data-loader position to save; resuming at step ``s`` draws exactly the batches an
  uninterrupted run would have drawn.
- The learning rate is a pure function of the step (`learning_rate_at`), so there is no
  scheduler object whose state could drift.
- Every ``checkpoint_every`` steps, ``out_dir/resume/state.pt`` (model, optimizer, step,
  loss curve, torch RNG state, and a fingerprint of the token stream) is written to a
  temporary name and renamed into place; the tokenizer is saved once in
  ``out_dir/resume/tokenizer``. ``out_dir/resume/run.json`` records the config and the
  corpus files (path, size, mtime); a run whose config or corpus differ discards the whole
  resume folder and starts over, otherwise it continues from the saved step.
- The final HF checkpoint (safetensors, tokenizer, ``training_summary.json``) is staged and
  moved into ``out_dir`` before the resume state is removed, so a kill at any point leaves
  either the previous checkpoint or enough state to finish.

On CPU training runs in fp32 and is bit-reproducible: a killed and resumed run ends with
the same weights as an uninterrupted one. On GPU it uses bf16 autocast, TF32 matmuls,
`torch.compile` and fused AdamW.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import math
import os
import shutil
import sys
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import torch
import torch.nn.functional as F
from transformers import PreTrainedModel, PreTrainedTokenizerFast

from smi_assets.errors import InputError
from training.config import TrainConfig
from training.model import build_model, count_parameters
from training.tokenizer import EOS_ID, train_tokenizer

RESUME_DIR = "resume"
STATE_FILE = "state.pt"
SUMMARY_FILE = "training_summary.json"

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


def read_corpus_texts(corpus_files: list[Path]) -> list[str]:
    """The `text` column of every parquet file, in file order."""
    if not corpus_files:
        raise InputError("corpus", "no corpus files given")
    texts: list[str] = []
    for path in corpus_files:
        try:
            frame = pl.read_parquet(path, columns=["text"])
        except FileNotFoundError as error:
            raise InputError(path, "corpus file does not exist") from error
        except Exception as error:  # polars raises several types for unreadable files
            raise InputError(path, f"cannot read a `text` column from this parquet file ({error})") from error
        nulls = frame["text"].is_null()
        if nulls.any():
            raise InputError(path, "`text` is null", row=int(nulls.arg_true()[0]))
        texts.extend(frame["text"].to_list())
    return texts


def tokenize_corpus(tokenizer: PreTrainedTokenizerFast, texts: list[str]) -> np.ndarray:
    """One int32 stream: <eos> doc <eos> doc ... <eos>, so every document starts after an <eos> as prompts do."""
    encodings = tokenizer.backend_tokenizer.encode_batch(texts, add_special_tokens=False)
    pieces = [np.array([EOS_ID], dtype=np.int32)]
    for encoding in encodings:
        pieces.append(np.asarray(encoding.ids, dtype=np.int32))
        pieces.append(np.array([EOS_ID], dtype=np.int32))
    return np.concatenate(pieces)


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
    """AdamW with weight decay on matrices only (not on norms and biases); fused on GPU."""
    parameters = [parameter for parameter in model.parameters() if parameter.requires_grad]
    groups = [
        {"params": [p for p in parameters if p.dim() >= 2], "weight_decay": config.weight_decay},
        {"params": [p for p in parameters if p.dim() < 2], "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=config.learning_rate, betas=(0.9, 0.95), eps=1e-8, fused=device.type == "cuda")


def optimizer_step(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    micro_batches: Iterator[tuple[torch.Tensor, torch.Tensor]],
    n_micro: int,
    learning_rate: float,
    autocast: Callable[[], contextlib.AbstractContextManager],
    device: torch.device,
) -> torch.Tensor:
    """One AdamW step over `n_micro` accumulated micro-batches; returns the mean loss (a tensor, not synced)."""
    for group in optimizer.param_groups:
        group["lr"] = learning_rate
    total = torch.zeros((), device=device)
    for inputs, targets in micro_batches:
        inputs = inputs.to(device, non_blocking=True)
        targets = targets.to(device, non_blocking=True)
        with autocast():
            logits = model(input_ids=inputs).logits
            loss = F.cross_entropy(logits.float().flatten(0, 1), targets.flatten()) / n_micro
        loss.backward()
        total += loss.detach()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return total


def _fingerprint(stream: np.ndarray) -> str:
    return f"{len(stream)}:{zlib.crc32(stream.tobytes()):08x}"


def _save_atomic(state: dict, path: Path) -> None:
    temporary = path.with_name(path.name + ".tmp")
    torch.save(state, temporary)
    os.replace(temporary, path)


def _load_or_train_tokenizer(config: TrainConfig, texts: list[str], resume_dir: Path) -> PreTrainedTokenizerFast:
    folder = resume_dir / "tokenizer"
    if folder.is_dir():
        return PreTrainedTokenizerFast.from_pretrained(folder)
    tokenizer = train_tokenizer(texts, kind=config.tokenizer, vocab_size=config.vocab_size)
    staging = resume_dir / "tokenizer.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    tokenizer.save_pretrained(staging)
    os.replace(staging, folder)
    return tokenizer


def _prepare_resume_dir(resume_dir: Path, config: TrainConfig, corpus_files: list[Path]) -> None:
    """Keep `resume_dir` only if it was written for this config and these corpus files; else start it afresh."""
    run = {
        "config": config.to_dict(),
        "corpus": [[str(Path(path).resolve()), Path(path).stat().st_size, Path(path).stat().st_mtime_ns] for path in corpus_files],
    }
    run_file = resume_dir / "run.json"
    if run_file.is_file() and json.loads(run_file.read_text()) == run:
        return
    shutil.rmtree(resume_dir, ignore_errors=True)
    resume_dir.mkdir(parents=True)
    run_file.write_text(json.dumps(run))


def _load_resume_state(path: Path, fingerprint: str) -> dict | None:
    """The saved state if it was trained on this token stream, else None."""
    if not path.is_file():
        return None
    state = torch.load(path, map_location="cpu", weights_only=False)  # written by rename: never torn
    return state if state.get("fingerprint") == fingerprint else None


def _finalize(model: PreTrainedModel, tokenizer: PreTrainedTokenizerFast, summary: dict, out_dir: Path) -> None:
    """Stage the HF checkpoint, then move it into `out_dir` file by file (each move is atomic)."""
    staging = out_dir / ".staging"
    shutil.rmtree(staging, ignore_errors=True)
    model.save_pretrained(staging, safe_serialization=True)
    tokenizer.save_pretrained(staging)
    (staging / SUMMARY_FILE).write_text(json.dumps(summary, indent=2))
    for item in staging.iterdir():
        os.replace(item, out_dir / item.name)
    staging.rmdir()


def train(config: TrainConfig, corpus_files: list[Path], out_dir: Path, on_progress: Progress | None = None) -> TrainResult:
    """Train (or resume) one model on the corpus and write an HF checkpoint into `out_dir`."""
    report = on_progress or (lambda progress: None)
    out_dir = Path(out_dir)
    resume_dir = out_dir / RESUME_DIR
    device = resolve_device(config.device)
    autocast = autocast_for(device)

    corpus_files = [Path(path) for path in corpus_files]
    texts = read_corpus_texts(corpus_files)
    _prepare_resume_dir(resume_dir, config, corpus_files)
    tokenizer = _load_or_train_tokenizer(config, texts, resume_dir)
    stream = tokenize_corpus(tokenizer, texts)
    del texts
    block_size = config.model.block_size
    if len(stream) <= block_size + 1:
        raise InputError(corpus_files[0], f"the corpus has {len(stream)} tokens, fewer than one training window of {block_size + 1}")
    fingerprint = _fingerprint(stream)

    torch.manual_seed(config.seed)
    model_config = dataclasses.replace(config.model, vocab_size=len(tokenizer))
    model = build_model(model_config).to(device)
    optimizer = make_optimizer(model, config, device)
    step, loss_curve, tokens_seen = 0, [], 0
    state = _load_resume_state(resume_dir / STATE_FILE, fingerprint)
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["torch_rng"])
        step, loss_curve, tokens_seen = state["step"], [tuple(point) for point in state["loss_curve"]], state["tokens_seen"]
        report({"event": "resumed", "step": step, "max_steps": config.max_steps})
    forward_model = compiled_for(model, device)
    model.train()

    tokens_per_step = config.batch_size * config.grad_accum_steps * block_size
    started, tokens_this_run = time.perf_counter(), 0
    window_loss, window_steps = torch.zeros((), device=device), 0
    while step < config.max_steps:
        micro_batches = (
            batch_at(stream, config.seed, step, micro, config.batch_size, block_size) for micro in range(config.grad_accum_steps)
        )
        learning_rate = learning_rate_at(step, config)
        window_loss += optimizer_step(forward_model, optimizer, micro_batches, config.grad_accum_steps, learning_rate, autocast, device)
        window_steps += 1
        step += 1
        tokens_seen += tokens_per_step
        tokens_this_run += tokens_per_step
        if step % config.log_every == 0 or step == config.max_steps:
            loss = float(window_loss) / window_steps  # the only device sync in the loop
            window_loss.zero_()
            window_steps = 0
            loss_curve.append((step, loss))
            elapsed = time.perf_counter() - started
            report({
                "event": "step", "step": step, "max_steps": config.max_steps, "loss": loss, "learning_rate": learning_rate,
                "tokens_seen": tokens_seen, "tokens_per_second": tokens_this_run / elapsed,
            })  # fmt: skip
        if step % config.checkpoint_every == 0 and step < config.max_steps:
            _save_atomic(
                {
                    "model": model.state_dict(), "optimizer": optimizer.state_dict(), "torch_rng": torch.get_rng_state(),
                    "step": step, "loss_curve": loss_curve, "tokens_seen": tokens_seen, "fingerprint": fingerprint,
                },
                resume_dir / STATE_FILE,
            )  # fmt: skip
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
    summary = {
        "params": result.params, "non_embedding_params": result.non_embedding_params, "tokens_seen": result.tokens_seen,
        "final_loss": result.final_loss, "loss_curve": result.loss_curve, "tokens_per_second": result.tokens_per_second,
        "vocab_size": len(tokenizer), "corpus_tokens": int(len(stream)), "config": config.to_dict(),
    }  # fmt: skip
    _finalize(model, tokenizer, summary, out_dir)
    shutil.rmtree(resume_dir)
    report({"event": "done", "step": step, "path": str(out_dir), "final_loss": result.final_loss})
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.train", description="Train one model; progress as JSON lines on stdout.")
    parser.add_argument("--config", type=Path, required=True, help="TrainConfig as JSON (TrainConfig.to_dict())")
    parser.add_argument("--corpus", type=Path, nargs="+", required=True, help="parquet files with a `text` column")
    parser.add_argument("--out", type=Path, required=True, help="checkpoint folder (resume state is kept inside)")
    args = parser.parse_args(argv)
    try:
        config = TrainConfig.from_dict(json.loads(args.config.read_text()))
        train(config, args.corpus, args.out, on_progress=lambda progress: print(json.dumps(progress), flush=True))
    except (InputError, OSError, json.JSONDecodeError) as error:
        print(f"training failed: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
