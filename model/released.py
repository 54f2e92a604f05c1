"""The released checkpoints' architectures (`jiuhai/florence-vl-3b-sft`, `-8b-sft`), for
building them without their files: the key-layout checks and the GPU benchmark."""

from __future__ import annotations

from transformers import LlamaConfig, Phi3Config

from model.config import FlorenceVLConfig


def longrope_parameters(head_dim: int, factor: float) -> dict[str, object]:
    """Longrope parameters with every short and long factor `factor` (1.0: plain RoPE)."""
    factors = [factor] * (head_dim // 2)
    return {"rope_type": "longrope", "short_factor": factors, "long_factor": factors}


def florence_vl_3b_config() -> FlorenceVLConfig:
    """Florence-2-large's tower and Phi-3.5-mini-instruct (vocabulary 32064, with its pad)."""
    text_config = Phi3Config(
        vocab_size=32064,
        hidden_size=3072,
        intermediate_size=8192,
        num_hidden_layers=32,
        num_attention_heads=32,
        num_key_value_heads=32,
        max_position_embeddings=131072,
        original_max_position_embeddings=4096,
        # Phi-3.5-mini's kind of rotary embedding; its per-frequency factors (in a checkpoint's
        # config.json) change no key or timing, so plain ones stand in for them here.
        rope_parameters=longrope_parameters(head_dim=3072 // 32, factor=1.0),
        bos_token_id=1,
        eos_token_id=32000,
        pad_token_id=32000,
        tie_word_embeddings=False,
    )
    return FlorenceVLConfig(
        model_type="llava_phi",
        text_config=text_config,
        mm_vision_tower="jiuhai/florence-phi-vision-tower",
    )


def florence_vl_8b_config() -> FlorenceVLConfig:
    """Florence-2-large's tower and Llama-3.1-8B-Instruct with an added `<pad>` (128257)."""
    # rope_theta is read at run time but missing from the typed signature of newer releases.
    text_config = LlamaConfig(  # type: ignore[call-arg]
        vocab_size=128257,
        hidden_size=4096,
        intermediate_size=14336,
        num_hidden_layers=32,
        num_attention_heads=32,
        num_key_value_heads=8,
        max_position_embeddings=131072,
        rms_norm_eps=1e-5,
        rope_theta=500000.0,
        bos_token_id=128000,
        eos_token_id=128001,
        tie_word_embeddings=False,
    )
    return FlorenceVLConfig(
        model_type="llava_llama",
        text_config=text_config,
        mm_vision_tower="jiuhai/florence-llama-vision-tower",
    )
