"""Preprocessing that gives each image its own frames or grid (tiled and dynamic-resolution models), and the
one place that reads any stored preprocessing back.

A `PerImage` preprocessing (`tiling.Tiling`, `dynamic.DynamicResize`, `splitting.Splitting`,
`quadrants.Quadrants`) answers, for an image of a given size,
the maps into every frame the model sees (`frame_maps`) and builds a batch's model inputs (`inputs`). Location
targets stay in **the image's own frame** (`frame_map` is the identity): the whole image reaches such models,
and a box target must not depend on which frames or grid the model chose.
"""

from __future__ import annotations

import numpy as np

from spatialprobe.geometry import FrameMap


class PerImage:
    """What every per-image preprocessing shares; subclasses give ``frame_maps``, ``inputs``, ``to_json``."""

    per_image = True

    def frame_map(self, size: tuple[int, int]) -> FrameMap:
        """The frame location targets live in: the image's own (identity)."""
        size = (int(size[0]), int(size[1]))
        return FrameMap.resize(size, size)

    def input_size(self, size: tuple[int, int]) -> tuple[int, int]:
        return (int(size[0]), int(size[1]))

    @staticmethod
    def fixed_size() -> None:
        return None


def padded_frames(images: list):
    """Each image's frames — (3, H_k, W_k) arrays, their sizes free — as one (B, most frames, 3, H, W) batch, every frame
    zero-padded bottom / right to the batch's largest and an image with fewer frames padded with all-zero frames, and
    the (B, most frames, H, W) mask that is true on each frame's own pixels (Idefics' ``pixel_attention_mask``), as
    torch tensors."""
    import torch  # not at import: the light commands read stored preprocessings without torch

    most = max(len(frames) for frames in images)
    h, w = max(x.shape[1] for frames in images for x in frames), max(x.shape[2] for frames in images for x in frames)
    pixels = np.zeros((len(images), most, 3, h, w), np.float32)
    mask = np.zeros((len(images), most, h, w), bool)
    for i, frames in enumerate(images):
        for k, x in enumerate(frames):
            pixels[i, k, :, : x.shape[1], : x.shape[2]] = x
            mask[i, k, : x.shape[1], : x.shape[2]] = True
    return torch.from_numpy(pixels), torch.from_numpy(mask)


def from_json(d: dict):
    """A stored preprocessing (``Preprocess.to_json`` or a `PerImage`'s) as the object it was."""
    from spatialprobe.models.dynamic import DynamicResize
    from spatialprobe.models.preprocess import Preprocess
    from spatialprobe.models.quadrants import Quadrants
    from spatialprobe.models.splitting import Splitting
    from spatialprobe.models.tiling import Tiling

    kinds = {"tiling": Tiling, "dynamic": DynamicResize, "splitting": Splitting, "quadrants": Quadrants}
    return kinds[d["kind"]].from_json(d) if "kind" in d else Preprocess.from_json(d)


def frame_maps(preprocess, size: tuple[int, int]) -> list[FrameMap]:
    """Image → each frame the model sees (one for a fixed-size preprocessing)."""
    return preprocess.frame_maps(size) if getattr(preprocess, "per_image", False) else [preprocess.frame_map(size)]
