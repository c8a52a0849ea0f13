"""Closed-form ridge with a λ sweep from one eigendecomposition, for many layers at once.

For each feature set (layer) the centred Gram matrix (XᵀX, or XXᵀ when there are more features
than rows) is diagonalised once; the predictions on ``probe_val`` for every λ then cost a matrix
product each, so the whole sweep (97 values of λ = α · mean eigenvalue, α = 10^-6 … 10^2) is
nearly free. Classification regresses one-hot targets and predicts the arg-max (as the ViT
paper's few-shot probes do); λ is chosen by validation accuracy (classification, multi-label) or
squared error (regression).
"""

from __future__ import annotations

import numpy as np
import torch

from spatialprobe.probing.items import ProbingError
from spatialprobe.probing.probes._base import Probe, targets
from spatialprobe.registry import PROBES

ALPHAS = np.logspace(-6, 2, 97)


def _as_batch(X) -> tuple[torch.Tensor, bool]:
    t = torch.as_tensor(np.asarray(X), dtype=torch.float64)
    return (t, True) if t.ndim == 3 else (t[None], False)


class Ridge(Probe):
    name = "ridge"

    def __init__(self, kind: str, seed: int = 0, alphas=ALPHAS):
        super().__init__(kind, seed)
        self.alphas = np.asarray(alphas, dtype=np.float64)

    def fit(self, X, y, X_val=None, y_val=None) -> Ridge:
        X, self._batched = _as_batch(X)
        if X_val is None:
            raise ProbingError("ridge chooses λ on validation rows: pass X_val, y_val")
        Xv, _ = _as_batch(X_val)
        if self.kind == "classification":
            yi, yv = self._classes(np.asarray(y)), np.searchsorted(self.classes_, np.asarray(y_val))
            Y = torch.as_tensor(targets(self.kind, yi, len(self.classes_)))
        else:
            Y, yv = torch.as_tensor(targets(self.kind, y)), np.asarray(y_val, dtype=np.float64)
        L, n, d = X.shape
        mu, y_mu = X.mean(dim=1, keepdim=True), Y.mean(dim=0)
        Xc, Yc, Xvc = X - mu, Y - y_mu, Xv - mu
        if d <= n:  # primal: eigenvectors of XᵀX
            s, V = torch.linalg.eigh(Xc.transpose(1, 2) @ Xc)
            B = V.transpose(1, 2) @ (Xc.transpose(1, 2) @ Yc)  # (L, d, k)
            A = Xvc @ V  # (L, n_val, d)
            back = V  # W = V diag(1/(s+λ)) B
        else:  # dual: eigenvectors of XXᵀ
            s, U = torch.linalg.eigh(Xc @ Xc.transpose(1, 2))
            B = U.transpose(1, 2) @ Yc
            A = (Xvc @ Xc.transpose(1, 2)) @ U
            back = Xc.transpose(1, 2) @ U
        s = s.clamp(min=0)
        scale = s.mean(dim=1, keepdim=True).clamp(min=1e-12)  # (L, 1)
        scores = np.empty((L, len(self.alphas)))
        for j, alpha in enumerate(self.alphas):
            inv = 1.0 / (s + alpha * scale)  # (L, m)
            pred = (A @ (B * inv[:, :, None])) + y_mu
            scores[:, j] = self._val_score(pred.numpy(), yv)
        best = scores.argmax(axis=1)  # first best: ties go to the smaller λ
        inv = 1.0 / (s + torch.as_tensor(self.alphas[best])[:, None] * scale)
        self.coef_ = back @ (B * inv[:, :, None])  # (L, d, k)
        self.intercept_ = y_mu - (mu @ self.coef_).squeeze(1)  # (L, k)
        self.alpha_ = self.alphas[best]
        self.val_scores_ = scores
        return self

    def _val_score(self, pred: np.ndarray, yv: np.ndarray) -> np.ndarray:
        if self.kind == "classification":
            return (pred.argmax(axis=-1) == yv).mean(axis=-1)
        if self.kind == "multilabel":
            return ((pred >= 0.5) == (yv >= 0.5)).mean(axis=(-1, -2))
        yv = yv[:, None] if yv.ndim == 1 else yv
        return -((pred - yv) ** 2).mean(axis=(-1, -2))

    def decision(self, X) -> np.ndarray:
        X, batched = _as_batch(X)
        out = (X @ self.coef_ + self.intercept_[:, None, :]).numpy()
        if self.kind == "regression" and out.shape[-1] == 1:
            out = out[..., 0]
        return out if batched else out[0]

    def predict(self, X) -> np.ndarray:
        out = self.decision(X)
        if self.kind == "classification":
            return self.classes_[out.argmax(axis=-1)]
        if self.kind == "multilabel":
            return (out >= 0.5).astype(np.float64)
        return out

    def config(self) -> dict:
        return {**super().config(), "alphas": self.alphas.tolist(), "alpha": np.atleast_1d(self.alpha_).tolist(), "batched": self._batched}

    @classmethod
    def from_config(cls, meta: dict) -> Ridge:
        probe = cls(meta["kind"], seed=meta["seed"], alphas=meta["alphas"])
        probe.alpha_, probe._batched = np.array(meta["alpha"]), meta["batched"]
        return probe

    def tensors(self) -> dict[str, torch.Tensor]:
        return {"coef": self.coef_, "intercept": self.intercept_}

    def load_tensors(self, tensors) -> None:
        self.coef_, self.intercept_ = tensors["coef"], tensors["intercept"]


PROBES.register("ridge", Ridge)
