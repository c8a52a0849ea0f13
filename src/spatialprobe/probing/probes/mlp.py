"""A 2-layer MLP probe on pooled (flattened) features, standardised with training statistics."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from spatialprobe.probing.probes._neural import NeuralProbe
from spatialprobe.registry import PROBES


class MLP(NeuralProbe):
    name = "mlp"

    def shape_of(self, X, n_out: int) -> dict:
        X = np.asarray(X, dtype=np.float32)
        mean, std = X.mean(0), X.std(0) + 1e-6
        return {"n_in": X.shape[1], "n_out": n_out, "mean": mean.tolist(), "std": std.tolist()}

    def network(self, shape: dict) -> nn.Module:
        net = nn.Sequential(nn.Linear(shape["n_in"], self.hidden), nn.GELU(), nn.Linear(self.hidden, shape["n_out"]))
        net.register_buffer("mean", torch.tensor(shape["mean"]))
        net.register_buffer("std", torch.tensor(shape["std"]))
        forward = net.forward
        net.forward = lambda x: forward((x - net.mean) / net.std)
        return net

    def n_rows(self, X) -> int:
        return len(X)

    def tensors_of(self, X, rows) -> tuple:
        return (torch.as_tensor(np.asarray(X[rows], dtype=np.float32)),)


PROBES.register("mlp", MLP)
