"""Closed-book QA evaluation of any HF causal-LM checkpoint on disk.

The protocol follows the SMI paper: every template of every fact is a prompt; each prompt
gets ``n_samples`` generations at temperature ``T`` (or one greedy generation) of at most
``max_new_tokens`` tokens; a generation is correct when its *continuation* (never the echoed
prompt) contains the object or one of its aliases as whole words. Accuracy of a fact is
the share of its correct generations.

Generation is batched: prompts are sorted by length (less padding), left-padded (decoder
only) and decoded with the KV cache; sampling uses ``num_return_sequences`` so each prompt
is encoded once. Nothing is written: a killed evaluation loses nothing and simply reruns.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path

import polars as pl
import torch
from safetensors import safe_open
from transformers import (
    AutoConfig,
    AutoModelForCausalLM,
    AutoTokenizer,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)
from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

from smi_assets.common.errors import InputError
from training.config import DecodingConfig
from training.weights import safetensors_files

QUESTION_COLUMNS = ["idx", "rel", "template_id", "prompt", "answers"]
SCORE_SCHEMA = {
    "idx": pl.Int64, "rel": pl.Utf8, "template_id": pl.Int64, "sample": pl.Int64,
    "prompt": pl.Utf8, "continuation": pl.Utf8, "correct": pl.Boolean,
}  # fmt: skip
_WORD = re.compile(r"\w+|[^\w\s]")


def _check_weights(folder: Path) -> None:
    """Every safetensors header readable against its file size; pickle-only folders refused (`training.weights`)."""
    for path in safetensors_files(folder):
        try:
            with safe_open(str(path), framework="pt") as weights:
                for name in weights.keys():
                    weights.get_slice(name)  # reads every tensor header against the file size
        except Exception as error:  # safetensors raises its own SafetensorError and OSError variants
            raise InputError(path, f"corrupted safetensors file ({error})") from error


def load_checkpoint(path: Path, device: str = "cpu") -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Model (eval mode) and left-padding tokenizer of an HF causal-LM folder; InputError when unusable.

    Only safetensors weights load (``use_safetensors=True``, pickle-only folders are refused)
    and no code from the folder ever runs (``trust_remote_code=False``).
    """
    folder = Path(path)
    config_file = folder / "config.json"
    if not config_file.is_file():
        raise InputError(folder, "not a checkpoint folder: config.json is missing")
    try:
        model_type = json.loads(config_file.read_text()).get("model_type")
    except json.JSONDecodeError as error:
        raise InputError(config_file, f"invalid JSON ({error})", line=error.lineno) from error
    if model_type not in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES:
        raise InputError(config_file, f"unknown or non-causal-LM architecture model_type={model_type!r}")
    _check_weights(folder)
    try:
        config = AutoConfig.from_pretrained(folder, trust_remote_code=False)
        model = AutoModelForCausalLM.from_pretrained(folder, config=config, use_safetensors=True, trust_remote_code=False)
    except (OSError, ValueError, RuntimeError) as error:
        raise InputError(folder, f"cannot load the model ({error})") from error
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=False)
    except (OSError, ValueError, TypeError) as error:
        raise InputError(folder, f"cannot load the tokenizer ({error})") from error
    tokenizer.padding_side = "left"
    if tokenizer.pad_token_id is None:  # e.g. Pythia: any id works, padded positions are masked
        tokenizer.pad_token = tokenizer.eos_token
    return model.to(device).eval(), tokenizer


def answer_in_continuation(continuation: str, answers: list[str]) -> bool:
    """True when any answer occurs in `continuation` as a run of whole words.

    Both sides are split into words and punctuation marks, so "India" does not match
    "Indiana", and "U.S." matches whether or not the tokenizer put spaces around the dots.
    """
    words = _WORD.findall(continuation)
    for answer in answers:
        target = _WORD.findall(answer)
        if target and any(words[start : start + len(target)] == target for start in range(len(words) - len(target) + 1)):
            return True
    return False


def _encode_prompts(tokenizer: PreTrainedTokenizerBase, prompts: list[str], max_prompt_tokens: int) -> list[list[int]]:
    """Token ids per prompt, starting with BOS when the tokenizer has one (documents start after it in training)."""
    encoded = tokenizer(prompts, add_special_tokens=True)["input_ids"]
    bos = tokenizer.bos_token_id
    if bos is not None:
        encoded = [ids if ids[:1] == [bos] else [bos, *ids] for ids in encoded]
    return [ids[-max_prompt_tokens:] for ids in encoded]


def _max_positions(model: PreTrainedModel) -> int | None:
    config = model.config
    return getattr(config, "max_position_embeddings", None) or getattr(config, "n_positions", None)


@torch.inference_mode()
def generate_continuations(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompts: list[str],
    decoding: DecodingConfig,
    on_progress: Callable[[dict], None] | None = None,
) -> list[list[str]]:
    """`decoding.samples_per_prompt` continuations per prompt (generated text only, special tokens dropped)."""
    n_samples = decoding.samples_per_prompt
    limit = _max_positions(model)
    max_prompt_tokens = (limit - decoding.max_new_tokens) if limit else 1 << 30
    if max_prompt_tokens < 1:
        raise InputError("decoding config", f"max_new_tokens={decoding.max_new_tokens} leaves no room in a context of {limit}")
    encoded = _encode_prompts(tokenizer, prompts, max_prompt_tokens)
    order = sorted(range(len(prompts)), key=lambda index: len(encoded[index]))
    prompts_per_batch = max(1, decoding.batch_size // n_samples)
    device = model.device
    torch.manual_seed(decoding.seed)
    results: list[list[str]] = [[] for _ in prompts]
    started = time.perf_counter()
    for first in range(0, len(order), prompts_per_batch):
        batch = order[first : first + prompts_per_batch]
        width = max(len(encoded[index]) for index in batch)
        input_ids = torch.full((len(batch), width), tokenizer.pad_token_id, dtype=torch.long)
        attention_mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, index in enumerate(batch):
            ids = encoded[index]
            input_ids[row, width - len(ids) :] = torch.tensor(ids)
            attention_mask[row, width - len(ids) :] = 1
        sampling = {"do_sample": True, "temperature": decoding.temperature, "top_k": 0, "top_p": 1.0} if decoding.mode == "sample" else {"do_sample": False}
        output = model.generate(
            input_ids=input_ids.to(device),
            attention_mask=attention_mask.to(device),
            max_new_tokens=decoding.max_new_tokens,
            num_return_sequences=n_samples,
            pad_token_id=tokenizer.pad_token_id,
            use_cache=True,
            **sampling,
        )
        texts = tokenizer.batch_decode(output[:, width:], skip_special_tokens=True)
        for row, index in enumerate(batch):
            results[index] = [text.strip() for text in texts[row * n_samples : (row + 1) * n_samples]]
        if on_progress is not None:
            done = min(first + prompts_per_batch, len(order))
            elapsed = time.perf_counter() - started
            on_progress({"event": "eval", "prompts_done": done, "prompts": len(order), "generations_per_second": done * n_samples / elapsed})
    return results


def evaluate_cbqa(
    checkpoint: Path,
    questions: pl.DataFrame,
    decoding: DecodingConfig,
    on_progress: Callable[[dict], None] | None = None,
    device: str = "cpu",
) -> pl.DataFrame:
    """Score every question: one row per question x sample (idx, rel, template_id, sample, prompt, continuation, correct)."""
    missing = [column for column in QUESTION_COLUMNS if column not in questions.columns]
    if missing:
        raise InputError("questions", f"missing columns {missing}; expected {QUESTION_COLUMNS}")
    empty = questions["prompt"].is_null() | (questions["prompt"].str.strip_chars() == "")
    if empty.any():
        raise InputError("questions", "empty prompt", row=int(empty.arg_true()[0]))
    model, tokenizer = load_checkpoint(checkpoint, device=device)
    prompts = questions["prompt"].to_list()
    continuations = generate_continuations(model, tokenizer, prompts, decoding, on_progress)
    rows = {name: [] for name in SCORE_SCHEMA}
    for question, samples in zip(questions.select(QUESTION_COLUMNS).iter_rows(named=True), continuations):
        for sample, continuation in enumerate(samples):
            rows["idx"].append(question["idx"])
            rows["rel"].append(question["rel"])
            rows["template_id"].append(question["template_id"])
            rows["sample"].append(sample)
            rows["prompt"].append(question["prompt"])
            rows["continuation"].append(continuation)
            rows["correct"].append(answer_in_continuation(continuation, question["answers"] or []))
    return pl.DataFrame(rows, schema=SCORE_SCHEMA)
