"""Logistic regression (softmax, or sigmoid for multi-label), full-batch L-BFGS in torch.

Features are standardised with training statistics; the L2 strength is chosen on ``probe_val``
from a small grid.
"""

from __future__ import annotations

import numpy as np
import torch

from spatialprobe.probing.probes._base import Probe
from spatialprobe.registry import PROBES

L2_GRID = (1e-4, 1e-3, 1e-2, 1e-1, 1.0)


class Logistic(Probe):
    name = "logistic"
    kinds = ("classification", "multilabel")

    def __init__(self, kind: str, seed: int = 0, l2_grid=L2_GRID, max_iter: int = 100):
        super().__init__(kind, seed)
        self.l2_grid, self.max_iter = tuple(l2_grid), max_iter

    def _fit_one(self, X: torch.Tensor, Y: torch.Tensor, target: torch.Tensor, l2: float):
        torch.manual_seed(self.seed)
        W = torch.zeros(X.shape[1], Y.shape[1], dtype=X.dtype, requires_grad=True)
        b = torch.zeros(Y.shape[1], dtype=X.dtype, requires_grad=True)
        opt = torch.optim.LBFGS([W, b], max_iter=self.max_iter, line_search_fn="strong_wolfe")

        def closure():
            opt.zero_grad()
            logits = X @ W + b
            loss = self.kind.loss(logits, target, box=False) + l2 * (W**2).sum() / 2
            loss.backward()
            return loss

        opt.step(closure)
        return W.detach(), b.detach()

    def fit(self, X, y, X_val=None, y_val=None) -> Logistic:
        X = torch.as_tensor(np.asarray(X), dtype=torch.float64)
        self.mean_, self.std_ = X.mean(0), X.std(0).clamp(min=1e-6)
        Xs = (X - self.mean_) / self.std_
        self._classes(np.asarray(y))
        Y = torch.as_tensor(self.kind.least_squares_targets(y, self.classes_))
        target = self.kind.network_targets(y, self.classes_)
        target = target.to(Y.dtype) if target.is_floating_point() else target
        grid = self.l2_grid if X_val is not None else self.l2_grid[2:3]
        best = None
        for l2 in grid:
            self.W_, self.b_ = self._fit_one(Xs, Y, target, l2)
            score = self.score(X_val, y_val) if X_val is not None else 0.0
            if best is None or score > best[0]:
                best = (score, l2, self.W_, self.b_)
        _, self.l2_, self.W_, self.b_ = best
        return self

    def decision(self, X) -> np.ndarray:
        X = (torch.as_tensor(np.asarray(X), dtype=torch.float64) - self.mean_) / self.std_
        return self.kind.decode(X @ self.W_ + self.b_)

    def config(self) -> dict:
        return {**super().config(), "l2": self.l2_}

    @classmethod
    def from_config(cls, meta: dict) -> Logistic:
        probe = cls(meta["kind"], seed=meta["seed"])
        probe.l2_ = meta["l2"]
        return probe

    def tensors(self):
        return {"W": self.W_, "b": self.b_, "mean": self.mean_, "std": self.std_}

    def load_tensors(self, t) -> None:
        self.W_, self.b_, self.mean_, self.std_ = t["W"], t["b"], t["mean"], t["std"]


PROBES.register("logistic", Logistic)
