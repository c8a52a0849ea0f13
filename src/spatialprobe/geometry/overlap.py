"""IoU, GIoU, Acc@τ and centre-in-box on arrays of ``xyxy`` boxes or on `Box` objects."""

from __future__ import annotations

import numpy as np

from spatialprobe.geometry.box import Box


def _as_xyxy(a, b) -> tuple[np.ndarray, np.ndarray]:
    """Both inputs as float (..., 4) pixel xyxy arrays; `Box` inputs must share a frame."""
    if isinstance(a, Box) or isinstance(b, Box):
        if not (isinstance(a, Box) and isinstance(b, Box)):
            raise TypeError("compare a Box with a Box, or arrays with arrays")
        if a.frame != b.frame:
            raise ValueError(f"boxes refer to different frames: {a.frame} vs {b.frame}")
        return a.array(), b.array()
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape[-1:] != (4,) or b.shape[-1:] != (4,):
        raise ValueError(f"boxes need a last axis of 4, got {a.shape} and {b.shape}")
    return a, b


def _areas(x: np.ndarray) -> np.ndarray:
    return np.clip(x[..., 2] - x[..., 0], 0, None) * np.clip(x[..., 3] - x[..., 1], 0, None)


def _intersection_union(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lo = np.maximum(a[..., :2], b[..., :2])
    hi = np.minimum(a[..., 2:], b[..., 2:])
    inter = np.prod(np.clip(hi - lo, 0, None), axis=-1)
    return inter, _areas(a) + _areas(b) - inter


def iou(a, b):
    """Intersection over union, elementwise (broadcasting); 0 where both boxes are empty."""
    a, b = _as_xyxy(a, b)
    inter, union = _intersection_union(a, b)
    out = np.divide(inter, union, out=np.zeros(np.broadcast(inter, union).shape), where=union > 0)
    return float(out) if out.ndim == 0 else out


def giou(a, b):
    """Generalised IoU (Rezatofighi et al. 2019), in [-1, 1]."""
    a, b = _as_xyxy(a, b)
    inter, union = _intersection_union(a, b)
    lo = np.minimum(a[..., :2], b[..., :2])
    hi = np.maximum(a[..., 2:], b[..., 2:])
    hull = np.prod(np.clip(hi - lo, 0, None), axis=-1)
    shape = np.broadcast(inter, union).shape
    ratio = np.divide(inter, union, out=np.zeros(shape), where=union > 0)
    penalty = np.divide(hull - union, hull, out=np.zeros(shape), where=hull > 0)
    out = ratio - penalty
    return float(out) if out.ndim == 0 else out


def acc_at(ious, tau: float = 0.5):
    """1.0 where IoU ≥ τ, else 0.0 (the per-item form of Acc@τ / P@τ)."""
    out = (np.asarray(ious, dtype=np.float64) >= tau).astype(np.float64)
    return float(out) if out.ndim == 0 else out


def center_in_box(pred, target):
    """1.0 where the centre of ``pred`` lies inside ``target`` (lmms-eval's Center_ACC)."""
    p, t = _as_xyxy(pred, target)
    cx = (p[..., 0] + p[..., 2]) / 2
    cy = (p[..., 1] + p[..., 3]) / 2
    inside = (cx >= t[..., 0]) & (cx <= t[..., 2]) & (cy >= t[..., 1]) & (cy <= t[..., 3])
    out = inside.astype(np.float64)
    return float(out) if out.ndim == 0 else out
