"""True or false: a spatial statement about two objects ("the red circle is left of the blue square")."""

from __future__ import annotations

import numpy as np

from spatialprobe.probing.items import Items
from spatialprobe.probing.tasks._base import Option, Task, accuracy, items_from, object_lookup, object_type, overlap_group, scene_index
from spatialprobe.probing.tasks._referring import model_frame, unit_cxcywh
from spatialprobe.registry import TASKS


def build(scenes, store, options) -> Items:
    rows, lookup, boxes = scene_index(store), object_lookup(store), store.objects()["boxes"]
    sets = options.get("predicate_sets") or {}
    set_of = {p: name for name, members in sets.items() for p in members}
    cols = {k: [] for k in ("scene", "item", "split", "row", "target", "text", "key", "predicate", "set", "n_objects", "overlap")}
    located = []
    for scene in scenes:
        if scene.id not in rows:
            continue
        frame = model_frame(store, scene)
        for rel in scene.relations:
            subj = scene.object(rel.subject) if rel.subject is not None else None
            obj = scene.object(rel.object) if rel.object is not None else None
            key = f"{object_type(subj) if subj else rel.subject_name}|{rel.predicate}|{object_type(obj) if obj else rel.object_name}"
            for name, value in (
                ("scene", scene.id), ("item", rel.id), ("split", scene.split), ("row", rows[scene.id]),
                ("target", int(rel.label)), ("text", rel.text), ("key", key), ("predicate", rel.predicate),
                ("set", set_of.get(rel.predicate, "all")), ("n_objects", str(len(scene.objects))), ("overlap", overlap_group(scene)),
            ):
                cols[name].append(value)
            located.append([unit_cxcywh(boxes[lookup[(rows[scene.id], o.id)]], frame) if o is not None else [np.nan] * 4 for o in (subj, obj)])
    groups = {"predicate": "predicate", "predicate_set": "set", "n_objects": "n_objects", "overlap": "overlap"}
    items = items_from(cols, groups, classes=[0, 1])
    items.aux = {"boxes": np.array(located, dtype=np.float32).reshape(len(items), 2, 4)}
    return items


TASKS.register(
    "relation",
    Task("relation", "classification", location=True, level="scene", conditioned=True, build=build, metrics=accuracy,
         options={"predicate_sets": Option(lambda v: v is None or isinstance(v, dict), "a mapping set name → predicates")},
         description="true/false of a spatial statement; accuracy overall, per predicate and per predicate set (seen/unseen)"),
)
