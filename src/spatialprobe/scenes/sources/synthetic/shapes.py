"""The synthetic world's vocabulary: shapes (as cached pixel stamps), colours and sizes."""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (215, 40, 40),
    "green": (40, 165, 60),
    "blue": (45, 85, 225),
    "yellow": (230, 210, 40),
    "purple": (145, 60, 190),
    "orange": (240, 135, 25),
    "cyan": (40, 200, 215),
    "white": (240, 240, 240),
}


def _polygon(n: int, inner: float | None = None, phase: float = -math.pi / 2) -> np.ndarray:
    """Vertices of a regular polygon (or a star with ``inner`` radius) on the unit circle."""
    k = 2 * n if inner else n
    angles = phase + np.arange(k) * 2 * math.pi / k
    radii = np.where(np.arange(k) % 2 == 1, inner, 1.0) if inner else np.ones(k)
    return np.stack([radii * np.cos(angles), radii * np.sin(angles)], axis=1)


def _inside_polygon(x: np.ndarray, y: np.ndarray, poly: np.ndarray) -> np.ndarray:
    """Even-odd rule point-in-polygon test, vectorised over points."""
    inside = np.zeros(x.shape, dtype=bool)
    for (x0, y0), (x1, y1) in zip(poly, np.roll(poly, -1, axis=0)):
        crosses = (y0 > y) != (y1 > y)
        with np.errstate(divide="ignore", invalid="ignore"):
            xc = x0 + (y - y0) * (x1 - x0) / (y1 - y0)
        inside ^= crosses & (x < xc)
    return inside


def _inside(shape: str, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Whether points in [-1, 1]² fall inside a unit-sized shape."""
    if shape == "circle":
        return x**2 + y**2 <= 1.0
    if shape == "square":
        return (np.abs(x) <= 0.9) & (np.abs(y) <= 0.9)
    if shape == "diamond":
        return np.abs(x) + np.abs(y) <= 1.0
    if shape == "cross":
        return ((np.abs(x) <= 0.34) & (np.abs(y) <= 1.0)) | ((np.abs(y) <= 0.34) & (np.abs(x) <= 1.0))
    if shape == "triangle":
        return _inside_polygon(x, y * 1.15 - 0.12, _polygon(3))
    if shape == "star":
        return _inside_polygon(x, y * 1.05 - 0.05, _polygon(5, inner=0.5))
    raise KeyError(shape)


SHAPES = ("circle", "square", "triangle", "diamond", "cross", "star")


def box_sizes(image_size: int) -> tuple[int, int]:
    """Side in pixels of a small and of a large object for a given image side."""
    return max(5, round(0.19 * image_size)), max(8, round(0.25 * image_size))


@lru_cache(maxsize=None)
def stamp(shape: str, side: int) -> np.ndarray:
    """(side, side) bool mask of ``shape`` sampled at pixel centres, trimmed to its tight box."""
    centres = (np.arange(side) + 0.5) / side * 2.0 - 1.0
    x, y = np.meshgrid(centres, centres)
    mask = _inside(shape, x, y)
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    trimmed = mask[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    trimmed.setflags(write=False)
    return trimmed
