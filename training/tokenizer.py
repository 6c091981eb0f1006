"""Tokenizers trained on the corpus with the `tokenizers` library.

``kind="word"`` (the default) is a WordLevel model over a whitespace + punctuation
pre-tokenizer: on the synthetic world's simple sentences every name is one or two whole
tokens, which small models learn far faster than sub-words. ``kind="bpe"`` is a byte-level
BPE for real text. Both reserve the same special tokens at the same ids, so models can be
built before the tokenizer exists; ``<eos>`` separates documents and also serves as BOS.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

PAD_TOKEN, UNK_TOKEN, EOS_TOKEN = "<pad>", "<unk>", "<eos>"
SPECIAL_TOKENS = [PAD_TOKEN, UNK_TOKEN, EOS_TOKEN]  # ids 0, 1, 2 in every tokenizer trained here
PAD_ID, UNK_ID, EOS_ID = range(len(SPECIAL_TOKENS))


def train_tokenizer(texts: Iterable[str], kind: Literal["word", "bpe"] = "word", vocab_size: int = 4096) -> PreTrainedTokenizerFast:
    """Train a tokenizer on `texts`; the result pads on the left (for batched generation)."""
    if kind == "word":
        tokenizer = Tokenizer(models.WordLevel(unk_token=UNK_TOKEN))
        tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
        trainer = trainers.WordLevelTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS)
    elif kind == "bpe":
        tokenizer = Tokenizer(models.BPE())
        tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
        tokenizer.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS, initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    else:
        raise ValueError(f"unknown tokenizer kind {kind!r}; use 'word' or 'bpe'")
    tokenizer.train_from_iterator(texts, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        pad_token=PAD_TOKEN,
        unk_token=UNK_TOKEN,
        eos_token=EOS_TOKEN,
        bos_token=EOS_TOKEN,
        padding_side="left",
    )
