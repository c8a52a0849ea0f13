"""Grids over an image: the cell holding a point, and how much of each patch a mask covers."""

from __future__ import annotations

import numpy as np

from spatialprobe.geometry.box import Box
from spatialprobe.geometry.frames import FrameMap


def _grid_shape(grid) -> tuple[int, int]:
    rows, cols = (grid, grid) if np.isscalar(grid) else grid
    if int(rows) != rows or int(cols) != cols or rows < 1 or cols < 1:
        raise ValueError(f"a grid is a positive int or (rows, cols), got {grid!r}")
    return int(rows), int(cols)


def grid_cell(where, grid, frame: tuple[int, int] | None = None) -> int:
    """Row-major index of the cell of a ``grid`` (G or (rows, cols)) holding a point or a box centre.

    ``where`` is a `Box` (its own frame is used) or a pixel point ``(x, y)`` with ``frame`` given.
    Points on the far edge belong to the last cell.
    """
    rows, cols = _grid_shape(grid)
    if isinstance(where, Box):
        frame = where.frame
        x, y = where.center
    else:
        if frame is None:
            raise ValueError("a point needs the frame (width, height) it lies in")
        x, y = where
    w, h = frame
    if not (0 <= x <= w and 0 <= y <= h):
        raise ValueError(f"point ({x}, {y}) lies outside the {w}×{h} frame")
    col = min(int(x * cols / w), cols - 1)
    row = min(int(y * rows / h), rows - 1)
    return row * cols + col


def _overlap_weights(starts: np.ndarray, ends: np.ndarray, n: int) -> np.ndarray:
    """(len(starts), n): length of [start, end) that falls in each unit pixel cell [c, c+1)."""
    c = np.arange(n, dtype=np.float64)[None, :]
    lo = np.maximum(starts[:, None], c)
    hi = np.minimum(ends[:, None], c + 1)
    return np.clip(hi - lo, 0, None)


class GridCoverage:
    """How masks of one source frame cover the patches of a grid over the model's input frame.

    The weights depend only on (source size, frame map, grid), so they are computed once and
    applied to any number of masks: ``area`` gives the exact covered fraction of each patch
    (padding counts as uncovered), ``nearest`` samples each mask at the patch centres as a
    nearest-neighbour resize does (the 2406.09067 recipe).
    """

    def __init__(self, size: tuple[int, int], grid, frame_map: FrameMap | None = None):
        w, h = size
        self.size = (int(w), int(h))
        frame_map = frame_map or FrameMap.identity(self.size)
        if tuple(frame_map.src) != self.size:
            raise ValueError(f"mask is {w}×{h} but the frame map starts from {frame_map.src}")
        self.grid = rows, cols = _grid_shape(grid)
        dw, dh = frame_map.dst
        (sx, sy), (tx, ty) = frame_map.scale, frame_map.offset
        xe = (np.arange(cols + 1) * dw / cols - tx) / sx
        ye = (np.arange(rows + 1) * dh / rows - ty) / sy
        # each weight row is divided by its patch's preimage length, so the product is a fraction
        self._wx = _overlap_weights(xe[:-1], xe[1:], w) / (xe[1:] - xe[:-1])[:, None]
        self._wy = _overlap_weights(ye[:-1], ye[1:], h) / (ye[1:] - ye[:-1])[:, None]
        ix = np.floor(((np.arange(cols) + 0.5) * dw / cols - tx) / sx).astype(int)
        iy = np.floor(((np.arange(rows) + 0.5) * dh / rows - ty) / sy).astype(int)
        self._cols, self._rows = np.flatnonzero((ix >= 0) & (ix < w)), np.flatnonzero((iy >= 0) & (iy < h))
        self._ix, self._iy = ix[self._cols], iy[self._rows]

    def _check(self, masks: np.ndarray) -> np.ndarray:
        masks = np.asarray(masks)
        if masks.shape[-2:] != (self.size[1], self.size[0]):
            raise ValueError(f"masks are {masks.shape[-1]}×{masks.shape[-2]}, expected {self.size[0]}×{self.size[1]}")
        return masks

    def area(self, masks: np.ndarray) -> np.ndarray:
        """(..., H, W) masks → (..., rows, cols) covered fractions."""
        m = self._check(masks).astype(np.float64)
        return self._wy @ m @ self._wx.T

    def nearest(self, masks: np.ndarray) -> np.ndarray:
        """(..., H, W) masks → (..., rows, cols) mask values at the patch centres (0 outside the image)."""
        m = self._check(masks).astype(np.float64)
        out = np.zeros(m.shape[:-2] + self.grid)
        out[..., self._rows[:, None], self._cols[None, :]] = m[..., self._iy[:, None], self._ix[None, :]]
        return out


def mask_to_grid(mask: np.ndarray, grid, frame_map: FrameMap | None = None, mode: str = "area") -> np.ndarray:
    """Coverage of each patch of a grid over the model's input frame by a mask of the source image.

    ``mask`` is (H, W) in the source frame; ``frame_map`` takes it to the model's input frame
    (resize / crop / pad; identity if None); the grid tiles the input frame. ``mode="area"`` gives
    the exact covered fraction of each patch (padding counts as uncovered); ``mode="nearest"`` samples
    the mask at each patch centre, as a nearest-neighbour resize of the mask to the grid does
    (the 2406.09067 recipe). Returns (rows, cols) float64. For many masks use `GridCoverage`.
    """
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"a mask is 2-D (H, W), got shape {mask.shape}")
    if mode not in ("area", "nearest"):
        raise ValueError(f"unknown mode {mode!r}; expected 'area' or 'nearest'")
    coverage = GridCoverage((mask.shape[1], mask.shape[0]), grid, frame_map)
    return coverage.area(mask) if mode == "area" else coverage.nearest(mask)
