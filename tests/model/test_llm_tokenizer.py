"""The LLM tokenizer loaded as the authors loaded it (`use_fast=False`: slow, sentencepiece).

A sentencepiece model is trained here with Phi-3.5's settings (BPE, byte fallback, a dummy
prefix space, digits split, no normalisation) and saved with a `tokenizer_config.json` that
adds the chat markup as special tokens, as Phi-3.5's does. The expected ids were worked out
once by hand from the authors' rule: split the prompt on `<image>`, tokenize each side on its
own (a BOS before the first only), put the image between. With `legacy: false` (transformers
4's slow Llama tokenizer): each side starts with one prefix space `▁` (300); no prefix space
follows a special token, so "\\n" after `<|system|>` is the byte <0x0A> (13) and "You" is
"Y" "ou"; the markup stays one token each.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import sentencepiece as spm

from model.chat_templates import CHAT_TEMPLATES
from model.generation import FlorenceVLGenerator
from model.llm_tokenizer import SlowLlamaTokenizer, load_llm_tokenizer
from model.modeling_florence_vl import FlorenceVLForConditionalGeneration
from model.tiny import build_tiny_random, tiny_config

CORPUS = [
    "What is the total?",
    "You are a helpful AI assistant.",
    "What is the date?",
    "the total amount is 12.50",
    "A chat between a curious user and an artificial intelligence assistant.",
]
MARKUP = sorted(
    {token for template in CHAT_TEMPLATES.values() for token in template.special_tokens}
)
QUESTION = "What is the total?"
# The added tokens' ids: 330 <|endoftext|>, then MARKUP sorted: 331 <|assistant|>,
# 332 <|begin_of_text|>, 333 <|end_header_id|>, 334 <|end|>, 335 <|eot_id|>,
# 336 <|start_header_id|>, 337 <|system|>, 338 <|user|>.
# phi3, before the image: <s> ▁ <|system|> <0x0A> Y ou ▁ar e ▁a ▁ he lp fu l ▁A I ▁assistant .
# <|end|> <0x0A> <|user|> <0x0A>; after it: ▁ <0x0A> W hat ▁is ▁the ▁total ? <|end|> <0x0A>
# <|assistant|> <0x0A>.
PHI3_PREFIX = [1, 300, 337, 13, 324, 266, 277, 303, 259, 300, 263, 294, 292, 308, 272, 323, 284,
               313, 334, 13, 338, 13]  # fmt: skip
PHI3_SUFFIX = [300, 13, 316, 267, 268, 269, 283, 314, 334, 13, 331, 13]
# llama3, after the image: ▁ <0x0A> W hat ▁is ▁the ▁total ? <|eot_id|> <|start_header_id|>
# a ss istant <|end_header_id|> <0x0A> <0x0A>.
LLAMA3_SUFFIX = [300, 13, 316, 267, 268, 269, 283, 314, 335, 336, 302, 271, 282, 333, 13, 13]


def write_sentencepiece_tokenizer(directory: Path, *, legacy: bool) -> Path:
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(CORPUS * 20), model_writer=model, model_type="bpe",
        vocab_size=330, byte_fallback=True, add_dummy_prefix=True, split_digits=True,
        allow_whitespace_only_pieces=True, remove_extra_whitespaces=False,
        normalization_rule_name="identity", character_coverage=1.0,
        unk_id=0, bos_id=1, eos_id=2, pad_id=-1, num_threads=1, minloglevel=2,
    )  # fmt: skip
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "tokenizer.model").write_bytes(model.getvalue())
    added = {
        str(330 + i): {
            "content": token,
            "special": True,
            "lstrip": False,
            "rstrip": False,
            "normalized": False,
            "single_word": False,
        }  # fmt: skip
        for i, token in enumerate(["<|endoftext|>", *MARKUP])
    }
    config = {"added_tokens_decoder": added, "legacy": legacy, "add_bos_token": True,
              "add_eos_token": False, "bos_token": "<s>", "eos_token": "<|endoftext|>",
              "unk_token": "<unk>", "pad_token": "<|endoftext|>"}  # fmt: skip
    (directory / "tokenizer_config.json").write_text(json.dumps(config))
    return directory


@pytest.fixture(scope="module")
def phi3_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny phi3 Florence-VL saved with the sentencepiece tokenizer, as a release ships."""
    root = tmp_path_factory.mktemp("slow")
    llm = load_llm_tokenizer(write_sentencepiece_tokenizer(root / "tokenizer", legacy=False))
    _, tokenizers = build_tiny_random("phi3")
    model = FlorenceVLForConditionalGeneration(tiny_config("phi3", llm))
    return FlorenceVLGenerator(model, llm, tokenizers.florence2).save_pretrained(root / "model")


def test_a_checkpoint_with_a_sentencepiece_model_loads_the_slow_tokenizer(
    phi3_checkpoint: Path,
) -> None:
    vl = FlorenceVLGenerator.from_pretrained(phi3_checkpoint)
    assert isinstance(vl.llm_tokenizer, SlowLlamaTokenizer)
    assert vl.llm_tokenizer.legacy is False
    assert MARKUP[0] in vl.llm_tokenizer.get_vocab()


def test_phi3_prompt_ids_follow_the_authors_rule(phi3_checkpoint: Path) -> None:
    vl = FlorenceVLGenerator.from_pretrained(phi3_checkpoint)
    prefix, suffix = vl.prompt_parts(QUESTION)
    assert prefix == [*PHI3_PREFIX, vl.config.image_token_index]
    assert suffix == PHI3_SUFFIX
    assert vl.prompt_ids(QUESTION) == prefix + suffix


def test_llama3_prompt_ids_follow_the_authors_rule(tmp_path: Path) -> None:
    llm = load_llm_tokenizer(write_sentencepiece_tokenizer(tmp_path, legacy=False))
    _, tokenizers = build_tiny_random("llama")
    vl = FlorenceVLGenerator(
        FlorenceVLForConditionalGeneration(tiny_config("llama", llm)), llm, tokenizers.florence2
    )
    prefix, suffix = vl.prompt_parts(QUESTION)
    # BOS, the text's one prefix space, <|begin_of_text|> <|start_header_id|> ... and at the
    # end <|end_header_id|> "\n\n" as bytes, the image.
    assert prefix[:4] == [1, 300, 332, 336]
    assert prefix[-4:] == [333, 13, 13, vl.config.image_token_index]
    assert suffix == LLAMA3_SUFFIX


def test_legacy_puts_a_prefix_space_after_every_special_token(tmp_path: Path) -> None:
    """transformers 4's `legacy: true`: sentencepiece's own dummy prefix on each piece of text
    between special tokens; the file decides, as it did for the authors."""
    legacy = load_llm_tokenizer(write_sentencepiece_tokenizer(tmp_path, legacy=True))
    assert legacy.tokenize("<|system|>\nYou") == ["<|system|>", "▁", "<0x0A>", "Y", "ou"]


def test_without_a_sentencepiece_model_the_fast_tokenizer_is_used(tmp_path: Path) -> None:
    _, tokenizers = build_tiny_random("phi3")
    tokenizers.llm.save_pretrained(tmp_path)
    assert not isinstance(load_llm_tokenizer(tmp_path), SlowLlamaTokenizer)
