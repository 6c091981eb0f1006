"""Process hygiene of a training run: die with the launcher, one trainer per checkpoint folder.

A training process outlives nothing: `die_with_parent` asks Linux to SIGKILL it when its
parent dies (``prctl(PR_SET_PDEATHSIG)``), so a killed `smi` or Dagster run worker never
leaves an orphan trainer behind. The torchrun agent and every rank call it too, so killing
the launcher takes the whole process tree down. A SIGKILL is safe at any point: the
training loop only ever renames finished files into place.

`folder_lock` holds an exclusive ``flock`` on a lock file in the checkpoint folder for the
whole run, so a second trainer pointed at the same folder waits (saying for what and for
whom) and, after a timeout, fails clearly instead of interleaving its files with the
first one's. The kernel releases the lock when the holder dies, however it dies.

This module imports only the standard library, so entry points can call
`die_with_parent` before their slow imports (torch, transformers) start.
"""

from __future__ import annotations

import ctypes
import fcntl
import json
import os
import signal
import socket
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

PARENT_PID_ENV = "SMI_TRAINING_PARENT_PID"
"""Set by the launcher to its own pid: lets the child tell "my parent already died" from
"my parent is alive" even if the parent died before the child started running."""
LOCK_FILE = ".training.lock"
DEFAULT_LOCK_TIMEOUT_S = 600.0
_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


class FolderLockedError(RuntimeError):
    """Another process held the checkpoint folder's lock for longer than the timeout."""


def parent_pid_from_environment() -> int | None:
    """The launcher's pid from `PARENT_PID_ENV`, removed from the environment so this
    process's own children (torchrun ranks) compare against their real parent."""
    value = os.environ.pop(PARENT_PID_ENV, "")
    return int(value) if value.isdigit() else None


def die_with_parent(expected_parent_pid: int | None = None) -> None:
    """SIGKILL this process when its parent dies (Linux; a no-op elsewhere).

    The signal only fires for a parent that dies *after* the call, so the call then checks
    that the parent is still the one expected (`expected_parent_pid`, else the parent at
    the time of the call) and kills this process at once if it is not.
    """
    if not sys.platform.startswith("linux"):
        return
    parent = expected_parent_pid or os.getppid()
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"prctl(PR_SET_PDEATHSIG) failed: {os.strerror(code)}")
    if os.getppid() != parent:
        print(f"training: parent process {parent} is gone; exiting", file=sys.stderr, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)


def _holder(path: Path) -> dict:
    """Who holds the lock, as the holder wrote it (empty while it has not yet)."""
    try:
        return json.loads(path.read_text() or "{}")
    except (OSError, json.JSONDecodeError):
        return {}


def _describe(holder: dict) -> str:
    if not holder:
        return "another process"
    return f"pid {holder.get('pid')} on {holder.get('host')} (since {holder.get('since')})"


@contextmanager
def folder_lock(
    folder: Path,
    timeout_s: float = DEFAULT_LOCK_TIMEOUT_S,
    on_wait: Callable[[dict], None] | None = None,
    poll_s: float = 0.5,
) -> Iterator[None]:
    """Hold an exclusive lock on `folder` for the block; wait up to `timeout_s` for it.

    While waiting, `on_wait` gets one ``{"event": "waiting", ...}`` message naming the lock
    file and its holder; after `timeout_s` a `FolderLockedError` says who holds it.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_FILE
    with open(path, "a+", encoding="utf-8") as handle:  # "a+": never truncates the holder's record
        deadline = time.monotonic() + timeout_s
        announced = False
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                holder = _describe(_holder(path))
                if time.monotonic() >= deadline:
                    raise FolderLockedError(
                        f"{folder}: {holder} is training into this checkpoint folder; gave up waiting "
                        f"after {timeout_s:g} s (lock file {path}; raise the lock timeout to wait longer)"
                    ) from None
                if not announced and on_wait is not None:
                    on_wait({
                        "event": "waiting", "for": "checkpoint folder lock", "path": str(path), "holder": holder,
                        "timeout_s": timeout_s, "message": f"waiting up to {timeout_s:g} s for {holder} to finish training into {folder}",
                    })  # fmt: skip
                announced = True
                time.sleep(poll_s)
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": datetime.now(timezone.utc).isoformat(timespec="seconds")}))
        handle.flush()
        yield  # closing the file releases the lock
