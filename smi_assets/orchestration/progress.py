"""Progress of long steps: written as structured log lines, shown as bars in the terminal.

Steps report progress as JSON log messages (``{"event": ...}``) through the run's logger;
the training subprocess does the same through dagster-pipes, so the lines land in the run's
event log and the UI shows them. `smi run-default` reads the same events back while a run
executes and draws one bar per step and task (`TerminalProgress`), so the terminal and the
UI tell the same story. Three event shapes are understood:

- ``{"event": "step", "step", "max_steps", "loss", "tokens_per_second"}`` from training,
- ``{"event": "eval", "prompts_done", "prompts", "generations_per_second"}`` from CBQA,
- ``{"event": "progress", "task", "done", "total"}`` from anything else (shard scans).
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

from tqdm import tqdm


@dataclass(frozen=True)
class Progress:
    task: str
    done: int
    total: int
    postfix: str


def progress_event(task: str, done: int, total: int) -> dict:
    return {"event": "progress", "task": task, "done": done, "total": total}


def progress_logger(log: logging.Logger | logging.LoggerAdapter) -> Callable[[dict], None]:
    """An `on_progress` callback that writes each event to `log` as one JSON line."""
    return lambda event: log.info(json.dumps(event))


def _event(message: str) -> dict | None:
    """The event a JSON log line carries, or None for any other message."""
    if not message.startswith("{"):
        return None
    try:
        event = json.loads(message)
    except json.JSONDecodeError:
        return None
    return event if isinstance(event, dict) else None


def parse_progress(message: str) -> Progress | None:
    """The progress a log message reports, or None when it reports none."""
    event = _event(message)
    if event is None:
        return None
    kind = event.get("event")
    if kind == "step":
        postfix = f"loss={event.get('loss', float('nan')):.3f} tok/s={event.get('tokens_per_second', 0):,.0f}"
        return Progress("train", int(event["step"]), int(event["max_steps"]), postfix)
    if kind == "eval":
        return Progress("cbqa", int(event["prompts_done"]), int(event["prompts"]), f"gen/s={event.get('generations_per_second', 0):,.0f}")
    if kind == "progress":
        return Progress(str(event["task"]), int(event["done"]), int(event["total"]), "")
    return None


# Events worth a line of their own: training resumed or started over, a trainer waiting for a lock.
NOTICE_EVENTS = {"resumed", "restarted", "waiting"}


def parse_notice(message: str) -> str | None:
    """The text of a notice event (`NOTICE_EVENTS`), or None."""
    event = _event(message)
    if event is None or event.get("event") not in NOTICE_EVENTS:
        return None
    details = ", ".join(f"{key}={value}" for key, value in event.items() if key != "event")
    return str(event.get("message") or f"{event['event']}: {details}")


class TerminalProgress:
    """Bars (on a terminal) or a line every `line_interval` seconds (in a log file) per step and task."""

    def __init__(self, stream: TextIO = sys.stderr, line_interval: float = 15.0):
        self.stream = stream
        self.interactive = stream.isatty()
        self.line_interval = line_interval
        self._bars: dict[tuple[str, str], tqdm] = {}
        self._last_line: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()  # the run watcher's thread and the caller both write

    def update(self, step: str, progress: Progress) -> None:
        with self._lock:
            self._update(step, progress)

    def _update(self, step: str, progress: Progress) -> None:
        key = (step, progress.task)
        if self.interactive:
            bar = self._bars.get(key)
            if bar is None:
                bar = self._bars[key] = tqdm(total=progress.total, desc=f"{step} {progress.task}", file=self.stream, leave=True, dynamic_ncols=True)
            bar.n = progress.done
            bar.set_postfix_str(progress.postfix, refresh=False)
            bar.refresh()
            return
        now = time.monotonic()
        if progress.done >= progress.total or now - self._last_line.get(key, 0.0) >= self.line_interval:
            self._last_line[key] = now
            share = progress.done / progress.total if progress.total else 1.0
            print(f"  {step} {progress.task}: {progress.done}/{progress.total} ({share:.0%}) {progress.postfix}".rstrip(), file=self.stream, flush=True)

    def say(self, line: str) -> None:
        """A line that does not disturb the bars."""
        with self._lock:
            self._say(line)

    def _say(self, line: str) -> None:
        if self.interactive:
            tqdm.write(line, file=self.stream)
        else:
            print(line, file=self.stream, flush=True)

    def close(self) -> None:
        for bar in self._bars.values():
            bar.close()
        self._bars.clear()
