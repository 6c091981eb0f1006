"""Checkpoint integrity: pickle weights refused, sha256 of the weights recorded and verified, duplicates
found, and the `checkpoints` table upgraded in place on an existing database."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
import torch

from smi_assets.checkpoints import store
from smi_assets.common.errors import InputError
from training.config import ModelConfig
from training.evaluation import load_checkpoint
from training.model import build_model
from training.tokenizer import train_tokenizer
from training.weights import verify_weights, weight_file_sha256s, weights_sha256


class _Payload:
    """Unpickling this writes a marker file."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({str(self.marker)!r}, 'w').write('ran')",))


def _save_checkpoint(folder: Path, seed: int = 0) -> Path:
    torch.manual_seed(seed)
    tokenizer = train_tokenizer(["Anna Novak was born in Paris.", "Bob Smith was born in Lima."], vocab_size=50)
    model = build_model(ModelConfig(n_layer=1, n_embd=16, n_head=2, block_size=16, vocab_size=len(tokenizer)))
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.mark.parametrize("pickle_name", ["pytorch_model.bin", "model.pt", "weights.ckpt"])
def test_a_pickle_only_checkpoint_is_refused_with_how_to_convert_it(tmp_path, pickle_name):
    folder = _save_checkpoint(tmp_path / "ckpt")
    (folder / "model.safetensors").unlink()
    marker = tmp_path / "marker"
    torch.save({"weight": _Payload(marker)}, folder / pickle_name)
    with pytest.raises(InputError, match=rf"{pickle_name}: only pickle weights in this checkpoint folder.*convert them to safetensors"):
        load_checkpoint(folder)
    assert not marker.exists()


def test_a_pickle_beside_safetensors_is_never_loaded(tmp_path):
    folder = _save_checkpoint(tmp_path / "ckpt")
    marker = tmp_path / "marker"
    torch.save({"weight": _Payload(marker)}, folder / "pytorch_model.bin")
    model, _ = load_checkpoint(folder)
    assert not marker.exists() and sum(parameter.numel() for parameter in model.parameters()) > 0
    assert list(weight_file_sha256s(folder)) == ["model.safetensors"]


def test_verification_names_the_weight_file_whose_bytes_changed(tmp_path):
    folder = _save_checkpoint(tmp_path / "ckpt")
    recorded = weight_file_sha256s(folder)
    verify_weights(folder, recorded)  # untouched: passes

    weights = folder / "model.safetensors"
    content = bytearray(weights.read_bytes())
    content[-3] ^= 0xFF  # a tensor byte: the header stays valid
    weights.write_bytes(bytes(content))
    load_checkpoint(folder)  # loads silently: only the recorded sha256 can tell
    with pytest.raises(InputError, match=rf"{weights}: sha256 [0-9a-f]{{64}} differs from the {recorded['model.safetensors']} recorded"):
        verify_weights(folder, recorded)
    with pytest.raises(InputError, match="gone.safetensors: weight file recorded with this checkpoint is missing"):
        verify_weights(folder, {**weight_file_sha256s(folder), "gone.safetensors": "0" * 64})
    (folder / "extra.safetensors").write_bytes(weights.read_bytes())
    with pytest.raises(InputError, match="extra.safetensors: weight file was added after the checkpoint was registered"):
        verify_weights(folder, {"model.safetensors": weight_file_sha256s(folder)["model.safetensors"]})


def test_weights_sha256_is_equal_for_equal_weights_only(tmp_path):
    first = weight_file_sha256s(_save_checkpoint(tmp_path / "a", seed=0))
    same = weight_file_sha256s(_save_checkpoint(tmp_path / "b", seed=0))
    other = weight_file_sha256s(_save_checkpoint(tmp_path / "c", seed=1))
    assert weights_sha256(first) == weights_sha256(same) != weights_sha256(other)
    assert len(weights_sha256(first)) == 64


OLD_CHECKPOINTS_TABLE = """
CREATE TABLE checkpoints (
    checkpoint_id VARCHAR PRIMARY KEY, origin VARCHAR, path VARCHAR, params BIGINT, non_embedding_params BIGINT,
    tokens_seen BIGINT, final_loss DOUBLE, data_version VARCHAR, recorded_at TIMESTAMP
);
INSERT INTO checkpoints VALUES ('old', 'trained', '/models/old', 1000, 800, 5000, 2.5, 'v1', now());
"""


def _record(checkpoint_id: str, hashes: dict[str, str]) -> store.CheckpointRecord:
    return store.CheckpointRecord(checkpoint_id, "registered", f"/models/{checkpoint_id}", 10, 8, None, None, "v", hashes)


def test_an_existing_database_gains_the_sha256_columns_and_finds_duplicates(tmp_path):
    connection = duckdb.connect(str(tmp_path / "smi.duckdb"))
    connection.execute(OLD_CHECKPOINTS_TABLE)
    store.ensure_tables(connection)
    store.ensure_tables(connection)  # a second upgrade is a no-op
    assert store.checkpoint_params(connection, "old") == 1000  # old rows survive the upgrade
    assert store.recorded_weight_file_sha256s(connection, "old") == {}

    hashes = {"model.safetensors": "a" * 64}
    store.record_checkpoint(connection, _record("first", hashes))
    store.record_checkpoint(connection, _record("first", hashes))  # a rerun replaces its own row
    assert store.recorded_weight_file_sha256s(connection, "first") == hashes
    assert store.checkpoint_with_weights(connection, weights_sha256(hashes), "first") is None  # itself is no duplicate
    assert store.checkpoint_with_weights(connection, weights_sha256(hashes), "copy") == ("first", "/models/first")
    assert store.checkpoint_with_weights(connection, weights_sha256({"model.safetensors": "b" * 64}), "copy") is None
    assert connection.execute("SELECT count(*) FROM checkpoints").fetchone()[0] == 2
    with pytest.raises(ValueError, match="'missing' is not recorded"):
        store.recorded_weight_file_sha256s(connection, "missing")
