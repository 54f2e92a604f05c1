"""The page viewer: the page image with its boxes drawn over it as SVG elements (not burnt
into the pixels), each carrying its normalised box and what it belongs to, so a click
selects a field or an answer and a browser test can find the boxes.

Where several fields sit on the same words (an issue date that is also the due date), one
element carries all their targets (space-separated in `data-target`) and each click selects
the next; smaller boxes are drawn over larger ones so that every box can be clicked.

A Streamlit custom component (v2: inline HTML, CSS and JavaScript, no build step). Boxes
are drawn in the page's own pixel coordinates (the SVG viewBox), so they stay on their
words at any zoom.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import streamlit as st

CSS = """
.page { position: relative; display: inline-block; line-height: 0; }
.page img { width: 100%; height: auto; }
.page svg { position: absolute; inset: 0; width: 100%; height: 100%; }
.box { fill: transparent; stroke-width: 2; vector-effect: non-scaling-stroke; cursor: pointer; }
.box.word { stroke: #9aa0a6; stroke-width: 1; cursor: default; }
.box.answer { stroke: #1a73e8; fill: rgba(26, 115, 232, 0.08); }
.box.field { stroke: #188038; fill: rgba(24, 128, 56, 0.08); }
.box.correction { stroke: #e37400; stroke-dasharray: 4 2; fill: rgba(227, 116, 0, 0.08); }
.box.selected { stroke: #d93025; stroke-width: 3; fill: rgba(217, 48, 37, 0.15); }
"""

JS = """
export default function (component) {
  const { data, parentElement, setTriggerValue } = component;
  const old = parentElement.querySelector(".page");
  if (old) old.remove();
  const page = document.createElement("div");
  page.className = "page";
  page.style.width = data.zoom + "%";
  const image = document.createElement("img");
  image.src = data.image;
  image.alt = "page " + (data.index + 1);
  page.appendChild(image);
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", "0 0 " + data.width + " " + data.height);
  svg.setAttribute("preserveAspectRatio", "none");
  for (const box of data.boxes) {
    const [x0, y0, x1, y1] = box.box;
    const rect = document.createElementNS("http://www.w3.org/2000/svg", "rect");
    rect.setAttribute("x", x0 * data.width);
    rect.setAttribute("y", y0 * data.height);
    rect.setAttribute("width", (x1 - x0) * data.width);
    rect.setAttribute("height", (y1 - y0) * data.height);
    rect.setAttribute("class", "box " + box.kind + (box.selected ? " selected" : ""));
    rect.dataset.kind = box.kind;
    rect.dataset.target = box.targets.join(" ");
    rect.dataset.box = box.box.join(",");
    rect.dataset.page = data.index;
    const title = document.createElementNS("http://www.w3.org/2000/svg", "title");
    title.textContent = box.label;
    rect.appendChild(title);
    if (box.kind !== "word") {
      const next = box.targets[(box.targets.indexOf(data.selected) + 1) % box.targets.length];
      rect.addEventListener("click", () => setTriggerValue("selected", next));
    }
    svg.appendChild(rect);
  }
  page.appendChild(svg);
  parentElement.appendChild(page);
}
"""

_viewer = st.components.v2.component("docfuse.page_viewer", css=CSS, js=JS)


@dataclass(frozen=True)
class Overlay:
    """One box to draw: `kind` is word, answer, field or correction; `targets` name what
    a click selects (`field:<schema>:<name>`, `answer:<question>`), one per field or answer
    found at this box."""

    kind: str
    targets: tuple[str, ...]
    label: str
    box: tuple[float, float, float, float]
    selected: bool = False


def page_viewer(
    *,
    picture: str,
    index: int,
    width: int,
    height: int,
    overlays: list[Overlay],
    selected: str | None,
    zoom: int,
    key: str,
) -> str | None:
    """Show the page with its boxes; returns the target of a box the user just clicked."""
    data = {
        "selected": selected,
        "image": picture,
        "index": index,
        "width": width,
        "height": height,
        "zoom": zoom,
        "boxes": [asdict(overlay) for overlay in overlays],
    }
    result = _viewer(data=data, key=key, on_selected_change=lambda: None)
    return getattr(result, "selected", None)
