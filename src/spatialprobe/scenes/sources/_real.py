"""What every real-dataset source shares: the `Reading` it returns, skipped rows, split maps, and
COCO-format instances (the annotation format COCO, RefCOCO and VSR all build on).

A source reads the official files *as published* and streams `Scene` records — the same records
the synthetic source writes — so every task, pool and probe runs on them unchanged. Nothing is
silently altered: a bad row (a box outside its image, an unknown category, a missing image or
annotation) is skipped and reported with its file and line or id (`Skipped`), or refused under
``strict``. Image paths stay relative to the source's ``image_root``; pixels are read only when a
scene's image is opened.

Split maps. Scenes carry the probing splits (``probe_train`` / ``probe_val`` / ``test``; ``lab`` for
training lab models); each source maps its dataset's own splits onto them with a default map that
``split_map`` overrides, and records the map and each scene's own split (``meta["dataset_split"]``).
A map target ``probe_train+val`` holds out ``val_fraction`` of that split's *images* (by a hash of
the image id, so the same image never lands on both sides) as ``probe_val``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from spatialprobe.geometry import Box
from spatialprobe.scenes.record import SPLITS, Mask, SceneObject

HELD_OUT = "probe_train+val"
"""A split-map target: ``probe_train``, with ``val_fraction`` of its images held out as ``probe_val``."""


class SourceError(ValueError):
    """A dataset that cannot be read (a missing or malformed file, a bad option); names the file."""


@dataclass(frozen=True)
class Skipped:
    where: str
    """``file:line``, or ``file`` and an id."""
    reason: str

    def __str__(self) -> str:
        return f"{self.where}: {self.reason}"


@dataclass
class Reading:
    """A source's scenes (a generator: iterate once; `skipped` fills as it runs) and what it read."""

    scenes: Iterator
    image_root: Path
    metadata: dict
    skipped: list[Skipped] = field(default_factory=list)
    inputs: list[Path] = field(default_factory=list)
    """The annotation files read (not images): a cached conversion is stale when one changes."""


def read_json(path: Path):
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        raise SourceError(f"{path}: missing") from None
    except (OSError, ValueError) as err:
        raise SourceError(f"{path}: not valid JSON ({err})") from None


_BETWEEN = re.compile(r"[\s,]*")


def iter_json_array(path: Path, chunk: int = 1 << 22) -> Iterator:
    """The elements of a file holding one JSON array, decoded one at a time (a multi-GB
    ``region_descriptions.json`` never sits in memory whole); errors name the file and offset."""
    decoder = json.JSONDecoder()
    try:
        f = open(path, encoding="utf-8")
    except FileNotFoundError:
        raise SourceError(f"{path}: missing") from None
    with f:
        buffer, pos, offset = f.read(chunk).lstrip(), 0, 0
        if not buffer.startswith("["):
            raise SourceError(f"{path}: expected a JSON array")
        pos = 1
        while True:
            pos = _BETWEEN.match(buffer, pos).end()
            if buffer.startswith("]", pos):
                return
            try:
                value, end = decoder.raw_decode(buffer, pos) if pos < len(buffer) else (None, -1)
            except ValueError as err:
                value, end, error = None, -1, getattr(err, "msg", err)
            if end > 0:
                yield value
                pos = end
                continue
            more = f.read(chunk)  # the element runs past the buffer (or is broken: decided once nothing is left)
            if not more:
                raise SourceError(f"{path}: " + ("the JSON array is not closed" if pos >= len(buffer) else f"not valid JSON near character {offset + pos} ({error})"))
            buffer, offset, pos = buffer[pos:] + more, offset + pos, 0


def split_mapper(default: dict, override: dict | None, val_fraction: float):
    """``dataset split → probing split`` (None: the split is left out), validated."""
    mapping = {**default, **(override or {})}
    for name, target in mapping.items():
        if target is not None and target not in SPLITS + (HELD_OUT,):
            raise SourceError(f"split_map.{name}: {target!r} is not a probing split; valid: {', '.join(SPLITS + (HELD_OUT,))} or null")
    if not 0.0 <= val_fraction < 1.0:
        raise SourceError(f"val_fraction: expected a fraction in [0, 1), got {val_fraction!r}")

    def split_of(dataset_split: str, image_id) -> str | None:
        target = mapping.get(dataset_split)
        if target != HELD_OUT:
            return target
        h = int(hashlib.sha256(str(image_id).encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
        return "probe_val" if h < val_fraction else "probe_train"

    return mapping, split_of


class Instances:
    """A COCO-format ``instances*.json``, indexed once: images by id, annotations per image, categories."""

    def __init__(self, path: Path):
        self.path = path
        data = read_json(path)
        try:
            self.images = {im["id"]: im for im in data["images"]}
            self.categories = {c["id"]: c["name"] for c in data["categories"]}
            self.by_image: dict = {}
            self.annotations = {}
            for ann in data["annotations"]:
                self.by_image.setdefault(ann["image_id"], []).append(ann)
                self.annotations[ann["id"]] = ann
        except (KeyError, TypeError) as err:
            raise SourceError(f"{path}: not COCO instances ({err!r} missing: expected images, annotations, categories)") from None

    def objects(self, image: dict, skipped: list[Skipped], only: set | None = None) -> tuple[list[SceneObject], dict]:
        """The image's annotations as objects (ids 1, 2, … in file order) and ``annotation id → object id``;
        bad annotations are skipped and reported, never clipped."""
        frame = (int(image["width"]), int(image["height"]))
        objects, ids = [], {}
        for ann in self.by_image.get(image["id"], []):
            if only is not None and ann["id"] not in only:
                continue
            where = f"{self.path.name} annotation {ann.get('id')}"
            category = self.categories.get(ann.get("category_id"))
            if category is None:
                skipped.append(Skipped(where, f"unknown category id {ann.get('category_id')!r}"))
                continue
            try:
                x, y, w, h = (float(v) for v in ann["bbox"])
                box = Box((x, y, x + w, y + h), "xyxy", "pixel", frame)  # COCO's xywh; built as xyxy directly (no array round trip)
            except (KeyError, TypeError, ValueError) as err:
                skipped.append(Skipped(where, f"bad bbox {ann.get('bbox')!r} ({err})"))
                continue
            if not (x >= -0.5 and y >= -0.5 and x + w <= frame[0] + 0.5 and y + h <= frame[1] + 0.5):  # the scene format's tolerance
                skipped.append(Skipped(where, f"bbox {ann['bbox']} lies outside the {frame[0]}×{frame[1]} image"))
                continue
            seg = ann.get("segmentation")
            mask = Mask("rle", seg) if isinstance(seg, dict) else Mask("polygons", seg) if seg else None
            ids[ann["id"]] = len(objects) + 1
            objects.append(SceneObject(len(objects) + 1, box, category, mask=mask, crowd=bool(ann.get("iscrowd", 0)), meta={"annotation_id": ann["id"], "category_id": ann["category_id"]}))
        return objects, ids


@dataclass(frozen=True)
class RealSource:
    """A registered real-dataset source: ``read(root, **options) -> Reading``."""

    name: str
    summary: str
    options: dict
    """Option name → (default, what it means): `spatialprobe data ls` prints them; any other is refused."""
    read_fn: object

    def read(self, root: str | Path, strict: bool = False, **options) -> Reading:
        from spatialprobe.registry import nearest

        for key in options:
            if key not in self.options:
                near = nearest(key, self.options)
                raise SourceError(f"{self.name}: unknown option {key!r}" + (f"; did you mean {near!r}?" if near else "") + f" (valid: {', '.join(self.options)})")
        root = Path(root)
        if not root.is_dir():
            raise SourceError(f"{root}: no such directory")
        values = {k: options.get(k, default) for k, (default, _) in self.options.items()}
        reading = self.read_fn(root, **values)
        if strict:
            reading.scenes = _strictly(reading.scenes, reading.skipped)
        reading.metadata = {"source": self.name, "root": str(root), "options": values, **reading.metadata}
        return reading


def _strictly(scenes: Iterator, skipped: list[Skipped]) -> Iterator:
    """The scenes, but the first skipped row is an error."""
    for scene in scenes:
        if skipped:
            raise SourceError(f"{skipped[0]} (--strict)")
        yield scene
    if skipped:
        raise SourceError(f"{skipped[0]} (--strict)")
