"""`Study` and `Step`: what a study contributes to a run, and the unit of caching and resume."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from spatialprobe.registry import STUDIES


@dataclass(frozen=True)
class Step:
    id: str
    """Unique within a run, a relative path: ``lost_in_space/qformer+coarse@contrastive/lab0``."""
    run: Callable[[Path], None]
    """Writes its results records under ``<dir>/results``."""


@dataclass(frozen=True)
class Study:
    name: str
    title: str
    steps: Callable
    """``steps(ctx, options) -> list[Step]``."""
    section: Callable
    """``section(results, options, scenes) -> list of report blocks`` (`spatialprobe.report`)."""
    models: Callable[[dict], list[str]] = lambda options: list(options.get("models", []))
    """The lab models (``qformer+coarse@contrastive``) a study's options name."""
