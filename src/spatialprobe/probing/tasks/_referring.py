"""Shared by the referring tasks: one item per expression with a referent, targets in the model frame."""

from __future__ import annotations

import numpy as np

from spatialprobe.geometry import acc_at, center_in_box, iou
from spatialprobe.models import imaging
from spatialprobe.probing.items import Items
from spatialprobe.probing.tasks._base import items_from, object_lookup, object_type, overlap_group, scene_index, size_group
from spatialprobe.probing.tasks._view import View


def model_frame(store, scene) -> tuple[int, int]:
    """The model's input frame for this scene's image."""
    return imaging.from_json(store.manifest["components"]["preprocess"]).input_size(scene.frame)


def expression_items(scenes, store, target_fn, task: str, dtype=np.float64) -> Items:
    """Items for every expression whose referent is annotated and in view; ``target_fn(model_box, frame)``."""
    rows, lookup, boxes = scene_index(store), object_lookup(store), store.objects()["boxes"]
    view = View(store, task)
    cols = {k: [] for k in ("scene", "item", "split", "row", "target", "text", "obj", "key", "size", "n_objects", "overlap", "kind", "template", "view")}
    for scene in scenes:
        if scene.id not in rows:
            continue
        r = rows[scene.id]
        frame = model_frame(store, scene)
        for e in scene.expressions:
            if e.referent is None:
                continue
            obj = scene.object(e.referent)
            seen = view.of(scene, obj)
            if seen is None:
                continue
            k = lookup[(r, obj.id)]
            for name, value in (
                ("scene", scene.id), ("item", e.id), ("split", scene.split), ("row", r),
                ("target", target_fn(boxes[k], frame)), ("text", e.text), ("obj", k), ("key", object_type(obj)),
                ("size", size_group(obj)), ("n_objects", str(len(scene.objects))), ("overlap", overlap_group(scene)),
                ("kind", e.kind), ("template", e.template or ""), ("view", seen),
            ):
                cols[name].append(value)
    view.report()
    return items_from(cols, {k: k for k in ("size", "n_objects", "overlap", "kind", "template") + view.group(cols["view"])}, target_dtype=dtype)


def unit_cxcywh(box, frame) -> list[float]:
    """A model-frame pixel xyxy box as (cx, cy, w, h) in [0, 1] of the frame."""
    x0, y0, x1, y1 = box
    w, h = frame
    return [(x0 + x1) / 2 / w, (y0 + y1) / 2 / h, (x1 - x0) / w, (y1 - y0) / h]


def to_xyxy(unit: np.ndarray) -> np.ndarray:
    """(n, 4) unit cxcywh → (n, 4) unit xyxy (the frame cancels in IoU)."""
    cx, cy, w, h = unit.T
    w, h = np.abs(w), np.abs(h)
    return np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)


BOX_METRICS = ("ACC@0.5", "IoU", "ACC@0.1", "ACC@0.3", "ACC@0.7", "ACC@0.9", "Center_ACC")


def box_metrics(pred: np.ndarray, items: Items) -> dict[str, np.ndarray]:
    """lmms-eval's RefCOCO names: IoU, ACC@0.1…0.9, Center_ACC (boxes as unit cxcywh)."""
    p, t = to_xyxy(np.asarray(pred, dtype=np.float64)), to_xyxy(items.target)
    ious = iou(p, t)
    out = {"ACC@0.5": acc_at(ious, 0.5), "IoU": ious}
    for tau in (0.1, 0.3, 0.7, 0.9):
        out[f"ACC@{tau}"] = acc_at(ious, tau)
    out["Center_ACC"] = center_in_box(p, t)
    return out
