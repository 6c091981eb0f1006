"""Download, derive, verify and cache the reference tables of :mod:`.manifest`.

Every upstream file is streamed to a temporary file beside its target while its sha256 is
computed; only a file whose hash matches the manifest is renamed into place, so a wrong or
truncated download leaves nothing behind. A target already present with the expected hash
is not downloaded again.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import polars as pl

from smi_assets.common.errors import InputError
from smi_assets.common.storage import file_sha256, write_atomic
from smi_assets.reference_data.manifest import REFERENCE_FILES, ReferenceFile, Upstream

DEFAULT_BASE_URL = "https://raw.githubusercontent.com"
REFERENCE_DIR_ENV = "SMI_REFERENCE_DIR"
FETCH_HINT = (
    f"run `smi fetch-reference` to download the public reference tables into <data dir>/reference, or set {REFERENCE_DIR_ENV} to a folder that has them"
)

# Fields of each per-model JSON of the SMI repo, in file order.
SMI_MODEL_JSON_SCHEMA = {
    "idx": pl.Int64, "subj": pl.Utf8, "rel": pl.Utf8, "obj": pl.Utf8, "qus": pl.Utf8,
    "time_seqs": pl.Int64, "time_subj": pl.Int64, "time_obj": pl.Int64, "time_s1j1": pl.Int64,
    "time_s1j0": pl.Int64, "time_s0j1": pl.Int64, "time_s0j0": pl.Int64, "acc": pl.Float64, "mi": pl.Float64,
}  # fmt: skip


def reference_dir(data_dir: str | Path) -> Path:
    """Where the reference tables are read from: ``$SMI_REFERENCE_DIR`` when set, else
    ``<data_dir>/reference`` (where `smi fetch-reference` caches them)."""
    configured = os.environ.get(REFERENCE_DIR_ENV)
    return Path(configured) if configured else Path(data_dir) / "reference"


def file_digest(entry: ReferenceFile, path: Path) -> str:
    """The sha256 the manifest states for `entry`: of the bytes, or of the table as CSV."""
    if entry.digest_of == "table":
        return hashlib.sha256(pl.read_parquet(path).write_csv().encode()).hexdigest()
    return file_sha256(path)


def _download(source: Upstream, base_url: str, path: Path, name: str, timeout: float) -> None:
    """Stream `source` to `path`, raising (before anything is renamed) on a network error or
    a sha256 that differs from the manifest's."""
    # Imported here: every `smi` command imports this module to register `smi fetch-reference`,
    # and urllib.request (with http and email) costs each of them 5 ms.
    import urllib.error
    import urllib.request

    url = source.url(base_url)
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(path, "wb") as out:
            for block in iter(lambda: response.read(1 << 20), b""):
                digest.update(block)
                out.write(block)
    except urllib.error.HTTPError as error:
        raise InputError(url, f"download of {name} failed: HTTP {error.code} {error.reason}") from error
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise InputError(
            url,
            f"download of {name} failed ({reason}); without access to {base_url}, fetch on a machine that has it "
            f"and copy the folder, or set {REFERENCE_DIR_ENV} to a folder that has the tables",
        ) from error
    if digest.hexdigest() != source.sha256:
        raise InputError(url, f"{name}: sha256 {digest.hexdigest()}, expected {source.sha256}; the file was not kept")


def _concat_model_json(sources: list[tuple[Upstream, Path]], out: str) -> None:
    frames = []
    for upstream, path in sources:
        try:
            frame = pl.read_json(path, schema=SMI_MODEL_JSON_SCHEMA)
        except pl.exceptions.PolarsError as error:
            raise InputError(upstream.path, f"not a per-model output file ({error})") from error
        frames.append(frame.select(pl.lit(Path(upstream.path).stem).alias("model"), pl.all()))
    pl.concat(frames).write_parquet(out)


def _excel_to_csv(sources: list[tuple[Upstream, Path]], out: str) -> None:
    ((upstream, path),) = sources
    pl.read_excel(path, engine="openpyxl").write_csv(out)


DERIVATIONS: dict[str, Callable[[list[tuple[Upstream, Path]], str], None]] = {
    "concat_model_json": _concat_model_json,
    "excel_to_csv": _excel_to_csv,
}


def _fetch_one(entry: ReferenceFile, target: Path, base_url: str, timeout: float) -> None:
    def write_verified(temporary: str) -> None:
        if entry.derivation == "copy":
            (source,) = entry.sources
            _download(source, base_url, Path(temporary), entry.name, timeout)
            return
        with tempfile.TemporaryDirectory(dir=target.parent, prefix=".sources-") as folder:
            sources = []
            for i, upstream in enumerate(entry.sources):
                path = Path(folder) / f"{i:03d}-{Path(upstream.path).name}"
                _download(upstream, base_url, path, f"{entry.name} (input {upstream.path})", timeout)
                sources.append((upstream, path))
            DERIVATIONS[entry.derivation](sources, temporary)
        actual = file_digest(entry, Path(temporary))
        if actual != entry.sha256:
            raise InputError(target, f"derived file's sha256 ({entry.digest_of}) {actual}, expected {entry.sha256}; the file was not kept")

    write_atomic(target, write_verified)


def fetch_reference(
    destination: str | Path,
    files: tuple[ReferenceFile, ...] = REFERENCE_FILES,
    base_url: str = DEFAULT_BASE_URL,
    timeout: float = 60.0,
    log: Callable[[str], None] = print,
) -> dict[str, str]:
    """Make every file of `files` present and verified under `destination`.

    Returns, per file name, what was done: ``cached`` (already there with the right hash),
    ``downloaded`` or ``derived``. A cached copy with a wrong hash is fetched again.
    """
    destination = Path(destination)
    outcome: dict[str, str] = {}
    for entry in files:
        target = destination / entry.name
        if target.is_file():
            actual = file_digest(entry, target)
            if actual == entry.sha256:
                outcome[entry.name] = "cached"
                log(f"{entry.name}: verified, already cached")
                continue
            log(f"{entry.name}: cached copy has sha256 {actual}, expected {entry.sha256}; fetching it again")
        target.parent.mkdir(parents=True, exist_ok=True)
        _fetch_one(entry, target, base_url, timeout)
        outcome[entry.name] = "downloaded" if entry.derivation == "copy" else "derived"
        log(f"{entry.name}: {outcome[entry.name]} from {entry.sources[0].repo}@{entry.sources[0].commit[:7]}, sha256 verified")
    return outcome
