"""Design matrices: a site's pooled features for each item, optionally conditioned on its text."""

from __future__ import annotations

import numpy as np

from spatialprobe.features.pools import PER_SCENE, POOLS, PoolError, pool, refuse_padding
from spatialprobe.features.reader import FeatureStore
from spatialprobe.names import CONDITIONING
from spatialprobe.probing.items import SPLITS, Items, ProbingError

MAX_BILINEAR = 40_000


def check_pool(task, site: str, pool_name: str, store: FeatureStore) -> None:
    """Refuse a pool that does not fit the task before any training starts."""
    if pool_name not in POOLS:
        raise ProbingError(f"unknown pool {pool_name!r}; valid pools: {', '.join(POOLS)}")
    p = POOLS[pool_name]
    if task.location and p.uses_object_mask:
        raise ProbingError(
            f"task {task.name} asks where something is, and pool {pool_name!r} chooses tokens with the object's mask: "
            "positional embeddings alone would answer it. Use a scene-level pool (all, patches, queries, mean, cls)."
        )
    if p.level == "object" and task.level != "object":
        raise ProbingError(f"pool {pool_name!r} reads one object's tokens; task {task.name} asks about whole scenes or texts")
    if site not in store.layouts:
        raise ProbingError(f"the store has no site {site!r}; stored: {', '.join(store.layouts)}")
    if pool_name not in PER_SCENE:
        try:
            refuse_padding(store, site, pool_name)
        except PoolError as err:
            raise ProbingError(str(err)) from None


def _pooled(store: FeatureStore, site: str, pool_name: str, index: np.ndarray, seed: int) -> np.ndarray:
    try:
        return pool(store, site, pool_name, index, seed=seed).astype(np.float32, copy=False)
    except PoolError as err:
        raise ProbingError(str(err)) from None


def visual(store: FeatureStore, site: str, pool_name: str, items: Items, seed: int, scene_rows: np.ndarray | None = None) -> np.ndarray:
    """(n, d) float32 features of each item (token sets flattened)."""
    rows = items.scene_row if scene_rows is None else scene_rows
    if POOLS[pool_name].level == "object":
        x = _pooled(store, site, pool_name, items.object_index, seed)
    else:
        unique, inverse = np.unique(rows, return_inverse=True)
        x = _pooled(store, site, pool_name, unique, seed)[inverse]
    return x.reshape(len(items), -1)


def token_inputs(store: FeatureStore, site: str, pool_name: str, items: Items, text, seed: int, scene_rows: np.ndarray | None = None) -> dict[str, dict]:
    """Per split, what token probes read: each scene's pooled tokens once (``tokens`` (S, T, d)),
    ``scene_of`` each item's scene among them, the items' ``text``, and — for ``probe_train`` only —
    the items' auxiliary training targets."""
    rows = items.scene_row if scene_rows is None else scene_rows
    out = {}
    for split in SPLITS:
        mask = items.split == split
        if POOLS[pool_name].level == "object":
            tokens, scene_of = _pooled(store, site, pool_name, items.object_index[mask], seed), np.arange(int(mask.sum()))
        else:
            unique, scene_of = np.unique(rows[mask], return_inverse=True)
            tokens = _pooled(store, site, pool_name, unique, seed)
        out[split] = {"tokens": tokens if tokens.ndim == 3 else tokens[:, None, :], "scene_of": scene_of, "text": None if text is None else text[mask]}
        if split == "probe_train" and items.aux:
            out[split]["aux"] = {k: v[mask] for k, v in items.aux.items()}
    return out


def condition(v: np.ndarray, t: np.ndarray | None, mode: str, t_basis: np.ndarray | None = None) -> np.ndarray:
    """Join visual and text features: concatenation, or the flattened outer product v ⊗ t' with t
    projected on ``t_basis`` (a few principal directions of the training texts)."""
    if t is None:
        return v
    if mode == "concat":
        return np.concatenate([v, t], axis=1)
    if mode != "bilinear":
        raise ProbingError(f"unknown conditioning {mode!r}; valid: {', '.join(CONDITIONING)}")
    tp = t @ t_basis
    tp = np.concatenate([tp, np.ones((len(tp), 1), tp.dtype)], axis=1)  # keep v itself (the ones column)
    if v.shape[1] * tp.shape[1] > MAX_BILINEAR:
        raise ProbingError(
            f"bilinear features would have {v.shape[1]}×{tp.shape[1]} = {v.shape[1] * tp.shape[1]:,} dimensions "
            f"(max {MAX_BILINEAR:,}); use a smaller pool (mean, cls) or conditioning 'concat'"
        )
    return (v[:, :, None] * tp[:, None, :]).reshape(len(v), -1)


def text_basis(t_train: np.ndarray, k: int = 8) -> np.ndarray:
    """The top-k principal directions of the training texts' features."""
    centred = t_train - t_train.mean(0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    return vt[: min(k, len(vt))].T.astype(np.float32)
