"""Generation invariants on tiny random models: batching, caching, feature reuse, stopping."""

from __future__ import annotations

import pytest
import torch

from model.generation import FlorenceVL, GenerationSettings
from tests.model.vlm_fixtures import QUESTIONS, page_images, tiny_florence_vl

SHORT = GenerationSettings(max_new_tokens=6)


@pytest.fixture(scope="module", params=["phi3", "llama"])
def vl(request) -> FlorenceVL:
    return tiny_florence_vl(request.param)


@pytest.fixture(scope="module")
def pages():
    return page_images(2)


def requests() -> list[tuple[int, str]]:
    # Prompts of different lengths on two pages, interleaved.
    return [(0, QUESTIONS[0]), (1, QUESTIONS[1]), (0, QUESTIONS[2]), (1, QUESTIONS[0])]


def test_batched_equals_one_by_one(vl: FlorenceVL, pages) -> None:
    batched = vl.answer(pages, requests(), settings=SHORT, batch_size=4)
    single = vl.answer(pages, requests(), settings=SHORT, batch_size=1)
    assert [a.token_ids for a in batched] == [a.token_ids for a in single]
    assert [a.text for a in batched] == [a.text for a in single]
    for a, b in zip(batched, single, strict=True):
        assert a.confidence == pytest.approx(b.confidence, abs=1e-5)
        assert 0.0 < a.confidence <= 1.0


def test_kv_cache_equals_no_cache(vl: FlorenceVL, pages) -> None:
    cached = vl.answer(pages, requests(), settings=SHORT)
    uncached = vl.answer(
        pages, requests(), settings=GenerationSettings(max_new_tokens=6, use_cache=False)
    )
    assert [a.token_ids for a in cached] == [a.token_ids for a in uncached]


def test_vision_features_computed_once_per_page(
    vl: FlorenceVL, pages, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[int] = []
    tower = vl.model.vision_tower
    original = tower.forward

    def counting_forward(pixel_values):
        seen.append(pixel_values.shape[0])
        return original(pixel_values)

    monkeypatch.setattr(tower, "forward", counting_forward)
    vl.answer(pages, requests() + [(0, "Anything else?")], settings=GenerationSettings(2))
    assert sum(seen) == len(pages)  # 5 questions, 2 pages: 2 images through the tower


def test_mismatched_placeholder_count_raises(vl: FlorenceVL, pages) -> None:
    tokens = vl.config.image_tokens
    ids = vl.prompt_ids(QUESTIONS[0])  # one `<image>`, expanded to `tokens` positions
    input_ids, _ = vl._left_pad([ids + ids])  # two placeholders, features for one image
    with torch.inference_mode():
        image_features = vl.model.get_image_features(vl.preprocess(pages[:1]))
        with pytest.raises(ValueError, match=f"{2 * tokens} image positions.*{tokens} image"):
            vl.model(input_ids, image_features=image_features)


def test_sampling_with_seed_is_reproducible(vl: FlorenceVL, pages) -> None:
    def sample(seed: int) -> list[tuple[int, ...]]:
        settings = GenerationSettings(
            max_new_tokens=8, do_sample=True, temperature=1.5, top_p=0.9, seed=seed
        )
        return [a.token_ids for a in vl.answer(pages, requests(), settings=settings)]

    first = sample(3)
    assert sample(3) == first
    assert sample(4) != first
    greedy = [a.token_ids for a in vl.answer(pages, requests(), settings=GenerationSettings(8))]
    assert first != greedy


def test_generation_stops_at_stop_token(vl: FlorenceVL, pages) -> None:
    input_ids, attention_mask = vl._left_pad([vl.prompt_ids(QUESTIONS[0]), vl.prompt_ids("Date?")])
    with torch.inference_mode():
        image_features = vl.model.get_image_features(vl.preprocess(pages))

        def generate(stop_token_ids: list[int]):
            return vl.model.generate(
                input_ids,
                attention_mask,
                image_features=image_features,
                stop_token_ids=stop_token_ids,
                pad_token_id=vl.pad_token_id,
                max_new_tokens=8,
            )

        free = generate([-1])  # no real stop: 8 tokens each
        assert free.lengths.tolist() == [8, 8]
        stop = int(free.sequences[0, 2])  # make row 0's third token the stop token
        stopped = generate([stop])
    first = free.sequences[0].tolist().index(stop)
    assert int(stopped.lengths[0]) == first + 1
    assert stopped.sequences[0, : first + 1].tolist() == free.sequences[0, : first + 1].tolist()
    assert (stopped.sequences[0, first + 1 :] == vl.pad_token_id).all()
    assert (stopped.token_probs[0, first + 1 :] == 0).all()
    if stop not in free.sequences[1].tolist():  # the other row runs on untouched
        assert stopped.sequences[1].tolist() == free.sequences[1].tolist()


def test_answer_names_bad_image_index(vl: FlorenceVL, pages) -> None:
    with pytest.raises(ValueError, match=r"\[5\].*2 images"):
        vl.answer(pages, [(5, "What?")])
