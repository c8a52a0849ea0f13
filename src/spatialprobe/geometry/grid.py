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


def mask_to_grid(mask: np.ndarray, grid, frame_map: FrameMap | None = None, mode: str = "area") -> np.ndarray:
    """Coverage of each patch of a grid over the model's input frame by a mask of the source image.

    ``mask`` is (H, W) in the source frame; ``frame_map`` takes it to the model's input frame
    (resize / crop / pad; identity if None); the grid tiles the input frame. ``mode="area"`` gives
    the exact covered fraction of each patch (padding counts as uncovered); ``mode="nearest"`` samples
    the mask at each patch centre, as a nearest-neighbour resize of the mask to the grid does
    (the 2406.09067 recipe). Returns (rows, cols) float64.
    """
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"a mask is 2-D (H, W), got shape {mask.shape}")
    h, w = mask.shape
    frame_map = frame_map or FrameMap.identity((w, h))
    if tuple(frame_map.src) != (w, h):
        raise ValueError(f"mask is {w}×{h} but the frame map starts from {frame_map.src}")
    rows, cols = _grid_shape(grid)
    dw, dh = frame_map.dst
    (sx, sy), (tx, ty) = frame_map.scale, frame_map.offset
    m = mask.astype(np.float64)
    if mode == "nearest":
        cx = ((np.arange(cols) + 0.5) * dw / cols - tx) / sx
        cy = ((np.arange(rows) + 0.5) * dh / rows - ty) / sy
        ix, iy = np.floor(cx).astype(int), np.floor(cy).astype(int)
        okx, oky = (ix >= 0) & (ix < w), (iy >= 0) & (iy < h)
        out = np.zeros((rows, cols))
        out[np.ix_(oky, okx)] = m[np.ix_(iy[oky], ix[okx])]
        return out
    if mode != "area":
        raise ValueError(f"unknown mode {mode!r}; expected 'area' or 'nearest'")
    xe = (np.arange(cols + 1) * dw / cols - tx) / sx
    ye = (np.arange(rows + 1) * dh / rows - ty) / sy
    wx = _overlap_weights(xe[:-1], xe[1:], w)
    wy = _overlap_weights(ye[:-1], ye[1:], h)
    covered = wy @ m @ wx.T
    area = np.outer(ye[1:] - ye[:-1], xe[1:] - xe[:-1])
    return covered / area
