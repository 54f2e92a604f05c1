"""Florence-2's tokenizer: the real one (BART byte-level BPE plus Florence-2's added tokens) and a
small offline stand-in with the same special-token layout for tests and tiny random models.

The original Florence-2 processor adds its tokens to BART's 50,265 at load time, in this order:
``<od> </od> <ocr> </ocr>``, ``<loc_0>``..``<loc_999>``, then 20 task markers, giving the
checkpoints' vocabulary of 51,289. The ids of ``<loc_N>`` depend on that order, so both
tokenizers here add the same list the same way. Prompts are tokenized as the original does:
``<s> prompt </s>``, right-padded with ``<pad>`` (id 1).
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Sequence
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlparse

import huggingface_hub
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from torch import Tensor
from transformers import AutoTokenizer, PreTrainedTokenizerBase, PreTrainedTokenizerFast

logger = logging.getLogger(__name__)

_Tokenizer = TypeVar("_Tokenizer", bound=PreTrainedTokenizerBase)

# BART's special tokens, ids 0..3.
BART_SPECIAL_TOKENS = ("<s>", "<pad>", "</s>", "<unk>")
NUM_LOCATION_BINS = 1000
LOCATION_TOKENS = tuple(f"<loc_{index}>" for index in range(NUM_LOCATION_BINS))
FLORENCE2_ADDED_TOKENS: tuple[str, ...] = (
    ("<od>", "</od>", "<ocr>", "</ocr>")
    + LOCATION_TOKENS
    + ("<cap>", "</cap>", "<ncap>", "</ncap>", "<dcap>", "</dcap>", "<grounding>", "</grounding>")
    + ("<seg>", "</seg>", "<sep>", "<region_cap>", "</region_cap>")
    + ("<region_to_desciption>", "</region_to_desciption>")  # sic: the original spelling
    + ("<proposal>", "</proposal>", "<poly>", "</poly>", "<and>")
)

# Text the offline tokenizer is trained on: Florence-VL's and Florence-2's prompts plus a little
# document vocabulary, enough that prompts become a handful of tokens rather than bytes.
_TRAINING_TEXT = (
    "Describe in detail what is shown in the image.",
    "What is the text in the image?",
    "Locate the objects in the image, with their descriptions.",
    "What is the text in the image, with regions?",
    "Locate the objects with category name in the image.",
    "Locate the phrases in the caption: a table with a total amount",
    "What does the image describe? Describe with a paragraph what is shown in the image.",
    "Invoice number date total amount due page table figure caption header footer signature.",
    "The quick brown fox jumps over the lazy dog. 0123456789 $ % , . : ; ( ) - /",
)


def build_offline_florence2_tokenizer(
    extra_text: Sequence[str] = (), *, vocab_size: int = 600
) -> PreTrainedTokenizerFast:
    """A small byte-level BPE with Florence-2's special and added tokens, built offline.

    Ids 0..3 are ``<s> <pad> </s> <unk>`` as in BART; Florence-2's added tokens follow the
    trained vocabulary in the original order. The text vocabulary has nothing to do with BART's:
    use it only with random weights.
    """
    if vocab_size <= len(BART_SPECIAL_TOKENS) + 256:
        raise ValueError(f"vocab_size must exceed the 4 specials + 256 bytes, got {vocab_size}")
    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(BART_SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator([*_TRAINING_TEXT, *extra_text], trainer=trainer)
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>",
        pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", 0), ("</s>", 2)],
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        unk_token="<unk>",
        padding_side="right",
    )
    return _with_florence2_tokens(fast)


def load_florence2_tokenizer(id_or_path: str | Path) -> PreTrainedTokenizerBase:
    """Load a Florence-2 tokenizer from a local directory, the hub cache or the hub.

    Fails at once with a clear OSError when the files are neither local nor cached and the hub
    is unreachable or offline mode is on, instead of retrying for a minute.
    """
    if Path(id_or_path).is_dir():
        return _with_florence2_tokens(AutoTokenizer.from_pretrained(id_or_path))
    repo_id = str(id_or_path)
    try:
        return _with_florence2_tokens(AutoTokenizer.from_pretrained(repo_id, local_files_only=True))
    except OSError:
        logger.info("Florence-2 tokenizer %s is not in the local cache", repo_id)
    if huggingface_hub.is_offline_mode():
        raise OSError(
            f"Florence-2 tokenizer {repo_id!r} is not a local directory nor cached, and "
            "HF_HUB_OFFLINE is set; download it first or pass a local path"
        )
    if not _hub_reachable():
        raise OSError(
            f"Florence-2 tokenizer {repo_id!r} is not a local directory nor cached, and "
            f"{huggingface_hub.constants.ENDPOINT} is unreachable; download it first or pass "
            "a local path"
        )
    return _with_florence2_tokens(AutoTokenizer.from_pretrained(repo_id))


# The three Florence-VL prompts in Florence-2's own (BART) vocabulary, ``<s> ... </s>``, as
# the authors' code hard-codes them (shared/reference's `task_ids`).
RELEASED_PROMPT_IDS: dict[str, tuple[int, ...]] = {
    "caption": (0, 47066, 21700, 11, 4617, 99, 16, 2343, 11, 5, 2274, 4, 2),
    "ocr": (0, 2264, 16, 5, 2788, 11, 5, 2274, 116, 2),
    "regions": (0, 574, 22486, 5, 8720, 11, 5, 2274, 6, 19, 49, 24173, 4, 2),
}
BART_VOCAB_SIZE = 50265  # Florence-2's tokenizer is BART's plus its added tokens


def has_bart_vocabulary(tokenizer: PreTrainedTokenizerBase) -> bool:
    """Florence-2's real tokenizer (not the small offline one of the tiny model)."""
    return len(tokenizer) >= BART_VOCAB_SIZE


def check_released_prompt_ids(names: Sequence[str], input_ids: Tensor, mask: Tensor) -> None:
    """The prompts must reach the tower as exactly the ids the released model was trained
    with: another tokenizer version or an edited prompt text would change its features
    without any error."""
    for name, ids, keep in zip(names, input_ids, mask, strict=True):
        got = tuple(ids[keep.bool()].tolist())
        if got != RELEASED_PROMPT_IDS[name]:
            raise ValueError(
                f"the {name!r} prompt tokenizes to {list(got)}, not to the released model's "
                f"{list(RELEASED_PROMPT_IDS[name])}: use Florence-2-large's own tokenizer"
            )


def tokenize_prompts(
    tokenizer: PreTrainedTokenizerBase, prompts: Sequence[str]
) -> tuple[Tensor, Tensor]:
    """Prompts -> ((P, L) ids, (P, L) mask): ``<s> prompt </s>``, right-padded to the longest."""
    if not prompts:
        raise ValueError("tokenize_prompts needs at least one prompt, got none")
    if tokenizer.padding_side != "right":
        raise ValueError(
            f"Florence-2 prompts are right-padded, tokenizer pads {tokenizer.padding_side}"
        )
    encoded = tokenizer(list(prompts), padding="longest", return_tensors="pt")
    input_ids, attention_mask = encoded["input_ids"], encoded["attention_mask"]
    last = attention_mask.sum(dim=1) - 1
    if not (
        (input_ids[:, 0] == tokenizer.bos_token_id).all()
        and (input_ids.gather(1, last[:, None]) == tokenizer.eos_token_id).all()
    ):
        raise ValueError(f"tokenizer did not wrap prompts as <s> ... </s>: {input_ids.tolist()}")
    return input_ids, attention_mask


def _with_florence2_tokens(tokenizer: _Tokenizer) -> _Tokenizer:
    """Add Florence-2's tokens as the original processor does, unless the files have them."""
    vocab = tokenizer.get_vocab()
    missing = [token for token in FLORENCE2_ADDED_TOKENS if token not in vocab]
    if missing and len(missing) != len(FLORENCE2_ADDED_TOKENS):
        raise ValueError(
            f"tokenizer has only some of Florence-2's added tokens ({len(missing)} missing, "
            f"first {missing[0]!r}); its <loc_N> ids would not match the checkpoints"
        )
    if missing:
        tokenizer.add_special_tokens(
            {"additional_special_tokens": list(FLORENCE2_ADDED_TOKENS)},
            replace_extra_special_tokens=False,
        )
    for name, token_id in zip(BART_SPECIAL_TOKENS, range(4), strict=True):
        if tokenizer.convert_tokens_to_ids(name) != token_id:
            raise ValueError(
                f"{name} has id {tokenizer.convert_tokens_to_ids(name)}, BART expects {token_id}"
            )
    return tokenizer


def _hub_reachable(timeout_s: float = 3.0) -> bool:
    host = urlparse(huggingface_hub.constants.ENDPOINT).hostname or "huggingface.co"
    try:
        with socket.create_connection((host, 443), timeout=timeout_s):
            return True
    except OSError:
        return False
