"""COCO: ``annotations/instances_{split}{year}.json`` (+ ``captions_{split}{year}.json``) and the
``{split}{year}/`` image folders, as published. Objects carry their xywh boxes (as xyxy pixels),
polygon / RLE masks and crowd flags; captions mark the objects whose category they mention
(offline lemmatisation with simplemma, every word of a category name), as 2406.09067's
mentioned / not-mentioned split needs."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from spatialprobe.registry import SOURCES
from spatialprobe.scenes.record import Caption, Scene
from spatialprobe.scenes.sources._real import HELD_OUT, Instances, Reading, RealSource, Skipped, SourceError, read_json, split_mapper

SPLIT_MAP = {"train": HELD_OUT, "val": "test"}
PAIRED = (
    (("cat", "dog"), ("bench", "bed", "couch", "chair")),
    (("person", "dining table"), ("pizza", "cup", "knife", "cake")),
    (("bus", "train"), ("traffic light", "bench", "backpack", "handbag")),
    (("laptop", "tv"), ("mouse", "remote", "keyboard", "cell phone")),
    (("microwave", "oven"), ("bottle", "cup", "knife", "spoon")),
    (("car", "motorcycle"), ("traffic light", "handbag", "backpack", "bicycle")),
)
"""2406.09067's six paired-object task sets: 2 primary × 4 secondary COCO categories."""
GLOBAL = (20, 23, 52, 64, 51, 70, 19, 53, 11, 21, 32, 58, 14, 31, 36, 56, 25, 13, 8, 46)
"""2406.09067's 20-way global probe: COCO category ids (sheep, bear, banana, … wine glass)."""
TASK_SETS = ("global",) + tuple(f"paired-{k}" for k in range(len(PAIRED)))


def lemmas(text: str) -> set[str]:
    import re

    import simplemma

    return {simplemma.lemmatize(w, lang="en") for w in re.findall(r"[a-z]+", text.lower())}


def mentioned(caption: str, category: str) -> bool:
    """Every word of the category name (``dining table``) appears, lemmatised, in the caption."""
    return lemmas(category) <= lemmas(caption)


def task_objects(objects: list, task_set: str | None, counts: dict) -> list | None:
    """The image's objects for a task set (None: the image is not in it).

    ``global``: only the 20 categories' objects. ``paired-k``: images with objects of exactly one
    of the set's primary categories and exactly one of its secondary categories; the largest
    instance of each is marked ``meta.role`` primary / secondary (the rest stay, unmarked)."""
    if task_set is None:
        return objects
    if task_set == "global":
        kept = [o for o in objects if o.meta["category_id"] in GLOBAL]
        return kept or None
    primaries, secondaries = PAIRED[int(task_set.removeprefix("paired-"))]
    found = [sorted({o.category for o in objects if o.category in names}) for names in (primaries, secondaries)]
    if not found[0] or not found[1]:
        return None
    if len(found[0]) > 1 or len(found[1]) > 1:
        counts["images with several primary or secondary categories"] += 1
        return None
    marked = {}
    for role, (category,) in zip(("primary", "secondary"), found):
        marked[max((o for o in objects if o.category == category), key=lambda o: (o.box.area, -o.id)).id] = role
    counts["pairs"] += 1
    return [replace(o, meta={**o.meta, "role": marked[o.id]}) if o.id in marked else o for o in objects]


def read(root: Path, year: str, splits: list, split_map: dict | None, val_fraction: float, captions: bool, task_set: str | None,
         first_images: int | None) -> Reading:
    mapping, split_of = split_mapper(SPLIT_MAP, split_map, val_fraction)
    if task_set is not None and task_set not in TASK_SETS:
        raise SourceError(f"task_set: expected one of {', '.join(TASK_SETS)} or null, got {task_set!r}")
    if first_images is not None and not (isinstance(first_images, int) and first_images > 0):
        raise SourceError(f"first_images: expected a positive integer or null, got {first_images!r}")
    counts = {"pairs": 0, "images with several primary or secondary categories": 0, "images not in the task set": 0}
    files = {s: root / "annotations" / f"instances_{s}{year}.json" for s in splits}
    missing = [str(p) for p in files.values() if not p.exists()]
    if missing:
        raise SourceError(f"{', '.join(missing)}: missing (expected COCO's annotations/ folder under {root})")
    skipped: list[Skipped] = []

    def scenes():
        for split, path in files.items():
            instances = Instances(path)
            texts = {}
            if captions:
                cap_path = root / "annotations" / f"captions_{split}{year}.json"
                if cap_path.exists():
                    for ann in read_json(cap_path).get("annotations", []):
                        texts.setdefault(ann["image_id"], []).append((ann["id"], ann["caption"].strip()))
            for n, (image_id, image) in enumerate(instances.images.items()):
                target = split_of(split, image_id)
                if target is None or (first_images is not None and n >= first_images):
                    continue
                relative = f"{split}{year}/{image['file_name']}"
                if not (root / relative).exists():
                    skipped.append(Skipped(f"{path.name} image {image_id}", f"image file {relative} is missing"))
                    continue
                objects = task_objects(instances.objects(image, skipped)[0], task_set, counts)
                if objects is None:
                    counts["images not in the task set"] += 1
                    continue
                caps = tuple(Caption(f"c{cid}", text, kind="coco", mentions=tuple(o.id for o in objects if mentioned(text, o.category)))
                             for cid, text in texts.get(image_id, []))
                yield Scene(f"coco-{split}{year}-{image_id}", relative, int(image["width"]), int(image["height"]), split=target, source="coco",
                            objects=tuple(objects), captions=caps, meta={"dataset_split": split, "image_id": image_id})

    figures = {"task_set": task_set, "counts": counts} if task_set else {}
    return Reading(scenes(), root, {"split_map": mapping, "val_fraction": val_fraction, **figures}, skipped,
                   inputs=list(files.values()) + [p for s in files if (p := root / "annotations" / f"captions_{s}{year}.json").exists() and captions])


SOURCES.register("coco", RealSource("coco", "COCO instances (boxes, masks, crowd) and captions with mentioned objects", {
    "year": ("2017", "the release, as in instances_train2017.json"),
    "splits": (["train", "val"], "which instances_<split><year>.json files to read"),
    "split_map": (None, f"dataset split → probing split (default {SPLIT_MAP}; {HELD_OUT}: hold out val_fraction of the images as probe_val)"),
    "val_fraction": (0.1, f"the share of a {HELD_OUT} split's images held out as probe_val"),
    "captions": (True, "read captions_<split><year>.json when present"),
    "task_set": (None, f"2406.09067's sets: {TASK_SETS[1]}…{TASK_SETS[-1]} (primary / secondary roles marked) or global (the 20 categories)"),
    "first_images": (None, "read only the first N images of each instances file (2406.09067: 40000 of train2017)"),
}, read))
