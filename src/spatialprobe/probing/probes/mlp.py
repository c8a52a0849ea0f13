"""A 2-layer MLP probe on pooled (flattened) features, standardised with training statistics."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from spatialprobe.probing.probes._neural import NeuralProbe
from spatialprobe.registry import PROBES


class _MLP(nn.Module):
    def __init__(self, shape: dict, hidden: int):
        super().__init__()
        self.register_buffer("mean", torch.tensor(shape["mean"]))
        self.register_buffer("std", torch.tensor(shape["std"]))
        self.net = nn.Sequential(nn.Linear(shape["n_in"], hidden), nn.GELU(), nn.Linear(hidden, shape["n_out"]))

    def forward(self, x, text=None, scene_of=None):
        return self.net((x - self.mean) / self.std)


class MLP(NeuralProbe):
    name = "mlp"

    def shape_of(self, X, n_out: int) -> dict:
        X = np.asarray(X, dtype=np.float32)
        mean, std = X.mean(0), X.std(0) + 1e-6
        return {"n_in": X.shape[1], "n_out": n_out, "mean": mean.tolist(), "std": std.tolist()}

    def network(self, shape: dict) -> nn.Module:
        return _MLP(shape, self.hidden)


PROBES.register("mlp", MLP)
