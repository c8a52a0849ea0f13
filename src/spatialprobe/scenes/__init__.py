"""Scenes: one record type for every dataset, its on-disk exchange format, and the sources."""

from spatialprobe.scenes.codec import SceneFormatError, scene_from_json, scene_to_json
from spatialprobe.scenes.dataset import DatasetWriter, SceneDataset, read_scenes
from spatialprobe.scenes.record import (
    SPLITS,
    Caption,
    Expression,
    Mask,
    Relation,
    Scene,
    SceneObject,
    Utterance,
    Word,
)

__all__ = [
    "SPLITS",
    "Caption",
    "DatasetWriter",
    "Expression",
    "Mask",
    "Relation",
    "Scene",
    "SceneDataset",
    "SceneFormatError",
    "SceneObject",
    "Utterance",
    "Word",
    "read_scenes",
    "scene_from_json",
    "scene_to_json",
]
