"""PixelLLM: a location for every grounded word of a caption (the word's object box).

The probe reads the visual features conditioned on the word's phrase; point-L1 (PixelLLM's
`point_l1`: mean |Δ| of the box centre in frame-normalised coordinates) and ACC@0.5 of the box.
"""

from __future__ import annotations

import numpy as np

from spatialprobe.probing.items import Items
from spatialprobe.probing.tasks._base import Option, Task, items_from, object_lookup, object_type, overlap_group, scene_index, size_group
from spatialprobe.probing.tasks._referring import box_metrics, model_frame, unit_cxcywh
from spatialprobe.metrics.points import point_l1
from spatialprobe.probing.tasks._view import View
from spatialprobe.registry import TASKS


def _phrase(caption, word) -> str:
    """The contiguous run of words grounded to the same object as ``word``."""
    same = [w for w in caption.words if w.object == word.object]
    runs, current = [], []
    for w in caption.words:
        if w.object == word.object:
            current.append(w)
        elif current:
            runs.append(current)
            current = []
    if current:
        runs.append(current)
    run = next(r for r in runs if word in r) if runs else same
    return caption.text[run[0].start : run[-1].end]


def build(scenes, store, options) -> Items:
    rows, lookup, boxes = scene_index(store), object_lookup(store), store.objects()["boxes"]
    kinds = set(options.get("captions", ["coarse", "spatial", "narrative"]))
    view = View(store, "word_location")
    cols = {k: [] for k in ("scene", "item", "split", "row", "target", "text", "obj", "key", "size", "overlap", "caption", "view")}
    for scene in scenes:
        if scene.id not in rows:
            continue
        r, frame = rows[scene.id], model_frame(store, scene)
        for caption in scene.captions:
            if caption.kind not in kinds:
                continue
            for j, word in enumerate(caption.words):
                if word.object is None:
                    continue
                k = lookup[(r, word.object)]
                obj = scene.object(word.object)
                seen = view.of(scene, obj)
                if seen is None:
                    continue
                values = (scene.id, f"{caption.id}.w{j}", scene.split, r, unit_cxcywh(boxes[k], frame),
                          f"{caption.word_text(word)} | {_phrase(caption, word)}", k, object_type(obj), size_group(obj),
                          overlap_group(scene), caption.kind, seen)
                for name, value in zip(cols, values):
                    cols[name].append(value)
    view.report()
    items = items_from(cols, {k: k for k in ("size", "overlap", "caption") + view.group(cols["view"])}, target_dtype=np.float64)
    items.target = items.target.reshape(-1, 4)
    return items


def metrics(pred, items: Items) -> dict[str, np.ndarray]:
    pred = np.asarray(pred, dtype=np.float64)
    out = {"point_l1": point_l1(pred, items.target)}
    out.update({k: v for k, v in box_metrics(pred, items).items() if k in ("ACC@0.5", "IoU")})
    return out


TASKS.register(
    "word_location",
    Task("word_location", "regression", location=True, level="scene", conditioned=True, build=build, metrics=metrics, box=True, metric_names=("point_l1", "ACC@0.5", "IoU"),
         options={"captions": Option(lambda v: isinstance(v, list) and all(isinstance(k, str) for k in v), "a list of caption kinds")},
         description="PixelLLM: each grounded word's object box; point_l1 (lower is better) and ACC@0.5"),
)
