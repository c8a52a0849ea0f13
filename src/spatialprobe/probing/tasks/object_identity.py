"""2406.09067: which category an object is, read from a token pool — per object, or in pairs.

``pairing``: ``none`` (every object, its own category) or ``paired`` (scenes with a primary — the
largest object — and a secondary of another category). ``source`` (primary | secondary) says whose
tokens an object pool reads; ``target`` (primary | secondary | combination) whose label is decoded.
``attribute`` (default ``category``) says what is decoded: the category, or any attribute the
objects carry (``colour``) — encoder decodability as a positive control. Paired labels are balanced as in the paper (``balance: false`` turns it off): within each secondary
category, primary categories are subsampled to equal counts (per split, seeded); a secondary
category seen with a single primary category is dropped. Structure measures from the paired accuracies
A_xy (decoding y from x's tokens): binding M1 = A_ss, segregation M2 = A_sp / A_pp — our reading of
the paper's notation.
"""

from __future__ import annotations

import zlib

import numpy as np

from spatialprobe.probing.items import Items, ProbingError
from spatialprobe.probing.tasks._base import Option, Task, accuracy, integer, items_from, object_lookup, object_type, one_of, overlap_group, scene_index, size_group
from spatialprobe.probing.tasks._view import View
from spatialprobe.registry import TASKS

ROLES = ("primary", "secondary")


def _pair(scene):
    """(primary, secondary): the objects a dataset marks so (``meta.role``, COCO's task sets), else the
    largest object and, drawn by the scene id, one of another category."""
    roles = {o.meta.get("role"): o for o in scene.objects if o.meta.get("role") in ROLES}
    if roles:
        return (roles["primary"], roles["secondary"]) if len(roles) == 2 else None
    ordered = sorted(scene.objects, key=lambda o: (-o.box.area, o.id))
    primary = ordered[0]
    others = [o for o in ordered[1:] if o.category != primary.category]
    if not others:
        return None
    return primary, others[zlib.crc32(scene.id.encode()) % len(others)]


def _mentioned(scene, obj) -> str:
    """Whether any of the scene's image captions (the lab's coarse one, COCO's five) mentions the object."""
    captions = [c for c in scene.captions if c.kind in ("coarse", "coco")]
    if not captions:
        return "unknown"
    return "mentioned" if any(obj.id in c.mentions for c in captions) else "not mentioned"


def build(scenes, store, options) -> Items:
    pairing = options.get("pairing", "none")
    source, target = options.get("source", "primary"), options.get("target", "primary")
    if pairing not in ("none", "paired") or source not in ROLES or target not in ROLES + ("combination",):
        raise ProbingError(
            f"object_identity: pairing none|paired, source {ROLES}, target {ROLES + ('combination',)}; got {pairing}, {source}, {target}"
        )
    attribute = options.get("attribute", "category")

    def label_of(o):
        return o.category if attribute == "category" else o.attributes.get(attribute)

    categories = sorted({label_of(o) for s in scenes for o in s.objects if label_of(o)})
    if not categories:
        raise ProbingError(f"object_identity: no object has a {attribute!r}; attributes present: "
                           f"{sorted({k for s in scenes for o in s.objects for k in o.attributes}) or 'none'}")
    label = {c: i for i, c in enumerate(categories)}
    rows, lookup, view = scene_index(store), object_lookup(store), View(store, "object_identity")
    names = ("scene", "item", "split", "row", "target", "obj", "key", "size", "n_objects", "overlap", "mentioned", "primary", "secondary")
    cols = {k: [] for k in names}
    for scene in scenes:
        if scene.id not in rows:
            continue
        r = rows[scene.id]
        if pairing == "none":
            entries = [(o, o, label[label_of(o)], f"o{o.id}", "", "") for o in scene.objects if label_of(o)]
        else:
            pair = _pair(scene)
            if pair is None:
                continue
            src = pair[ROLES.index(source)]
            tgt = pair[1] if target == "combination" else pair[ROLES.index(target)]
            if target == "combination":
                y = label[label_of(pair[0])] * len(categories) + label[label_of(pair[1])]
            else:
                y = label[label_of(tgt)]
            entries = [(src, tgt, y, f"{source}->{target}", pair[0].category, pair[1].category)]
        for src, tgt, y, item, prim, sec in entries:
            if view.of(scene, src) is None:  # its tokens are not in the model's input
                continue
            values = (scene.id, item, scene.split, r, y, lookup[(r, src.id)], object_type(tgt), size_group(src),
                      str(len(scene.objects)), overlap_group(scene), _mentioned(scene, tgt), prim, sec)
            for name, value in zip(names, values):
                cols[name].append(value)
    view.report()
    items = items_from(
        cols,
        {k: k for k in ("size", "n_objects", "overlap", "mentioned")},
        classes=categories if target != "combination" else [f"{a}+{b}" for a in categories for b in categories],
    )
    if pairing == "paired" and options.get("balance", True):
        items = balance(items, np.array(cols["primary"]), np.array(cols["secondary"]), int(options.get("seed", 0)))
    return items


def balance(items: Items, primary: np.ndarray, secondary: np.ndarray, seed: int) -> Items:
    """Within each split and secondary category, keep equal numbers of each primary category."""
    rng = np.random.default_rng(seed)
    keep = np.zeros(len(items), bool)
    for split in np.unique(items.split):
        for sec in np.unique(secondary):
            idx = np.flatnonzero((items.split == split) & (secondary == sec))
            groups = [idx[primary[idx] == p] for p in np.unique(primary[idx])]
            if len(groups) < 2:
                continue
            n = min(len(g) for g in groups)
            for g in groups:
                keep[rng.choice(g, size=n, replace=False)] = True
    return items.subset(keep)


TASKS.register(
    "object_identity",
    Task("object_identity", "classification", location=False, level="object", conditioned=False, build=build, metrics=accuracy,
         options={"pairing": one_of("none", "paired"), "source": one_of(*ROLES), "target": one_of(*ROLES, "combination"),
                  "attribute": Option(lambda v: isinstance(v, str), "an object attribute name (or category)"),
                  "balance": Option(lambda v: isinstance(v, bool), "true or false"), "seed": integer(0)},
         description="category from a token pool (2406.09067); per object or paired primary/secondary/combination; M1, M2"),
)
