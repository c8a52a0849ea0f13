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
from spatialprobe.probing.probes._base import Probe
from spatialprobe.registry import PROBES

ALPHAS = np.logspace(-6, 2, 97)
CHUNK = 16384


def _as_batch(X) -> tuple[torch.Tensor, bool]:
    """A float tensor (L, n, d) without copying float32 / float64 input."""
    t = torch.as_tensor(np.asarray(X))
    if t.dtype not in (torch.float32, torch.float64):
        t = t.to(torch.float64)
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
        self._classes(np.asarray(y))
        Y = torch.as_tensor(self.kind.least_squares_targets(y, self.classes_))
        yv = self.kind.sweep_targets(y_val, self.classes_)
        y_mu = Y.mean(dim=0)
        coefs, intercepts, alphas, scores = [], [], [], []
        for layer in range(X.shape[0]):  # one layer at a time bounds memory to one centred copy
            coef, mu, best, layer_scores = self._fit_layer(X[layer], Y - y_mu, Xv[layer], yv, y_mu)
            coefs.append(coef)
            intercepts.append(y_mu - mu @ coef)
            alphas.append(self.alphas[best])
            scores.append(layer_scores)
        self.coef_, self.intercept_ = torch.stack(coefs), torch.stack(intercepts)
        self.alpha_, self.val_scores_ = np.array(alphas), np.stack(scores)
        return self

    def _fit_layer(self, X: torch.Tensor, Yc: torch.Tensor, Xv: torch.Tensor, yv: np.ndarray, y_mu: torch.Tensor):
        """The whole λ sweep for one feature set from one eigendecomposition."""
        n, d = X.shape
        mu = X.mean(dim=0)
        Xvc = Xv.to(X.dtype) - mu
        if d <= n:  # primal: Gram XᵀX and XᵀY accumulated over row chunks (no centred copy of X)
            G = torch.zeros(d, d, dtype=X.dtype)
            XtY = torch.zeros(d, Yc.shape[1], dtype=X.dtype)
            for rows in range(0, n, CHUNK):
                c = X[rows : rows + CHUNK] - mu
                G += c.T @ c
                XtY += c.T @ Yc[rows : rows + CHUNK].to(X.dtype)
            s, V = torch.linalg.eigh(G.to(torch.float64))
            B, A, back = V.T @ XtY.to(torch.float64), Xvc @ V.to(X.dtype), V
        else:  # dual: eigenvectors of XXᵀ
            Xc = (X - mu).to(torch.float64)
            s, U = torch.linalg.eigh(Xc @ Xc.T)
            B, A, back = U.T @ Yc, (Xvc.to(torch.float64) @ Xc.T) @ U, Xc.T @ U
        s = s.clamp(min=0)
        scale = float(s.mean().clamp(min=1e-12))
        # the sweep only ranks λ: it runs in the features' precision; the chosen solution in float64
        A_s, B_s, y_mu_s = A.to(X.dtype), B.to(X.dtype), y_mu.to(X.dtype)
        scores = np.array(
            [self.kind.sweep_score((A_s @ (B_s / (s + a * scale).to(X.dtype)[:, None]) + y_mu_s).numpy(), yv) for a in self.alphas]
        )
        best = int(scores.argmax())  # first best: ties go to the smaller λ
        return back @ (B / (s + self.alphas[best] * scale)[:, None]), mu.to(torch.float64), best, scores

    def decision(self, X) -> np.ndarray:
        X, batched = _as_batch(X)
        out = (X.to(torch.float64) @ self.coef_ + self.intercept_[:, None, :]).numpy()
        if self.kind == "regression" and out.shape[-1] == 1:
            out = out[..., 0]
        return out if batched else out[0]

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
