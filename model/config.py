"""Florence-VL configuration: one object that reads and writes the released `config.json`.

The released checkpoints (`jiuhai/florence-vl-3b-sft`, `-8b-sft`) store a flat LLaVA config: the
LLM's own fields (a Phi-3 or Llama config) plus a handful of `mm_*` fields. They do not store
the Florence-2 configuration (the authors load it from `mm_vision_tower` at run time) nor any of
the choices the paper leaves open. `FlorenceVLConfig` keeps the released fields exactly and adds
one extension block, `florence_vl`, holding the Florence-2 config in its ORIGINAL (remote-code)
form, the fusion settings and the chat template name. A released `config.json` without that
block gets the documented defaults (Florence-2-large, channel concatenation, 577 tokens).

Every size in `model/` is derived from this object; invariants are checked in `__post_init__`.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from transformers import LlamaConfig, Phi3Config, PretrainedConfig

from model.florence2_keys import FLORENCE2_LARGE_ORIGINAL_CONFIG
from model.image_processing import ResizeMode

# model_type in config.json -> (LLM config class, architecture name, chat template name).
BACKBONES: dict[str, tuple[type[PretrainedConfig], str, str]] = {
    "llava_phi": (Phi3Config, "LlavaPhiForCausalLM", "phi3"),
    "llava_llama": (LlamaConfig, "LlavaLlamaForCausalLM", "llama3"),
}

# Branch names: V (DaViT features after Florence-2's projection and norm) and the three prompt
# features V'. The prompt names are keys of `model.vision_tower.FLORENCE_VL_PROMPTS`.
LOW_LEVEL = "low_level"
PROMPT_BRANCHES = ("caption", "ocr", "regions")
FUSION_MODES = ("channel_concat", "token_concat", "average")

# Named inference-time gain profiles (see docs/model.md). "default" reproduces the released
# model exactly. "document" weights the OCR-prompt features up: on text-heavy pages the answer
# usually lives in the text the OCR prompt attends to, and the projector was trained with the
# OCR block at gain 1, so a modest boost shifts the mix toward it without leaving the
# distribution the projector saw. It is a heuristic the paper did not evaluate; never a default
# of the model itself (the app opts in through its settings).
FUSION_PROFILES: dict[str, dict[str, float]] = {
    "default": {},
    "document": {"ocr": 1.5},
}

# Released `config.json` fields that belong to the LLaVA wrapper, not to the LLM config.
_MM_FIELDS = (
    "mm_hidden_size",
    "mm_projector_type",
    "mm_vision_tower",
    "image_aspect_ratio",
    "mm_use_im_start_end",
)
_EXTENSION_KEY = "florence_vl"


@dataclass
class FusionConfig:
    """How DBFusion combines V and the prompt features V' (paper section 3.2 and its ablations).

    `branches` lists the blocks in output order; the default `[V, V'_cap, V'_ocr, V'_reg]` is the
    paper's, the order of the three V' blocks is UNVERIFIED. `include_pooled_token` selects
    577 tokens per image (Florence-2's pooled token first, as the authors' code path produces)
    or the paper's 576 grid tokens; also UNVERIFIED. `gains` multiplies a branch's features
    before fusion; missing branches have gain 1.0 (= the checkpoint). `gains_learned` marks
    gains that fine-tuning learned: they belong to the weights, so no gain profile replaces
    them.
    """

    mode: str = "channel_concat"
    branches: tuple[str, ...] = (LOW_LEVEL, *PROMPT_BRANCHES)
    include_pooled_token: bool = True
    gains: dict[str, float] = field(default_factory=dict)
    gains_learned: bool = False

    def __post_init__(self) -> None:
        self.branches = tuple(self.branches)
        if self.mode not in FUSION_MODES:
            raise ValueError(f"fusion mode {self.mode!r} is not one of {FUSION_MODES}")
        known = (LOW_LEVEL, *PROMPT_BRANCHES)
        unknown = [b for b in self.branches if b not in known]
        if unknown or not self.branches or len(set(self.branches)) != len(self.branches):
            raise ValueError(
                f"fusion branches {self.branches} must be distinct names from {known}, at least one"
            )
        stray = sorted(set(self.gains) - set(self.branches))
        if stray:
            raise ValueError(f"gains for {stray} but fusion branches are {self.branches}")

    @property
    def prompt_branches(self) -> tuple[str, ...]:
        """The prompt branches in use, in output order: what the vision tower must compute."""
        return tuple(b for b in self.branches if b != LOW_LEVEL)

    def gain(self, branch: str) -> float:
        return float(self.gains.get(branch, 1.0))

    def output_width(self, channels: int) -> int:
        """Channels per fused token: blocks side by side for channel concatenation."""
        return channels * len(self.branches) if self.mode == "channel_concat" else channels

    def output_tokens(self, tokens: int) -> int:
        """Fused tokens per image: blocks one after another for token concatenation."""
        return tokens * len(self.branches) if self.mode == "token_concat" else tokens

    def set_learned_gains(self, gains: dict[str, float]) -> None:
        """Gains fine-tuning learned: they belong to the weights, no profile replaces them."""
        self.gains, self.gains_learned = dict(gains), True

    def with_profile(self, profile: str) -> FusionConfig:
        """This fusion with the gains of a named profile from `FUSION_PROFILES`."""
        if profile not in FUSION_PROFILES:
            raise ValueError(f"fusion profile {profile!r} is not one of {sorted(FUSION_PROFILES)}")
        return replace(self, gains=dict(FUSION_PROFILES[profile]))


def florence2_large_original_config() -> dict[str, Any]:
    """Florence-2-large's original config: the released checkpoints do not carry the vision
    tower's config, and their key shapes are those of Florence-2-large, so it is the default."""
    return copy.deepcopy(FLORENCE2_LARGE_ORIGINAL_CONFIG)


@dataclass
class FlorenceVLConfig:
    """The whole model: LLM config, Florence-2 config (original layout), fusion, projector."""

    model_type: str
    text_config: PretrainedConfig
    florence2_config: dict[str, Any] = field(default_factory=florence2_large_original_config)
    fusion: FusionConfig = field(default_factory=FusionConfig)
    mm_hidden_size: int = 1024
    mm_projector_type: str = "mlp3x_gelu"
    mm_vision_tower: str = ""
    image_aspect_ratio: str = "pad"
    mm_use_im_start_end: bool = False
    image_size: int = 768
    chat_template: str = ""
    # The reference splices at a sentinel id outside every vocabulary; so do we.
    image_token_index: int = -200
    # The sha256 of the fine-tuned adapter merged into these weights ("" for none): results
    # name it in their model revision (`model/adapter.py`).
    adapter: str = ""

    def __post_init__(self) -> None:
        if self.model_type not in BACKBONES:
            raise ValueError(f"model_type {self.model_type!r} is not one of {sorted(BACKBONES)}")
        config_class, _, template = BACKBONES[self.model_type]
        if not isinstance(self.text_config, config_class):
            raise ValueError(
                f"model_type {self.model_type!r} needs a {config_class.__name__}, "
                f"got {type(self.text_config).__name__}"
            )
        self.chat_template = self.chat_template or template
        # V (after Florence-2's projection) and V' (BART encoder states) must both be as wide
        # as the projector's input blocks.
        projection_dim = self.florence2_config["vision_config"]["projection_dim"]
        d_model = self.florence2_config["text_config"]["d_model"]
        if not projection_dim == d_model == self.mm_hidden_size:
            raise ValueError(
                f"mm_hidden_size {self.mm_hidden_size} must equal Florence-2's projection_dim "
                f"{projection_dim} and BART d_model {d_model}"
            )
        if self.mm_projector_type != "mlp3x_gelu":
            raise ValueError(f"mm_projector_type {self.mm_projector_type!r} is not mlp3x_gelu")
        if self.image_aspect_ratio not in ("pad", "square"):
            raise ValueError(f"image_aspect_ratio {self.image_aspect_ratio!r} is not pad/square")
        if self.mm_use_im_start_end:
            raise ValueError("mm_use_im_start_end=True is not used by Florence-VL checkpoints")
        if self.image_size % 32:
            raise ValueError(f"image_size {self.image_size} is not a multiple of DaViT's stride 32")

    @property
    def hidden_size(self) -> int:
        return self.text_config.hidden_size

    @property
    def architecture(self) -> str:
        return BACKBONES[self.model_type][1]

    @property
    def resize_mode(self) -> ResizeMode:
        """`pad` (SFT checkpoints: pad to square with the mean colour) or `stretch`."""
        return "pad" if self.image_aspect_ratio == "pad" else "stretch"

    @property
    def grid_tokens(self) -> int:
        """DaViT grid tokens per image (24 x 24 = 576 at 768 px), plus the pooled token if used."""
        side = self.image_size // 32
        return side * side + int(self.fusion.include_pooled_token)

    @property
    def image_tokens(self) -> int:
        """LLM positions one `<image>` placeholder expands to."""
        return self.fusion.output_tokens(self.grid_tokens)

    @property
    def projector_input_size(self) -> int:
        return self.fusion.output_width(self.mm_hidden_size)

    def to_dict(self) -> dict[str, Any]:
        """The released `config.json` layout plus the `florence_vl` extension block."""
        out = self.text_config.to_dict()
        out.pop("transformers_version", None)
        out.update(
            model_type=self.model_type,
            architectures=[self.architecture],
            mm_hidden_size=self.mm_hidden_size,
            mm_projector_type=self.mm_projector_type,
            mm_vision_tower=self.mm_vision_tower,
            image_aspect_ratio=self.image_aspect_ratio,
            mm_use_im_start_end=self.mm_use_im_start_end,
        )
        fusion = asdict(self.fusion)
        fusion["branches"] = list(fusion["branches"])
        out[_EXTENSION_KEY] = {
            "florence2_config": copy.deepcopy(self.florence2_config),
            "fusion": fusion,
            "image_size": self.image_size,
            "chat_template": self.chat_template,
            "image_token_index": self.image_token_index,
            "adapter": self.adapter,
        }
        return out

    @classmethod
    def from_dict(
        cls, data: dict[str, Any], *, fusion: FusionConfig | None = None
    ) -> FlorenceVLConfig:
        """Read a released (or our own) `config.json`; `fusion` overrides the stored fusion."""
        data = copy.deepcopy(data)
        model_type = data.pop("model_type", None)
        if model_type not in BACKBONES:
            raise ValueError(
                f"config.json model_type {model_type!r} is not one of {sorted(BACKBONES)}"
            )
        data.pop("architectures", None)
        mm = {key: data.pop(key) for key in _MM_FIELDS if key in data}
        extension = data.pop(_EXTENSION_KEY, {})
        # The LLM config keeps fields it does not know (e.g. mm_vision_select_layer) as
        # attributes and writes them back, so a round trip loses nothing.
        text_config = BACKBONES[model_type][0](**data)
        if fusion is None:
            fusion = FusionConfig(**extension.get("fusion", {}))
        return cls(
            model_type=model_type,
            text_config=text_config,
            florence2_config=extension.get("florence2_config") or florence2_large_original_config(),
            fusion=fusion,
            image_size=extension.get("image_size", 768),
            chat_template=extension.get("chat_template", ""),
            image_token_index=extension.get("image_token_index", -200),
            adapter=extension.get("adapter", ""),
            **mm,
        )
