"""CBQA generation throughput: the batched evaluator against one prompt at a time, same checkpoint, same run.

Both sides call `training.evaluation.generate_continuations` (greedy, KV cache); the
baseline with ``batch_size=1``, i.e. one `generate` call per prompt. The baseline runs on a
subset of the prompts (it is slow) and both rates are generations per second. Without
--checkpoint, a randomly initialised model of the default ladder's largest shape with a
word-level tokenizer is built in a temporary folder. Target: batched >= 10x on CPU.

    python bench/eval_throughput.py [--checkpoint PATH] [--prompts 512] [--device cpu]
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch

from training.config import DEFAULT_LADDER, DecodingConfig
from training.evaluation import generate_continuations, load_checkpoint
from training.model import build_model
from training.tokenizer import train_tokenizer
from training.train import resolve_device

FIRST = ["Anna", "Bob", "Carl", "Dora", "Emil", "Fay", "Gus", "Hana", "Ivan", "Jana", "Karl", "Lena"]
LAST = ["Novak", "Smith", "Berg", "Kale", "Moss", "Weber", "Costa", "Dahl", "Ito", "Rossi"]
TEMPLATES = ["[S] was born in", "The birthplace of [S] is", "[S] works as a", "Everyone knows that [S] is a citizen of"]


def make_prompts(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [rng.choice(TEMPLATES).replace("[S]", f"{rng.choice(FIRST)} {rng.choice(LAST)}") for _ in range(n)]


def build_random_checkpoint(folder: Path) -> None:
    texts = [f"{first} {last} was born in Paris, works as a baker and is a citizen of Peru." for first in FIRST for last in LAST]
    tokenizer = train_tokenizer(texts + TEMPLATES, vocab_size=1000)
    torch.manual_seed(0)
    largest = list(DEFAULT_LADDER.values())[-1].model
    model = build_model(replace(largest, vocab_size=len(tokenizer)))
    model.generation_config.eos_token_id = None  # random weights: keep every generation at full length on both sides
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)


def generations_per_second(model, tokenizer, prompts: list[str], decoding: DecodingConfig) -> tuple[float, list[list[str]]]:
    started = time.perf_counter()
    continuations = generate_continuations(model, tokenizer, prompts, decoding)
    return len(prompts) / (time.perf_counter() - started), continuations


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, default=None)
    parser.add_argument("--prompts", type=int, default=512)
    parser.add_argument("--baseline-prompts", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--max-new-tokens", type=int, default=6)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    device = str(resolve_device(args.device))
    with tempfile.TemporaryDirectory() as temporary:
        folder = args.checkpoint
        if folder is None:
            folder = Path(temporary)
            build_random_checkpoint(folder)
        model, tokenizer = load_checkpoint(folder, device=device)
        prompts = make_prompts(args.prompts)
        baseline_prompts = prompts[: args.baseline_prompts]
        batched = DecodingConfig(max_new_tokens=args.max_new_tokens, batch_size=args.batch_size)
        generations_per_second(model, tokenizer, baseline_prompts[:4], batched)  # warm up kernels and caches
        batched_rate, batched_out = generations_per_second(model, tokenizer, prompts, batched)
        single_rate, single_out = generations_per_second(model, tokenizer, baseline_prompts, replace(batched, batch_size=1))
    agreeing = sum(a == b for a, b in zip(batched_out, single_out))
    print(f"checkpoint {args.checkpoint or 'random-init ' + list(DEFAULT_LADDER)[-1]} on {device}, greedy, {args.max_new_tokens} new tokens")
    print(f"batched (batch {args.batch_size}, {len(prompts)} prompts)   {batched_rate:10.1f} generations/s")
    print(f"one at a time ({len(baseline_prompts)} prompts)       {single_rate:10.1f} generations/s")
    print(f"identical continuations on the shared prompts: {agreeing}/{len(single_out)}")
    print(f"ratio batched / one at a time: {batched_rate / single_rate:.1f}x")


if __name__ == "__main__":
    main()
