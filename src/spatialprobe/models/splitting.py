"""Image splitting — Idefics3 / SmolVLM: an image becomes a grid of square crops plus a global view, each frame with
its own `FrameMap` from the image.

What ``Idefics3ImageProcessor`` (and ``SmolVLMImageProcessor``, the same steps) does, and so what `Splitting` reproduces:
  1. the image resized so that its longest edge is ``longest`` (the other side kept in proportion and rounded up to
     an even number; never above 4096);
  2. that image resized again, both sides rounded **up** to multiples of ``side`` (the vision encoder's input);
  3. if either side exceeds ``side``: the ``side`` × ``side`` crops of it, row by row, then the **global frame** —
     the step-2 image resized to ``side`` × ``side`` — last; otherwise that one frame;
  4. every frame rescaled and normalised (`Preprocess` without a resize); a batch's images padded to its most
     frames with all-zero frames, which the model drops.
Without splitting, step 1's image is resized to ``side`` × ``side`` and is the only frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from spatialprobe.geometry import FrameMap
from spatialprobe.models.imaging import PerImage, padded_frames
from spatialprobe.models.layout import TokenLayout
from spatialprobe.models.preprocess import RESAMPLE, Preprocess, PreprocessError, processor_kind, rgb

MAX_SIDE = 4096
"""HF's absolute maximum of the step-1 image."""


@dataclass(frozen=True)
class Splitting(PerImage):
    longest: int
    """Step 1: the longest edge (``size.longest_edge``)."""
    side: int
    """The vision encoder's square input (``max_image_size.longest_edge``)."""
    split: bool
    """``do_image_splitting``."""
    frame: Preprocess
    """Rescale and normalisation (no resize: the resizes are this object's)."""

    def resized(self, size: tuple[int, int]) -> tuple[int, int]:
        """(W, H) after step 1."""
        w, h = size
        aspect = w / h
        if w >= h:
            w, h = self.longest, int(self.longest / aspect)
            h += h % 2
        else:
            h, w = self.longest, int(self.longest * aspect)
            w += w % 2
        w, h = max(w, 1), max(h, 1)
        if max(w, h) > MAX_SIDE:
            aspect = w / h
            w, h = (MAX_SIDE, int(MAX_SIDE / aspect)) if w >= h else (int(MAX_SIDE * aspect), MAX_SIDE)
        return max(w, 1), max(h, 1)

    def encoder_size(self, size: tuple[int, int]) -> tuple[int, int]:
        """(W, H) after step 2: multiples of ``side``."""
        w, h = self.resized(size)
        aspect, s = w / h, self.side
        if w >= h:
            w = math.ceil(w / s) * s
            h = math.ceil(int(w / aspect) / s) * s
        else:
            h = math.ceil(h / s) * s
            w = math.ceil(int(h * aspect) / s) * s
        return w, h

    def tiles(self, size: tuple[int, int]) -> tuple[int, int]:
        """(rows, cols) of crops; (0, 0) when the image is one frame (HF's ``rows`` / ``cols``)."""
        if not self.split:
            return 0, 0
        w, h = self.encoder_size(size)
        return (h // self.side, w // self.side) if w > self.side or h > self.side else (0, 0)

    def frame_maps(self, size: tuple[int, int]) -> list[FrameMap]:
        """Image → each frame: the crops row by row, then the global frame."""
        size = (int(size[0]), int(size[1]))
        square = (self.side, self.side)
        first = FrameMap.resize(size, self.resized(size))
        if not self.split:
            return [first.then(FrameMap.resize(first.dst, square))]
        second = first.then(FrameMap.resize(first.dst, self.encoder_size(size)))
        rows, cols = self.tiles(size)
        crops = [second.then(FrameMap.crop(second.dst, c * self.side, r * self.side, self.side, self.side)) for r in range(rows) for c in range(cols)]
        return crops + [second.then(FrameMap.resize(second.dst, square))] if crops else [second]

    def pixels(self, image) -> np.ndarray:
        """One image (PIL or HWC uint8) → (frames, 3, side, side) float32, the frames in `frame_maps` order."""
        im = rgb(image)
        resample = RESAMPLE[self.frame.resample]
        first = im.resize(self.resized(im.size), resample=resample)
        if not self.split:
            frames = [first.resize((self.side, self.side), resample=resample)]
        else:
            second = first.resize(self.encoder_size(im.size), resample=resample)
            rows, cols = self.tiles(im.size)
            s = self.side
            frames = [second.crop((c * s, r * s, (c + 1) * s, (r + 1) * s)) for r in range(rows) for c in range(cols)]
            frames = frames + [second.resize((s, s), resample=resample)] if frames else [second]
        return np.stack([self.frame.pixels(f) for f in frames])

    def inputs(self, images) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """A batch as Idefics3 takes it: (B, most frames, 3, side, side), fewer frames padded with zero frames, and
        ``pixel_attention_mask`` (B, most frames, side, side), true on real frames."""
        pixels, mask = padded_frames([self.pixels(im) for im in images])
        return pixels, {"pixel_attention_mask": mask}

    def layout(self, size: tuple[int, int], patch: int, merge: int = 1) -> TokenLayout:
        """A site's rows for an image of ``size``: every frame's ``patch``-pixel grid (``merge``: after a pixel shuffle
        of ``merge`` × ``merge`` blocks, one row per block, raster order), frame after frame."""
        if self.side % (patch * merge):
            raise PreprocessError(f"a {self.side}-pixel frame is not a whole number of {patch * merge}-pixel cells")
        n = self.side // patch // merge
        return TokenLayout.framed([TokenLayout.vision((), (n, n), (self.side, self.side))] * len(self.frame_maps(size)))

    def describe(self) -> str:
        how = f"split into {self.side}-pixel crops plus a global frame" if self.split else f"resized to {self.side}×{self.side}"
        return f"image splitting: longest edge {self.longest}, {how}; each frame: {self.frame.describe()}"

    def to_json(self) -> dict:
        return {"kind": "splitting", "longest": self.longest, "side": self.side, "split": self.split, "frame": self.frame.to_json()}

    @classmethod
    def from_json(cls, d: dict) -> Splitting:
        return cls(int(d["longest"]), int(d["side"]), bool(d["split"]), Preprocess.from_json(d["frame"]))

    @classmethod
    def from_hf(cls, cfg: dict) -> Splitting:
        """From an ``Idefics3ImageProcessor`` or ``SmolVLMImageProcessor`` ``preprocessor_config.json``."""
        kind = processor_kind(cfg)
        if kind not in ("Idefics3ImageProcessor", "SmolVLMImageProcessor"):
            raise PreprocessError(f"{kind or 'an image processor'}: not Idefics3's image splitting")
        size, side = cfg.get("size") or {}, (cfg.get("max_image_size") or {}).get("longest_edge")
        if not cfg.get("do_resize", True) or "longest_edge" not in size or not side:
            raise PreprocessError(f"{kind}: only a longest-edge resize with max_image_size.longest_edge is mapped (size={size})")
        return cls(int(size["longest_edge"]), int(side), bool(cfg.get("do_image_splitting", True)), Preprocess.normalisation(cfg, resample=1))
