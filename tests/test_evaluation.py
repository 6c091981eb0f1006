"""training.evaluation: answer matching, checkpoint loading errors, batched CBQA generation."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import polars as pl
import pytest
from transformers import GPTNeoXConfig, GPTNeoXForCausalLM

from smi_assets.common.errors import InputError
from training.config import DecodingConfig, ModelConfig, TrainConfig
from training.evaluation import (
    answer_in_continuation,
    evaluate_cbqa,
    load_checkpoint,
)
from training.tokenizer import train_tokenizer
from training.train import train

BORN = {"Anna Novak": "Paris", "Bob Smith": "Lima", "Carl Berg": "Oslo", "Dora Kale": "Rome", "Emil Moss": "Kyiv", "Fay Cook": "Baku"}
TEMPLATES = ["[S] was born in", "Everyone knows that [S] was born in"]


def questions_frame(facts: dict[str, str], templates: list[str] = TEMPLATES) -> pl.DataFrame:
    rows = [
        {"idx": idx, "rel": "born", "template_id": template_id, "prompt": template.replace("[S]", subject), "answers": [city]}
        for idx, (subject, city) in enumerate(facts.items())
        for template_id, template in enumerate(templates)
    ]
    return pl.DataFrame(rows, schema={"idx": pl.Int64, "rel": pl.Utf8, "template_id": pl.Int64, "prompt": pl.Utf8, "answers": pl.List(pl.Utf8)})


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """A tiny model trained until it knows where each of six people was born."""
    folder = tmp_path_factory.mktemp("eval")
    texts = [f"{subject} was born in {city}. It rained." for subject, city in BORN.items()] * 30
    texts += [f"Everyone knows that {subject} was born in {city}." for subject, city in BORN.items()] * 30
    pl.DataFrame({"doc_id": [str(i) for i in range(len(texts))], "text": texts}).write_parquet(folder / "corpus.parquet")
    config = TrainConfig(
        model=ModelConfig(n_layer=2, n_embd=32, n_head=2, block_size=16), max_steps=150, batch_size=16,
        learning_rate=1e-2, min_learning_rate=1e-3, warmup_steps=10, checkpoint_every=1000,
    )  # fmt: skip
    train(config, [folder / "corpus.parquet"], folder / "ckpt")
    return folder / "ckpt"


@pytest.mark.parametrize(
    ("continuation", "answers", "expected"),
    [
        ("Paris . The weather", ["Paris"], True),
        ("Indiana , later", ["India"], False),  # a prefix of a word is not a match
        ("in New York City", ["New York"], True),
        ("in New Jersey", ["New York"], False),
        ("the U . S . army", ["United States", "U.S."], True),  # any alias; spacing around punctuation is ignored
        ("a cook", ["Cook"], False),  # case matters: "Cook" the surname is not "cook"
        ("", ["Paris"], False),
        ("Paris", [], False),
    ],
)
def test_answer_matches_whole_words_and_any_alias(continuation, answers, expected):
    assert answer_in_continuation(continuation, answers) is expected


def test_decoding_labels_name_every_setting():
    assert DecodingConfig(max_new_tokens=6).label() == "greedy-6"
    assert DecodingConfig(mode="sample", n_samples=20, temperature=0.7, max_new_tokens=8).label() == "sample-t0.7-n20-8"
    with pytest.raises(InputError, match="temperature"):
        DecodingConfig(mode="sample", temperature=0.0)


def test_greedy_evaluation_scores_the_facts_the_model_learned(checkpoint):
    questions = questions_frame(BORN)
    scores = evaluate_cbqa(checkpoint, questions, DecodingConfig(max_new_tokens=4))
    assert scores.columns == ["idx", "rel", "template_id", "sample", "prompt", "continuation", "correct"]
    assert scores.select("idx", "template_id").rows() == questions.select("idx", "template_id").rows()
    assert scores["correct"].mean() >= 0.9
    # A wrong answer key is scored wrong: matching really looks at the answer.
    shuffled = dict(zip(BORN, [*list(BORN.values())[1:], list(BORN.values())[0]]))
    assert evaluate_cbqa(checkpoint, questions_frame(shuffled), DecodingConfig(max_new_tokens=4))["correct"].mean() <= 0.1


def test_answers_echoed_by_the_prompt_do_not_count(checkpoint):
    # "Zorro" is not in the vocabulary: only the prompt contains it, never a generation.
    scores = evaluate_cbqa(checkpoint, questions_frame({"Zorro Novak": "Zorro"}, ["[S] was born in"]), DecodingConfig())
    assert scores["correct"].to_list() == [False]
    assert "Zorro" not in scores["continuation"][0]


def test_an_echo_triple_whose_subject_the_model_knows_scores_only_the_continuation(checkpoint):
    # The object "Anna" is inside the subject "Anna Novak", every word of which is in the
    # vocabulary: a decoder that scored the prompt, or a continuation that repeats it, would
    # count it correct. The model answers "Paris", so it must not.
    scores = evaluate_cbqa(checkpoint, questions_frame({"Anna Novak": "Anna"}, ["[S] was born in"]), DecodingConfig(max_new_tokens=4))
    assert "Anna" in scores["prompt"][0] and scores["continuation"][0].startswith("Paris")
    assert scores["correct"].to_list() == [False]


def test_batched_generation_matches_one_prompt_at_a_time(checkpoint):
    questions = questions_frame(BORN, [*TEMPLATES, "It rained . [S] was born in"])  # three prompt lengths: left padding
    batched = evaluate_cbqa(checkpoint, questions, DecodingConfig(batch_size=64))
    single = evaluate_cbqa(checkpoint, questions, DecodingConfig(batch_size=1))
    assert batched["continuation"].to_list() == single["continuation"].to_list()


def test_sampling_returns_n_samples_per_prompt_reproducibly(checkpoint):
    questions = questions_frame(BORN)
    decoding = DecodingConfig(mode="sample", n_samples=5, temperature=2.0, max_new_tokens=3, batch_size=8)
    first = evaluate_cbqa(checkpoint, questions, decoding)
    assert len(first) == 5 * len(questions)
    assert first.filter(pl.col("idx") == 0, pl.col("template_id") == 0)["sample"].to_list() == [0, 1, 2, 3, 4]
    assert first.equals(evaluate_cbqa(checkpoint, questions, decoding))
    assert first["continuation"].n_unique() > first["prompt"].n_unique()  # temperature 2 varies the samples


def test_external_architecture_checkpoint_is_evaluated(tmp_path):
    tokenizer = train_tokenizer([f"{subject} was born in {city}." for subject, city in BORN.items()], vocab_size=100)
    config = GPTNeoXConfig(
        vocab_size=len(tokenizer), hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
        max_position_embeddings=32, pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
    )  # fmt: skip
    GPTNeoXForCausalLM(config).save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    scores = evaluate_cbqa(tmp_path, questions_frame(BORN), DecodingConfig(max_new_tokens=3))
    assert len(scores) == len(BORN) * len(TEMPLATES)
    # Only generated tokens come back (one word each here), never the 5-to-8-word prompt.
    assert max(len(continuation.split()) for continuation in scores["continuation"]) <= 3


def test_checkpoint_errors_name_the_folder_or_file(checkpoint, tmp_path):
    with pytest.raises(InputError, match="config.json is missing"):
        load_checkpoint(tmp_path)

    no_weights = tmp_path / "no_weights"
    shutil.copytree(checkpoint, no_weights, ignore=shutil.ignore_patterns("*.safetensors"))
    with pytest.raises(InputError, match=f"{no_weights}.*no weights"):
        load_checkpoint(no_weights)

    unknown = tmp_path / "unknown"
    shutil.copytree(checkpoint, unknown)
    config = json.loads((unknown / "config.json").read_text())
    (unknown / "config.json").write_text(json.dumps({**config, "model_type": "made-up-lm"}))
    with pytest.raises(InputError, match="unknown or non-causal-LM architecture"):
        load_checkpoint(unknown)

    corrupted = tmp_path / "corrupted"
    shutil.copytree(checkpoint, corrupted)
    weights = corrupted / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(InputError, match="model.safetensors.*corrupted"):
        load_checkpoint(corrupted)


def test_questions_without_required_columns_are_rejected(checkpoint):
    with pytest.raises(InputError, match="answers"):
        evaluate_cbqa(checkpoint, questions_frame(BORN).drop("answers"), DecodingConfig())
