"""Controls and baselines that make a probe's number readable.

- control task (Hewitt & Liang 2019): every item type (e.g. the referent's shape × colour × size)
  gets one label drawn from the task's training label distribution, fixed across splits; the same
  probe, with its own hyper-parameter search, learns it. Selectivity = task − control.
- blind: the same probe given the visual features of a random *other* scene of the same split.
- chance / majority / (category-conditional) mean box, no probe at all: each kind's ``baselines``
  (`probing.kinds`).
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
