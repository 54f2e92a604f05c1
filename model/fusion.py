"""Depth-Breadth Fusion (DBFusion): combine V and the prompt features V' into image tokens.

Florence-VL, section 3.2 (arXiv 2412.04424): the default concatenates the blocks along the
channel axis, `[V, V'_cap, V'_ocr, V'_reg]` -> 4 x 1024 channels, token count unchanged. The
paper's ablations (V only, a branch dropped, token concatenation, average pooling) are the
same module with another `FusionConfig`. The pattern follows transformers' LLaVA, which
concatenates several vision feature layers on the last dimension.
"""

from __future__ import annotations

import torch
from torch import nn

from model.config import LOW_LEVEL, FusionConfig


class FlorenceVLFusion(nn.Module):
    """Parameter-free as released: the fusion only arranges features (scaled by the config's
    gains) and the projector learns the mixing. Fine-tuning makes the gains trainable scalars
    for a while (`learn_gains`), then writes what they learned back into the config
    (`settle_gains`), so a checkpoint keeps the released key layout and carries its gains in
    `config.json`."""

    def __init__(self, config: FusionConfig) -> None:
        super().__init__()
        self.config = config
        self.trainable_gains: nn.ParameterDict | None = None

    def learn_gains(self) -> list[nn.Parameter]:
        """One trainable float32 scalar per branch, starting at the config's gain."""
        # float32 whatever the model's dtype: a bf16 scalar near 1 moves in steps of 1/128.
        start = {name: torch.tensor(self.config.gain(name)) for name in self.config.branches}
        self.trainable_gains = nn.ParameterDict(
            {name: nn.Parameter(value) for name, value in start.items()}
        )
        return list(self.trainable_gains.values())

    def settle_gains(self) -> None:
        """Fix the learned gains in the config (marked learned, so no gain profile replaces
        them) and drop the parameters."""
        if self.trainable_gains is None:
            return
        learned = {name: float(gain.detach()) for name, gain in self.trainable_gains.items()}
        self.config.set_learned_gains(learned)
        self.trainable_gains = None

    def _gain(self, name: str) -> torch.Tensor | float | None:
        """The branch's multiplier; None when the features pass as they are (fixed gain 1)."""
        if self.trainable_gains is not None:
            return self.trainable_gains[name]
        gain = self.config.gain(name)
        return None if gain == 1.0 else gain

    def forward(self, low_level: torch.Tensor, prompt_features: torch.Tensor) -> torch.Tensor:
        """`low_level` (B, N, C) is V; `prompt_features` (B, P, N, C) holds V' for the config's
        prompt branches, in `config.prompt_branches` order (P may be 0 for "V only")."""
        prompt_names = self.config.prompt_branches
        if prompt_features.shape[1] != len(prompt_names):
            raise ValueError(
                f"got {prompt_features.shape[1]} prompt feature blocks, fusion expects "
                f"{len(prompt_names)} ({prompt_names})"
            )
        if prompt_features.shape[0] != low_level.shape[0] or (
            prompt_features.shape[2:] != low_level.shape[1:]
        ):
            raise ValueError(
                f"prompt features {tuple(prompt_features.shape)} do not match low-level "
                f"features {tuple(low_level.shape)} as (B, P, N, C) vs (B, N, C)"
            )
        by_name = {LOW_LEVEL: low_level}
        by_name.update({name: prompt_features[:, i] for i, name in enumerate(prompt_names)})
        blocks = []  # each (B, N, C)
        for name in self.config.branches:
            gain = self._gain(name)
            blocks.append(by_name[name] if gain is None else by_name[name] * gain)
        if self.config.mode == "channel_concat":
            return torch.cat(blocks, dim=-1)  # (B, N, K*C)
        if self.config.mode == "token_concat":
            return torch.cat(blocks, dim=1)  # (B, K*N, C)
        return torch.stack(blocks, dim=0).mean(dim=0)  # (B, N, C)
