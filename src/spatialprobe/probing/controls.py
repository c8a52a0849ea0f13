"""Controls and baselines that make a probe's number readable.

- control task (Hewitt & Liang 2019): every item type (e.g. the referent's shape × colour × size)
  gets one label drawn from the task's training label distribution, fixed across splits; the same
  probe, with its own hyper-parameter search, learns it. Selectivity = task − control.
- blind: the same probe given the visual features of a random *other* scene of the same split.
- chance / majority / (category-conditional) mean box: no probe at all.
"""

from __future__ import annotations

import numpy as np

from spatialprobe.probing.items import Items


def control_targets(items: Items, seed: int) -> np.ndarray:
    """A label per control key, drawn from the training targets (same key ⇒ same label)."""
    rng = np.random.default_rng(seed)
    train = np.flatnonzero(items.split == "probe_train")
    keys = sorted(set(items.control_key))
    drawn = {k: items.target[train[rng.integers(0, len(train))]] for k in keys}
    return np.stack([np.asarray(drawn[k]) for k in items.control_key]) if items.target.ndim > 1 else np.array([drawn[k] for k in items.control_key])


def blind_rows(items: Items, seed: int) -> np.ndarray:
    """Each item's scene row replaced by another scene's row of the same split (never its own)."""
    rng = np.random.default_rng(seed)
    out = items.scene_row.copy()
    for split in np.unique(items.split):
        rows = np.unique(items.scene_row[items.split == split])
        if len(rows) < 2:
            continue
        shuffled = rng.permutation(rows)
        other = dict(zip(shuffled, np.roll(shuffled, 1)))  # a cycle: no scene maps to itself
        mask = items.split == split
        out[mask] = [other[r] for r in items.scene_row[mask]]
    return out


BASELINES = {"classification": ("majority", "chance"), "multilabel": ("majority",), "regression": ("mean box", "category mean box")}
"""The probe-free baselines of each task kind, as `baselines` names them."""


def baselines(kind: str, train: Items, test: Items) -> dict[str, np.ndarray]:
    """Predictions of probe-free baselines on the test items (`BASELINES`)."""
    if kind == "classification":
        values, counts = np.unique(train.target, return_counts=True)
        return {"majority": np.full(len(test), values[counts.argmax()]), "chance": np.random.default_rng(0).choice(values, len(test))}
    if kind == "multilabel":
        return {"majority": np.tile((train.target.mean(0) >= 0.5).astype(float), (len(test), 1))}
    out = {"mean box": np.tile(train.target.mean(0), (len(test), 1))}
    category = lambda key: key.split("/")[0]  # noqa: E731
    means = {}
    for c in {category(k) for k in train.control_key}:
        means[c] = train.target[[category(k) == c for k in train.control_key]].mean(0)
    out["category mean box"] = np.stack([means.get(category(k), out["mean box"][0]) for k in test.control_key])
    return out


def collapse(kind: str, pred, target) -> str | None:
    """Why predictions collapsed to one answer (a box probe still in the mean-box basin, a classifier
    answering one class), or None. Only a run that learned something can serve as a positive control."""
    pred, target = np.asarray(pred), np.asarray(target)
    if len(pred) < 2:
        return None
    if kind == "regression" and pred.ndim == 2 and pred.shape[1] == 4:
        spread, truth = pred[:, :2].std(0).mean(), target[:, :2].std(0).mean()
        if spread < 0.1 * truth:
            return "the predicted boxes barely move from one place: the mean-box basin"
    if kind == "classification":
        _, counts = np.unique(pred, return_counts=True)
        _, truth = np.unique(target, return_counts=True)
        if counts.max() >= 0.98 * len(pred) and truth.max() <= 0.6 * len(target):
            return "one class for nearly every item"
    return None
