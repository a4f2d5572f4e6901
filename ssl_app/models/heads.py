"""Projection head (SimCLR): the contrastive loss acts on its output, evaluation on
the backbone features before it, which transfer better."""

from __future__ import annotations

import torch.nn as nn


class ProjectionHead(nn.Sequential):
    """MLP: (Linear–BN–ReLU) × (num_layers − 1), then Linear to `out_dim`.

    `batch_norm=False` drops the BN layers (e.g. to make a multi-process run exactly
    equal to a single-process one).
    """

    def __init__(
        self,
        in_dim: int,
        hidden_dim: int = 512,
        out_dim: int = 128,
        num_layers: int = 2,
        batch_norm: bool = True,
    ) -> None:
        layers: list[nn.Module] = []
        dim = in_dim
        for _ in range(num_layers - 1):
            layers.append(nn.Linear(dim, hidden_dim, bias=not batch_norm))
            if batch_norm:
                layers.append(nn.BatchNorm1d(hidden_dim))
            layers.append(nn.ReLU(inplace=True))
            dim = hidden_dim
        layers.append(nn.Linear(dim, out_dim))
        super().__init__(*layers)
