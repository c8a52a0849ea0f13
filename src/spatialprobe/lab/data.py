"""The lab's view of a scene dataset: images as one uint8 tensor and the text of each scene."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from spatialprobe.scenes.dataset import SceneDataset
from spatialprobe.scenes.record import Scene

MEAN, STD = 0.5, 0.25


@dataclass
class LabData:
    scenes: list[Scene]
    images: torch.Tensor
    """(N, 3, H, W) uint8."""

    def pixels(self, index) -> torch.Tensor:
        """Normalised float pixels, as the toy models' preprocessing gives them."""
        return (self.images[index].float() / 255.0 - MEAN) / STD

    def captions(self, kind: str) -> list[str]:
        return [next((c.text for c in s.captions if c.kind == kind), "") for s in self.scenes]

    def texts(self) -> list[str]:
        """Every text of these scenes (for the tokenizer and the LM)."""
        out = []
        for s in self.scenes:
            out += [c.text for c in s.captions] + [e.text for e in s.expressions] + [r.text for r in s.relations]
        return out


def load(dataset: SceneDataset, split: str | None, limit: int | None = None) -> LabData:
    scenes = dataset.scenes(split)[:limit] if limit else dataset.scenes(split)
    if not scenes:
        raise ValueError(f"{dataset.root}: no scenes in split {split!r}")
    images = np.stack([dataset.image(s).transpose(2, 0, 1) for s in scenes])
    return LabData(scenes, torch.from_numpy(images))
