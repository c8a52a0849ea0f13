"""Features: extraction into a resumable, content-addressed store, and token pools at read time."""

import importlib

_EXPORTS = {
    "extract": "spatialprobe.features.extraction",
    "ExtractionError": "spatialprobe.features.extraction",
    "FeatureStore": "spatialprobe.features.reader",
    "verify": "spatialprobe.features.reader",
    "list_stores": "spatialprobe.features.reader",
    "StoreError": "spatialprobe.features.store",
    "merge": "spatialprobe.features.store",
    "pool": "spatialprobe.features.pools",
    "POOLS": "spatialprobe.features.pools",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'spatialprobe.features' has no attribute {name!r}")
