"""The LLM's tokenizer, loaded as Florence-VL's authors loaded it: `use_fast=False`.

For Phi-3.5 that meant transformers 4's slow `LlamaTokenizer`, sentencepiece itself. Slow and
fast Llama-style tokenizers can disagree around special tokens and at the start of a piece of
text, which is exactly where a prompt split around `<image>` is cut (each side is tokenized
on its own). transformers 5 ignores `use_fast` and always builds the fast tokenizer, so where
a checkpoint ships its sentencepiece model (`tokenizer.model`) and the `sentencepiece`
package is installed, `SlowLlamaTokenizer` rebuilds the slow behaviour on transformers 5's
sentencepiece base; otherwise the fast tokenizer is used, and a log line says so.
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path
from typing import Any

from transformers import AutoTokenizer, PreTrainedTokenizerBase
from transformers.tokenization_utils_sentencepiece import SPIECE_UNDERLINE, SentencePieceBackend

logger = logging.getLogger(__name__)

SENTENCEPIECE_MODEL = "tokenizer.model"


class SlowLlamaTokenizer(SentencePieceBackend):
    """transformers 4's slow `LlamaTokenizer` (what `use_fast=False` gave for Phi-3.5).

    The settings come from the checkpoint's `tokenizer_config.json`, with transformers 4's
    defaults: a BOS before each text (`add_bos_token`), no EOS, and `legacy` as the file says.
    - `legacy=True`: every piece of text between special tokens is encoded by sentencepiece
      alone, which puts its dummy prefix space before each piece.
    - `legacy=False`: only the start of the text gets that space, never after a special
      token.
    """

    model_input_names = ["input_ids", "attention_mask"]

    def __init__(
        self,
        vocab_file: str,
        *,
        add_bos_token: bool = True,
        add_eos_token: bool = False,
        add_prefix_space: bool = True,
        **kwargs: Any,
    ) -> None:
        self.add_prefix_space = add_prefix_space
        pattern = {(True, False): "bos", (False, True): "eos", (True, True): "bos_eos"}
        kwargs.setdefault("unk_token", "<unk>")
        kwargs.setdefault("bos_token", "<s>")
        kwargs.setdefault("eos_token", "</s>")
        super().__init__(
            vocab_file=vocab_file,
            special_tokens_pattern=pattern.get((add_bos_token, add_eos_token), "none"),
            **kwargs,
        )

    # The signature of PreTrainedTokenizer.tokenize, which transformers' base class types
    # differently from its own Python tokenizers.
    def tokenize(self, text: str, **kwargs: Any) -> list[str]:  # type: ignore[override]
        """transformers 4's non-legacy rule: one prefix space for the whole text, dropped
        when the text opens with a special token."""
        if self.legacy or not text:
            return super().tokenize(text, **kwargs)
        text = text.replace(SPIECE_UNDERLINE, " ")
        if self.add_prefix_space:
            text = SPIECE_UNDERLINE + text
        tokens = super().tokenize(text, **kwargs)
        if (
            len(tokens) > 1
            and tokens[0] == SPIECE_UNDERLINE
            and tokens[1] in self.all_special_tokens
        ):
            tokens = tokens[1:]
        return tokens


def load_llm_tokenizer(directory: Path) -> PreTrainedTokenizerBase:
    """The slow sentencepiece tokenizer where the directory has its model and sentencepiece
    is installed (as the authors ran), else transformers' fast one."""
    if (directory / SENTENCEPIECE_MODEL).is_file():
        if importlib.util.find_spec("sentencepiece") is not None:
            return SlowLlamaTokenizer.from_pretrained(directory)
        logger.info("sentencepiece is not installed: %s uses the fast tokenizer", directory)
    return AutoTokenizer.from_pretrained(directory)
