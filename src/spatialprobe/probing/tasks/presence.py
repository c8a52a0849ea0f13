"""Which categories are present in the scene (multi-label over the dataset's categories)."""

from __future__ import annotations

import numpy as np

from spatialprobe.probing.items import Items
from spatialprobe.probing.tasks._base import Task, overlap_group, scene_index
from spatialprobe.registry import TASKS


def build(scenes, store, options) -> Items:
    rows = scene_index(store)
    categories = sorted({o.category for s in scenes for o in s.objects if o.category})
    index = {c: i for i, c in enumerate(categories)}
    kept = [s for s in scenes if s.id in rows]
    target = np.zeros((len(kept), len(categories)))
    for i, scene in enumerate(kept):
        for obj in scene.objects:
            if obj.category:
                target[i, index[obj.category]] = 1.0
    return Items(
        scene_id=np.array([s.id for s in kept]),
        item_id=np.array(["scene"] * len(kept)),
        split=np.array([s.split for s in kept]),
        scene_row=np.array([rows[s.id] for s in kept], dtype=np.int64),
        target=target,
        control_key=["/".join(sorted({o.category or "?" for o in s.objects})) for s in kept],
        groups={"n_objects": np.array([str(len(s.objects)) for s in kept]), "overlap": np.array([overlap_group(s) for s in kept])},
        classes=categories,
    )


def metrics(pred, items: Items) -> dict[str, np.ndarray]:
    correct = (np.asarray(pred) >= 0.5) == (items.target >= 0.5)
    return {"label_accuracy": correct.mean(axis=1), "exact_match": correct.all(axis=1).astype(np.float64)}


TASKS.register(
    "presence",
    Task("presence", "multilabel", location=False, level="scene", conditioned=False, build=build, metrics=metrics, metric_names=("label_accuracy", "exact_match"),
         description="which categories are present; per-scene label accuracy and exact match"),
)
