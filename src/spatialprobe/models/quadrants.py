"""Idefics2's image splitting: the image's four quadrants, then the whole image — each frame resized on its own, so
one image's frames have different sizes and grids — padded bottom / right to the batch's largest frame, the padding
masked (``pixel_attention_mask``: the model keeps only patches wholly inside a frame).

What ``Idefics2ImageProcessor`` does, and so what `Quadrants` reproduces:
  1. with ``do_image_splitting``: the quadrants (top-left, top-right, bottom-left, bottom-right; the middle at
     ``W // 2``, ``H // 2``) and the whole image, in that order; without it, the image alone;
  2. each frame resized: a side above ``longest`` brings the longest side to it, aspect kept (the other ``int``-ed);
     then each side raised to at least ``shortest`` (which does not keep the aspect);
  3. rescale and normalise, then the padding.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from spatialprobe.geometry import FrameMap
from spatialprobe.models.imaging import PerImage, padded_frames
from spatialprobe.models.layout import TokenLayout
from spatialprobe.models.preprocess import RESAMPLE, Preprocess, PreprocessError, processor_kind, rgb


@dataclass(frozen=True)
class Quadrants(PerImage):
    shortest: int
    longest: int
    split: bool
    frame: Preprocess
    """Rescale and normalisation (no resize: the resizes are this object's)."""

    def regions(self, size: tuple[int, int]) -> list[tuple[int, int, int, int]]:
        """Each frame's (left, top, right, bottom) in the image."""
        w, h = int(size[0]), int(size[1])
        if not self.split:
            return [(0, 0, w, h)]
        mw, mh = w // 2, h // 2
        return [(0, 0, mw, mh), (mw, 0, w, mh), (0, mh, mw, h), (mw, mh, w, h), (0, 0, w, h)]

    def resized(self, size: tuple[int, int]) -> tuple[int, int]:
        """(W, H) a frame of ``size`` is resized to (HF's ``get_resize_output_image_size``)."""
        w, h = size
        aspect = w / h
        if w >= h and w > self.longest:
            w, h = self.longest, int(self.longest / aspect)
        elif h > w and h > self.longest:
            h, w = self.longest, int(self.longest * aspect)
        return max(w, self.shortest), max(h, self.shortest)

    def frame_maps(self, size: tuple[int, int]) -> list[FrameMap]:
        out = []
        for x0, y0, x1, y1 in self.regions(size):
            crop = FrameMap.crop((int(size[0]), int(size[1])), x0, y0, x1 - x0, y1 - y0)
            out.append(crop.then(FrameMap.resize(crop.dst, self.resized(crop.dst))))
        return out

    def pixels(self, image) -> list[np.ndarray]:
        """One image → its frames, each (3, H_k, W_k) float32 (frames differ in size)."""
        im = rgb(image)
        frames = [im.crop(r) for r in self.regions(im.size)]
        return [self.frame.pixels(f.resize(self.resized(f.size), resample=RESAMPLE[self.frame.resample])) for f in frames]

    def inputs(self, images) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """A batch as Idefics2 takes it: (B, most frames, 3, H, W), every frame zero-padded bottom / right to the
        batch's largest, and ``pixel_attention_mask`` (B, most frames, H, W), true on each frame's own pixels."""
        pixels, mask = padded_frames([self.pixels(im) for im in images])
        return pixels, {"pixel_attention_mask": mask}

    def layout(self, size: tuple[int, int], patch: int) -> TokenLayout:
        """The tower's rows for an image of ``size``: each frame's grid of whole ``patch``-pixel patches (a partial last
        row or column is not a patch: the model masks it), frame after frame, each frame its own grid."""
        frames = []
        for fmap in self.frame_maps(size):
            w, h = fmap.dst
            rows, cols = h // patch, w // patch
            if not rows or not cols:
                raise PreprocessError(f"a {w}×{h} frame holds no whole {patch}-pixel patch")
            frames.append(TokenLayout.vision((), (rows, cols), (cols * patch, rows * patch)))
        return TokenLayout.framed(frames)

    def describe(self) -> str:
        how = "four quadrants and the whole image" if self.split else "the whole image"
        return f"Idefics2 frames: {how}, each resized to at most {self.longest} and at least {self.shortest} pixels a side; each: {self.frame.describe()}"

    def to_json(self) -> dict:
        return {"kind": "quadrants", "shortest": self.shortest, "longest": self.longest, "split": self.split, "frame": self.frame.to_json()}

    @classmethod
    def from_json(cls, d: dict) -> Quadrants:
        return cls(int(d["shortest"]), int(d["longest"]), bool(d["split"]), Preprocess.from_json(d["frame"]))

    @classmethod
    def from_hf(cls, cfg: dict) -> Quadrants:
        """From an ``Idefics2ImageProcessor`` ``preprocessor_config.json``."""
        kind = processor_kind(cfg)
        if kind != "Idefics2ImageProcessor":
            raise PreprocessError(f"{kind or 'an image processor'}: not Idefics2's")
        size = cfg.get("size") or {}
        if not cfg.get("do_resize", True) or not {"shortest_edge", "longest_edge"} <= set(size):
            raise PreprocessError(f"{kind}: only its shortest / longest edge resize is mapped (size={size})")
        return cls(int(size["shortest_edge"]), int(size["longest_edge"]), bool(cfg.get("do_image_splitting", False)), Preprocess.normalisation(cfg, resample=2))
