"""`Items`: what a task asks about — one row per question, with its scene, split, target and text."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


SPLITS = ("probe_train", "probe_val", "test")
"""Where probes fit, choose their hyper-parameters, and are scored."""


class ProbingError(ValueError):
    """A probing request that cannot work (task/pool/probe mismatch, too few rows, one class…)."""


@dataclass
class Items:
    """Rows of a task. ``scene_row`` indexes the feature store; ``object_index`` indexes
    ``store.objects()`` for object-level items (-1 otherwise); ``target`` is (n,) ints for
    classification, (n, k) floats for regression / multi-label; ``groups`` holds breakdown columns."""

    scene_id: np.ndarray
    item_id: np.ndarray
    split: np.ndarray
    scene_row: np.ndarray
    target: np.ndarray
    text: list[str] | None = None
    object_index: np.ndarray | None = None
    control_key: list[str] | None = None
    """The item's type for the control task (e.g. the referent's shape × colour × size)."""
    groups: dict[str, np.ndarray] = field(default_factory=dict)
    classes: list | None = None
    aux: dict[str, np.ndarray] = field(default_factory=dict)
    """Training-only targets beside the answer (e.g. ``boxes``: a statement's subject and object
    boxes, (n, 2, 4) unit cxcywh, NaN where unknown); the protocol passes them for ``probe_train`` only."""

    def __len__(self) -> int:
        return len(self.item_id)

    def subset(self, mask: np.ndarray) -> Items:
        pick = np.flatnonzero(mask)
        return Items(
            scene_id=self.scene_id[pick],
            item_id=self.item_id[pick],
            split=self.split[pick],
            scene_row=self.scene_row[pick],
            target=self.target[pick],
            text=None if self.text is None else [self.text[i] for i in pick],
            object_index=None if self.object_index is None else self.object_index[pick],
            control_key=None if self.control_key is None else [self.control_key[i] for i in pick],
            groups={k: v[pick] for k, v in self.groups.items()},
            classes=self.classes,
            aux={k: v[pick] for k, v in self.aux.items()},
        )

    def of(self, split: str) -> Items:
        return self.subset(self.split == split)
