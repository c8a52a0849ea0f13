"""Classification metrics."""

from __future__ import annotations

import numpy as np

from spatialprobe.metrics import Metric
from spatialprobe.registry import METRICS


def _accuracy(pred, target) -> np.ndarray:
    return (np.asarray(pred) == np.asarray(target)).astype(np.float64)


METRICS.register("accuracy", Metric("accuracy", _accuracy, description="prediction equals the label"))
