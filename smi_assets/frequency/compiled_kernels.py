"""The counting kernels (:mod:`smi_assets.frequency.kernels`) compiled once, ahead of time, into
an extension module cached per user, so that a process calls them without importing numba.

numba's own functions cost every process about a second before the first byte is counted,
even when numba's cache holds their code: importing numba (0.2-0.4 s) and setting up its
compiler to load that code (0.4-0.8 s, 0.3 s of it numba importing scipy.linalg to look for
BLAS), about a third of `smi count`'s time on a 100 MB corpus. numba.pycc compiles the same
functions into an ordinary extension module, which imports in milliseconds and scans as fast.

The module is built on first use, which says so on stderr, into ``$SMI_KERNEL_CACHE`` (default
``$XDG_CACHE_HOME/smi-forecast``, else ``~/.cache/smi-forecast``), never into the installed
package, which may not be writable. Its name holds a hash of the kernels' source (and of
``word_trie.py``, whose constants they use), so an edited kernel is rebuilt, never loaded
stale. It is compiled for any CPU of its platform (numba.pycc's default), not only the one that
built it, so a cache built into an image runs on other machines. Where it cannot be built (no C
compiler, the cache not writable, a numba without pycc), numba's just-in-time functions are
used instead, which also says so: they compile in a few seconds the first time, cached by numba
(next to the source, or in its user-wide cache where that is not writable).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.machinery
import importlib.util
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path
from types import ModuleType

CACHE_ENV = "SMI_KERNEL_CACHE"
# The source compiled into the module: the kernels, the module whose constants they use, and
# the JSON-lines fast path's kernels (exported by kernels.py).
KERNEL_SOURCES = (
    Path(__file__).with_name("kernels.py"),
    Path(__file__).with_name("word_trie.py"),
    Path(__file__).parents[1] / "corpus" / "json_scan.py",
)
BUILD_SECONDS = 20  # what building took here (16 s), said in the first-use message


def kernel_cache_dir() -> Path:
    """Where the compiled kernels are kept: ``$SMI_KERNEL_CACHE``, else the user's cache."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "smi-forecast"


def compiled_module_path() -> Path:
    """The compiled module for the current kernels' source and this Python."""
    digest = hashlib.sha256(b"".join(path.read_bytes() for path in KERNEL_SOURCES)).hexdigest()[:16]
    return kernel_cache_dir() / f"smi_counting_kernels_{digest}{importlib.machinery.EXTENSION_SUFFIXES[0]}"


@functools.cache
def compiled_kernels() -> ModuleType:
    """A module with the kernels named in ``kernels.SIGNATURES``: the compiled one from the
    cache, built now if absent, or else :mod:`smi_assets.frequency.kernels` itself."""
    path = compiled_module_path()
    if not path.is_file():
        print(f"smi: compiling the counting kernels once (about {BUILD_SECONDS} s); they are cached in {path.parent}", file=sys.stderr, flush=True)
        started = time.perf_counter()
        try:
            _build(path)
        except Exception as error:  # pycc fails in many ways: no compiler or headers, an unwritable cache, a numba without it
            print(
                f"smi: could not compile them ahead of time ({type(error).__name__}: {error}); numba compiles them instead, cached by numba",
                file=sys.stderr,
                flush=True,
            )
            from smi_assets.frequency import kernels

            return kernels
        print(f"smi: compiled the counting kernels in {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    return _load(path)


def _build(path: Path) -> None:
    """Compile the kernels into the extension module `path`, written beside it and renamed
    into place, so that processes building at once never load a half-written file."""
    with warnings.catch_warnings():
        # pycc is "pending deprecation" in numba 0.68 without a replacement yet; the fallback
        # above covers a numba that drops it.
        warnings.simplefilter("ignore")
        from numba.pycc import CC

    from smi_assets.frequency import kernels

    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".build-") as scratch:
        module = CC(path.name.split(".")[0])
        module.output_dir = scratch
        for name, signature in kernels.SIGNATURES.items():
            module.export(name, signature)(getattr(kernels, name).py_func)
        module.compile()
        os.replace(Path(scratch) / Path(module.output_file).name, path)


def _load(path: Path) -> ModuleType:
    name = path.name.split(".")[0]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
