"""A feature store held in memory, for small experiments in a notebook: nothing stays on disk.

``in_memory(adapter, dataset, sites)`` extracts into a temporary folder with the ordinary
extraction (same content key, same checks), reads every array into RAM and deletes the folder;
``MemoryStore(FeatureStore(dir))`` copies a finished store. Both read like a `FeatureStore`.
"""

from __future__ import annotations

import tempfile

import numpy as np

from spatialprobe.features.reader import FeatureStore


class MemoryStore(FeatureStore):
    """A `FeatureStore`'s arrays, layouts and manifest in RAM (``dir`` is None: no text cache on disk)."""

    def __init__(self, store: FeatureStore):
        self.dir = None
        self.manifest, self.layouts = store.manifest, dict(store.layouts)
        self._shards, self._starts, self._maps = store._shards, store._starts, {}
        self._arrays = {rel: np.array(store._load(rel)) for r in self._shards for rel in r["files"]}
        self.nbytes = sum(a.nbytes for a in self._arrays.values())

    def _load(self, rel: str) -> np.ndarray:
        return self._arrays[rel]


def in_memory(adapter, dataset, sites, split=None, batch_size: int = 32, progress: bool = False) -> MemoryStore:
    """Extract ``sites`` of ``adapter`` on ``dataset`` into memory (see the module docstring)."""
    from spatialprobe.features.extraction import extract
    from spatialprobe.probing.items import SPLITS

    with tempfile.TemporaryDirectory(prefix="spatialprobe-store-") as root:
        result = extract(adapter, dataset, sites, root=root, split=list(split or SPLITS), batch_size=batch_size, progress=progress)
        return MemoryStore(FeatureStore(result.directory))
