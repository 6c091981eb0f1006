"""Decoder-only models built as stock transformers architectures.

Building on `LlamaForCausalLM` (rotary positions) and `GPT2LMHeadModel` (learned positions)
rather than a custom module means every checkpoint loads with
``AutoModelForCausalLM.from_pretrained(path)`` and runs through the same `generate` as any
external checkpoint. Dropout is off: these models see each fact many times but train for
one short schedule, and it keeps runs bit-reproducible without extra RNG state.
"""

from __future__ import annotations

from torch import nn
from transformers import (
    GPT2Config,
    GPT2LMHeadModel,
    LlamaConfig,
    LlamaForCausalLM,
    PreTrainedModel,
)

from training.config import ModelConfig
from training.tokenizer import EOS_ID, PAD_ID


def _swiglu_width(n_embd: int) -> int:
    """SwiGLU hidden width with the parameters of a 4x GELU MLP (3 matrices of 8/3 x), rounded up to 8."""
    return -(-8 * n_embd // 3 // 8) * 8


def build_model(config: ModelConfig) -> PreTrainedModel:
    """A freshly initialised model (seed torch first for reproducible weights)."""
    if config.vocab_size is None:
        raise ValueError("ModelConfig.vocab_size is unset: set it from the tokenizer before building the model")
    special = {"pad_token_id": PAD_ID, "bos_token_id": EOS_ID, "eos_token_id": EOS_ID}
    if config.positions == "rotary":
        hf_config = LlamaConfig(
            vocab_size=config.vocab_size,
            hidden_size=config.n_embd,
            intermediate_size=_swiglu_width(config.n_embd),
            num_hidden_layers=config.n_layer,
            num_attention_heads=config.n_head,
            num_key_value_heads=config.n_head,
            max_position_embeddings=config.block_size,
            tie_word_embeddings=True,
            **special,
        )
        model_class = LlamaForCausalLM
    else:
        hf_config = GPT2Config(
            vocab_size=config.vocab_size,
            n_embd=config.n_embd,
            n_layer=config.n_layer,
            n_head=config.n_head,
            n_positions=config.block_size,
            resid_pdrop=0.0,
            embd_pdrop=0.0,
            attn_pdrop=0.0,
            tie_word_embeddings=True,
            **special,
        )
        model_class = GPT2LMHeadModel
    hf_config._attn_implementation = "sdpa"  # flash / memory-efficient kernels on GPU
    return model_class(hf_config)


def count_parameters(model: nn.Module, non_embedding: bool = False) -> int:
    """Distinct parameters (tied weights once); `non_embedding` leaves out token and position embeddings.

    An untied output projection counts as an embedding too, following Kaplan et al.'s
    non-embedding parameter count.
    """
    parameters = {id(parameter): parameter for parameter in model.parameters()}
    if non_embedding:
        embedding_weights = [module.weight for module in model.modules() if isinstance(module, nn.Embedding)]
        output = model.get_output_embeddings() if isinstance(model, PreTrainedModel) else None
        if output is not None:
            embedding_weights.append(output.weight)
        for weight in embedding_weights:
            parameters.pop(id(weight), None)
    return sum(parameter.numel() for parameter in parameters.values())
