"""Results: one JSON record per measurement with CIs and provenance, plus per-item predictions.

Names are imported lazily (the statistics pull in scipy, which takes a second to import).
"""

import importlib

_EXPORTS = {
    "provenance": "spatialprobe.results.origin",
    "ResultRecord": "spatialprobe.results.record",
    "Estimate": "spatialprobe.results.stats",
    "bootstrap": "spatialprobe.results.stats",
    "cluster_bootstrap": "spatialprobe.results.stats",
    "paired_difference": "spatialprobe.results.stats",
    "ResultStore": "spatialprobe.results.store",
    "rows": "spatialprobe.results.store",
    "to_csv": "spatialprobe.results.store",
    "to_markdown": "spatialprobe.results.store",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'spatialprobe.results' has no attribute {name!r}")
