"""Entry point of the training subprocess launched through dagster-pipes.

Training runs in its own process so a crash or a kill cannot take the Dagster run worker
with it, and so the same command can later run on a GPU node through another pipes
client. The launching asset passes the training config, corpus files and output folder as
pipes extras; this process streams progress as log lines and reports the final numbers.
Resuming after a kill is the training loop's job (it keeps its state in the output folder).
"""

from __future__ import annotations

import json
from pathlib import Path

from dagster_pipes import open_dagster_pipes
from transformers.utils import logging as transformers_logging

from training.config import TrainConfig
from training.train import train


def main() -> None:
    transformers_logging.disable_progress_bar()  # progress goes to the pipes log instead
    with open_dagster_pipes() as pipes:
        extras = pipes.extras
        config = TrainConfig.from_dict(extras["config"])

        def report_progress(progress: dict) -> None:
            pipes.log.info(json.dumps(progress))

        result = train(config, [Path(path) for path in extras["corpus_files"]], Path(extras["out_dir"]), on_progress=report_progress)
        pipes.report_asset_materialization(
            metadata={
                "params": result.params,
                "non_embedding_params": result.non_embedding_params,
                "tokens_seen": result.tokens_seen,
                "final_loss": result.final_loss,
                "tokens_per_second": result.tokens_per_second,
            }
        )


if __name__ == "__main__":
    main()
