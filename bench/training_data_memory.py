"""Peak memory of preparing training data (hash, tokenizer, token file, batches) vs corpus size.

For each size, a fresh subprocess writes a synthetic corpus of that many MB of text (Parquet,
in several row groups), then runs what the trainer runs before its first step
(`training.data.corpus_sha256`, `train_tokenizer` over `training.data.texts`,
`write_token_file`, `open_token_file`) and draws 1000 batches from the memory-mapped
stream, and reports its peak RSS (``ru_maxrss``) after the token file and after the batches
(pages of the memory-mapped file that batches touched count in RSS, though the kernel can
drop them at any time), and the growth over the RSS it had before starting.
Memory is flat in corpus size when that growth stays about the same while the corpus grows
4x (holding the corpus and its token stream in memory, as the trainer used to, makes the
growth proportional to the corpus).

    python bench/training_data_memory.py              # 25 MB and 100 MB
    python bench/training_data_memory.py --sizes 50 200
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile

WORKER = """
import json, random, resource, sys
import pyarrow as pa, pyarrow.parquet as pq
folder, megabytes = Path(sys.argv[1]), float(sys.argv[2])
rng = random.Random(0)
words = [f"w{index}" for index in range(3000)]
path = folder / "corpus.parquet"
with pq.ParquetWriter(path, pa.schema([("text", pa.string())])) as writer:
    written = 0
    while written < megabytes * 1e6:
        texts = [" ".join(rng.choices(words, k=60)) + "." for _ in range(20_000)]
        writer.write_table(pa.table({"text": texts}))
        written += sum(len(text) for text in texts)
del texts
from training import data
from training.tokenizer import train_tokenizer
from training.train import batch_at
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
data.corpus_sha256([path])
tokenizer = train_tokenizer(data.texts([path]), vocab_size=4096)
stream = data.open_token_file(data.write_token_file(tokenizer, [path], folder / "tokens.uint16"))
prepared = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
for step in range(1000):
    batch_at(stream, 0, step, 0, 32, 48)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"megabytes": megabytes, "tokens": len(stream), "baseline_mb": before / 1024, "prepared_mb": prepared / 1024, "peak_mb": peak / 1024}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=float, nargs="+", default=[25.0, 100.0])
    args = parser.parse_args()
    rows = []
    for megabytes in args.sizes:
        with tempfile.TemporaryDirectory() as folder:
            result = subprocess.run([sys.executable, "-c", WORKER, folder, str(megabytes)], capture_output=True, text=True, check=True)
            rows.append(json.loads(result.stdout.strip().splitlines()[-1]))
    print(f"{'corpus MB':>9} {'tokens':>12} {'RSS before MB':>13} {'after tokens file':>17} {'after batches':>13} {'growth MB':>9}")
    for row in rows:
        print(
            f"{row['megabytes']:>9.0f} {row['tokens']:>12,} {row['baseline_mb']:>13.0f} {row['prepared_mb']:>17.0f} "
            f"{row['peak_mb']:>13.0f} {row['peak_mb'] - row['baseline_mb']:>9.0f}"
        )
    growth = [row["peak_mb"] - row["baseline_mb"] for row in rows]
    print(f"growth ratio largest/smallest corpus: {growth[-1] / max(growth[0], 1):.2f} for {rows[-1]['megabytes'] / rows[0]['megabytes']:.0f}x the text")


if __name__ == "__main__":
    main()
