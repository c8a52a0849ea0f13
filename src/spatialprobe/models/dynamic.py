"""Dynamic resolution — Qwen2-VL / Qwen2.5-VL: every image is resized to its own patch grid and its
patches enter the vision tower as one flat sequence, in an order that is not raster order. The
geometry says, for every row of every site, which patch of which grid it is.

What ``Qwen2VLImageProcessor`` does (and so what `DynamicResize` reproduces):
  1. ``smart_resize``: both sides rounded to a multiple of ``patch · merge``, the pixel count kept
     within [``min_pixels``, ``max_pixels``] (HF stores these as ``size.shortest_edge`` /
     ``size.longest_edge`` — pixel counts under edge names), the aspect ratio as close as it can be;
  2. rescale and normalise;
  3. the patches flattened in **merge-window order**: the ``merge × merge`` windows row by row, and
     inside each window its patches row by row — row ``k`` of the sequence is not patch ``k`` of the
     raster. The merger then turns each window's ``merge²`` rows into one.
Qwen2.5-VL's blocks also see the rows **in window order** (``window_size`` pixels per attention
window: the merged units window by window, each window's units row by row); the merger's output is
put back in merged raster order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from spatialprobe.geometry import FrameMap
from spatialprobe.models.imaging import PerImage
from spatialprobe.models.layout import TokenLayout
from spatialprobe.models.preprocess import RESAMPLE, Preprocess, PreprocessError, image_size, processor_kind, rgb


@dataclass(frozen=True)
class DynamicResize(PerImage):
    patch: int
    merge: int
    min_pixels: int
    max_pixels: int
    frame: Preprocess
    """Rescale and normalisation (no resize: the resize is this object's)."""
    temporal: int = 2
    """Frames per temporal patch: an image is repeated ``temporal`` times in each patch vector."""

    def resized(self, size: tuple[int, int]) -> tuple[int, int]:
        """(width, height) an image of ``size`` (W, H) is resized to (HF's ``smart_resize``)."""
        w, h = size
        factor = self.patch * self.merge
        if max(w, h) / min(w, h) > 200:
            raise PreprocessError(f"an image of {w}×{h}: Qwen2-VL refuses aspect ratios above 200")
        hb, wb = round(h / factor) * factor, round(w / factor) * factor
        if hb * wb > self.max_pixels:
            beta = math.sqrt(h * w / self.max_pixels)
            hb, wb = max(factor, math.floor(h / beta / factor) * factor), max(factor, math.floor(w / beta / factor) * factor)
        elif hb * wb < self.min_pixels:
            beta = math.sqrt(self.min_pixels / (h * w))
            hb, wb = math.ceil(h * beta / factor) * factor, math.ceil(w * beta / factor) * factor
        return wb, hb

    def resize_map(self, size: tuple[int, int]) -> FrameMap:
        """Image pixels → the resized input's pixels (a stretch to `resized`)."""
        return FrameMap.resize(tuple(size), self.resized(size))

    def grid(self, size: tuple[int, int]) -> tuple[int, int]:
        """(rows, cols) of the image's patch grid."""
        w, h = self.resized(size)
        return h // self.patch, w // self.patch

    def cells(self, size: tuple[int, int]) -> np.ndarray:
        """(N, 2): the (row, col) patch of each row of the patch sequence (merge-window order)."""
        rows, cols = self.grid(size)
        m = self.merge
        bi, bj, i, j = np.meshgrid(np.arange(rows // m), np.arange(cols // m), np.arange(m), np.arange(m), indexing="ij")
        return np.stack([(bi * m + i).ravel(), (bj * m + j).ravel()], axis=1)

    def merged_cells(self, size: tuple[int, int]) -> np.ndarray:
        """(N / merge², 2): the (row, col) of each merged row in the grid of ``merge × merge`` windows, raster order."""
        rows, cols = self.grid(size)
        r, c = np.meshgrid(np.arange(rows // self.merge), np.arange(cols // self.merge), indexing="ij")
        return np.stack([r.ravel(), c.ravel()], axis=1)

    def window_order(self, size: tuple[int, int], window: int) -> np.ndarray:
        """Qwen2.5-VL: the merged units in the order its blocks see them — ``window``-pixel windows row by row, each
        window's units row by row (windows at the right and bottom edges are partial)."""
        units = self.merged_cells(size)
        rows, cols = self.grid(size)
        per = window // self.merge // self.patch
        raster = units[:, 0] * (cols // self.merge) + units[:, 1]
        key = np.lexsort((units[:, 1] % per, units[:, 0] % per, units[:, 1] // per, units[:, 0] // per))
        return raster[key]

    def window_cells(self, size: tuple[int, int], window: int) -> np.ndarray:
        """(N, 2): the (row, col) patch of each row Qwen2.5-VL's blocks see (window order, merge windows kept together)."""
        cells = self.cells(size).reshape(-1, self.merge**2, 2)
        return cells[self.window_order(size, window)].reshape(-1, 2)

    def layout(self, size: tuple[int, int], order: str = "patches", window: int = 112) -> TokenLayout:
        """The `TokenLayout` of an image of ``size`` at a site: ``patches`` (the patch embedding, merge-window
        order), ``windows`` (Qwen2.5-VL's blocks, window order), ``merged`` (the merger's output, one row per
        ``merge × merge`` window, raster order) or ``merged_windows`` (Qwen2.5-VL's merger, before the tower puts
        its output back in raster order)."""
        rows, cols = self.grid(size)
        input_size = self.resized(size)
        if order in ("merged", "merged_windows"):
            cells, grid = self.merged_cells(size), (rows // self.merge, cols // self.merge)
            if order == "merged_windows":
                cells = cells[self.window_order(size, window)]
        elif order in ("patches", "windows"):
            cells, grid = (self.cells(size) if order == "patches" else self.window_cells(size, window)), (rows, cols)
        else:
            raise ValueError(f"order {order!r}; valid: patches, windows, merged, merged_windows")
        return TokenLayout(("patch",) * len(cells), grid, input_size, tuple(map(tuple, cells.tolist())))

    def pixels(self, image) -> np.ndarray:
        """One image (PIL or HWC uint8) → (N, 3 · temporal · patch²) float32, the rows in `cells` order."""
        im = rgb(image)
        x = self.frame.pixels(im.resize(self.resized(im.size), resample=RESAMPLE[self.frame.resample]))
        c, h, w = x.shape
        p, m = self.patch, self.merge
        patches = x.reshape(c, h // p // m, m, p, w // p // m, m, p).transpose(1, 4, 2, 5, 0, 3, 6)
        patches = np.broadcast_to(patches[:, :, :, :, :, None], (*patches.shape[:5], self.temporal, p, p))
        return np.ascontiguousarray(patches.reshape((h // p) * (w // p), c * self.temporal * p * p))

    def frame_maps(self, size: tuple[int, int]) -> list[FrameMap]:
        return [self.resize_map(size)]

    def inputs(self, images) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """A batch as Qwen2-VL takes it: every image's patch rows in one (Σ rows, dim) tensor, and ``image_grid_thw``."""
        grids = [self.grid(image_size(im)) for im in images]
        return torch.from_numpy(np.concatenate([self.pixels(im) for im in images])), {"image_grid_thw": torch.tensor([[1, r, c] for r, c in grids])}

    def describe(self) -> str:
        return (f"dynamic resolution: each image resized to its own multiple of {self.patch * self.merge} pixels within "
                f"[{self.min_pixels}, {self.max_pixels}] pixels, {self.patch}-pixel patches merged {self.merge}×{self.merge}")

    def to_json(self) -> dict:
        return {"kind": "dynamic", "patch": self.patch, "merge": self.merge, "min_pixels": self.min_pixels, "max_pixels": self.max_pixels,
                "temporal": self.temporal, "frame": self.frame.to_json()}

    @classmethod
    def from_json(cls, d: dict) -> DynamicResize:
        return cls(int(d["patch"]), int(d["merge"]), int(d["min_pixels"]), int(d["max_pixels"]), Preprocess.from_json(d["frame"]), int(d["temporal"]))

    @classmethod
    def from_hf(cls, cfg: dict) -> DynamicResize:
        """From a ``Qwen2VLImageProcessor`` ``preprocessor_config.json`` (Qwen2.5-VL uses the same processor)."""
        kind = processor_kind(cfg)
        if kind not in ("Qwen2VLImageProcessor", "Qwen2_5_VLImageProcessor"):
            raise PreprocessError(f"{kind or 'an image processor'}: not Qwen2-VL's dynamic resolution")
        size = cfg.get("size") or {}
        low, high = cfg.get("min_pixels", size.get("shortest_edge")), cfg.get("max_pixels", size.get("longest_edge"))
        if low is None or high is None:
            raise PreprocessError(f"{kind}: no pixel bounds (size.shortest_edge / longest_edge or min_pixels / max_pixels): {size}")
        return cls(int(cfg.get("patch_size", 14)), int(cfg.get("merge_size", 2)), int(low), int(high), Preprocess.normalisation(cfg),
                   int(cfg.get("temporal_patch_size", 2)))
