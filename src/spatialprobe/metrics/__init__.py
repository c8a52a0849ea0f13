"""Per-item metrics: each returns one value per item so any metric can be bootstrapped."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Metric:
    """A named per-item metric; the reported value is the mean over items."""

    name: str
    per_item: Callable[[np.ndarray, np.ndarray], np.ndarray]
    higher_is_better: bool = True
    description: str = ""


def sign(name: str) -> float:
    """+1 when a higher value of metric ``name`` is better, −1 when lower is (`Metric.higher_is_better`);
    a breakdown (``IoU[size=small]``) has its metric's direction. Names outside the registry (the
    structure measures M1 / M2, gaps) are higher-is-better."""
    from spatialprobe.registry import METRICS

    base = name.split("[", 1)[0]
    return 1.0 if base not in METRICS.names() or METRICS.get(base).higher_is_better else -1.0
