"""Studies: one module per study, each registering a `Study` in `STUDIES`."""

from spatialprobe.experiments.studies._base import STUDIES, Step, Study

__all__ = ["STUDIES", "Step", "Study"]
