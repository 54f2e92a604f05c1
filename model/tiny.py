"""`tiny-random` Florence-VL: the real classes at a few million parameters, fully offline.

For tests and smoke runs on machines without weights or network. Both backbones are built
(Phi-3 as in the 3B checkpoint, Llama as in the 8B) with the Florence-2 dims of the reference
tiny model (`shared/reference/florence2-tiny-config.json`), an LLM tokenizer trained here on a
few lines of built-in text, and Florence-2's offline tokenizer. Weights are random: the text it
generates is meaningless, and everything built on it must say so.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import NamedTuple

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import LlamaConfig, Phi3Config, PreTrainedTokenizerFast

from model.chat_templates import IMAGE_PLACEHOLDER, get_chat_template
from model.checkpoint import save_checkpoint
from model.config import BACKBONES, FlorenceVLConfig, FusionConfig
from model.florence2_keys import FLORENCE2_LARGE_ORIGINAL_CONFIG
from model.florence2_tokenizer import build_offline_florence2_tokenizer
from model.generation import FlorenceVLGenerator
from model.modeling_florence_vl import FlorenceVLForConditionalGeneration
from model.released import longrope_parameters

logger = logging.getLogger(__name__)

TINY_REVISION = "tiny-random"
# backbone name -> released model_type
TINY_BACKBONES = {"phi3": "llava_phi", "llama": "llava_llama"}

# Florence-2-large's original-layout config at the reference tiny model's dims
# (../shared/reference/florence2-tiny-config.json): same architecture, smaller sizes.
TINY_FLORENCE2_CONFIG = {
    "vision_config": FLORENCE2_LARGE_ORIGINAL_CONFIG["vision_config"]
    | {
        "dim_embed": [32, 64, 128, 256],
        "depths": [1, 1, 1, 1],
        "num_heads": [1, 2, 4, 8],
        "num_groups": [1, 2, 4, 8],
        "projection_dim": 64,
    },
    "text_config": FLORENCE2_LARGE_ORIGINAL_CONFIG["text_config"]
    | {
        "d_model": 64,
        "encoder_layers": 2,
        "decoder_layers": 2,
        "encoder_attention_heads": 4,
        "decoder_attention_heads": 4,
        "encoder_ffn_dim": 256,
        "decoder_ffn_dim": 256,
    },
}

# (bos, eos, pad) as the real tokenizers name them: Phi-3.5 pads with its EOS, the 8B
# checkpoint adds `<pad>` to Llama-3.1.
_TOKEN_ROLES = {
    "phi3": ("<s>", "<|endoftext|>", "<|endoftext|>"),
    "llama": ("<|begin_of_text|>", "<|end_of_text|>", "<pad>"),
}
_TRAINING_TEXT = (
    "What is the total amount on this receipt? The total is 42.50 dollars.",
    "What is the date of the invoice? The invoice is dated 12/03/2024.",
    "Which company issued this document? It was issued by Acme Trading Sdn Bhd.",
    "Describe the image. A scanned page with a table of items, prices and a signature.",
    "Invoice number INV-0042, tax 6%, subtotal 40.09, rounding 0.01, cash 50.00, change 7.50.",
    "Address: 12 Jalan Besar, 50000 Kuala Lumpur. Tel: 03-1234 5678.",
    "You are a helpful AI assistant. A chat between a curious user and an assistant.",
    "The assistant gives helpful, detailed, and polite answers to the user's questions.",
)
_TINY_VOCAB = 512


class Tokenizers(NamedTuple):
    llm: PreTrainedTokenizerFast
    florence2: PreTrainedTokenizerFast


def build_tiny_llm_tokenizer(backbone: str) -> PreTrainedTokenizerFast:
    """Byte-level BPE trained on built-in text, with the chat template's markup and `<image>`
    as single special tokens, so prompts tokenize the way the real ones do."""
    _check_backbone(backbone)
    bos, eos, pad = _TOKEN_ROLES[backbone]
    template = get_chat_template(BACKBONES[TINY_BACKBONES[backbone]][2])
    specials = list(dict.fromkeys([pad, bos, eos, *template.special_tokens, IMAGE_PLACEHOLDER]))
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=_TINY_VOCAB,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(_TRAINING_TEXT, trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, bos_token=bos, eos_token=eos, pad_token=pad
    )


def tiny_config(
    backbone: str, llm_tokenizer: PreTrainedTokenizerFast, **fusion
) -> FlorenceVLConfig:
    """A tiny configuration for `backbone` ("phi3" or "llama") sized to `llm_tokenizer`."""
    _check_backbone(backbone)
    common = dict(
        vocab_size=len(llm_tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=2048,
        bos_token_id=llm_tokenizer.bos_token_id,
        eos_token_id=llm_tokenizer.eos_token_id,
        pad_token_id=llm_tokenizer.pad_token_id,
        tie_word_embeddings=False,
        # Wider than the default 0.02 so random logits are spread out: greedy choices are then
        # far from ties, which keeps batched-vs-single comparisons meaningful.
        initializer_range=0.2,
    )
    text_config: Phi3Config | LlamaConfig
    if backbone == "phi3":
        # Phi-3.5-mini's rotary embedding kind (longrope, switching at 4,096 positions), its
        # factors neutral: the code path is the released one, the values plain RoPE's.
        text_config = Phi3Config(
            num_key_value_heads=4,
            rope_parameters=longrope_parameters(head_dim=64 // 4, factor=1.0),
            original_max_position_embeddings=4096,
            **common,
        )
    else:  # grouped-query attention, as in Llama-3.1-8B
        text_config = LlamaConfig(num_key_value_heads=2, **common)
    return FlorenceVLConfig(
        model_type=TINY_BACKBONES[backbone],
        text_config=text_config,
        florence2_config=TINY_FLORENCE2_CONFIG,
        fusion=FusionConfig(**fusion),
        mm_hidden_size=TINY_FLORENCE2_CONFIG["vision_config"]["projection_dim"],
        mm_vision_tower=TINY_REVISION,
    )


def build_tiny_random(
    backbone: str = "phi3", seed: int = 0, **fusion
) -> tuple[FlorenceVLForConditionalGeneration, Tokenizers]:
    """A seeded random tiny model (eval mode, float32, CPU) and its two tokenizers.

    `fusion` keyword arguments go to `FusionConfig` (e.g. `mode="token_concat"`).
    """
    llm_tokenizer = build_tiny_llm_tokenizer(backbone)
    config = tiny_config(backbone, llm_tokenizer, **fusion)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = FlorenceVLForConditionalGeneration(config)
    florence2_tokenizer = build_offline_florence2_tokenizer()
    model.set_prompts(florence2_tokenizer)
    return model.eval(), Tokenizers(llm_tokenizer, florence2_tokenizer)


def tiny_random_generator(
    backbone: str = "phi3",
    seed: int = 0,
    *,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    **fusion,
) -> FlorenceVLGenerator:
    """`build_tiny_random` on `device` in `dtype`, with its tokenizers, ready to answer."""
    model, tokenizers = build_tiny_random(backbone, seed, **fusion)
    model = model.to(device=device, dtype=dtype)
    return FlorenceVLGenerator(model, tokenizers.llm, tokenizers.florence2)


def save_tiny_random(
    directory: str | os.PathLike[str], backbone: str = "phi3", seed: int = 0
) -> Path:
    """Write a tiny-random model as a released-layout checkpoint directory."""
    model, tokenizers = build_tiny_random(backbone, seed)
    return save_checkpoint(
        model, directory, llm_tokenizer=tokenizers.llm, florence2_tokenizer=tokenizers.florence2
    )


def _check_backbone(backbone: str) -> None:
    if backbone not in TINY_BACKBONES:
        raise ValueError(f"backbone {backbone!r} is not one of {sorted(TINY_BACKBONES)}")
