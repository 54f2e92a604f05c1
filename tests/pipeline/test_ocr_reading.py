"""How docfuse reads a page with RapidOCR: upright pages without the angle classifier, a
turned page read again with it, the threads a process is given, each line recognised on
its own, and pages that read poorly."""

from __future__ import annotations

import io
import os
from typing import Any

import numpy as np
import pytest
from PIL import Image

from app.samples import write_samples
from pipeline import ocr
from pipeline.types import Box, Word


@pytest.fixture(scope="module")
def receipt(tmp_path_factory: pytest.TempPathFactory) -> Image.Image:
    path = next(p for p in write_samples(tmp_path_factory.mktemp("samples")) if p.suffix == ".png")
    return Image.open(io.BytesIO(path.read_bytes())).convert("RGB")


class _Spy:
    """The real engine, remembering whether each call used the angle classifier."""

    def __init__(self) -> None:
        self.engine = ocr.ocr_engine(1)
        self.classifier: list[bool] = []

    def __call__(self, pixels: np.ndarray, **switches: Any) -> Any:
        self.classifier.append(switches["use_cls"])
        return self.engine(pixels, **switches)


def test_an_upright_page_is_read_once_without_the_angle_classifier(receipt: Image.Image) -> None:
    spy = _Spy()
    result = ocr.read_page(np.asarray(receipt), spy)
    assert spy.classifier == [False]
    assert ocr.mean_confidence(result.scores) >= ocr.POOR_CONFIDENCE
    assert any("14/10/2026" in text for text in result.txts)


def test_a_page_upside_down_is_read_again_with_the_classifier(receipt: Image.Image) -> None:
    spy = _Spy()
    result = ocr.read_page(np.asarray(receipt.rotate(180)), spy)
    assert spy.classifier == [False, True]
    assert ocr.mean_confidence(result.scores) >= ocr.POOR_CONFIDENCE
    assert any("14/10/2026" in text for text in result.txts), result.txts


def test_onnxruntime_gets_the_threads_the_process_is_given(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert ocr.compute_threads() == 1
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert ocr.compute_threads() == len(os.sched_getaffinity(0))
    engine = ocr.ocr_engine(1)
    assert engine.cfg.EngineConfig.onnxruntime.intra_op_num_threads == 1
    assert engine.cfg.Det.limit_side_len == ocr.DET_LONG_SIDE and not engine.cfg.Global.use_cls
    # no line is padded beyond a square: a short line is read at its own width, not 320 px
    assert list(engine.cfg.Rec.rec_img_shape)[1:] == [ocr.REC_LINE_HEIGHT] * 2


def _words(*confidences: float) -> list[Word]:
    return [Word("w", Box(0, 0.1, 0.1, 0.2, 0.2), c) for c in confidences]


def test_a_page_reads_poorly_with_hardly_any_words_or_unsure_ones() -> None:
    assert not ocr.reads_poorly(_words(0.99, 0.9, 0.8))
    assert ocr.reads_poorly(_words(0.99, 0.99))  # hardly any words
    assert ocr.reads_poorly(_words(0.9, 0.8, 0.7, 0.9))  # mean 0.825
    assert ocr.reads_poorly([])


def test_a_line_reads_the_same_whatever_lines_share_its_batch(receipt: Image.Image) -> None:
    """Each line goes to the recogniser alone and unpadded: a short line's reading does not
    depend on a long line read beside it (RapidOCR's defaults pad a batch to its widest)."""
    from rapidocr.ch_ppocr_rec import TextRecInput

    pixels = np.asarray(receipt)
    result = ocr.read_page(pixels, ocr.ocr_engine(1))
    crops = [_crop(pixels, box) for box in result.boxes]
    widths = [crop.shape[1] / crop.shape[0] for crop in crops]
    short, long = crops[widths.index(min(widths))], crops[widths.index(max(widths))]
    recogniser = ocr.ocr_engine(1).text_rec
    alone = recogniser(TextRecInput(img=[short]))
    beside = recogniser(TextRecInput(img=[short, long]))
    assert alone.txts[0].strip() and alone.txts[0] == beside.txts[0]
    assert alone.scores[0] == beside.scores[0]


def _crop(pixels: np.ndarray, polygon: Any) -> np.ndarray:
    """The upright rectangle around a line's polygon."""
    xs, ys = [int(x) for x, _ in polygon], [int(y) for _, y in polygon]
    return np.ascontiguousarray(pixels[min(ys) : max(ys) + 1, min(xs) : max(xs) + 1])


def test_a_large_scan_is_detected_at_a_finer_scale() -> None:
    """RapidOCR shrinks a scan over LARGE_SCAN pixels to that size; detecting it at 960 px
    then loses thin strokes, so such a page is detected at DET_LONG_SIDE_LARGE_SCAN."""
    detection = {
        size: ocr.page_engine(np.zeros((size, size // 2, 3), np.uint8), 1).cfg.Det.limit_side_len
        for size in (ocr.LARGE_SCAN, ocr.LARGE_SCAN + 1)
    }
    assert detection == {
        ocr.LARGE_SCAN: ocr.DET_LONG_SIDE,
        ocr.LARGE_SCAN + 1: ocr.DET_LONG_SIDE_LARGE_SCAN,
    }
    assert ocr.DET_LONG_SIDE < ocr.DET_LONG_SIDE_LARGE_SCAN < ocr.LARGE_SCAN
    assert ocr.ocr_engine(1).cfg.Global.max_side_len == ocr.LARGE_SCAN  # where it shrinks
