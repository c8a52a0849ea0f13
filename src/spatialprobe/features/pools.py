"""Token pools, applied when reading a store — so no pooling choice ever forks a store.

Scene-level pools give one vector (or token set) per scene row; object-level pools give one per
(scene, object) item and use the object's mask mapped onto the model's patch grid. Pools that
choose tokens with the object's mask say so (`Pool.uses_object_mask`): location tasks refuse them,
since positional embeddings alone would reveal where the object is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from spatialprobe.features.reader import FeatureStore

MIN_COVERAGE = 0.5
"""A patch belongs to an object when the object covers at least this fraction of it (area mode)."""


class PoolError(ValueError):
    """A pool that does not fit a site, or needs masks the data lacks."""


@dataclass(frozen=True)
class Pool:
    name: str
    level: str  # "scene" or "object"
    uses_object_mask: bool
    description: str
    fn: Callable


POOLS: dict[str, Pool] = {}


def _pool(name: str, level: str, uses_object_mask: bool, description: str):
    def register(fn):
        POOLS[name] = Pool(name, level, uses_object_mask, description, fn)
        return fn

    return register


def _role_rows(store: FeatureStore, site: str, role: str) -> np.ndarray:
    rows = store.layouts[site].rows(role)
    if rows.size == 0:
        roles = sorted(set(store.layouts[site].roles))
        raise PoolError(f"site {site} has no {role!r} rows (its rows are {roles})")
    return rows


def _patch_positions(store: FeatureStore, site: str) -> np.ndarray:
    """Row index of each grid cell (row-major) in this site's layout."""
    layout = store.layouts[site]
    if layout.grid is None:
        raise PoolError(f"site {site} has no patch grid: object pools need patch tokens (e.g. vision.layer.*)")
    rows = layout.rows("patch")
    cells = np.array(layout.patch_cells)
    order = np.argsort(cells[:, 0] * layout.grid[1] + cells[:, 1])
    return rows[order]


@_pool("all", "scene", False, "every token of the site, in layout order")
def _all(store, site, items, rng, **_):
    return store.take(site, items, dtype=np.float32)


@_pool("cls", "scene", False, "the CLS token")
def _cls(store, site, items, rng, **_):
    return store.take(site, items, _role_rows(store, site, "cls"), np.float32)[:, 0]


@_pool("patches", "scene", False, "the patch tokens, row-major")
def _patches(store, site, items, rng, **_):
    return store.take(site, items, _role_rows(store, site, "patch"), np.float32)


@_pool("queries", "scene", False, "the resampler's query (or latent) tokens")
def _queries(store, site, items, rng, **_):
    layout = store.layouts[site]
    role = "latent" if "latent" in layout.roles else "query"
    return store.take(site, items, _role_rows(store, site, role), np.float32)


@_pool("mean", "scene", False, "mean over all tokens")
def _mean(store, site, items, rng, **_):
    return store.take(site, items, dtype=np.float32).mean(axis=1)


@_pool("random_patch", "object", False, "one patch drawn uniformly from the whole grid (2406.09067 'random')")
def _random_patch(store, site, items, rng, objects, **_):
    positions = _patch_positions(store, site)
    rows = objects["row"][items]
    picks = positions[rng.integers(0, len(positions), size=len(items))]
    return np.stack([store.take(site, rows[i : i + 1], [picks[i]], np.float32)[0, 0] for i in range(len(items))]) if len(items) else np.zeros((0, 0))


@_pool("top_norm", "scene", False, "mean of the 3 highest-norm tokens")
def _top_norm(store, site, items, rng, k: int = 3, **_):
    tokens = store.take(site, items, dtype=np.float32)
    top = np.argsort(-np.linalg.norm(tokens, axis=2), axis=1)[:, :k]
    return np.take_along_axis(tokens, top[:, :, None], axis=1).mean(axis=1)


def _object_cells(objects, items, mode: str) -> list[np.ndarray]:
    cells = []
    for i in items:
        if mode == "nearest":
            chosen = np.flatnonzero(objects["nearest"][i])
        else:
            cov = objects["coverage"][i]
            if np.isnan(cov).any():
                raise PoolError(f"object {objects['id'][i]} of row {objects['row'][i]} has no mask: this pool needs masks")
            chosen = np.flatnonzero(cov >= MIN_COVERAGE)
            if chosen.size == 0 and cov.max() > 0:  # a small object: its most covered patch
                chosen = np.array([int(np.argmax(cov))])
        if chosen.size == 0:
            raise PoolError(f"object {objects['id'][i]} of row {objects['row'][i]} covers no patch of the grid (too small, or cropped away by the preprocessing)")
        cells.append(chosen)
    return cells


@_pool("object_mean", "object", True, "mean of the patches the object covers (2406.09067 'avg_obj')")
def _object_mean(store, site, items, rng, objects, mode="area", **_):
    positions = _patch_positions(store, site)
    out = []
    for i, cells in zip(items, _object_cells(objects, items, mode)):
        out.append(store.take(site, objects["row"][i : i + 1], positions[cells], np.float32)[0].mean(axis=0))
    return np.stack(out) if out else np.zeros((0, 0))


@_pool("object_random", "object", True, "one random patch the object covers (2406.09067 'random_obj')")
def _object_random(store, site, items, rng, objects, mode="area", **_):
    positions = _patch_positions(store, site)
    out = []
    for i, cells in zip(items, _object_cells(objects, items, mode)):
        cell = cells[rng.integers(0, len(cells))]
        out.append(store.take(site, objects["row"][i : i + 1], [positions[cell]], np.float32)[0, 0])
    return np.stack(out) if out else np.zeros((0, 0))


def pool(store: FeatureStore, site: str, name: str, items=None, *, seed: int = 0, **options) -> np.ndarray:
    """Apply a pool to a site of a store.

    ``items`` are scene rows for scene-level pools and indices into ``store.objects()`` for
    object-level pools (default: all). Random pools are deterministic in ``seed``.
    """
    if name not in POOLS:
        raise PoolError(f"unknown pool {name!r}; valid pools: {', '.join(POOLS)}")
    p = POOLS[name]
    store._site(site)
    rng = np.random.default_rng(seed)
    if p.level == "scene":
        items = np.arange(store.rows) if items is None else np.asarray(items)
        return p.fn(store, site, items, rng)
    objects = store.objects()
    if len(objects["id"]) == 0:
        raise PoolError(f"{store.dir}: the store has no objects, so object pools cannot apply")
    items = np.arange(len(objects["id"])) if items is None else np.asarray(items)
    return p.fn(store, site, items, rng, objects=objects, **options)
