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


def refuse_padding(store: FeatureStore, site: str, pool: str) -> None:
    """Refuse a pool that reads the same rows of every scene on a site whose scenes each have their own rows."""
    if store.per_scene(site):
        raise PoolError(f"site {site} gives every scene its own rows (a tiled or dynamic-resolution model), so pool {pool!r} "
                        f"would have to pad them; use {', '.join(PER_SCENE)}")


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
    refuse_padding(store, site, "all")
    return store.take(site, items, dtype=np.float32)


@_pool("cls", "scene", False, "the CLS token (a tiled model's: its first frame's)")
def _cls(store, site, items, rng, **_):
    if store.per_scene(site):
        return np.stack([_scene_rows(store, site, r, _own_role_rows(store, site, r, "cls")[:1])[0] for r in items]) if len(items) else np.zeros((0, 0))
    return store.take(site, items, _role_rows(store, site, "cls"), np.float32)[:, 0]


@_pool("patches", "scene", False, "the patch tokens, row-major")
def _patches(store, site, items, rng, **_):
    refuse_padding(store, site, "patches")
    return store.take(site, items, _role_rows(store, site, "patch"), np.float32)


@_pool("queries", "scene", False, "the resampler's query (or latent) tokens")
def _queries(store, site, items, rng, **_):
    refuse_padding(store, site, "queries")
    layout = store.layouts[site]
    role = "latent" if "latent" in layout.roles else "query"
    return store.take(site, items, _role_rows(store, site, role), np.float32)


@_pool("mean", "scene", False, "mean over all tokens")
def _mean(store, site, items, rng, **_):
    if store.ragged(site):
        return store.take_ragged(site, items).mean()
    return store.take(site, items, dtype=np.float32).mean(axis=1)


@_pool("random_patch", "object", False, "one patch drawn uniformly from the whole grid (2406.09067 'random'; a tiled model's: from every frame)")
def _random_patch(store, site, items, rng, objects, **_):
    rows = objects["row"][items]
    if store.per_scene(site):
        own = [_own_role_rows(store, site, r, "patch") for r in rows]
        picks = [p[rng.integers(0, len(p))] for p in own]
    else:
        positions = _patch_positions(store, site)
        picks = positions[rng.integers(0, len(positions), size=len(items))]
    return np.stack([_scene_rows(store, site, rows[i], [picks[i]])[0] for i in range(len(items))]) if len(items) else np.zeros((0, 0))


@_pool("top_norm", "scene", False, "mean of the 3 highest-norm tokens")
def _top_norm(store, site, items, rng, k: int = 3, **_):
    refuse_padding(store, site, "top_norm")
    tokens = store.take(site, items, dtype=np.float32)
    top = np.argsort(-np.linalg.norm(tokens, axis=2), axis=1)[:, :k]
    return np.take_along_axis(tokens, top[:, :, None], axis=1).mean(axis=1)


def _object_cells(objects, items, mode: str, coverage=None) -> list[np.ndarray]:
    """Per item, the patches the object covers: grid cells, or (``coverage``: per object its (area, nearest) pair
    for each patch row of its scene, a per-image model's) indices among the scene's patch rows."""
    cells = []
    for i in items:
        area, near = (objects["coverage"][i], objects["nearest"][i]) if coverage is None else (coverage[i][:, 0], coverage[i][:, 1] > 0)
        if mode == "nearest":
            chosen = np.flatnonzero(near)
        else:
            if np.isnan(area).any():
                raise PoolError(f"object {objects['id'][i]} of row {objects['row'][i]} has no mask: this pool needs masks")
            chosen = np.flatnonzero(area >= MIN_COVERAGE)
            if chosen.size == 0 and area.size and area.max() > 0:  # a small object: its most covered patch
                chosen = np.array([int(np.argmax(area))])
        if chosen.size == 0:
            raise PoolError(f"object {objects['id'][i]} of row {objects['row'][i]} covers no patch of the grid (too small, or cropped away by the preprocessing)")
        cells.append(chosen)
    return cells


def _object_rows(store, site, objects, items, mode: str) -> list[np.ndarray]:
    """Per item, the site's rows that hold the object's patches (a tiled model's: in every frame that sees it)."""
    if not store.per_scene(site):
        positions = _patch_positions(store, site)
        return [positions[c] for c in _object_cells(objects, items, mode)]
    table = f"cells.{store.layouts[site].rule}"
    if table not in objects:
        raise PoolError(f"site {site}: the store has no object coverage of its rows")
    cells = _object_cells(objects, items, mode, objects[table])
    return [_own_role_rows(store, site, objects["row"][i], "patch")[c] for i, c in zip(items, cells)]


def _own_role_rows(store, site, row: int, role: str) -> np.ndarray:
    rows = store.role_rows(site, int(row), role)
    if rows.size == 0:
        raise PoolError(f"site {site} has no {role!r} rows in scene row {row}")
    return rows


def _scene_rows(store, site, row: int, rows) -> np.ndarray:
    """(len(rows), dim) float32: some rows of one scene."""
    if store.ragged(site):
        return store.take_ragged(site, [row], np.float32).values[np.asarray(rows)]
    return store.take(site, [row], rows, np.float32)[0]


@_pool("object_mean", "object", True, "mean of the patches the object covers (2406.09067 'avg_obj'; a tiled model's: in every frame)")
def _object_mean(store, site, items, rng, objects, mode="area", **_):
    out = [_scene_rows(store, site, objects["row"][i], rows).mean(axis=0) for i, rows in zip(items, _object_rows(store, site, objects, items, mode))]
    return np.stack(out) if out else np.zeros((0, 0))


@_pool("object_random", "object", True, "one random patch the object covers (2406.09067 'random_obj')")
def _object_random(store, site, items, rng, objects, mode="area", **_):
    out = [_scene_rows(store, site, objects["row"][i], [rows[rng.integers(0, len(rows))]])[0] for i, rows in zip(items, _object_rows(store, site, objects, items, mode))]
    return np.stack(out) if out else np.zeros((0, 0))


PER_SCENE = ("mean", "cls", "random_patch", "object_mean", "object_random")
"""The pools that read a site whose scenes each have their own rows."""


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
