"""`Box`: four numbers that always know their format, units and the image they refer to."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from spatialprobe.geometry.frames import FrameMap

BOX_FORMATS = ("xyxy", "xywh", "cxcywh")
UNITS = ("pixel", "unit")


def convert(coords: np.ndarray, src: str, dst: str) -> np.ndarray:
    """Convert an array of boxes (..., 4) between formats; units are untouched."""
    for fmt in (src, dst):
        if fmt not in BOX_FORMATS:
            raise ValueError(f"unknown box format {fmt!r}; expected one of {BOX_FORMATS}")
    c = np.asarray(coords, dtype=np.float64)
    if c.shape[-1:] != (4,):
        raise ValueError(f"boxes must have a last axis of 4, got shape {c.shape}")
    if src == dst:
        return c.copy()
    a, b, p, q = np.moveaxis(c, -1, 0)
    if src == "xywh":
        x0, y0, x1, y1 = a, b, a + p, b + q
    elif src == "cxcywh":
        x0, y0, x1, y1 = a - p / 2, b - q / 2, a + p / 2, b + q / 2
    else:
        x0, y0, x1, y1 = a, b, p, q
    if dst == "xyxy":
        out = (x0, y0, x1, y1)
    elif dst == "xywh":
        out = (x0, y0, x1 - x0, y1 - y0)
    else:
        out = ((x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0)
    return np.stack(out, axis=-1)


@dataclass(frozen=True, slots=True)
class Box:
    """An axis-aligned box.

    ``coords`` are four numbers in ``fmt`` (``xyxy``, ``xywh`` or ``cxcywh``) and ``units``
    (``pixel`` or ``unit`` = fractions of the frame); ``frame`` is the ``(width, height)`` in
    pixels of the image the box refers to. Width and height may be zero, never negative.
    """

    coords: tuple[float, float, float, float]
    fmt: str
    units: str
    frame: tuple[int, int]

    def __post_init__(self) -> None:
        if self.fmt not in BOX_FORMATS:
            raise ValueError(f"unknown box format {self.fmt!r}; expected one of {BOX_FORMATS}")
        if self.units not in UNITS:
            raise ValueError(f"unknown box units {self.units!r}; expected one of {UNITS}")
        coords = tuple(float(v) for v in self.coords)
        if len(coords) != 4 or not all(math.isfinite(v) for v in coords):
            raise ValueError(f"a box needs four finite numbers, got {self.coords!r}")
        object.__setattr__(self, "coords", coords)
        w, h = self.frame
        if int(w) != w or int(h) != h or w <= 0 or h <= 0:
            raise ValueError(f"a box frame is a positive (width, height) in pixels, got {self.frame!r}")
        object.__setattr__(self, "frame", (int(w), int(h)))
        if self.fmt == "xyxy":
            width, height = coords[2] - coords[0], coords[3] - coords[1]
        else:
            width, height = coords[2], coords[3]
        if width < 0 or height < 0:
            raise ValueError(f"box {coords} ({self.fmt}) has a negative width or height")

    @classmethod
    def xyxy(cls, x0: float, y0: float, x1: float, y1: float, frame: tuple[int, int]) -> Box:
        """A pixel box from its corners."""
        return cls((x0, y0, x1, y1), "xyxy", "pixel", frame)

    @classmethod
    def from_permille(cls, values, fmt: str, frame: tuple[int, int]) -> Box:
        """Parse a model output in [0, 1000] (e.g. Qwen-VL style) into a unit box."""
        return cls(tuple(float(v) / 1000.0 for v in values), fmt, "unit", frame)

    def to(self, fmt: str | None = None, units: str | None = None) -> Box:
        """The same box in another format and/or units."""
        fmt = fmt or self.fmt
        units = units or self.units
        if fmt == self.fmt and units == self.units:
            return self
        if units not in UNITS:
            raise ValueError(f"unknown box units {units!r}; expected one of {UNITS}")
        c = convert(np.array(self.coords), self.fmt, fmt)
        if units != self.units:
            w, h = self.frame
            scale = np.array([w, h, w, h], dtype=np.float64)
            c = c * scale if units == "pixel" else c / scale
        return Box(tuple(c.tolist()), fmt, units, self.frame)

    def array(self, fmt: str = "xyxy", units: str = "pixel") -> np.ndarray:
        """The coordinates as a float64 array in the requested format and units."""
        return np.array(self.to(fmt, units).coords)

    @property
    def width(self) -> float:
        x0, _, x1, _ = self.array()
        return float(x1 - x0)

    @property
    def height(self) -> float:
        _, y0, _, y1 = self.array()
        return float(y1 - y0)

    @property
    def area(self) -> float:
        """Area in square pixels."""
        return self.width * self.height

    @property
    def center(self) -> tuple[float, float]:
        """Centre in pixels."""
        cx, cy, _, _ = self.array("cxcywh")
        return float(cx), float(cy)

    def inside_frame(self, tolerance: float = 1e-6) -> bool:
        """Whether the box lies within its image (pixel tolerance)."""
        x0, y0, x1, y1 = self.array()
        w, h = self.frame
        return x0 >= -tolerance and y0 >= -tolerance and x1 <= w + tolerance and y1 <= h + tolerance

    def clipped(self) -> Box:
        """The part of the box inside its image, in the same format and units."""
        x0, y0, x1, y1 = self.array()
        w, h = self.frame
        x0, x1 = np.clip([x0, x1], 0, w)
        y0, y1 = np.clip([y0, y1], 0, h)
        return Box.xyxy(x0, y0, x1, y1, self.frame).to(self.fmt, self.units)

    def mapped(self, frame_map: FrameMap) -> Box:
        """This box in the target frame of ``frame_map`` (pixels, ``xyxy``); not clipped."""
        if tuple(self.frame) != tuple(frame_map.src):
            raise ValueError(f"box frame {self.frame} differs from the map's source frame {frame_map.src}")
        mapped = frame_map.map_boxes(self.array()[None])[0]
        return Box(tuple(mapped.tolist()), "xyxy", "pixel", frame_map.dst)
