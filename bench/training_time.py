"""Projected CPU training time of ladder and planned configs on the default synthetic world.

Trains each config for ``--steps`` optimizer steps (after one warm-up step), interleaved in
the same run so machine load affects all alike, and prints seconds per step, the time the
config's full ``max_steps`` would take, and the ratio to the baseline config (``gpt-medium``,
the ladder's largest, whose full run is the reference the ladder was sized by).

    python bench/training_time.py                       # gpt-large vs gpt-medium, 60 steps each
    python bench/training_time.py --configs gpt-small gpt-large --steps 100
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path

import torch

from smi_assets.corpus.world import WorldConfig, build_world
from training import data
from training.config import DEFAULT_LADDER, PLANNED_CONFIGS
from training.model import build_model, count_parameters
from training.tokenizer import train_tokenizer
from training.train import autocast_for, batch_at, learning_rate_at, make_optimizer, optimizer_step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", nargs="+", default=["gpt-large"])
    parser.add_argument("--baseline", default="gpt-medium")
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    configs = {**DEFAULT_LADDER, **PLANNED_CONFIGS}
    names = [args.baseline, *[name for name in args.configs if name != args.baseline]]

    world = build_world(WorldConfig())
    with tempfile.TemporaryDirectory() as folder:
        files = []
        for shard in world.shard_names:
            files.append(Path(folder) / f"{shard}.parquet")
            world.documents(shard).write_parquet(files[-1])
        tokenizer = train_tokenizer(data.texts(files), vocab_size=configs[names[0]].vocab_size)
        stream = data.open_token_file(data.write_token_file(tokenizer, files, Path(folder) / "tokens.bin.uint16"))
        print(f"default world: {len(stream):,} tokens, vocabulary {len(tokenizer)}, {args.threads} threads")

        device, runs = torch.device("cpu"), {}
        for name in names:
            config = configs[name]
            torch.manual_seed(config.seed)
            model = build_model(dataclasses.replace(config.model, vocab_size=len(tokenizer)))
            runs[name] = (config, model, make_optimizer(model, config, device), [])
        autocast = autocast_for(device)
        for step in range(args.steps + 1):
            for config, model, optimizer, seconds in runs.values():
                batches = [batch_at(stream, config.seed, step, micro, config.batch_size, config.model.block_size) for micro in range(config.grad_accum_steps)]
                started = time.perf_counter()
                float(optimizer_step(model, optimizer, batches, config.grad_accum_steps, learning_rate_at(step, config), autocast, device))
                if step:  # step 0 warms up allocators and kernels
                    seconds.append(time.perf_counter() - started)

    baseline_per_step = sum(runs[names[0]][3]) / args.steps
    print(f"{'config':<12} {'non-emb params':>14} {'s/step':>8} {'max_steps':>9} {'projected':>10} {'x ' + names[0]:>14}")
    for name, (config, model, _, seconds) in runs.items():
        per_step = sum(seconds) / args.steps
        print(
            f"{name:<12} {count_parameters(model, non_embedding=True):>14,} {per_step:>8.4f} {config.max_steps:>9} "
            f"{per_step * config.max_steps / 60:>8.1f} m {per_step / baseline_per_step:>14.2f}"
        )


if __name__ == "__main__":
    main()
