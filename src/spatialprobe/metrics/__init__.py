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
