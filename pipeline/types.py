"""Value types shared by every pipeline stage, the engines and the app layer.

Coordinates follow DESIGN.md's Box contract: normalised to 0..1 of the rendered page, origin
top-left, always paired with the index of the page they belong to.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from PIL import Image


class TextSource(StrEnum):
    """Where a page's words came from."""

    PDF = "pdf"
    OCR = "ocr"


def _clamp(value: float) -> float:
    return float(min(1.0, max(0.0, value)))  # plain floats, never numpy scalars


@dataclass(frozen=True, slots=True)
class Box:
    """An axis-aligned box on one page, normalised to 0..1, origin top-left."""

    page: int
    x0: float
    y0: float
    x1: float
    y1: float

    def __post_init__(self) -> None:
        if not (self.x0 <= self.x1 and self.y0 <= self.y1):
            raise ValueError(f"box corners out of order: {self.as_list()}")

    def as_list(self) -> list[float]:
        return [self.x0, self.y0, self.x1, self.y1]

    def to_pixels(self, width: int, height: int) -> tuple[float, float, float, float]:
        return (self.x0 * width, self.y0 * height, self.x1 * width, self.y1 * height)

    @classmethod
    def from_pixels(
        cls, page: int, x0: float, y0: float, x1: float, y1: float, width: float, height: float
    ) -> Box:
        """Normalise a pixel (or point) rectangle, clamping it to the page."""
        return cls(
            page,
            _clamp(min(x0, x1) / width),
            _clamp(min(y0, y1) / height),
            _clamp(max(x0, x1) / width),
            _clamp(max(y0, y1) / height),
        )

    def union(self, other: Box) -> Box:
        if other.page != self.page:
            raise ValueError(f"cannot unite boxes of pages {self.page} and {other.page}")
        return Box(
            self.page,
            min(self.x0, other.x0),
            min(self.y0, other.y0),
            max(self.x1, other.x1),
            max(self.y1, other.y1),
        )


@dataclass(frozen=True, slots=True)
class Word:
    """A word (or, from OCR, possibly a short line) with its box and recogniser confidence."""

    text: str
    box: Box
    confidence: float | None = None


ImageLoader = Callable[[], Image.Image]


@dataclass(slots=True)
class Page:
    """One page: its pixel size at `dpi`, the words found on it, and its RGB image.

    The image is produced on first use by `loader` (and kept): a born-digital page's words
    come from its text layer, so it is rendered only when something needs pixels (a model,
    a viewer), never during ingest.
    """

    index: int
    width: int
    height: int
    dpi: int | None
    text_source: TextSource
    words: list[Word] = field(default_factory=list)
    loader: ImageLoader | None = field(default=None, repr=False, compare=False)
    _image: Image.Image | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_image(
        cls,
        index: int,
        image: Image.Image,
        dpi: int | None,
        text_source: TextSource,
        words: list[Word] | None = None,
    ) -> Page:
        """A page whose image is already in memory."""
        page = cls(index, image.width, image.height, dpi, text_source, words or [])
        page._image = image
        return page

    @property
    def image(self) -> Image.Image:
        if self._image is None:
            if self.loader is None:
                raise ValueError(f"page {self.index + 1} has no image and nothing to render it")
            self._image = self.loader()
        return self._image
