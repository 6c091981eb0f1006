"""Training throughput and model FLOPs utilisation (MFU) of the project's training step.

Both sides train a ~124M-parameter GPT-2 shape (12 layers, width 768, 12 heads, vocab
50304) on random tokens in the same run:

- project: `training.model.build_model` + the loop's own pieces (`make_optimizer`,
  `optimizer_step`, `autocast_for`, `compiled_for`): SDPA attention, fused AdamW, bf16
  autocast, TF32 and `torch.compile` on GPU; fp32 eager on CPU;
- baseline: a plain `GPT2LMHeadModel` with eager attention, `torch.optim.AdamW` defaults and
  the model's own loss, not compiled (bf16 autocast on GPU too, as most eager users run it).

MFU = (6 N + 12 L d T) FLOPs per token x tokens/s / peak FLOPs (PaLM appendix B). Peak is
the bf16 dense peak of the GPU (989 TFLOPs for H100/H200 SXM unless --peak-tflops), and on
CPU the fp32 matmul throughput measured in this run. Target on an H100: project MFU >= 45%.

    python bench/train_throughput.py                       # GPU if present, else a short CPU run
    python bench/train_throughput.py --device cpu --steps 3
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from transformers import GPT2Config, GPT2LMHeadModel

from training.config import ModelConfig, TrainConfig
from training.model import build_model, count_parameters
from training.train import (
    autocast_for,
    batch_at,
    compiled_for,
    make_optimizer,
    optimizer_step,
    resolve_device,
)

GPT2_SMALL = dict(n_layer=12, n_embd=768, n_head=12, vocab_size=50304)
KNOWN_PEAK_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0}


def measured_matmul_flops(device: torch.device, size: int = 2048, repeats: int = 10) -> float:
    a = torch.randn(size, size, device=device)
    b = torch.randn(size, size, device=device)
    a @ b
    started = time.perf_counter()
    for _ in range(repeats):
        a @ b
    if device.type == "cuda":
        torch.cuda.synchronize()
    return 2 * size**3 * repeats / (time.perf_counter() - started)


def peak_flops(device: torch.device, override_tflops: float | None) -> tuple[float, str]:
    if override_tflops:
        return override_tflops * 1e12, "given"
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        for key, tflops in KNOWN_PEAK_TFLOPS.items():
            if key in name:
                return tflops * 1e12, f"{name} bf16 dense"
    return measured_matmul_flops(device), "measured fp32 matmul"


def timed_steps(step, n_warmup: int, n_steps: int, device: torch.device) -> float:
    """Seconds per step after `n_warmup` untimed steps (compilation, allocator warmup)."""
    for index in range(n_warmup):
        step(index)
    if device.type == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    for index in range(n_warmup, n_warmup + n_steps):
        loss = step(index)
    float(loss)  # wait for the device
    return (time.perf_counter() - started) / n_steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--steps", type=int, default=None, help="timed steps (default 20 on GPU, 3 on CPU)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed steps first (default 5 on GPU, 1 on CPU)")
    parser.add_argument("--batch-size", type=int, default=None, help="default 16 on GPU, 2 on CPU")
    parser.add_argument("--block-size", type=int, default=None, help="default 1024 on GPU, 256 on CPU")
    parser.add_argument("--peak-tflops", type=float, default=None)
    args = parser.parse_args()
    device = resolve_device(args.device)
    on_gpu = device.type == "cuda"
    steps = args.steps or (20 if on_gpu else 3)
    warmup = args.warmup if args.warmup is not None else (5 if on_gpu else 1)
    batch_size = args.batch_size or (16 if on_gpu else 2)
    block_size = args.block_size or (1024 if on_gpu else 256)

    model_config = ModelConfig(**GPT2_SMALL, block_size=block_size, positions="learned")
    config = TrainConfig(model=model_config, batch_size=batch_size, warmup_steps=0)
    stream = np.random.default_rng(0).integers(0, model_config.vocab_size, size=2_000_000, dtype=np.int32)
    tokens_per_step = batch_size * block_size
    autocast = autocast_for(device)

    torch.manual_seed(0)
    project_model = build_model(model_config).to(device)
    n_params = count_parameters(project_model)
    flops_per_token = 6 * n_params + 12 * model_config.n_layer * model_config.n_embd * block_size
    project_forward = compiled_for(project_model, device)
    project_optimizer = make_optimizer(project_model, config, device)

    def project_step(index: int) -> torch.Tensor:
        batches = [batch_at(stream, 0, index, 0, batch_size, block_size)]
        return optimizer_step(project_forward, project_optimizer, batches, 1, config.learning_rate, autocast, device)

    project_seconds = timed_steps(project_step, warmup, steps, device)
    # Free the project's model before the baseline's is built (the closure above is done with them).
    project_model = project_forward = project_optimizer = None

    torch.manual_seed(0)
    baseline_config = GPT2Config(
        vocab_size=model_config.vocab_size, n_embd=model_config.n_embd, n_layer=model_config.n_layer,
        n_head=model_config.n_head, n_positions=block_size,
    )  # fmt: skip
    baseline_config._attn_implementation = "eager"
    baseline_model = GPT2LMHeadModel(baseline_config).to(device).train()
    baseline_optimizer = torch.optim.AdamW(baseline_model.parameters(), lr=config.learning_rate)

    def baseline_step(index: int) -> torch.Tensor:
        inputs, _ = batch_at(stream, 0, index, 0, batch_size, block_size)
        inputs = inputs.to(device)
        with autocast():
            loss = baseline_model(input_ids=inputs, labels=inputs).loss
        loss.backward()
        baseline_optimizer.step()
        baseline_optimizer.zero_grad(set_to_none=True)
        return loss.detach()

    baseline_seconds = timed_steps(baseline_step, warmup, steps, device)

    peak, peak_source = peak_flops(device, args.peak_tflops)
    print(f"device {device} ({torch.cuda.get_device_name(device) if on_gpu else 'cpu'}), {n_params / 1e6:.1f}M params, "
          f"batch {batch_size} x {block_size} tokens, {steps} timed steps after {warmup} warmup; "
          f"peak {peak / 1e12:.2f} TFLOPs ({peak_source})")  # fmt: skip
    for name, seconds in (("project", project_seconds), ("baseline (eager transformers GPT-2)", baseline_seconds)):
        tokens_per_second = tokens_per_step / seconds
        print(f"{name:<36} {tokens_per_second:>12,.0f} tokens/s   MFU {flops_per_token * tokens_per_second / peak:6.1%}")
    print(f"ratio project / baseline: {baseline_seconds / project_seconds:.2f}x")


if __name__ == "__main__":
    main()
