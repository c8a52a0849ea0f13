"""True or false: a spatial statement about two objects ("the red circle is left of the blue square")."""

from __future__ import annotations

import numpy as np

from spatialprobe.probing.items import Items
from spatialprobe.probing.tasks._base import Task, accuracy, object_type, overlap_group, scene_index
from spatialprobe.registry import TASKS


def build(scenes, store, options) -> Items:
    rows = scene_index(store)
    sets = options.get("predicate_sets") or {}
    set_of = {p: name for name, members in sets.items() for p in members}
    cols = {k: [] for k in ("scene", "item", "split", "row", "target", "text", "key", "predicate", "set", "n_objects", "overlap")}
    for scene in scenes:
        if scene.id not in rows:
            continue
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
    return Items(
        scene_id=np.array(cols["scene"]),
        item_id=np.array(cols["item"]),
        split=np.array(cols["split"]),
        scene_row=np.array(cols["row"], dtype=np.int64),
        target=np.array(cols["target"], dtype=np.int64),
        text=cols["text"],
        control_key=cols["key"],
        groups={"predicate": np.array(cols["predicate"]), "predicate_set": np.array(cols["set"]),
                "n_objects": np.array(cols["n_objects"]), "overlap": np.array(cols["overlap"])},
        classes=[0, 1],
    )


TASKS.register(
    "relation",
    Task("relation", "classification", location=True, level="scene", conditioned=True, build=build, metrics=accuracy,
         description="true/false of a spatial statement; accuracy overall, per predicate and per predicate set (seen/unseen)"),
)
