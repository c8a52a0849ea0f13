"""Probing: tasks (labels from scenes), probes (fit / predict / score), the frozen protocol, controls.

Names are imported lazily so that listing tasks and probes stays cheap.
"""

import importlib

_EXPORTS = {
    "Items": "spatialprobe.probing.items",
    "ProbeConfig": "spatialprobe.probing.config",
    "ConfigError": "spatialprobe.probing.config",
    "run": "spatialprobe.probing.protocol",
    "probe": "spatialprobe.probing.protocol",
    "ProbingError": "spatialprobe.probing.items",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'spatialprobe.probing' has no attribute {name!r}")
