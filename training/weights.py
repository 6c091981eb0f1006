"""A checkpoint's weight files: which ones are loaded, their sha256, and checking them again later.

Only safetensors weights are ever loaded: a pickle (``pytorch_model.bin``, ``*.pt``,
``*.pth``, ``*.ckpt``) can run code when unpickled, so a folder that has nothing else is
refused with an `InputError` that says how to convert it. A checkpoint is registered with
the sha256 of each of its ``*.safetensors`` files (`weight_file_sha256s`) and one sha256
over them all (`weights_sha256`, which also finds duplicates: the same weights under
another name); `verify_weights` recomputes them before an evaluation and names the file
that changed, appeared or went missing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path

from smi_assets.common.errors import InputError
from smi_assets.common.storage import file_sha256

PICKLE_WEIGHT_PATTERNS = ("*.bin", "*.pt", "*.pth", "*.ckpt")
CONVERT_HINT = (
    "pickle weights can run arbitrary code when loaded, so they are never loaded here; convert them to "
    'safetensors once, in an environment you trust: python -c "import sys; from transformers import '
    'AutoModelForCausalLM as M; M.from_pretrained(sys.argv[1]).save_pretrained(sys.argv[1], safe_serialization=True)" FOLDER'
)


def safetensors_files(folder: Path) -> list[Path]:
    """The ``*.safetensors`` files of a checkpoint folder; InputError if it has none (saying why)."""
    folder = Path(folder)
    files = sorted(folder.glob("*.safetensors"))
    if files:
        return files
    pickles = sorted(path for pattern in PICKLE_WEIGHT_PATTERNS for path in folder.glob(pattern))
    if pickles:
        raise InputError(pickles[0], f"only pickle weights in this checkpoint folder ({', '.join(path.name for path in pickles)}): {CONVERT_HINT}")
    raise InputError(folder, "no weights (*.safetensors) in the checkpoint folder")


def weight_file_sha256s(folder: Path) -> dict[str, str]:
    """File name -> sha256 of every weight file of the checkpoint."""
    return {path.name: file_sha256(path) for path in safetensors_files(folder)}


def weights_sha256(file_sha256s: Mapping[str, str]) -> str:
    """One sha256 for all the weight files (names and contents): equal for equal checkpoints."""
    lines = "".join(f"{name}\t{file_sha256s[name]}\n" for name in sorted(file_sha256s))
    return hashlib.sha256(lines.encode()).hexdigest()


def verify_weights(folder: Path, recorded: Mapping[str, str]) -> None:
    """InputError naming the first weight file whose sha256 differs from `recorded` (or that appeared or went missing)."""
    folder = Path(folder)
    current = weight_file_sha256s(folder)
    for name in sorted(set(recorded) | set(current)):
        if name not in current:
            raise InputError(folder / name, "weight file recorded with this checkpoint is missing; re-register the checkpoint")
        if name not in recorded:
            raise InputError(folder / name, "weight file was added after the checkpoint was registered; re-register the checkpoint")
        if current[name] != recorded[name]:
            raise InputError(
                folder / name,
                f"sha256 {current[name]} differs from the {recorded[name]} recorded when the checkpoint was registered: "
                "the weights changed or are corrupted; restore them or re-register the checkpoint",
            )
