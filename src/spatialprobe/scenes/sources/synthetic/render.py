"""Placing objects without forbidden overlap and drawing the image and its instance-id map."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import numpy as np

from spatialprobe.scenes.sources.synthetic.config import SyntheticConfig
from spatialprobe.scenes.sources.synthetic.shapes import COLOURS, SHAPES, box_sizes, stamp

MIN_VISIBLE = 0.35
PLACEMENT_TRIES = 200
LAYOUT_RESTARTS = 50


class LayoutError(RuntimeError):
    """Objects could not be placed under the requested constraints."""


@dataclass(frozen=True)
class Placed:
    """One drawn object: its type, its tight amodal box (xyxy pixels) and its visible fraction."""

    id: int
    shape: str
    colour: str
    size: str
    box: tuple[int, int, int, int]
    visible: float
    center: tuple[float, float] = field(init=False)
    attributes: dict[str, str] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "center", ((self.box[0] + self.box[2]) / 2, (self.box[1] + self.box[3]) / 2))
        object.__setattr__(self, "attributes", {"shape": self.shape, "colour": self.colour, "size": self.size})


def _types(cfg: SyntheticConfig, k: int, rnd: random.Random) -> list[tuple[str, str, str]]:
    types: list[tuple[str, str, str]] = []
    for i in range(k):
        if i and rnd.random() < cfg.duplicates:
            types.append(rnd.choice(types))
        else:
            types.append((rnd.choice(SHAPES), rnd.choice(list(COLOURS)), rnd.choice(("small", "large"))))
    return types


def _fits(box, placed_boxes, overlap: float) -> bool:
    x0, y0, x1, y1 = box
    area = (x1 - x0) * (y1 - y0)
    for a0, b0, a1, b1 in placed_boxes:
        if overlap == 0.0:
            if x0 <= a1 and a0 <= x1 and y0 <= b1 and b0 <= y1:  # touching counts: keep a 1 px gap
                return False
            continue
        iw, ih = min(x1, a1) - max(x0, a0), min(y1, b1) - max(y0, b0)
        if iw > 0 and ih > 0 and iw * ih > overlap * min(area, (a1 - a0) * (b1 - b0)):
            return False
    return True


def _layout(cfg: SyntheticConfig, types, rnd: random.Random) -> list[tuple[int, int, int, int]] | None:
    small, large = box_sizes(cfg.size)
    boxes: list[tuple[int, int, int, int]] = []
    for shape, _, size in types:
        h, w = stamp(shape, small if size == "small" else large).shape
        for _ in range(PLACEMENT_TRIES):
            x0, y0 = rnd.randint(0, cfg.size - w), rnd.randint(0, cfg.size - h)
            box = (x0, y0, x0 + w, y0 + h)
            if _fits(box, boxes, cfg.overlap):
                boxes.append(box)
                break
        else:
            return None
    return boxes


def draw(cfg: SyntheticConfig, rnd: random.Random, noise_rng: np.random.Generator, scene_index: int):
    """Lay out and draw one scene: (RGB uint8 image, uint8 instance map, list of `Placed`)."""
    small, large = box_sizes(cfg.size)
    for _ in range(LAYOUT_RESTARTS):
        types = _types(cfg, rnd.randint(cfg.min_objects, cfg.max_objects), rnd)
        boxes = _layout(cfg, types, rnd)
        if boxes is None:
            continue
        base = rnd.randint(25, 75)
        image = np.full((cfg.size, cfg.size, 3), base, dtype=np.float32)
        instances = np.zeros((cfg.size, cfg.size), dtype=np.uint8)
        for _ in range(cfg.clutter):
            x, y = rnd.randrange(cfg.size - 1), rnd.randrange(cfg.size - 1)
            image[y : y + 2, x : x + 2] = [rnd.randint(0, 255) for _ in range(3)]
        for oid, ((shape, colour, size), (x0, y0, x1, y1)) in enumerate(zip(types, boxes), start=1):
            mask = stamp(shape, small if size == "small" else large)
            jitter = np.array([rnd.randint(-12, 12) for _ in range(3)], dtype=np.float32)
            image[y0:y1, x0:x1][mask] = np.array(COLOURS[colour], dtype=np.float32) + jitter
            instances[y0:y1, x0:x1][mask] = oid
        placed = []
        for oid, ((shape, colour, size), box) in enumerate(zip(types, boxes), start=1):
            full = int(stamp(shape, small if size == "small" else large).sum())
            x0, y0, x1, y1 = box
            visible = float((instances[y0:y1, x0:x1] == oid).sum()) / full
            placed.append(Placed(oid, shape, colour, size, box, visible))
        if min(p.visible for p in placed) < MIN_VISIBLE:
            continue
        if cfg.noise > 0:
            image += noise_rng.standard_normal(image.shape, dtype=np.float32) * np.float32(cfg.noise)
        return np.clip(np.rint(image), 0, 255).astype(np.uint8), instances, placed
    raise LayoutError(
        f"scene {scene_index}: could not place {cfg.min_objects}–{cfg.max_objects} objects in a "
        f"{cfg.size}×{cfg.size} image with --overlap {cfg.overlap} after {LAYOUT_RESTARTS} tries; "
        "lower --max-objects, raise --size or --overlap"
    )
