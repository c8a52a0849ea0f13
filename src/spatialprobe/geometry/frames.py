"""`FrameMap`: the axis-aligned map from one image frame to another (resize, crop, pad)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class FrameMap:
    """Maps pixel coordinates of a ``src`` frame into a ``dst`` frame: ``x' = sx·x + tx``.

    Frames are ``(width, height)`` in pixels. Resizes, crops and pads compose with `then`, so
    a model's preprocessing (resize → centre crop → pad) is one `FrameMap`.
    """

    src: tuple[int, int]
    dst: tuple[int, int]
    scale: tuple[float, float] = (1.0, 1.0)
    offset: tuple[float, float] = (0.0, 0.0)

    @classmethod
    def identity(cls, frame: tuple[int, int]) -> FrameMap:
        return cls(tuple(frame), tuple(frame))

    @classmethod
    def resize(cls, src: tuple[int, int], dst: tuple[int, int]) -> FrameMap:
        """Stretch ``src`` onto ``dst`` (aspect ratio may change)."""
        return cls(tuple(src), tuple(dst), (dst[0] / src[0], dst[1] / src[1]))

    @classmethod
    def crop(cls, frame: tuple[int, int], left: float, top: float, width: int, height: int) -> FrameMap:
        """Keep the ``width × height`` window whose top-left corner is at (left, top)."""
        return cls(tuple(frame), (int(width), int(height)), (1.0, 1.0), (-float(left), -float(top)))

    @classmethod
    def center_crop(cls, frame: tuple[int, int], size: tuple[int, int]) -> FrameMap:
        """A centred ``size`` window, offsets floored as Hugging Face image processors do.

        (torchvision's CenterCrop rounds instead; a window larger than the frame pads.)
        """
        left = (frame[0] - size[0]) // 2
        top = (frame[1] - size[1]) // 2
        return cls.crop(frame, left, top, size[0], size[1])

    @classmethod
    def pad(cls, frame: tuple[int, int], left: int, top: int, right: int, bottom: int) -> FrameMap:
        """Add borders around ``frame``."""
        dst = (frame[0] + left + right, frame[1] + top + bottom)
        return cls(tuple(frame), dst, (1.0, 1.0), (float(left), float(top)))

    def then(self, other: FrameMap) -> FrameMap:
        """This map followed by ``other``."""
        if tuple(other.src) != tuple(self.dst):
            raise ValueError(f"cannot compose: {self.dst} is not the next map's source {other.src}")
        sx, sy = self.scale[0] * other.scale[0], self.scale[1] * other.scale[1]
        tx = self.offset[0] * other.scale[0] + other.offset[0]
        ty = self.offset[1] * other.scale[1] + other.offset[1]
        return FrameMap(self.src, other.dst, (sx, sy), (tx, ty))

    def inverse(self) -> FrameMap:
        sx, sy = self.scale
        return FrameMap(self.dst, self.src, (1 / sx, 1 / sy), (-self.offset[0] / sx, -self.offset[1] / sy))

    def map_points(self, points: np.ndarray) -> np.ndarray:
        """Map (..., 2) pixel points."""
        p = np.asarray(points, dtype=np.float64)
        return p * np.array(self.scale) + np.array(self.offset)

    def map_boxes(self, boxes: np.ndarray) -> np.ndarray:
        """Map (..., 4) pixel ``xyxy`` boxes (not clipped to the target frame)."""
        b = np.asarray(boxes, dtype=np.float64)
        scale = np.array(self.scale * 2)
        offset = np.array(self.offset * 2)
        return b * scale + offset
