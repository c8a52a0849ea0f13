"""Point distances (lower is better): a located word's point, a box's centre."""

from __future__ import annotations

import numpy as np

from spatialprobe.metrics import Metric
from spatialprobe.registry import METRICS


def point_l1(pred, target) -> np.ndarray:
    """Mean absolute difference of the first two coordinates (x, y), per item (PixelLLM's point L1)."""
    return np.abs(np.asarray(pred, dtype=np.float64)[:, :2] - np.asarray(target, dtype=np.float64)[:, :2]).mean(axis=1)


def center_l1(pred, target) -> np.ndarray:
    """|Δcx| + |Δcy| of cxcywh boxes, per item."""
    return np.abs(np.asarray(pred, dtype=np.float64)[:, :2] - np.asarray(target, dtype=np.float64)[:, :2]).sum(axis=1)


METRICS.register("point_l1", Metric("point_l1", point_l1, higher_is_better=False, description="mean |Δx|, |Δy| of the located point"))
METRICS.register("center_L1", Metric("center_L1", center_l1, higher_is_better=False, description="|Δcx| + |Δcy| of cxcywh boxes"))
