"""What every task is: how to turn scenes into `Items`, and how to score predictions."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from spatialprobe.probing.items import Items


@dataclass(frozen=True)
class Task:
    """A probing task.

    ``kind``: ``classification`` (integer targets), ``regression`` (float vectors) or
    ``multilabel`` (0/1 vectors). ``location``: the answer is a place, so token pools chosen with
    the object's mask are refused. ``level``: ``scene`` (scene-level pools) or ``object``
    (object-level pools allowed). ``conditioned``: items carry text the probe must read.
    ``build(scenes, store, options)`` makes the items; ``metrics(pred, items)`` returns per-item
    values per metric name (the first one is the headline).
    """

    name: str
    kind: str
    location: bool
    level: str
    conditioned: bool
    build: Callable
    metrics: Callable
    description: str = ""
    box: bool = False
    """Regression targets are boxes (unit cx, cy, w, h): neural probes add a GIoU loss."""


def object_type(obj) -> str:
    """An object's full type, the unit of the control task."""
    return "/".join([obj.category or "?"] + [obj.attributes[k] for k in sorted(obj.attributes)])


def size_group(obj) -> str:
    return obj.attributes.get("size", "large" if obj.box.area > 0.05 * obj.box.frame[0] * obj.box.frame[1] else "small")


def overlap_group(scene) -> str:
    return "occluded" if any(o.visible < 1.0 for o in scene.objects) else "clear"


def accuracy(pred, items: Items) -> dict[str, np.ndarray]:
    return {"accuracy": (np.asarray(pred) == items.target).astype(np.float64)}


def scene_index(store) -> dict[str, int]:
    return {sid: i for i, sid in enumerate(store.scene_ids)}


def object_lookup(store) -> dict[tuple[int, int], int]:
    """(scene row, object id) → index into ``store.objects()``."""
    objects = store.objects()
    return {(int(r), int(i)): k for k, (r, i) in enumerate(zip(objects["row"], objects["id"]))}
