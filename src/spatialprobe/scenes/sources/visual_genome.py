"""Visual Genome region descriptions: ``region_descriptions.json`` (per image, ``regions`` of
``region_id``, ``phrase``, ``x``, ``y``, ``width``, ``height`` in pixels) with ``image_data.json``
(sizes) and the ``VG_100K`` / ``VG_100K_2`` image folders, as published.

Each region becomes an object with no category (``meta.region_id``) and an expression of kind
``region`` — its phrase — pointing at it, so the referring tasks and location-conditioned captioning
read regions like RefCOCO's expressions. Splits come from DenseCap's ``densecap_splits.json``
(``train`` / ``val`` / ``test`` image ids), the split every dense-captioning result reports on;
without it (``split_file=null``) every image is in the one split ``all``. The regions file is
decoded one image at a time.
"""

from __future__ import annotations

from pathlib import Path

from spatialprobe.geometry import Box
from spatialprobe.registry import SOURCES
from spatialprobe.scenes.record import Expression, Scene, SceneObject
from spatialprobe.scenes.sources._real import HELD_OUT, Reading, RealSource, Skipped, SourceError, iter_json_array, read_json, split_mapper

SPLIT_MAP = {"train": "probe_train", "val": "probe_val", "test": "test", "all": HELD_OUT}
FOLDERS = ("VG_100K", "VG_100K_2")


def _splits(root: Path, split_file: str | None) -> dict:
    """``image id → DenseCap split``; every image ``all`` without a split file."""
    if split_file is None:
        return {}
    path = Path(split_file) if Path(split_file).is_absolute() else root / split_file
    if not path.exists():
        raise SourceError(f"{path}: missing (DenseCap's densecap_splits.json; -o split_file=null reads every image as one split 'all')")
    data = read_json(path)
    if not isinstance(data, dict) or not all(isinstance(v, list) for v in data.values()):
        raise SourceError(f"{path}: expected {{split: [image ids]}}")
    return {int(i): split for split, ids in data.items() for i in ids}


def _region(region: dict, oid: int, frame: tuple[int, int], where: str, skipped: list[Skipped]) -> tuple[SceneObject, Expression] | None:
    try:
        x, y, w, h = (float(region[k]) for k in ("x", "y", "width", "height"))
        phrase = str(region["phrase"]).strip()
    except (KeyError, TypeError, ValueError) as err:
        skipped.append(Skipped(where, f"malformed region ({err!r})"))
        return None
    if not phrase:
        skipped.append(Skipped(where, "empty phrase"))
    elif w <= 0 or h <= 0:
        skipped.append(Skipped(where, f"empty box ({w}×{h})"))
    elif not (x >= -0.5 and y >= -0.5 and x + w <= frame[0] + 0.5 and y + h <= frame[1] + 0.5):
        skipped.append(Skipped(where, f"box [{x:g}, {y:g}, {w:g}, {h:g}] lies outside the {frame[0]}×{frame[1]} image"))
    else:
        box = Box((x, y, x + w, y + h), "xyxy", "pixel", frame)
        return (SceneObject(oid, box, meta={"region_id": region.get("region_id")}),
                Expression(f"r{region.get('region_id', oid)}", phrase, oid, kind="region"))
    return None


def read(root: Path, regions: str, image_data: str | None, split_file: str | None, split_map: dict | None, val_fraction: float) -> Reading:
    from PIL import Image

    mapping, split_of = split_mapper(SPLIT_MAP, split_map, val_fraction)
    regions_path = root / regions
    if not regions_path.exists():
        raise SourceError(f"{regions_path}: missing (expected Visual Genome's region_descriptions.json under {root})")
    dataset_split = _splits(root, split_file)
    sizes = {}
    if image_data is not None:
        if not (root / image_data).exists():
            raise SourceError(f"{root / image_data}: missing (Visual Genome's image sizes; -o image_data=null reads each image's header instead)")
        for im in read_json(root / image_data):
            sizes[int(im.get("image_id", im.get("id")))] = (int(im["width"]), int(im["height"]))
    skipped: list[Skipped] = []
    counts = {"images": 0, "regions": 0, "images in no split": 0}

    def scenes():
        for k, entry in enumerate(iter_json_array(regions_path)):
            image_id = entry.get("id", entry.get("image_id")) if isinstance(entry, dict) else None
            where = f"{regions_path.name} image {image_id}" if image_id is not None else f"{regions_path.name} entry {k}"
            if image_id is None or not isinstance(entry.get("regions"), list):
                skipped.append(Skipped(where, "expected an image entry with id and regions"))
                continue
            split = dataset_split.get(int(image_id), None if dataset_split else "all")
            target = None if split is None else split_of(split, image_id)
            if split is None:
                counts["images in no split"] += 1
            if target is None:
                continue
            relative = next((f"{d}/{image_id}.jpg" for d in FOLDERS if (root / d / f"{image_id}.jpg").exists()), None)
            if relative is None:
                skipped.append(Skipped(where, f"image file {image_id}.jpg is in neither {' nor '.join(FOLDERS)}"))
                continue
            frame = sizes.get(int(image_id))
            if frame is None:
                with Image.open(root / relative) as im:
                    frame = im.size
            objects, expressions = [], []
            for region in entry["regions"]:
                made = _region(region, len(objects) + 1, frame, f"{regions_path.name} region {region.get('region_id')}", skipped)
                if made is not None:
                    objects.append(made[0])
                    expressions.append(made[1])
            counts["images"] += 1
            counts["regions"] += len(objects)
            yield Scene(f"vg-{image_id}", relative, frame[0], frame[1], split=target, source="visual_genome", objects=tuple(objects),
                        expressions=tuple(expressions), meta={"dataset_split": split, "image_id": image_id})

    return Reading(scenes(), root, {"split_map": mapping, "val_fraction": val_fraction, "counts": counts}, skipped,
                   inputs=[p for p in (regions_path, image_data and root / image_data, split_file and root / split_file) if p])


SOURCES.register("visual_genome", RealSource("visual_genome", "Visual Genome region descriptions (phrase + box per region), DenseCap splits", {
    "regions": ("region_descriptions.json", "the regions file under the root"),
    "image_data": ("image_data.json", "image sizes (null: read each image's header)"),
    "split_file": ("densecap_splits.json", "DenseCap's {train, val, test: [image ids]} under the root (null: one split 'all')"),
    "split_map": (None, f"dataset split → probing split (default {SPLIT_MAP}; {HELD_OUT}: hold out val_fraction of the images)"),
    "val_fraction": (0.1, f"the share of a {HELD_OUT} split's images held out as probe_val"),
}, read))
