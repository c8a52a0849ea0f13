"""Extraction: every token of the requested sites of a model, for every scene, into a store.

Scenes are cut into fixed shards (by position in the split); each process of a sharded run
(``--shard i/n`` or torchrun's RANK / WORLD_SIZE) writes the shards ``k`` with ``k % n == i``.
Images are decoded and preprocessed on a background thread while the model runs.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from spatialprobe import __version__
from spatialprobe.features import store as st
from spatialprobe.features.key import content_key, dataset_fingerprint, weights_fingerprint
from spatialprobe.models.adapter import Adapter
from spatialprobe.models.sites import expand
from spatialprobe.scenes.dataset import SceneDataset
from spatialprobe.scenes.record import Scene

DEFAULT_SHARD_SIZE = 4096


class ExtractionError(ValueError):
    """Bad extraction input (NaN/Inf features, a missing split, …); the message names scenes."""


@dataclass(frozen=True)
class ExtractResult:
    directory: Path
    written: list[int]
    skipped: list[int]
    merged: bool


def default_root() -> Path:
    return Path(os.environ.get("SPATIALPROBE_STORE", Path.home() / ".cache" / "spatialprobe" / "features"))


def world() -> tuple[int, int]:
    """(rank, world size) from torchrun's environment, or (0, 1)."""
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


def plan(
    adapter: Adapter,
    dataset: SceneDataset,
    sites: list[str],
    *,
    split: str | None,
    limit: int | None,
    batch_size: int,
    shard_size: int,
) -> tuple[st.StoreSpec, list[Scene]]:
    """Resolve sites and scenes and compute the store's content key."""
    sites = expand(sites, adapter.sites(), adapter.name)
    lm = [s for s in sites if s.startswith("lm.")]
    scenes = dataset.scenes(split)
    if not scenes:
        raise ExtractionError(f"{dataset.root}: no scenes in split {split!r}")
    scenes = scenes[:limit] if limit else scenes
    components = {
        "model": adapter.name if not Path(adapter.name.partition(":")[2]).exists() else adapter.card.family,
        "weights": weights_fingerprint(adapter.model),
        "dtype": str(adapter.dtype),
        "sites": sites,
        "preprocess": adapter.preprocess.to_json(),
        "dataset": dataset_fingerprint(dataset.root),
        "split": split,
        "limit": limit,
        "batch_size": batch_size,
        "shard_size": shard_size,
        "lm_text": None if not lm else "visual prompt only",
        "spatialprobe": __version__,
    }
    layouts = {site: adapter.layout(site) for site in sites}
    shards = [[s.id for s in scenes[i : i + shard_size]] for i in range(0, len(scenes), shard_size)]
    return st.StoreSpec(content_key(components), components, layouts, shards), scenes


def _object_tables(adapter: Adapter, dataset: SceneDataset, scenes: list[Scene]) -> dict[str, np.ndarray]:
    rows, cols, _, _ = adapter.geometry
    index, coverage, nearest, boxes = [], [], [], []
    for r, scene in enumerate(scenes):
        instances = dataset.instances(scene)
        for obj in scene.objects:
            index.append((r, obj.id))
            boxes.append(adapter.preprocess.map_box(obj.box).array())
            if obj.mask is None:
                coverage.append(np.full(rows * cols, np.nan))
                nearest.append(np.zeros(rows * cols, bool))
                continue
            mask = dataset.mask(scene, obj, instances)
            coverage.append(adapter.preprocess.mask_to_grid(mask, (rows, cols)).ravel())
            nearest.append(adapter.preprocess.mask_to_grid(mask, (rows, cols), mode="nearest").ravel() > 0)
    n = rows * cols
    return {
        "index": np.array(index, dtype=np.int32).reshape(-1, 2),
        "coverage": np.array(coverage, dtype=np.float16).reshape(-1, n),
        "nearest": np.array(nearest, dtype=np.uint8).reshape(-1, n),
        "boxes": np.array(boxes, dtype=np.float32).reshape(-1, 4),
    }


def _shard_arrays(adapter: Adapter, dataset: SceneDataset, scenes: list[Scene], sites: list[str], batch_size: int, pool) -> dict[str, np.ndarray]:
    def load(batch: list[Scene]):
        return adapter.preprocess([dataset.image(s) for s in batch])

    batches = [scenes[i : i + batch_size] for i in range(0, len(scenes), batch_size)]
    parts: dict[str, list[np.ndarray]] = {site: [] for site in sites}
    pending = pool.submit(load, batches[0])
    for i, batch in enumerate(batches):
        pixels = pending.result()
        if i + 1 < len(batches):
            pending = pool.submit(load, batches[i + 1])
        out = adapter.forward_sites(adapter.make_batch(pixels), sites)
        for site, tensor in out.items():
            array = tensor.float().cpu().numpy()
            bad = ~np.isfinite(array).reshape(len(batch), -1).all(axis=1)
            if bad.any():
                ids = [s.id for s, b in zip(batch, bad) if b]
                raise ExtractionError(f"site {site}: NaN or Inf features for scenes {ids[:5]} (nothing of this shard was written)")
            parts[site].append(array)
    return {site: np.concatenate(chunks) for site, chunks in parts.items()}


def extract(
    adapter: Adapter,
    dataset: SceneDataset,
    sites: list[str],
    *,
    root: str | Path | None = None,
    split: str | None = None,
    limit: int | None = None,
    batch_size: int = 64,
    shard_size: int = DEFAULT_SHARD_SIZE,
    shard: tuple[int, int] | None = None,
    progress: bool = True,
) -> ExtractResult:
    """Extract into ``root/<key>``; resumes finished shards; merges when this process ran them all."""
    from spatialprobe.results.provenance import provenance

    spec, scenes = plan(adapter, dataset, sites, split=split, limit=limit, batch_size=batch_size, shard_size=shard_size)
    directory = Path(root or default_root()) / spec.key
    st.prepare(directory, spec)
    rank, size = shard or world()
    if not 0 <= rank < size:
        raise ExtractionError(f"shard {rank}/{size}: need 0 ≤ i < n")
    mine = [k for k in range(len(spec.shard_scenes)) if k % size == rank]
    written, skipped = [], []
    by_id = {s.id: s for s in scenes}
    bar = tqdm(total=sum(len(spec.shard_scenes[k]) for k in mine), unit="scene", desc=f"extract {spec.key[:8]}", disable=not progress, leave=False)
    with ThreadPoolExecutor(max_workers=1) as pool:
        for k in mine:
            ids = spec.shard_scenes[k]
            if st.shard_done(directory, k):
                skipped.append(k)
            else:
                chunk = [by_id[i] for i in ids]
                arrays = _shard_arrays(adapter, dataset, chunk, spec.components["sites"], batch_size, pool)
                st.write_shard(directory, k, ids, arrays, _object_tables(adapter, dataset, chunk))
                written.append(k)
            bar.update(len(ids))
    bar.close()
    merged = False
    if size == 1 or all(st.shard_done(directory, k) for k in range(len(spec.shard_scenes))):
        st.merge(directory, provenance(dtype=spec.components["dtype"], model=adapter.name, rank=rank, world_size=size))
        merged = True
    return ExtractResult(directory, written, skipped, merged)
