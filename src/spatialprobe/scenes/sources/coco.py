"""COCO: ``annotations/instances_{split}{year}.json`` (+ ``captions_{split}{year}.json``) and the
``{split}{year}/`` image folders, as published. Objects carry their xywh boxes (as xyxy pixels),
polygon / RLE masks and crowd flags; captions mark the objects whose category they mention
(offline lemmatisation with simplemma, every word of a category name), as 2406.09067's
mentioned / not-mentioned split needs."""

from __future__ import annotations

from pathlib import Path

from spatialprobe.registry import SOURCES
from spatialprobe.scenes.record import Caption, Scene
from spatialprobe.scenes.sources._real import HELD_OUT, Instances, Reading, RealSource, Skipped, SourceError, read_json, split_mapper

SPLIT_MAP = {"train": HELD_OUT, "val": "test"}


def lemmas(text: str) -> set[str]:
    import re

    import simplemma

    return {simplemma.lemmatize(w, lang="en") for w in re.findall(r"[a-z]+", text.lower())}


def mentioned(caption: str, category: str) -> bool:
    """Every word of the category name (``dining table``) appears, lemmatised, in the caption."""
    return lemmas(category) <= lemmas(caption)


def read(root: Path, year: str, splits: list, split_map: dict | None, val_fraction: float, captions: bool) -> Reading:
    mapping, split_of = split_mapper(SPLIT_MAP, split_map, val_fraction)
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
            for image_id, image in instances.images.items():
                target = split_of(split, image_id)
                if target is None:
                    continue
                relative = f"{split}{year}/{image['file_name']}"
                if not (root / relative).exists():
                    skipped.append(Skipped(f"{path.name} image {image_id}", f"image file {relative} is missing"))
                    continue
                objects, _ = instances.objects(image, skipped)
                caps = tuple(Caption(f"c{cid}", text, kind="coco", mentions=tuple(o.id for o in objects if mentioned(text, o.category)))
                             for cid, text in texts.get(image_id, []))
                yield Scene(f"coco-{split}{year}-{image_id}", relative, int(image["width"]), int(image["height"]), split=target, source="coco",
                            objects=tuple(objects), captions=caps, meta={"dataset_split": split, "image_id": image_id})

    return Reading(scenes(), root, {"split_map": mapping, "val_fraction": val_fraction}, skipped)


SOURCES.register("coco", RealSource("coco", "COCO instances (boxes, masks, crowd) and captions with mentioned objects", {
    "year": ("2017", "the release, as in instances_train2017.json"),
    "splits": (["train", "val"], "which instances_<split><year>.json files to read"),
    "split_map": (None, f"dataset split → probing split (default {SPLIT_MAP}; {HELD_OUT}: hold out val_fraction of the images as probe_val)"),
    "val_fraction": (0.1, f"the share of a {HELD_OUT} split's images held out as probe_val"),
    "captions": (True, "read captions_<split><year>.json when present"),
}, read))
