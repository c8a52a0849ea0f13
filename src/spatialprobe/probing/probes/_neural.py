"""What the neural probes share: a torch head trained with early stopping on ``probe_val``.

Training runs full epochs over shuffled minibatches, scores ``probe_val`` after each, keeps the
best weights, and stops after ``patience`` epochs without improvement — never before
``min_epochs`` (frozen probes can sit at chance for a while, then climb) — or at ``max_epochs``; the
learning curve (train loss, validation score per epoch) is kept for the results record — a
budget-starved frozen probe would manufacture a gap. Box targets (unit cx, cy, w, h) train with
L1 + GIoU.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from spatialprobe.probing.probes._base import Probe, targets


def giou_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """1 − GIoU for unit (cx, cy, w, h) boxes."""

    def corners(b):
        cx, cy, w, h = b.unbind(-1)
        w, h = w.abs(), h.abs()
        return cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2

    px0, py0, px1, py1 = corners(pred)
    tx0, ty0, tx1, ty1 = corners(target)
    inter = (torch.min(px1, tx1) - torch.max(px0, tx0)).clamp(min=0) * (torch.min(py1, ty1) - torch.max(py0, ty0)).clamp(min=0)
    union = (px1 - px0) * (py1 - py0) + (tx1 - tx0) * (ty1 - ty0) - inter
    hull = (torch.max(px1, tx1) - torch.min(px0, tx0)) * (torch.max(py1, ty1) - torch.min(py0, ty0))
    giou = inter / union.clamp(min=1e-9) - (hull - union) / hull.clamp(min=1e-9)
    return (1 - giou).mean()


MAX_EPOCHS, MIN_EPOCHS, PATIENCE = 200, 30, 20
"""The early-stopping rule of every neural probe (and of the joint protocol's conditions)."""


class NeuralProbe(Probe):
    """Base of the torch probes; subclasses say how inputs become tensors and build the network."""

    accepts_box = True
    wants_tokens = False

    def __init__(self, kind: str, seed: int = 0, box: bool = False, max_epochs: int = MAX_EPOCHS, patience: int = PATIENCE,
                 lr: float = 5e-3, batch_size: int = 128, hidden: int = 256, weight_decay: float = 1e-4, min_epochs: int = MIN_EPOCHS):
        super().__init__(kind, seed)
        self.box, self.max_epochs, self.patience, self.lr = box, max_epochs, patience, lr
        self.batch_size, self.hidden, self.weight_decay, self.min_epochs = batch_size, hidden, weight_decay, min_epochs
        self.curve: list[dict] = []

    # subclasses: the network (from a shape dict, so a saved probe can be rebuilt) and its inputs
    def shape_of(self, X, n_out: int) -> dict:
        raise NotImplementedError

    def network(self, shape: dict) -> nn.Module:
        raise NotImplementedError

    def build(self, X, n_out: int) -> nn.Module:
        self.shape_ = self.shape_of(X, n_out)
        return self.network(self.shape_)

    def tensors_of(self, X, rows) -> tuple:
        raise NotImplementedError

    def n_rows(self, X) -> int:
        raise NotImplementedError

    def _loss(self, out, y):
        if self.kind == "classification":
            return F.cross_entropy(out, y)
        if self.kind == "multilabel":
            return F.binary_cross_entropy_with_logits(out, y)
        loss = F.l1_loss(out, y)
        return loss + giou_loss(out, y) if self.box else loss

    def _targets(self, y) -> torch.Tensor:
        if self.kind == "classification":
            return torch.as_tensor(np.searchsorted(self.classes_, np.asarray(y)), dtype=torch.long)
        y = np.asarray(y, dtype=np.float32)
        return torch.as_tensor(y[:, None] if y.ndim == 1 else y)

    def fit(self, X, y, X_val=None, y_val=None) -> NeuralProbe:
        if self.kind == "classification":
            self._classes(np.asarray(y))
            n_out = len(self.classes_)
        else:
            n_out = targets(self.kind, y).shape[1]
        torch.manual_seed(self.seed)
        self.net = self.build(X, n_out)
        opt = torch.optim.AdamW(self.net.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        Y = self._targets(y)
        rng = np.random.default_rng(self.seed)
        best, best_state, waited = -np.inf, None, 0
        n = self.n_rows(X)
        for epoch in range(self.max_epochs):
            self.net.train()
            losses, order = [], rng.permutation(n)
            for start in range(0, n, self.batch_size):
                rows = order[start : start + self.batch_size]
                loss = self._loss(self.net(*self.tensors_of(X, rows)), Y[rows])
                opt.zero_grad()
                loss.backward()
                opt.step()
                losses.append(float(loss.detach()))
            if X_val is None:
                score = -float(np.mean(losses))
            elif self.kind == "regression":  # validation L1 (lower is better)
                score = -float(np.abs(self.decision(X_val) - np.asarray(y_val, dtype=np.float64)).mean())
            else:
                score = self.score(X_val, y_val)
            self.curve.append({"epoch": epoch + 1, "train_loss": float(np.mean(losses)), "val_score": score})
            if score > best + 1e-6:
                best, best_state, waited = score, copy.deepcopy(self.net.state_dict()), 0
            else:
                waited += 1
                if waited >= self.patience and epoch + 1 >= self.min_epochs:  # probes often sit at chance before they climb
                    break
        self.net.load_state_dict(best_state)
        self.net.eval()
        self.best_epoch_ = int(np.argmax([c["val_score"] for c in self.curve])) + 1
        return self

    @torch.inference_mode()
    def decision(self, X) -> np.ndarray:
        self.net.eval()
        outs = [self.net(*self.tensors_of(X, np.arange(s, min(s + 1024, self.n_rows(X))))) for s in range(0, self.n_rows(X), 1024)]
        out = torch.cat(outs).double()
        if self.kind == "classification":
            return out.softmax(-1).numpy()
        if self.kind == "multilabel":
            return out.sigmoid().numpy()
        out = out.numpy()
        return out[:, 0] if out.shape[1] == 1 else out

    def config(self) -> dict:
        return {**super().config(), "box": self.box, "hidden": self.hidden, "max_epochs": self.max_epochs, "patience": self.patience,
                "best_epoch": getattr(self, "best_epoch_", None), "curve": self.curve, "trained_parameters": self.parameter_count(),
                "shape": getattr(self, "shape_", None)}

    def parameter_count(self) -> int:
        return sum(p.numel() for p in self.net.parameters()) if hasattr(self, "net") else 0

    def tensors(self) -> dict[str, torch.Tensor]:
        return dict(self.net.state_dict())

    @classmethod
    def from_config(cls, meta: dict):
        probe = cls(meta["kind"], seed=meta["seed"], box=meta["box"], hidden=meta["hidden"], max_epochs=meta["max_epochs"], patience=meta["patience"])
        probe.curve, probe.best_epoch_, probe.shape_ = meta["curve"], meta["best_epoch"], meta["shape"]
        return probe

    def load_tensors(self, tensors) -> None:
        self.net = self.network(self.shape_)
        self.net.load_state_dict(tensors)
        self.net.eval()
