"""VSR (Visual Spatial Reasoning): ``{train,dev,test}.jsonl`` of the random or the zero-shot split,
one true/false statement per line (``image``, ``caption``, ``relation``, ``label``, ``subj``, ``obj``),
COCO 2017 images. One scene per image and split, one `Relation` per line. With COCO ``instances``
given, the subject and object become objects with their boxes only where the image has exactly one
instance of that category; the ambiguous ones are counted, never guessed."""

from __future__ import annotations

import json
from pathlib import Path

from spatialprobe.registry import SOURCES
from spatialprobe.scenes.record import Relation, Scene
from spatialprobe.scenes.sources._real import Instances, Reading, RealSource, Skipped, SourceError, split_mapper

SPLIT_MAP = {"train": "probe_train", "dev": "probe_val", "test": "test"}
FIELDS = ("image", "caption", "relation", "label", "subj", "obj")


def _lines(path: Path, skipped: list[Skipped]):
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError as err:
                skipped.append(Skipped(f"{path.name}:{n}", f"not valid JSON ({err})"))
                continue
            missing = [k for k in FIELDS if not isinstance(row, dict) or k not in row]
            if missing or row["label"] not in (0, 1, True, False):
                skipped.append(Skipped(f"{path.name}:{n}", f"missing {missing}" if missing else f"label {row['label']!r} is not 0 or 1"))
                continue
            yield n, row


def read(root: Path, splits: list, images: str, instances: list | None, split_map: dict | None) -> Reading:
    from PIL import Image

    mapping, split_of = split_mapper(SPLIT_MAP, split_map, 0.0)
    files = {s: root / f"{s}.jsonl" for s in splits}
    missing = [str(p) for p in files.values() if not p.exists()]
    if missing:
        raise SourceError(f"{', '.join(missing)}: missing (expected VSR's {{train,dev,test}}.jsonl under {root})")
    image_root = Path(images) if Path(images).is_absolute() else root / images
    coco = [Instances(Path(p)) for p in instances or []]
    by_name = {im["file_name"]: (c, im) for c in coco for im in c.images.values()}
    skipped: list[Skipped] = []
    counts = {"statements": 0, "both ends boxed": 0, "ends with 0 or several instances": 0, "images not in the instances": 0}

    def scenes():
        for split, path in files.items():
            grouped: dict = {}
            for n, row in _lines(path, skipped):
                grouped.setdefault(row["image"], []).append((n, row))
            for name, rows in grouped.items():
                target = split_of(split, name)
                if target is None:
                    continue
                if not (image_root / name).exists():
                    skipped.append(Skipped(f"{path.name}:{rows[0][0]}", f"image file {image_root / name} is missing"))
                    continue
                with Image.open(image_root / name) as im:
                    width, height = im.size
                objects, relations = [], []
                source, image = by_name.get(name, (None, None))
                if source is not None:
                    objects, _ = source.objects(image, skipped)
                elif coco:
                    counts["images not in the instances"] += 1
                for n, row in rows:
                    counts["statements"] += 1
                    ends = []
                    for who in ("subj", "obj"):
                        same = [o.id for o in objects if o.category == row[who]]
                        ends.append(same[0] if len(same) == 1 else None)
                        counts["ends with 0 or several instances"] += bool(source is not None and len(same) != 1)
                    counts["both ends boxed"] += all(e is not None for e in ends)
                    relations.append(Relation(f"{split}{n}", row["caption"], row["relation"], bool(row["label"]), ends[0], ends[1],
                                              subject_name=row["subj"], object_name=row["obj"], meta={"line": n}))
                yield Scene(f"vsr-{split}-{Path(name).stem}", name, width, height, split=target, source="vsr", objects=tuple(objects),
                            relations=tuple(relations), meta={"dataset_split": split})

    return Reading(scenes(), image_root, {"split_map": mapping, "join": counts}, skipped, inputs=list(files.values()) + [c.path for c in coco])


SOURCES.register("vsr", RealSource("vsr", "VSR true/false spatial statements (random or zero-shot split), boxes joined from COCO where unambiguous", {
    "splits": (["train", "dev", "test"], "which <split>.jsonl files to read (the folder of the random or the zero-shot split)"),
    "images": ("images", "the folder of VSR's COCO 2017 images, absolute or under the root"),
    "instances": (None, "COCO instances_*.json files whose boxes are joined to subject and object (list of paths)"),
    "split_map": (None, f"dataset split → probing split (default {SPLIT_MAP})"),
}, read))
