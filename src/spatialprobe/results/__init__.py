"""Results: one JSON record per measurement with CIs and provenance, plus per-item predictions."""

from spatialprobe.results.provenance import provenance
from spatialprobe.results.record import ResultRecord
from spatialprobe.results.stats import Estimate, bootstrap, cluster_bootstrap, paired_difference
from spatialprobe.results.store import ResultStore, rows, to_csv, to_markdown

__all__ = [
    "Estimate",
    "ResultRecord",
    "ResultStore",
    "bootstrap",
    "cluster_bootstrap",
    "paired_difference",
    "provenance",
    "rows",
    "to_csv",
    "to_markdown",
]
