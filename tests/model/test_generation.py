"""Generation invariants on tiny random models: batching, caching, feature reuse, stopping."""

from __future__ import annotations

import inspect
from dataclasses import dataclass

import pytest
import torch

from model import modeling_florence_vl
from model.decode_steps import resolve_decode_mode, rope_frozen
from model.feature_cache import FeatureCache
from model.generation import FlorenceVLGenerator, GenerationSettings
from model.modeling_florence_vl import GenerationOutput
from tests.model.vlm_fixtures import QUESTIONS, page_images, tiny_florence_vl

# Prompts of different lengths on two pages, interleaved.
REQUESTS = [(0, QUESTIONS[0]), (1, QUESTIONS[1]), (0, QUESTIONS[2]), (1, QUESTIONS[0])]


@pytest.fixture(scope="module", params=["phi3", "llama"])
def vl(request) -> FlorenceVLGenerator:
    return tiny_florence_vl(request.param)


@pytest.fixture(scope="module")
def pages():
    return page_images(2)


@dataclass
class Prepared:
    """The left-padded batch of REQUESTS and each row's image features (B, T, H)."""

    prompts: list[list[int]]
    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    image_features: torch.Tensor


@pytest.fixture(scope="module")
def prepared(vl: FlorenceVLGenerator, pages) -> Prepared:
    prompts = [vl.prompt_ids(question) for _, question in REQUESTS]
    input_ids, attention_mask = vl.batch_prompts(prompts)
    with torch.inference_mode():
        per_page = vl.model.get_image_features(vl.preprocess(pages))  # (2, T, H)
    image_features = per_page[[page for page, _ in REQUESTS]]
    return Prepared(prompts, input_ids, attention_mask, image_features)


def generate(vl: FlorenceVLGenerator, input_ids, attention_mask, image_features, **options):
    options = {"max_new_tokens": 6, "stop_token_ids": vl.stop_token_ids, **options}
    return vl.model.generate(
        input_ids,
        attention_mask,
        image_features=image_features,
        pad_token_id=vl.pad_token_id,
        **options,
    )


def rows(output: GenerationOutput) -> list[list[int]]:
    return [
        seq[:n] for seq, n in zip(output.sequences.tolist(), output.lengths.tolist(), strict=True)
    ]


def test_prompts_are_left_padded(vl: FlorenceVLGenerator, prepared: Prepared) -> None:
    lengths = prepared.attention_mask.sum(1).tolist()
    assert len(set(lengths)) > 1  # the prompts really differ in length
    assert (prepared.attention_mask[:, -1] == 1).all()  # every row ends at the same column
    assert (
        int((prepared.input_ids == vl.config.image_token_index).sum())
        == len(REQUESTS) * vl.config.image_tokens
    )


def test_batched_equals_one_by_one(vl: FlorenceVLGenerator, prepared: Prepared) -> None:
    batched = generate(vl, prepared.input_ids, prepared.attention_mask, prepared.image_features)
    for r, prompt in enumerate(prepared.prompts):
        input_ids, attention_mask = vl.batch_prompts([prompt])
        single = generate(vl, input_ids, attention_mask, prepared.image_features[r : r + 1])
        assert rows(single) == [rows(batched)[r]]
        n = int(single.lengths[0])
        torch.testing.assert_close(single.token_probs[0, :n], batched.token_probs[r, :n])


def test_kv_cache_equals_no_cache(vl: FlorenceVLGenerator, prepared: Prepared) -> None:
    args = (prepared.input_ids, prepared.attention_mask, prepared.image_features)
    cached = generate(vl, *args, use_cache=True)
    uncached = generate(vl, *args, use_cache=False)
    assert rows(cached) == rows(uncached)
    torch.testing.assert_close(cached.token_probs, uncached.token_probs)


def test_sampling_with_seed_is_reproducible(vl: FlorenceVLGenerator, prepared: Prepared) -> None:
    args = (prepared.input_ids, prepared.attention_mask, prepared.image_features)

    def sample(seed: int) -> list[list[int]]:
        generator = torch.Generator().manual_seed(seed)
        options = {"do_sample": True, "temperature": 1.5, "top_p": 0.9, "generator": generator}
        return rows(generate(vl, *args, max_new_tokens=8, **options))

    first = sample(3)
    assert sample(3) == first
    assert sample(4) != first
    assert first != rows(generate(vl, *args, max_new_tokens=8))  # not greedy in disguise


def test_generation_stops_at_stop_token(vl: FlorenceVLGenerator, prepared: Prepared) -> None:
    args = (prepared.input_ids, prepared.attention_mask, prepared.image_features)
    free = generate(vl, *args, stop_token_ids=[-1], max_new_tokens=8)  # no real stop token
    assert free.lengths.tolist() == [8] * len(REQUESTS)
    stop = int(free.sequences[0, 2])  # make row 0's third token the stop token
    stopped = generate(vl, *args, stop_token_ids=[stop], max_new_tokens=8)
    for r, sequence in enumerate(free.sequences.tolist()):
        n = sequence.index(stop) + 1 if stop in sequence else 8
        assert int(stopped.lengths[r]) == n
        assert stopped.sequences[r, :n].tolist() == sequence[:n]
        assert (stopped.sequences[r, n:] == vl.pad_token_id).all()
        assert (stopped.token_probs[r, n:] == 0).all()
    assert int(stopped.lengths[0]) <= 3


def test_mismatched_placeholder_count_raises(vl: FlorenceVLGenerator, prepared: Prepared) -> None:
    tokens = vl.config.image_tokens
    input_ids, _ = vl.batch_prompts([prepared.prompts[0] * 2])  # two placeholders in one prompt
    with (
        torch.inference_mode(),
        pytest.raises(ValueError, match=f"{2 * tokens} image positions.*{tokens} image"),
    ):
        vl.model(input_ids, image_features=prepared.image_features[:1])


def test_answer_shared_prefix_equals_full_prompts(vl: FlorenceVLGenerator, pages) -> None:
    """The cached path (a page's prefix prefilled once, padding between prefix and question)
    gives what full prompts recomputed at every step give."""
    shared = vl.answer(pages, REQUESTS, settings=GenerationSettings(6), batch_size=4)
    full = vl.answer(pages, REQUESTS, settings=GenerationSettings(6, use_cache=False), batch_size=4)
    assert [a.token_ids for a in shared] == [a.token_ids for a in full]
    for a, b in zip(shared, full, strict=True):
        assert a.confidence == pytest.approx(b.confidence, abs=1e-5)


def test_answer_batched_equals_one_by_one_in_request_order(vl: FlorenceVLGenerator, pages) -> None:
    batched = vl.answer(pages, REQUESTS, settings=GenerationSettings(6), batch_size=4)
    single = vl.answer(pages, REQUESTS[::-1], settings=GenerationSettings(6), batch_size=1)
    assert [a.token_ids for a in batched] == [a.token_ids for a in single[::-1]]
    assert [a.text for a in batched] == [a.text for a in single[::-1]]


def test_vision_features_computed_once_per_page(
    vl: FlorenceVLGenerator, pages, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[int] = []
    tower = vl.model.vision_tower
    original = tower.forward

    def counting_forward(pixel_values):
        seen.append(pixel_values.shape[0])
        return original(pixel_values)

    monkeypatch.setattr(tower, "forward", counting_forward)
    vl.feature_cache.clear()
    requests = [*REQUESTS, (0, "Anything else?")]
    answers = vl.answer(pages, requests, settings=GenerationSettings(2))
    assert len(answers) == 5
    assert sum(seen) == len(pages)  # 5 questions, 2 pages: 2 images through the tower
    assert all(0.0 < a.confidence <= 1.0 and isinstance(a.text, str) for a in answers)

    # Asked again (the same pages as new objects, as a worker reads them): no tower at all.
    again = vl.answer([p.copy() for p in pages], requests, settings=GenerationSettings(2))
    assert sum(seen) == len(pages)
    assert [a.token_ids for a in again] == [a.token_ids for a in answers]
    other = page_images(3)[2]
    vl.answer([pages[0], other], [(0, QUESTIONS[0]), (1, QUESTIONS[0])])
    assert sum(seen) == len(pages) + 1 and seen[-1] == 1  # only the page not seen before
    assert len(vl.feature_cache) == 3


def test_the_feature_cache_forgets_the_least_recently_used_page(pages) -> None:
    vl = tiny_florence_vl("phi3")
    vl.feature_cache = FeatureCache(capacity=1)
    calls: list[int] = []
    original = vl.model.get_image_features
    vl.model.get_image_features = lambda x: calls.append(len(x)) or original(x)  # type: ignore[method-assign]
    for page in (0, 0, 1, 0):
        vl.answer(pages, [(page, QUESTIONS[0])], settings=GenerationSettings(1))
    assert calls == [1, 1, 1]  # page 0, (cached), page 1 evicts 0, page 0 again
    with pytest.raises(ValueError, match="capacity"):
        FeatureCache(capacity=-1)


def test_prompt_follows_the_training_template(vl: FlorenceVLGenerator) -> None:
    text = vl.template.prompt("What is the total?")
    if vl.template.name == "phi3":
        assert text == (
            "<|system|>\nYou are a helpful AI assistant.<|end|>\n<|user|>\n<image>\n"
            "What is the total?<|end|>\n<|assistant|>\n"
        )
    else:
        assert text.startswith("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n")
        assert text.endswith(
            "<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n<image>\nWhat is the total?"
            "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"
        )
    ids = vl.prompt_ids("What is the total?")
    assert ids.count(vl.config.image_token_index) == 1
    markup = [vl.llm_tokenizer.convert_tokens_to_ids(t) for t in vl.template.special_tokens]
    assert all(token in ids for token in markup)  # each markup piece is a single token
    sep = vl.llm_tokenizer.convert_tokens_to_ids(vl.template.sep)
    assert sep in vl.stop_token_ids and vl.llm_tokenizer.eos_token_id in vl.stop_token_ids


def test_answer_names_bad_image_index(vl: FlorenceVLGenerator, pages) -> None:
    with pytest.raises(ValueError, match=r"\[5\].*2 images"):
        vl.answer(pages, [(5, "What?")])


@pytest.mark.parametrize("sample", [False, True], ids=["greedy", "sampled"])
def test_static_cache_decoding_equals_the_growing_cache(
    vl: FlorenceVLGenerator, prepared: Prepared, sample: bool
) -> None:
    """The static cache (the CUDA-graph path, run eagerly here) sees the same context at every
    step as the growing cache: left padding, positions and the mask over unwritten slots."""
    args = (prepared.input_ids, prepared.attention_mask, prepared.image_features)

    def run(decode: str) -> GenerationOutput:
        options = {"do_sample": sample, "temperature": 1.5, "top_p": 0.9}
        return generate(vl, *args, max_new_tokens=8, decode=decode, stop_token_ids=[-1],
                        generator=torch.Generator().manual_seed(5), **options)  # fmt: skip

    static, dynamic = run("static"), run("dynamic")
    assert rows(static) == rows(dynamic)
    torch.testing.assert_close(static.token_probs, dynamic.token_probs)


def test_answer_with_static_decoding_equals_full_prompts(vl: FlorenceVLGenerator, pages) -> None:
    """Through `answer`: the shared-prefix cache is copied into the static cache."""
    static = vl.answer(pages, REQUESTS, settings=GenerationSettings(6, decode="static"))
    full = vl.answer(pages, REQUESTS, settings=GenerationSettings(6, use_cache=False))
    assert [a.token_ids for a in static] == [a.token_ids for a in full]


def test_stopping_checked_every_few_tokens_changes_no_answer(
    vl: FlorenceVLGenerator, prepared: Prepared, monkeypatch: pytest.MonkeyPatch
) -> None:
    args = (prepared.input_ids, prepared.attention_mask, prepared.image_features)
    free = generate(vl, *args, stop_token_ids=[-1], max_new_tokens=8)
    stops = sorted(set(free.sequences[:, 1].tolist()))  # every row stops by its second token
    every_token = generate(vl, *args, stop_token_ids=stops, max_new_tokens=8)
    monkeypatch.setattr(modeling_florence_vl, "stop_check_interval", lambda device: 5)
    every_fifth = generate(vl, *args, stop_token_ids=stops, max_new_tokens=8)
    assert rows(every_fifth) == rows(every_token)
    assert every_token.sequences.shape[1] <= 2
    assert every_fifth.sequences.shape[1] == 5  # ran on to the first check, padding only
    assert (every_fifth.token_probs[:, 2:] == 0).all()


@pytest.mark.parametrize(
    ("mode", "device", "attention", "message"),
    [
        ("graph", "cpu", "sdpa", "needs a CUDA device"),
        ("static", "cuda", "eager", "needs SDPA attention"),
        ("fast", "cpu", "sdpa", "must be one of auto, dynamic, static, graph"),
    ],
)
def test_impossible_decode_modes_are_refused(mode, device, attention, message) -> None:
    with pytest.raises(ValueError, match=message):
        resolve_decode_mode(mode, torch.device(device), attention)


def test_auto_decoding_picks_graphs_on_a_gpu_only() -> None:
    assert resolve_decode_mode("auto", torch.device("cuda"), "sdpa") == "graph"
    assert resolve_decode_mode("auto", torch.device("cuda"), "flash_attention_2") == "dynamic"
    assert resolve_decode_mode("auto", torch.device("cpu"), "sdpa") == "dynamic"


def test_longrope_runs_undecorated_only_where_its_switch_cannot_fire() -> None:
    """Capturing a CUDA graph needs Phi-3.5's longrope without its per-call length check,
    which is safe only while no position can reach the pretraining length (4,096)."""
    llm = tiny_florence_vl("phi3").model.language_model
    (rotary,) = [m for m in llm.modules() if getattr(m, "rope_type", None) == "longrope"]
    x, positions = torch.randn(1, 3, 16), torch.arange(3)[None]
    expected = rotary(x, positions)
    with rope_frozen(llm, positions=4096):
        assert vars(rotary)["forward"].__func__ is inspect.unwrap(type(rotary).forward)
        frozen = rotary(x, positions)
    assert "forward" not in vars(rotary)  # the decorated forward is back
    with rope_frozen(llm, positions=4097):
        assert "forward" not in vars(rotary)
    for got, want in zip(frozen, expected, strict=True):
        torch.testing.assert_close(got, want)
