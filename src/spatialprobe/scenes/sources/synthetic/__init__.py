"""Synthetic scenes: coloured shapes with exact boxes, masks, relations, expressions and captions."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from spatialprobe.registry import SOURCES
from spatialprobe.scenes.sources.synthetic.build import build
from spatialprobe.scenes.sources.synthetic.config import SynthConfigError, SyntheticConfig
from spatialprobe.scenes.sources.synthetic.generate import generate_scene


@dataclass(frozen=True)
class SyntheticSource:
    """Registered entry: builds a dataset from a `SyntheticConfig`."""

    name: str = "synthetic"
    summary: str = "procedural shape scenes with exact geometry and annotations (offline default)"

    def build(self, out: str | Path, config: SyntheticConfig, **options) -> Path:
        return build(config, out, **options)


SOURCES.register("synthetic", SyntheticSource())

__all__ = ["SynthConfigError", "SyntheticConfig", "SyntheticSource", "build", "generate_scene"]
