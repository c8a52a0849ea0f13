"""Probing: tasks (labels from scenes), probes (fit / predict / score), the frozen protocol, controls.

Names are imported lazily so that listing tasks and probes stays cheap.
"""

from spatialprobe.lazy import exports

_EXPORTS = {
    "Items": "spatialprobe.probing.items",
    "ProbeConfig": "spatialprobe.probing.config",
    "ConfigError": "spatialprobe.probing.config",
    "run": "spatialprobe.probing.protocol",
    "probe": "spatialprobe.probing.protocol",
    "ProbingError": "spatialprobe.probing.items",
}

__getattr__, __all__ = exports(__name__, _EXPORTS)
