"""Results: one JSON record per measurement with CIs and provenance, plus per-item predictions.

Names are imported lazily (the statistics pull in scipy, which takes a second to import).
"""

from spatialprobe.lazy import exports

_EXPORTS = {
    "provenance": "spatialprobe.results.origin",
    "ResultRecord": "spatialprobe.results.record",
    "Estimate": "spatialprobe.results.stats",
    "bootstrap": "spatialprobe.results.stats",
    "cluster_bootstrap": "spatialprobe.results.stats",
    "paired_difference": "spatialprobe.results.stats",
    "ResultStore": "spatialprobe.results.store",
    "MemoryResults": "spatialprobe.results.store",
    "to_frame": "spatialprobe.results.store",
    "rows": "spatialprobe.results.store",
    "to_csv": "spatialprobe.results.store",
    "to_markdown": "spatialprobe.results.store",
}

__getattr__, __all__ = exports(__name__, _EXPORTS)
