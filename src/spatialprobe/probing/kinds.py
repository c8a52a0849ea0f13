"""The three kinds of probing target, one object each: how a probe encodes the targets, reads its
decision values, scores and trains on them, and what the probe-free baselines and a collapsed
prediction look like. A kind is its name (a ``str``), so configs, records and saved probes hold
the plain name; ``of(name)`` gives the object.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from spatialprobe.probing.items import Items, ProbingError


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


def box_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return F.l1_loss(pred, target) + giou_loss(pred.reshape(-1, 4), target.reshape(-1, 4))


def box_hits(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    """IoU of unit cxcywh boxes, row by row."""
    from spatialprobe.geometry import iou

    def xyxy(b):
        cx, cy, w, h = np.asarray(b, dtype=np.float64).T
        w, h = np.abs(w), np.abs(h)
        return np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)

    return iou(xyxy(pred), xyxy(target))


class Kind(str):
    """Base: a kind is a string with the kind's behaviour."""

    baselines_named: tuple[str, ...] = ()
    """The probe-free baselines `baselines` returns."""

    def classes(self, y) -> np.ndarray | None:
        """The label set of the training targets (classification only)."""
        return None

    def least_squares_targets(self, y, classes) -> np.ndarray:
        """Targets for a least-squares fit, (n, k) float64: one-hot for classes, as-is otherwise."""
        y = np.asarray(y, dtype=np.float64)
        return y[:, None] if y.ndim == 1 else y

    def network_targets(self, y, classes) -> torch.Tensor:
        """Targets for a network's loss: class indices, or (n, k) float32."""
        y = np.asarray(y, dtype=np.float32)
        return torch.as_tensor(y[:, None] if y.ndim == 1 else y)

    def n_outputs(self, y, classes) -> int:
        return self.least_squares_targets(y, classes).shape[1]

    def labels(self, decision: np.ndarray, classes) -> np.ndarray:
        """Decision values → predictions."""
        return decision

    def score(self, pred: np.ndarray, y) -> float:
        """A probe's ``score``: accuracy, label accuracy or R²."""
        return float((pred == np.asarray(y)).mean())

    def sweep_targets(self, y, classes) -> np.ndarray:
        """Validation targets as `sweep_score` reads them."""
        return self.least_squares_targets(y, classes)

    def sweep_score(self, decision: np.ndarray, y_encoded: np.ndarray) -> float:
        """A least-squares fit's validation score (higher is better) from its raw outputs."""
        raise NotImplementedError

    def loss(self, out: torch.Tensor, y: torch.Tensor, box: bool) -> torch.Tensor:
        raise NotImplementedError

    def validation_score(self, out: torch.Tensor, y: torch.Tensor, box: bool) -> float:
        """A network's score on ``probe_val`` (higher is better), from its raw outputs."""
        raise NotImplementedError

    def decode(self, out: torch.Tensor) -> np.ndarray:
        """A network's raw outputs → decision values."""
        raise NotImplementedError

    def baselines(self, train: Items, test: Items) -> dict[str, np.ndarray]:
        """Predictions of probe-free baselines on the test items."""
        raise NotImplementedError

    def collapse(self, pred: np.ndarray, target: np.ndarray) -> str | None:
        """Why predictions collapsed to one answer, or None."""
        return None


class Classification(Kind):
    baselines_named = ("majority", "chance")

    def classes(self, y) -> np.ndarray:
        classes = np.unique(y)
        if len(classes) < 2:
            raise ProbingError(f"the training labels have a single class ({classes.tolist()}): nothing to probe")
        return classes

    def least_squares_targets(self, y, classes) -> np.ndarray:
        return np.eye(len(classes))[np.searchsorted(classes, np.asarray(y))]

    def network_targets(self, y, classes) -> torch.Tensor:
        return torch.as_tensor(np.searchsorted(classes, np.asarray(y)), dtype=torch.long)

    def n_outputs(self, y, classes) -> int:
        return len(classes)

    def labels(self, decision, classes) -> np.ndarray:
        return classes[decision.argmax(axis=-1)]

    def sweep_targets(self, y, classes) -> np.ndarray:
        return np.searchsorted(classes, np.asarray(y))  # a class the training rows lack matches no output

    def sweep_score(self, decision, y_encoded) -> float:
        return float((decision.argmax(axis=-1) == y_encoded).mean())

    def loss(self, out, y, box) -> torch.Tensor:
        return F.cross_entropy(out, y)

    def validation_score(self, out, y, box) -> float:
        return float((out.argmax(-1) == y).float().mean())

    def decode(self, out) -> np.ndarray:
        return out.double().softmax(-1).numpy()

    def baselines(self, train, test) -> dict[str, np.ndarray]:
        values, counts = np.unique(train.target, return_counts=True)
        return {"majority": np.full(len(test), values[counts.argmax()]), "chance": np.random.default_rng(0).choice(values, len(test))}

    def collapse(self, pred, target) -> str | None:
        pred, target = np.asarray(pred), np.asarray(target)
        _, counts = np.unique(pred, return_counts=True)
        _, truth = np.unique(target, return_counts=True)
        if len(pred) >= 2 and counts.max() >= 0.98 * len(pred) and truth.max() <= 0.6 * len(target):
            return "one class for nearly every item"
        return None


class Multilabel(Kind):
    baselines_named = ("majority",)

    def labels(self, decision, classes) -> np.ndarray:
        return (decision >= 0.5).astype(np.float64)

    def sweep_score(self, decision, y_encoded) -> float:
        return float(((decision >= 0.5) == (y_encoded >= 0.5)).mean())

    def loss(self, out, y, box) -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(out, y)

    def validation_score(self, out, y, box) -> float:
        return float(((out >= 0).float() == y).float().mean())

    def decode(self, out) -> np.ndarray:
        return out.double().sigmoid().numpy()

    def baselines(self, train, test) -> dict[str, np.ndarray]:
        return {"majority": np.tile((train.target.mean(0) >= 0.5).astype(float), (len(test), 1))}


class Regression(Kind):
    baselines_named = ("mean box", "category mean box")

    def score(self, pred, y) -> float:
        y = np.asarray(y, dtype=np.float64)
        return float(1 - ((pred - y) ** 2).sum() / (((y - y.mean(axis=0)) ** 2).sum() * (pred.size // y.size)))

    def sweep_score(self, decision, y_encoded) -> float:
        return -float(((decision - y_encoded) ** 2).mean())

    def loss(self, out, y, box) -> torch.Tensor:
        return box_loss(out, y) if box else F.l1_loss(out, y)

    def validation_score(self, out, y, box) -> float:
        """ACC@0.5 for boxes (mean IoU breaks ties, so a run still in the mean-box basin moves on), else −L1."""
        if box:
            ious = box_hits(out.numpy(), y.numpy())
            return float((ious >= 0.5).mean() + 1e-3 * ious.mean())
        return -float((out - y).abs().mean())

    def decode(self, out) -> np.ndarray:
        out = out.double().numpy()
        return out[:, 0] if out.shape[1] == 1 else out

    def baselines(self, train, test) -> dict[str, np.ndarray]:
        out = {"mean box": np.tile(train.target.mean(0), (len(test), 1))}
        category = lambda key: key.split("/")[0]  # noqa: E731
        means = {}
        for c in {category(k) for k in train.control_key}:
            means[c] = train.target[[category(k) == c for k in train.control_key]].mean(0)
        out["category mean box"] = np.stack([means.get(category(k), out["mean box"][0]) for k in test.control_key])
        return out

    def collapse(self, pred, target) -> str | None:
        pred, target = np.asarray(pred), np.asarray(target)
        if len(pred) >= 2 and pred.ndim == 2 and pred.shape[1] == 4:
            spread, truth = pred[:, :2].std(0).mean(), target[:, :2].std(0).mean()
            if spread < 0.1 * truth:
                return "the predicted boxes barely move from one place: the mean-box basin"
        return None


KINDS = {k.__name__.lower(): k(k.__name__.lower()) for k in (Classification, Regression, Multilabel)}
NAMES = tuple(KINDS)


def of(name: str) -> Kind:
    """The kind named ``name`` (``classification``, ``regression``, ``multilabel``)."""
    if name not in KINDS:
        raise ProbingError(f"unknown task kind {name!r}; valid: {', '.join(KINDS)}")
    return KINDS[name]
