"""One config object for a training run (nanoGPT style), and the project's default ladder.

`TrainConfig` round-trips through JSON (`to_dict` / `from_dict`) because the Dagster layer
hands it to a training subprocess. `DEFAULT_LADDER` holds the checkpoints the default
pipeline trains: three sizes spanning more than 10x in non-embedding parameters, sized so
that all three train in about 5 minutes on 2 CPU cores on the default synthetic world
(measured: 32 s, 67 s and 192 s for 3000 steps; greedy CBQA accuracy 0.19 / 0.30 / 0.37,
rising with a fact's exposure in each).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

from smi_assets.common.errors import InputError


@dataclass
class ModelConfig:
    """Shape of a decoder-only transformer.

    ``positions="rotary"`` builds a Llama architecture (RoPE, RMSNorm, SwiGLU),
    ``"learned"`` a GPT-2 (learned absolute positions, LayerNorm, GELU MLP). Both keep
    about 12 * n_layer * n_embd**2 non-embedding parameters. ``vocab_size`` is set from
    the trained tokenizer.
    """

    n_layer: int
    n_embd: int
    n_head: int
    block_size: int
    positions: Literal["rotary", "learned"] = "rotary"
    vocab_size: int | None = None

    def __post_init__(self) -> None:
        problems = []
        if min(self.n_layer, self.n_embd, self.n_head, self.block_size) < 1:
            problems.append("n_layer, n_embd, n_head and block_size must be positive")
        elif self.n_embd % self.n_head:
            problems.append(f"n_embd ({self.n_embd}) must be divisible by n_head ({self.n_head})")
        elif self.positions == "rotary" and (self.n_embd // self.n_head) % 2:
            # RoPE rotates pairs of dimensions; transformers raises a validation error deep in model building.
            problems.append(f"rotary positions need an even head size, not n_embd / n_head = {self.n_embd} / {self.n_head} = {self.n_embd // self.n_head}")
        if self.positions not in ("rotary", "learned"):
            problems.append(f"positions must be 'rotary' or 'learned', not {self.positions!r}")
        if problems:
            raise InputError("model config", "; ".join(problems))


@dataclass
class TrainConfig:
    """Everything that determines a training run; the same config and corpus give the same weights on CPU.

    One optimizer step sees ``batch_size * grad_accum_steps`` windows of ``block_size + 1``
    tokens. With ``n_processes > 1`` the run is data-parallel under torchrun
    (`training.distributed`): the same global batch, its micro-batches split across the
    processes, so ``grad_accum_steps`` must be a multiple of ``n_processes``. The learning rate warms up linearly for ``warmup_steps`` and then follows a
    cosine from ``learning_rate`` down to ``min_learning_rate`` at ``max_steps``.
    """

    model: ModelConfig
    max_steps: int = 1000
    batch_size: int = 32
    grad_accum_steps: int = 1
    learning_rate: float = 2e-3
    min_learning_rate: float = 2e-4
    warmup_steps: int = 50
    weight_decay: float = 0.1
    seed: int = 0
    checkpoint_every: int = 200  # steps between resume states (not loadable checkpoints)
    # Steps between the loadable HF checkpoints a run leaves while it is in progress
    # (out_dir/intermediate/step<NNNNNN>/, each with its tokens); 0: only the final one.
    intermediate_every: int = 0
    log_every: int = 10
    device: str = "auto"  # "auto" picks cuda when available, else cpu
    tokenizer: Literal["word", "bpe"] = "word"
    vocab_size: int = 4096  # tokenizer vocabulary (an upper bound for the word-level one)
    n_processes: int = 1  # data-parallel processes (ranks); one per GPU on a GPU node

    def __post_init__(self) -> None:
        if isinstance(self.model, dict):
            self.model = ModelConfig(**self.model)
        problems = []
        for name in ("max_steps", "batch_size", "grad_accum_steps", "checkpoint_every", "log_every", "n_processes"):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be at least 1")
        if self.n_processes >= 1 and self.grad_accum_steps % self.n_processes:
            problems.append(
                f"grad_accum_steps ({self.grad_accum_steps}) must be a multiple of n_processes ({self.n_processes}): "
                "each process runs an equal share of a step's micro-batches"
            )
        if self.intermediate_every < 0:
            problems.append("intermediate_every must be 0 (none) or a number of steps")
        if not 0 <= self.warmup_steps <= self.max_steps:
            problems.append("warmup_steps must be in [0, max_steps]")
        if not 0 <= self.min_learning_rate <= self.learning_rate:
            problems.append("need 0 <= min_learning_rate <= learning_rate")
        if self.tokenizer not in ("word", "bpe"):
            problems.append(f"tokenizer must be 'word' or 'bpe', not {self.tokenizer!r}")
        if problems:
            raise InputError("train config", "; ".join(problems))

    @property
    def tokens_per_step(self) -> int:
        """Tokens one optimizer step trains on (the target of each window's positions)."""
        return self.batch_size * self.grad_accum_steps * self.model.block_size

    @property
    def run_tokens(self) -> int:
        """Tokens the whole run trains on."""
        return self.max_steps * self.tokens_per_step

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        known = {item.name for item in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise InputError("train config", f"unknown fields {unknown}; known: {sorted(known)}")
        model_known = {item.name for item in fields(ModelConfig)}
        model_unknown = sorted(set(values.get("model", {})) - model_known)
        if model_unknown:
            raise InputError("train config", f"unknown model fields {model_unknown}; known: {sorted(model_known)}")
        try:
            return cls(**{**values, "model": ModelConfig(**values["model"])})
        except (KeyError, TypeError) as error:
            raise InputError("train config", f"incomplete config: {error}") from error


def _ladder_entry(n_layer: int, n_embd: int, n_head: int, learning_rate: float) -> TrainConfig:
    return TrainConfig(
        model=ModelConfig(n_layer=n_layer, n_embd=n_embd, n_head=n_head, block_size=48),
        max_steps=3000,
        batch_size=32,
        checkpoint_every=500,
        # Two intermediate checkpoints per run (steps 1000 and 2000), so each run gives the
        # forecast three points on its tokens axis; each is one more CBQA evaluation.
        intermediate_every=1000,
        learning_rate=learning_rate,
        min_learning_rate=learning_rate / 10,
    )


# About 25k, 150k and 790k non-embedding parameters (12 * n_layer * n_embd**2).
DEFAULT_LADDER: dict[str, TrainConfig] = {
    "gpt-tiny": _ladder_entry(n_layer=2, n_embd=32, n_head=2, learning_rate=3e-3),
    "gpt-small": _ladder_entry(n_layer=3, n_embd=64, n_head=4, learning_rate=2e-3),
    "gpt-medium": _ladder_entry(n_layer=4, n_embd=128, n_head=4, learning_rate=1e-3),
}


# Larger than the ladder and not trained by default: offered as "trained on request".
# gpt-large: about 1.5M non-embedding parameters (1.9x gpt-medium); a step costs 1.7x-2.0x
# gpt-medium's (two runs of `python bench/training_time.py --threads 1 --steps 15` on a loaded
# machine), so its 3000 steps take about 5.5-6.5 minutes on 2 CPU cores where gpt-medium
# takes 192 s.
PLANNED_CONFIGS: dict[str, TrainConfig] = {
    "gpt-large": _ladder_entry(n_layer=6, n_embd=144, n_head=4, learning_rate=8e-4),
}


@dataclass(frozen=True)
class DecodingConfig:
    """How continuations are generated; `label()` is stored with every score row."""

    mode: Literal["greedy", "sample"] = "greedy"
    n_samples: int = 1
    temperature: float = 1.0
    max_new_tokens: int = 8
    batch_size: int = 64  # generated sequences per forward pass
    seed: int = 0

    def __post_init__(self) -> None:
        problems = []
        if self.mode not in ("greedy", "sample"):
            problems.append(f"mode must be 'greedy' or 'sample', not {self.mode!r}")
        if min(self.n_samples, self.max_new_tokens, self.batch_size) < 1:
            problems.append("n_samples, max_new_tokens and batch_size must be at least 1")
        if self.mode == "sample" and self.temperature <= 0:
            problems.append("sampling needs a temperature above 0")
        if problems:
            raise InputError("decoding config", "; ".join(problems))

    @property
    def samples_per_prompt(self) -> int:
        return self.n_samples if self.mode == "sample" else 1

    def label(self) -> str:
        if self.mode == "greedy":
            return f"greedy-{self.max_new_tokens}"
        return f"sample-t{self.temperature:g}-n{self.n_samples}-{self.max_new_tokens}"
