"""Florence-2 tasks: prompt table, the location parser, the tokenizer, and run_task end to end."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import torch
from tokenizers import Tokenizer, models
from transformers import PreTrainedTokenizerFast

from model import florence2_tokenizer
from model.florence2_tasks import (
    FLORENCE2_TASKS,
    Located,
    parse_locations,
    run_task,
    task_prompt,
)
from model.florence2_tokenizer import (
    FLORENCE2_ADDED_TOKENS,
    build_offline_florence2_tokenizer,
    check_released_prompt_ids,
    has_bart_vocabulary,
    load_florence2_tokenizer,
    tokenize_prompts,
)
from model.vision_tower import FLORENCE_VL_PROMPTS, FlorenceVisionTower


@pytest.fixture(scope="module")
def tokenizer():
    return build_offline_florence2_tokenizer()


def _flat(values) -> list[float]:
    return [v for value in values for v in (_flat(value) if isinstance(value, tuple) else [value])]


def _approx(values, expected) -> None:
    assert _flat(values) == pytest.approx(_flat(expected), abs=1e-12)


def test_task_prompts_are_the_processor_table() -> None:
    assert task_prompt("<OCR>") == "What is the text in the image?"
    assert task_prompt("<OD>") == "Locate the objects with category name in the image."
    assert (
        task_prompt("<CAPTION_TO_PHRASE_GROUNDING>", " a red car ")
        == "Locate the phrases in the caption: a red car"
    )
    assert FLORENCE2_TASKS["<OCR_WITH_REGION>"].output == "quads"
    with pytest.raises(ValueError, match="needs text"):
        task_prompt("<CAPTION_TO_PHRASE_GROUNDING>")
    with pytest.raises(ValueError, match="takes no text"):
        task_prompt("<OCR>", "hello")
    with pytest.raises(ValueError, match="<NOPE>"):
        task_prompt("<NOPE>")


def test_ocr_lines_become_quads() -> None:
    text = (
        "</s><s>TOTAL 12.00<loc_100><loc_200><loc_300><loc_200><loc_300><loc_250>"
        "<loc_100><loc_250>Date: 1/2<loc_0><loc_0><loc_999><loc_0><loc_999><loc_9>"
        "<loc_0><loc_9></s>"
    )
    result = parse_locations(text, "<OCR_WITH_REGION>", (640, 480))
    assert not result.truncated
    assert [item.label for item in result.items] == ["TOTAL 12.00", "Date: 1/2"]
    first = result.items[0]
    _approx(first.quad, ((0.1005, 0.2005), (0.3005, 0.2005), (0.3005, 0.2505), (0.1005, 0.2505)))
    _approx(first.box, (0.1005, 0.2005, 0.3005, 0.2505))
    _approx(result.items[1].box, (0.0005, 0.0005, 0.9995, 0.0095))


def test_boxes_with_labels_and_repeated_boxes() -> None:
    text = (
        "<s>person<loc_0><loc_10><loc_999><loc_990><loc_20><loc_30><loc_40><loc_50>"
        "red car<loc_500><loc_700><loc_600><loc_500></s>"
    )
    result = parse_locations(text, "<OD>")
    assert not result.truncated
    assert result.items == (
        Located("person", pytest.approx((0.0005, 0.0105, 0.9995, 0.9905))),
        Located("person", pytest.approx((0.0205, 0.0305, 0.0405, 0.0505))),
        # corners given out of order still make a valid box
        Located("red car", pytest.approx((0.5005, 0.5005, 0.6005, 0.7005))),
    )


def test_bin_to_pixel_matches_the_florence2_formula() -> None:
    width, height = 1700, 2200
    result = parse_locations("a<loc_123><loc_456><loc_789><loc_999>", "<OD>", (width, height))
    x0, y0, x1, y1 = result.items[0].box
    assert x0 * width == pytest.approx((123 + 0.5) * width / 1000)
    assert y1 * height == pytest.approx((999 + 0.5) * height / 1000)
    assert (x1, y0) == pytest.approx(((789 + 0.5) / 1000, (456 + 0.5) / 1000))


def test_padded_square_maps_back_to_the_image() -> None:
    # A 200x100 image centred in a 200x200 square: y in the square = 50 + y_image.
    result = parse_locations(
        "row<loc_0><loc_250><loc_999><loc_749>", "<OD>", (200, 100), resize_mode="pad"
    )
    _approx(
        result.items[0].box, ((0.5 * 0.2) / 200, (50.1 - 50) / 100, 199.9 / 200, (149.9 - 50) / 100)
    )
    with pytest.raises(ValueError, match="image size"):
        parse_locations("a<loc_1><loc_1><loc_2><loc_2>", "<OD>", resize_mode="pad")


@pytest.mark.parametrize(
    "tail",
    [
        "Date<loc_1><loc_2><loc_3><loc_4><loc_5>",  # a line with only 5 of its 8 locations
        "Date<loc_1><loc_2><loc_",  # a location token cut off
        "Date",  # text whose locations never came
    ],
)
def test_truncated_ocr_keeps_complete_lines(tail: str) -> None:
    complete = "TOTAL<loc_1><loc_2><loc_3><loc_2><loc_3><loc_4><loc_1><loc_4>"
    result = parse_locations("<s>" + complete + tail, "<OCR_WITH_REGION>")
    assert result.truncated
    assert [item.label for item in result.items] == ["TOTAL"]


def test_truncated_box() -> None:
    result = parse_locations("<s>car<loc_5><loc_6><loc_7><loc_8>bus<loc_1><loc_2>", "<OD>")
    assert result.truncated
    assert [item.label for item in result.items] == ["car"]


def test_pure_text_task_keeps_the_text() -> None:
    result = parse_locations("</s><s>INVOICE No. 42</s><pad><pad>", "<OCR>")
    assert result == type(result)("<OCR>", "INVOICE No. 42", (), False)


def test_offline_tokenizer_has_the_florence2_layout(tokenizer) -> None:
    assert [tokenizer.convert_tokens_to_ids(t) for t in ("<s>", "<pad>", "</s>", "<unk>")] == [
        0,
        1,
        2,
        3,
    ]
    ids = tokenizer.convert_tokens_to_ids(list(FLORENCE2_ADDED_TOKENS))
    assert ids == list(range(ids[0], ids[0] + len(FLORENCE2_ADDED_TOKENS)))
    assert tokenizer.convert_tokens_to_ids("<loc_0>") == ids[0] + 4
    encoded = tokenizer("x<loc_7><loc_999>", add_special_tokens=False)["input_ids"]
    assert tokenizer.convert_ids_to_tokens(encoded[-2:]) == ["<loc_7>", "<loc_999>"]


def test_prompts_are_tokenized_like_the_reference(tokenizer, tiny_io) -> None:
    input_ids, attention_mask = tokenize_prompts(tokenizer, list(FLORENCE_VL_PROMPTS.values()))
    # Same layout as the reference task_ids: <s> ... </s>, right-padded with <pad> (1).
    for ids, mask in zip(input_ids.tolist(), attention_mask.tolist(), strict=True):
        length = sum(mask)
        assert mask == [1] * length + [0] * (len(mask) - length)
        assert ids[0] == 0 and ids[length - 1] == 2 and set(ids[length:]) <= {1}
    reference = tiny_io["task_ids"]
    assert (reference[:, 0] == 0).all() and (reference == 2).sum(dim=1).tolist() == [1, 1, 1]
    assert reference[1, -4:].tolist() == [1, 1, 1, 1]


def test_saved_tokenizer_loads_back(tokenizer, tmp_path: Path) -> None:
    tokenizer.save_pretrained(tmp_path)
    loaded = load_florence2_tokenizer(tmp_path)
    prompts = list(FLORENCE_VL_PROMPTS.values())
    assert torch.equal(
        tokenize_prompts(loaded, prompts)[0], tokenize_prompts(tokenizer, prompts)[0]
    )


def _plain_bart_like_tokenizer(extra_tokens: list[str]) -> PreTrainedTokenizerFast:
    """A BART-like tokenizer without Florence-2's tokens, as the original hub repos ship it."""
    vocab = {
        token: index for index, token in enumerate(["<s>", "<pad>", "</s>", "<unk>", "a", "b"])
    }
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, bos_token="<s>", eos_token="</s>", pad_token="<pad>"
    )
    tokenizer.add_tokens(extra_tokens)
    return tokenizer


def test_loading_adds_florence2_tokens_in_the_original_order(tmp_path: Path) -> None:
    _plain_bart_like_tokenizer([]).save_pretrained(tmp_path)
    loaded = load_florence2_tokenizer(tmp_path)
    assert loaded.convert_tokens_to_ids(["<od>", "<loc_0>", "<loc_999>", "<and>"]) == [
        6,
        10,
        1009,
        1029,
    ]


def test_loading_refuses_a_partial_florence2_vocabulary(tmp_path: Path) -> None:
    _plain_bart_like_tokenizer(["<od>", "</od>"]).save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="only some"):
        load_florence2_tokenizer(tmp_path)


def test_unreachable_hub_fails_fast(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(florence2_tokenizer, "_hub_reachable", lambda: False)
    started = time.monotonic()
    with pytest.raises(OSError, match="docfuse-test/no-such-tokenizer"):
        load_florence2_tokenizer("docfuse-test/no-such-tokenizer")
    assert time.monotonic() - started < 10


def test_run_task_end_to_end(tiny_tower: FlorenceVisionTower, tokenizer, tiny_io) -> None:
    """Random weights give meaningless text; this checks the call path and the limit flag."""
    pixel_values = tiny_io["pixel_values"][..., ::2, ::2]  # 384x384 keeps the test fast
    results = run_task(
        tiny_tower.florence2,
        tokenizer,
        pixel_values,
        "<OCR_WITH_REGION>",
        max_new_tokens=4,
        num_beams=2,
    )
    assert len(results) == 1
    assert results[0].task == "<OCR_WITH_REGION>" and isinstance(results[0].text, str)
    assert results[0].truncated  # a random model does not stop within 4 tokens
    with pytest.raises(ValueError, match="1..1023"):
        run_task(tiny_tower.florence2, tokenizer, pixel_values, "<OCR>", max_new_tokens=1024)


def test_the_released_prompt_ids_are_the_reference_s_and_checked(tokenizer, tiny_io) -> None:
    reference = tiny_io["task_ids"]  # computed with Florence-2's own tokenizer
    names = ("caption", "ocr", "regions")
    mask = reference != 1
    mask[:, 0] = True
    check_released_prompt_ids(names, reference, mask)  # the pinned ids are the reference's
    edited = reference.clone()
    edited[1, 4] = 5  # one token of the OCR prompt differs
    with pytest.raises(ValueError, match=r"'ocr' prompt tokenizes to \[0, 2264, 16, 5, 5,"):
        check_released_prompt_ids(names, edited, mask)
    assert not has_bart_vocabulary(tokenizer)  # the tiny model's offline one is not checked
