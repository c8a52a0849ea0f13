"""The lab's view of a scene dataset: images as one uint8 tensor, object maps, and the text of each scene."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from spatialprobe.scenes.dataset import SceneDataset
from spatialprobe.scenes.record import Scene

MEAN, STD = 0.5, 0.25
OWNER_COVERAGE = 0.3
"""A patch belongs to the object covering the largest share of it, if that share is at least this."""


@dataclass
class LabData:
    scenes: list[Scene]
    images: torch.Tensor
    """(N, 3, H, W) uint8."""
    objects: torch.Tensor | None = None
    """(N, H, W) int16: 1 + the index in ``scene.objects`` of the object each pixel shows (0 = none)."""

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

    def patch_owners(self, grid: int) -> torch.Tensor:
        """(N, grid²) row-major: index in ``scene.objects`` of the object each patch shows (−1 = none).

        A patch's owner is the object covering the largest share of it, if at least `OWNER_COVERAGE`.
        """
        if self.objects is None:
            raise ValueError("these scenes carry no object maps (load them with `load`)")
        n, h, w = self.objects.shape
        k = int(self.objects.max()) + 1
        onehot = torch.nn.functional.one_hot(self.objects.long(), k).permute(0, 3, 1, 2).float()  # (N, K, H, W)
        share = torch.nn.functional.adaptive_avg_pool2d(onehot, grid).flatten(2)  # (N, K, grid²)
        share[:, 0] = 0  # background owns nothing
        best, owner = share.max(1)
        return torch.where(best >= OWNER_COVERAGE, owner - 1, torch.full_like(owner, -1))


def _object_map(dataset: SceneDataset, scene: Scene) -> np.ndarray:
    """1 + object index per pixel (masks where annotated, else boxes; later objects drawn on top)."""
    out = np.zeros((scene.height, scene.width), dtype=np.int16)
    instances = dataset.instances(scene) if scene.instances is not None else None
    for i, obj in enumerate(scene.objects, start=1):
        if obj.mask is not None:
            out[dataset.mask(scene, obj, instances)] = i
        else:
            x0, y0, x1, y1 = np.rint(obj.box.array("xyxy", "pixel")).astype(int)
            out[max(y0, 0) : y1, max(x0, 0) : x1] = i
    return out


def load(dataset: SceneDataset, split: str | None, limit: int | None = None) -> LabData:
    scenes = dataset.scenes(split)[:limit] if limit else dataset.scenes(split)
    if not scenes:
        raise ValueError(f"{dataset.root}: no scenes in split {split!r}")
    images = np.stack([dataset.image(s).transpose(2, 0, 1) for s in scenes])
    objects = np.stack([_object_map(dataset, s) for s in scenes])
    return LabData(scenes, torch.from_numpy(images), torch.from_numpy(objects))
