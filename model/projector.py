"""The `mlp3x_gelu` projector from fused image features to the LLM's hidden size.

Follows the authors' LLaVA fork (`DualMLPProjector`): Linear, then (GELU, Linear) twice. The
nested `Sequential`s reproduce the checkpoint's key names
`encoder_mlp.{0, 1.1, 2.1}.{weight, bias}`.
"""

from __future__ import annotations

from typing import cast

import torch
from torch import nn

from model.config import FlorenceVLConfig


class FlorenceVLProjector(nn.Module):
    def __init__(self, config: FlorenceVLConfig) -> None:
        super().__init__()
        in_features, hidden = config.projector_input_size, config.hidden_size
        self.encoder_mlp = nn.Sequential(
            nn.Linear(in_features, hidden),
            nn.Sequential(nn.GELU(), nn.Linear(hidden, hidden)),
            nn.Sequential(nn.GELU(), nn.Linear(hidden, hidden)),
        )

    @property
    def input_layer(self) -> nn.Linear:
        """The first Linear; its weight gives the projector's device and dtype."""
        # Built in __init__ above; Sequential indexing is typed as any nn.Module.
        return cast(nn.Linear, self.encoder_mlp[0])

    def forward(self, fused_features: torch.Tensor) -> torch.Tensor:
        return self.encoder_mlp(fused_features)  # (B, N, D) -> (B, N, H)
