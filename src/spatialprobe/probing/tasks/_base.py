"""What every task is: how to turn scenes into `Items`, and how to score predictions."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from spatialprobe.probing.items import Items, ProbingError


@dataclass(frozen=True)
class Option:
    """One task option: whether a value is valid, and the words for what is."""

    check: Callable[[Any], bool]
    expect: str


def integer(low: int) -> Option:
    return Option(lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= low, f"an integer ≥ {low}")


def one_of(*values) -> Option:
    return Option(lambda v: v in values, "one of " + ", ".join(map(repr, values)))


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
    options: dict = field(default_factory=dict)
    """name → `Option`: what a config may set for this task (anything else is refused)."""
    metric_names: tuple[str, ...] = ("accuracy",)
    """The keys ``metrics`` returns, headline first: a plan's claims are resolved against them before any work."""

    def check_options(self, options: dict, where: str) -> None:
        """Refuse unknown options (naming the nearest valid one) and invalid values, before any work."""
        from spatialprobe.registry import nearest

        for key, value in options.items():
            if key not in self.options:
                near = nearest(key, self.options)
                valid = ", ".join(self.options) or "none"
                raise ProbingError(f"{where}.{key}: unknown {self.name} option" + (f"; did you mean {near!r}?" if near else "") + f" (valid: {valid})")
            if not self.options[key].check(value):
                raise ProbingError(f"{where}.{key}: expected {self.options[key].expect}, got {value!r}")


def object_type(obj) -> str:
    """An object's full type, the unit of the control task."""
    return "/".join([obj.category or "?"] + [obj.attributes[k] for k in sorted(obj.attributes)])


def size_group(obj) -> str:
    return obj.attributes.get("size", "large" if obj.box.area > 0.05 * obj.box.frame[0] * obj.box.frame[1] else "small")


def overlap_group(scene) -> str:
    return "occluded" if any(o.visible < 1.0 for o in scene.objects) else "clear"


def items_from(cols: dict[str, list], groups: dict[str, str], target_dtype=np.int64, classes=None) -> Items:
    """`Items` from per-item columns: ``scene``, ``item``, ``split``, ``row``, ``target``, ``key`` and
    optionally ``text`` and ``obj``; ``groups`` maps a breakdown name to its column."""
    return Items(
        scene_id=np.array(cols["scene"]),
        item_id=np.array(cols["item"]),
        split=np.array(cols["split"]),
        scene_row=np.array(cols["row"], dtype=np.int64),
        target=np.array(cols["target"], dtype=target_dtype),
        text=cols.get("text"),
        object_index=np.array(cols["obj"], dtype=np.int64) if "obj" in cols else None,
        control_key=cols["key"],
        groups={name: np.array(cols[column]) for name, column in groups.items()},
        classes=classes,
    )


def accuracy(pred, items: Items) -> dict[str, np.ndarray]:
    return {"accuracy": (np.asarray(pred) == items.target).astype(np.float64)}


def scene_index(store) -> dict[str, int]:
    return {sid: i for i, sid in enumerate(store.scene_ids)}


def object_lookup(store) -> dict[tuple[int, int], int]:
    """(scene row, object id) → index into ``store.objects()``."""
    objects = store.objects()
    return {(int(r), int(i)): k for k, (r, i) in enumerate(zip(objects["row"], objects["id"]))}
