"""`smi fetch-reference` against a local HTTP server serving copies of ../shared/reference
laid out as upstream (``<repo>/<commit>/<path>``): download, derivation, sha256 checks,
caching, corrupted and offline cases, and the missing-file error assets raise."""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import socket
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from smi_assets.common.errors import InputError
from smi_assets.orchestration.resources import DEFAULT_REFERENCE_DIR, InputsResource
from smi_assets.reference_data import commands
from smi_assets.reference_data.fetch import (
    fetch_reference,
    file_digest,
    reference_dir,
)
from smi_assets.reference_data.manifest import REFERENCE_FILES, ReferenceFile, Upstream

pytestmark = pytest.mark.skipif(not (DEFAULT_REFERENCE_DIR / "smi").is_dir(), reason=f"reference data not found at {DEFAULT_REFERENCE_DIR}")

BY_NAME = {entry.name: entry for entry in REFERENCE_FILES}
# baseline.xlsx (the input of smi/models.csv) cannot be rebuilt from the reference copy; its
# derivation is tested on a workbook written here.
SERVABLE = tuple(entry for entry in REFERENCE_FILES if entry.name != "smi/models.csv")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def serve_path(served: Path, upstream: Upstream) -> Path:
    path = served / upstream.repo / upstream.commit / upstream.path
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def lay_out_upstream(served: Path) -> None:
    """Upstream files as the repositories hold them: verbatim ones copied from the reference
    folder; the SMI repo's per-model JSON files rebuilt from merge_outputs.parquet in the
    upstream writer's format (json.dumps; `mi` is the integer 0 where N_so = 0)."""
    for entry in SERVABLE:
        if entry.derivation == "copy":
            shutil.copyfile(DEFAULT_REFERENCE_DIR / entry.name, serve_path(served, entry.sources[0]))
    outputs = pl.read_parquet(DEFAULT_REFERENCE_DIR / "smi" / "merge_outputs.parquet")
    for upstream in BY_NAME["smi/merge_outputs.parquet"].sources:
        rows = outputs.filter(pl.col("model") == Path(upstream.path).stem).drop("model").to_dicts()
        for row in rows:
            if row["time_s1j1"] == 0:
                row["mi"] = 0
        serve_path(served, upstream).write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")


class Server:
    """A static HTTP server on 127.0.0.1 that counts the requests it answers."""

    def __init__(self, root: Path):
        self.requests: list[str] = []
        server = self

        class Handler(SimpleHTTPRequestHandler):
            def log_message(self, *args) -> None:
                server.requests.append(self.path)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(root)))
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def upstream_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("upstream")
    lay_out_upstream(root)
    return root


@pytest.fixture
def server(upstream_root):
    running = Server(upstream_root)
    yield running
    running.close()


def all_files(folder: Path) -> list[str]:
    """Every file and folder under `folder`, hidden temporaries included."""
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*"))


def test_fetch_downloads_derives_verifies_and_then_only_checks(tmp_path, server):
    destination = tmp_path / "data" / "reference"
    outcome = fetch_reference(destination, SERVABLE, base_url=server.url, log=lambda line: None)
    assert outcome == {entry.name: "downloaded" if entry.derivation == "copy" else "derived" for entry in SERVABLE}
    for entry in SERVABLE:
        if entry.digest_of == "bytes":
            assert sha256(destination / entry.name) == sha256(DEFAULT_REFERENCE_DIR / entry.name), entry.name
    derived = pl.read_parquet(destination / "smi" / "merge_outputs.parquet")
    assert derived.equals(pl.read_parquet(DEFAULT_REFERENCE_DIR / "smi" / "merge_outputs.parquet"))
    assert derived.height == 304_104 and derived["model"].n_unique() == 24
    assert not [name for name in all_files(destination) if Path(name).name.startswith(".")]

    served = len(server.requests)
    assert served == sum(len(entry.sources) for entry in SERVABLE)
    again = fetch_reference(destination, SERVABLE, base_url=server.url, log=lambda line: None)
    assert set(again.values()) == {"cached"} and len(server.requests) == served


def test_reference_copies_pass_the_manifest_checks():
    # The manifest's hashes are those of ../shared/reference, so pointing SMI_REFERENCE_DIR
    # there makes `smi fetch-reference` a pure check.
    for entry in REFERENCE_FILES:
        assert file_digest(entry, DEFAULT_REFERENCE_DIR / entry.name) == entry.sha256, entry.name


def corrupted_copy(upstream_root: Path, tmp_path: Path, upstream: Upstream) -> Path:
    root = tmp_path / "corrupted"
    shutil.copytree(upstream_root, root)
    path = serve_path(root, upstream)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    return root


@pytest.mark.parametrize("name", ["cpp/model_feature.csv", "smi/merge_outputs.parquet"])
def test_wrong_sha256_is_rejected_naming_file_and_hashes_and_leaves_nothing(tmp_path, upstream_root, name):
    entry = BY_NAME[name]
    bad = entry.sources[len(entry.sources) // 2]
    root = corrupted_copy(upstream_root, tmp_path, bad)
    server = Server(root)
    destination = tmp_path / "reference"
    try:
        with pytest.raises(InputError) as caught:
            fetch_reference(destination, (entry,), base_url=server.url, log=lambda line: None)
    finally:
        server.close()
    message = str(caught.value)
    actual = sha256(serve_path(root, bad))
    assert name in message and bad.path in message and bad.sha256 in message and actual in message
    assert all_files(destination) == [str(Path(name).parent)]


def test_corrupted_cached_copy_is_fetched_again(tmp_path, server):
    entry = BY_NAME["cpp/benchmark_feature.csv"]
    target = tmp_path / entry.name
    target.parent.mkdir(parents=True)
    target.write_text("not the table\n")
    lines: list[str] = []
    assert fetch_reference(tmp_path, (entry,), base_url=server.url, log=lines.append) == {entry.name: "downloaded"}
    assert sha256(target) == entry.sha256 and "fetching it again" in lines[0]


def test_offline_gives_a_clear_error_and_writes_nothing(tmp_path):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    entry = BY_NAME["obsscaling/base_llm_benchmark_eval.csv"]
    with pytest.raises(InputError, match=r"download of obsscaling/base_llm_benchmark_eval.csv failed .*SMI_REFERENCE_DIR"):
        fetch_reference(tmp_path / "reference", (entry,), base_url=closed, timeout=5, log=lambda line: None)
    assert all_files(tmp_path / "reference") == ["obsscaling"]


def test_missing_upstream_file_names_the_http_status(tmp_path, server):
    entry = ReferenceFile("x/absent.csv", "0" * 64, (Upstream("nobody/none", "1" * 40, "absent.csv", "0" * 64),))
    with pytest.raises(InputError, match="HTTP 404"):
        fetch_reference(tmp_path, (entry,), base_url=server.url, log=lambda line: None)


def test_models_csv_is_the_workbook_sheet_written_as_csv(tmp_path):
    openpyxl = pytest.importorskip("openpyxl")
    table = pl.read_csv(DEFAULT_REFERENCE_DIR / "smi" / "models.csv")
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(table.columns)
    for row in table.iter_rows():
        # Whole sizes stored as integers, as in the upstream workbook (3, 176).
        sheet.append([int(value) if isinstance(value, float) and value.is_integer() else value for value in row])
    served = tmp_path / "served"
    upstream_path = serve_path(served, Upstream("owner/repo", "2" * 40, "download_tools/baseline.xlsx", ""))
    workbook.save(upstream_path)
    entry = ReferenceFile(
        "smi/models.csv", BY_NAME["smi/models.csv"].sha256,
        (Upstream("owner/repo", "2" * 40, "download_tools/baseline.xlsx", sha256(upstream_path)),), derivation="excel_to_csv",
    )  # fmt: skip
    server = Server(served)
    try:
        assert fetch_reference(tmp_path / "reference", (entry,), base_url=server.url, log=lambda line: None) == {entry.name: "derived"}
    finally:
        server.close()
    assert sha256(tmp_path / "reference" / "smi" / "models.csv") == sha256(DEFAULT_REFERENCE_DIR / "smi" / "models.csv")


def test_cli_fetches_into_the_data_dir_and_is_idempotent(tmp_path, server, capsys):
    parser = argparse.ArgumentParser()
    commands.add_commands(parser.add_subparsers(dest="command", required=True))
    entry = BY_NAME["smi/multi_templates.json"]
    argv = ["fetch-reference", "--data-dir", str(tmp_path / "data"), "--base-url", server.url]
    # One file is enough for the CLI path; the manifest is patched to it.
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("SMI_REFERENCE_DIR", raising=False)
        patch.setattr(commands, "fetch_reference", partial(fetch_reference, files=(entry,)))
        args = parser.parse_args(argv)
        assert args.run(args) == 0
        assert args.run(args) == 0
    output = capsys.readouterr().out
    assert "1 fetched" in output and "0 fetched, 1 already cached" in output
    assert sha256(tmp_path / "data" / "reference" / entry.name) == entry.sha256


def test_reference_dir_setting_and_missing_file_error(tmp_path, monkeypatch):
    monkeypatch.delenv("SMI_REFERENCE_DIR", raising=False)
    assert reference_dir(tmp_path) == tmp_path / "reference"
    monkeypatch.setenv("SMI_REFERENCE_DIR", str(DEFAULT_REFERENCE_DIR))
    assert reference_dir(tmp_path) == DEFAULT_REFERENCE_DIR
    inputs = InputsResource(reference_dir=str(DEFAULT_REFERENCE_DIR))
    assert inputs.reference_file("cpp", "model_feature.csv") == DEFAULT_REFERENCE_DIR / "cpp" / "model_feature.csv"
    with pytest.raises(dg.Failure, match=r"absent\.csv is absent: run `smi fetch-reference`"):
        InputsResource(reference_dir=str(tmp_path)).reference_file("absent.csv")
