"""`Scene`: one record type for every dataset, synthetic or real.

A scene is an image plus what is known about it: objects (category, attributes, box, modal mask,
occlusion), referring expressions, relation statements, captions with word-level grounding, and for
narrated datasets the timed utterances and mouse trace. Ids of objects are positive ints (the value
of the object's pixels in the scene's instance-id PNG); everything that names an object uses its id.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from spatialprobe.geometry import Box

SPLITS = ("lab", "probe_train", "probe_val", "test")
MASK_KINDS = ("instance", "rle", "polygons")


@dataclass(frozen=True)
class Mask:
    """A modal (visible-part) mask: a value in the instance-id PNG, a COCO RLE, or polygons."""

    kind: str
    data: Any = None

    def decode(self, height: int, width: int, object_id: int, instances: np.ndarray | None = None) -> np.ndarray:
        """The mask as a (height, width) bool array."""
        if self.kind == "instance":
            if instances is None:
                raise ValueError("an instance mask needs the scene's instance-id map")
            return instances == object_id
        from pycocotools import mask as coco_mask

        if self.kind == "rle":
            rle = self.data
            if isinstance(rle["counts"], list):
                rle = coco_mask.frPyObjects(rle, height, width)
            return coco_mask.decode(rle).astype(bool)
        rles = coco_mask.frPyObjects([list(map(float, p)) for p in self.data], height, width)
        return coco_mask.decode(coco_mask.merge(rles)).astype(bool)


@dataclass(frozen=True)
class SceneObject:
    """An object; ``category`` may be None (e.g. a Visual Genome region phrase)."""

    id: int
    box: Box
    category: str | None = None
    attributes: dict[str, str] = field(default_factory=dict)
    mask: Mask | None = None
    visible: float = 1.0
    """Fraction of the object's full (amodal) area that is visible; 1.0 = unoccluded."""
    crowd: bool = False
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Expression:
    """A referring expression; ``referent`` is the object it picks out (None if not annotated)."""

    id: str
    text: str
    referent: int | None
    kind: str = "attribute"
    template: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Relation:
    """A true/false spatial statement about two objects (ids) or two named things (VSR)."""

    id: str
    text: str
    predicate: str
    label: bool
    subject: int | None = None
    object: int | None = None
    subject_name: str | None = None
    object_name: str | None = None
    group: str | None = None
    """Minimal-pair group: statements of one group share the scene and the two objects."""
    margin: float | None = None
    """How far (pixels) the geometry is from the predicate's decision threshold."""
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Word:
    """A word of a caption: a character span, grounded to an object and/or a pixel box, or to nothing."""

    start: int
    end: int
    object: int | None = None
    box: Box | None = None


@dataclass(frozen=True)
class Utterance:
    """A timed piece of a spoken narration (Localized Narratives' ``timed_caption``)."""

    text: str
    start_time: float
    end_time: float


@dataclass(frozen=True)
class Caption:
    """A caption with the objects it mentions, word grounding, and optionally narration timing."""

    id: str
    text: str
    kind: str = "coarse"
    mentions: tuple[int, ...] = ()
    words: tuple[Word, ...] = ()
    utterances: tuple[Utterance, ...] = ()
    trace: tuple[tuple[float, float, float], ...] = ()
    """Mouse trace as (x, y, t) with x, y in unit image coordinates."""
    meta: dict[str, Any] = field(default_factory=dict)

    def word_text(self, word: Word) -> str:
        return self.text[word.start : word.end]


@dataclass(frozen=True)
class Scene:
    """An image and everything annotated on it. Paths are relative to the dataset directory."""

    id: str
    image: str
    width: int
    height: int
    split: str | None = None
    source: str = "unknown"
    instances: str | None = None
    objects: tuple[SceneObject, ...] = ()
    expressions: tuple[Expression, ...] = ()
    relations: tuple[Relation, ...] = ()
    captions: tuple[Caption, ...] = ()
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def frame(self) -> tuple[int, int]:
        return (self.width, self.height)

    def object(self, object_id: int) -> SceneObject:
        for obj in self.objects:
            if obj.id == object_id:
                return obj
        raise KeyError(f"scene {self.id} has no object {object_id}")
