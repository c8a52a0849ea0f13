"""Features: extraction into a resumable, content-addressed store, and token pools at read time."""

from spatialprobe.lazy import exports

_EXPORTS = {
    "extract": "spatialprobe.features.extraction",
    "ExtractionError": "spatialprobe.features.extraction",
    "FeatureStore": "spatialprobe.features.reader",
    "MemoryStore": "spatialprobe.features.memory",
    "in_memory": "spatialprobe.features.memory",
    "verify": "spatialprobe.features.reader",
    "list_stores": "spatialprobe.features.reader",
    "StoreError": "spatialprobe.features.store",
    "merge": "spatialprobe.features.store",
    "pool": "spatialprobe.features.pools",
    "POOLS": "spatialprobe.features.pools",
}

__getattr__, __all__ = exports(__name__, _EXPORTS)
