"""Tiled preprocessing — LLaVA-NeXT's "anyres": one image becomes a base frame and tiles, each frame
with its own `FrameMap` from the image, so a box maps into every frame the model sees.

What ``LlavaNextImageProcessor`` does, step for step (and so what `Tiling` reproduces):
  1. the best resolution: of the ``image_grid_pinpoints`` (h, w), the one that keeps the most of the
     image's pixels after an aspect-preserving downscale, then the one that wastes the least;
  2. the image resized to fit it, aspect kept (the other side ``ceil``-ed), pasted centred on a black
     canvas of that resolution (before normalisation);
  3. the canvas cut into ``tile`` × ``tile`` tiles, row by row;
  4. the **base frame**: the whole image stretched to ``base`` (no aspect kept), first;
  5. every frame then goes through the per-frame steps (`Preprocess`: shortest-edge resize, centre
     crop, rescale, normalise).
Frames are padded to the batch's most frames only in the tensor HF returns; `Tiling.pixels` gives
each image its own frames, and `frames` says which are real.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from spatialprobe.geometry import Box, FrameMap
from spatialprobe.models.imaging import PerImage, padded_frames
from spatialprobe.models.layout import TokenLayout
from spatialprobe.models.preprocess import RESAMPLE, Preprocess, PreprocessError, image_size, processor_kind, rgb


@dataclass(frozen=True)
class Frame:
    """One frame of a tiled image: where it comes from and how the image maps into it."""

    kind: str
    """``base`` (the whole image) or ``tile``."""
    position: tuple[int, int]
    """(row, col) of a tile in the tile grid; (0, 0) for the base frame."""
    fmap: FrameMap
    """Image pixels → this frame's model input pixels."""


@dataclass(frozen=True)
class Tiling(PerImage):
    pinpoints: tuple[tuple[int, int], ...]
    """Candidate resolutions, (height, width) as HF lists them."""
    tile: int
    """Tile side in pixels (HF's ``crop_size`` height, else ``size``)."""
    base: tuple[int, int]
    """(width, height) the base frame is stretched to."""
    frame: Preprocess
    """The steps every frame then goes through."""

    def best_resolution(self, size: tuple[int, int]) -> tuple[int, int]:
        """(width, height) of the pinpoint an image of ``size`` (W, H) is fitted into (HF's ``select_best_resolution``)."""
        w, h = size
        best, most, least = None, 0, math.inf
        for ph, pw in self.pinpoints:
            scale = min(pw / w, ph / h)
            effective = min(int(w * scale) * int(h * scale), w * h)
            wasted = pw * ph - effective
            if effective > most or (effective == most and wasted < least):
                best, most, least = (pw, ph), effective, wasted
        return best

    def fitted_size(self, size: tuple[int, int]) -> tuple[int, int]:
        """(width, height) of the image resized into its best resolution, aspect kept (HF's ``get_patch_output_size``)."""
        w, h = size
        tw, th = self.best_resolution(size)
        if tw / w < th / h:
            return tw, min(math.ceil(h * tw / w), th)
        return min(math.ceil(w * th / h), tw), th

    def frames(self, size: tuple[int, int]) -> list[Frame]:
        """The base frame, then the tiles row by row, each with the map from an image of ``size`` (W, H)."""
        size = (int(size[0]), int(size[1]))
        canvas = self.best_resolution(size)
        fitted = self.fitted_size(size)
        left, top = (canvas[0] - fitted[0]) // 2, (canvas[1] - fitted[1]) // 2
        onto = FrameMap.resize(size, fitted).then(FrameMap.pad(fitted, left, top, canvas[0] - fitted[0] - left, canvas[1] - fitted[1] - top))
        out = [Frame("base", (0, 0), FrameMap.resize(size, self.base).then(self.frame.frame_map(self.base)))]
        for row in range(canvas[1] // self.tile):
            for col in range(canvas[0] // self.tile):
                crop = FrameMap.crop(canvas, col * self.tile, row * self.tile, self.tile, self.tile)
                out.append(Frame("tile", (row, col), onto.then(crop).then(self.frame.frame_map((self.tile, self.tile)))))
        return out

    def boxes(self, box: Box) -> list[Box | None]:
        """An image box in every frame (model input pixels, xyxy, clipped); None where the frame does not see it."""
        out = []
        for frame in self.frames(box.frame):
            mapped = box.mapped(frame.fmap)
            x0, y0, x1, y1 = mapped.to("xyxy", "pixel").coords
            w, h = frame.fmap.dst
            out.append(mapped.clipped() if x1 > 0 and y1 > 0 and x0 < w and y0 < h else None)
        return out

    def layout(self, size: tuple[int, int], patch: int, prefix: tuple[str, ...] = ("cls",)) -> TokenLayout:
        """The vision tower's rows for an image of ``size``: each frame's ``prefix`` and ``patch``-pixel grid, frame
        after frame (`TokenLayout.framed`); map them to the image with ``patch_boxes([f.fmap for f in frames(size)])``."""
        frames = self.frames(size)
        w, h = frames[0].fmap.dst
        if w % patch or h % patch:
            raise PreprocessError(f"a {w}×{h} frame is not a whole number of {patch}-pixel patches")
        return TokenLayout.framed([TokenLayout.vision(tuple(prefix), (h // patch, w // patch), (w, h))] * len(frames))

    def lm_layout(self, size: tuple[int, int], patch: int, max_tiles: int | None = None) -> TokenLayout:
        """The image's rows as LLaVA-NeXT's LM reads them (HF's ``pack_image_features``, CLS dropped): the base frame's
        patches, then the tiles' patches as one grid — its padding rows or columns cut away (``unpad_image``) — row by
        row, each row followed by an ``image_newline`` row. Patch rows carry their frame and cell.

        ``max_tiles`` (LLaVA-OneVision's ``anyres_max_<n>``): where the unpadded grid holds more than 1.1 × that many
        frames' patches, HF shrinks it by bilinear interpolation; its rows then mix several cells and are ``image``
        rows, with no cell of their own."""
        w, h = self.frames(size)[0].fmap.dst
        g = h // patch, w // patch
        canvas = self.best_resolution(size)
        tiles_h, tiles_w = canvas[1] // self.tile, canvas[0] // self.tile
        rows, cols = tiles_h * g[0], tiles_w * g[1]
        if size[0] / size[1] > cols / rows:  # wider than the tile grid: padding rows above and below
            pad = (rows - int(round(size[1] * cols / size[0], 7))) // 2
            keep_rows, keep_cols = range(pad, rows - pad), range(cols)
        else:
            pad = (cols - int(round(size[0] * rows / size[1], 7))) // 2
            keep_rows, keep_cols = range(rows), range(pad, cols - pad)
        roles, cells, frames = ["patch"] * (g[0] * g[1]), [(r, c) for r in range(g[0]) for c in range(g[1])], [0] * (g[0] * g[1])
        ratio = math.sqrt(len(keep_rows) * len(keep_cols) / (max_tiles * g[0] ** 2)) if max_tiles else 0.0
        if ratio > 1.1:  # interpolated: rows of no single cell
            for _ in range(int(len(keep_rows) // ratio)):
                roles += ["image"] * int(len(keep_cols) // ratio) + ["newline"]
                frames += [-1] * (int(len(keep_cols) // ratio) + 1)
            return TokenLayout(tuple(roles), g, (w, h), tuple(cells), frame_of_row=tuple(frames))
        for R in keep_rows:
            for C in keep_cols:
                roles.append("patch")
                cells.append((R % g[0], C % g[1]))
                frames.append(1 + (R // g[0]) * tiles_w + C // g[1])
            roles.append("newline")
            frames.append(-1)
        return TokenLayout(tuple(roles), g, (w, h), tuple(cells), frame_of_row=tuple(frames))

    def pixels(self, image) -> np.ndarray:
        """One image (PIL or HWC uint8) → (frames, 3, H, W) float32, the frames in `frames`' order."""
        im = rgb(image)
        resample = RESAMPLE[self.frame.resample]
        canvas_size, fitted = self.best_resolution(im.size), self.fitted_size(im.size)
        canvas = Image.new("RGB", canvas_size, (0, 0, 0))
        canvas.paste(im.resize(fitted, resample=resample), ((canvas_size[0] - fitted[0]) // 2, (canvas_size[1] - fitted[1]) // 2))
        frames = [im.resize(self.base, resample=resample)]
        for row in range(canvas_size[1] // self.tile):
            for col in range(canvas_size[0] // self.tile):
                frames.append(canvas.crop((col * self.tile, row * self.tile, (col + 1) * self.tile, (row + 1) * self.tile)))
        return np.stack([self.frame.pixels(f) for f in frames])

    def frame_maps(self, size: tuple[int, int]) -> list[FrameMap]:
        return [f.fmap for f in self.frames(size)]

    def inputs(self, images) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """A batch as ``LlavaNextForConditionalGeneration`` takes it: (B, most frames, 3, H, W) — an image with fewer
        frames zero-padded, as HF's processor pads — and ``image_sizes`` (B, 2) as (height, width)."""
        pixels, _ = padded_frames([self.pixels(im) for im in images])
        return pixels, {"image_sizes": torch.tensor([[h, w] for w, h in map(image_size, images)])}

    def describe(self) -> str:
        return f"anyres tiling: {self.tile}-pixel tiles of the best of {len(self.pinpoints)} resolutions, plus the image stretched to {self.base[0]}×{self.base[1]}; each frame: {self.frame.describe()}"

    def to_json(self) -> dict:
        return {"kind": "tiling", "pinpoints": [list(p) for p in self.pinpoints], "tile": self.tile, "base": list(self.base), "frame": self.frame.to_json()}

    @classmethod
    def from_json(cls, d: dict) -> Tiling:
        return cls(tuple(tuple(p) for p in d["pinpoints"]), int(d["tile"]), tuple(d["base"]), Preprocess.from_json(d["frame"]))

    @classmethod
    def from_hf(cls, cfg: dict) -> Tiling:
        """From a ``LlavaNextImageProcessor`` or ``LlavaOnevisionImageProcessor`` ``preprocessor_config.json`` (the same
        steps; OneVision's frames are an exact resize to ``size``, its tiles that size)."""
        kind = processor_kind(cfg)
        if kind not in ("LlavaNextImageProcessor", "LlavaOnevisionImageProcessor"):
            raise PreprocessError(f"{kind or 'an image processor'}: not LLaVA-NeXT's (or LLaVA-OneVision's) anyres tiling")
        size, crop = cfg.get("size", {}), cfg.get("crop_size") or {}
        if "height" in size and "width" in size:
            base = (int(size["width"]), int(size["height"]))
        elif "shortest_edge" in size:
            base = (int(size["shortest_edge"]),) * 2
        else:
            raise PreprocessError(f"LlavaNextImageProcessor: unsupported size={size}")
        tile = int(crop["height"]) if crop.get("height") else base[1]
        per_frame = Preprocess.from_hf({**cfg, "image_processor_type": "CLIPImageProcessor", "do_pad": False})
        pinpoints = tuple((int(h), int(w)) for h, w in cfg.get("image_grid_pinpoints") or ())
        if not pinpoints:
            raise PreprocessError("LlavaNextImageProcessor: no image_grid_pinpoints")
        return cls(pinpoints, tile, base, per_frame)
