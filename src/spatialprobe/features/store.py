"""The feature store: all tokens of each site, per shard, as memory-mapped ``.npy`` files.

Layout of one store (a directory named by its content key)::

    key.json                       what the key hashes (model, weights, sites, preprocessing, data, …)
    layouts.json                   the TokenLayout of every site
    sites/<site>/<shard>.npy       (rows, tokens, dim) float16 (float32 where float16 would overflow);
                                   a ragged site (scenes with different row counts: tiled and dynamic-
                                   resolution models) stores (Σ rows, dim) and beside it
    sites/<site>/<shard>.offsets.npy  (scenes + 1,) int64: scene i's rows are [offsets[i], offsets[i+1])
    objects/<shard>.<part>.npy     per object: (row, id) index, grid coverage, nearest-mask cells, box
    layouts/<shard>.<rule>.npy     a per-image model's: each scene's own layout per layout rule, and its
                                   objects' coverage of those rows (objects/<shard>.cells.<rule>.npy):
                                   see `features.per_scene`
    shards/<shard>.json            the shard's scene ids and every file's shape, dtype and sha256 —
                                   written last: a shard with a record is complete
    manifest.json                  all shard records + provenance + the store hash (written by merge)

Every file is written under a temporary name and renamed. An interrupted extraction resumes and
skips shards that have a record; nothing is ever gathered across processes.
"""

from __future__ import annotations

import json
import os
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from spatialprobe.features.key import FORMAT, digest
from spatialprobe.models.layout import TokenLayout
from spatialprobe.scenes.files import sha256_file

OBJECT_PARTS = ("index", "coverage", "nearest", "boxes")
FLOAT16_MAX = float(np.finfo(np.float16).max)


class StoreError(ValueError):
    """A store that is incomplete, inconsistent or corrupt; the message names the file."""


def shard_name(k: int) -> str:
    return f"{k:05d}"


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_save_npy(path: Path, array: np.ndarray) -> dict:
    """Write an array as .npy atomically; returns its file record."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            np.save(f, np.ascontiguousarray(array), allow_pickle=False)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return {"shape": list(array.shape), "dtype": str(array.dtype), "sha256": sha256_file(path)}


@dataclass(frozen=True)
class Ragged:
    """Scenes with different row counts: ``values`` (Σ rows, dim) and ``offsets`` (scenes + 1,), scene i's rows
    being ``values[offsets[i]:offsets[i + 1]]`` — stored and read without padding to the longest."""

    values: np.ndarray
    offsets: np.ndarray

    @classmethod
    def of(cls, arrays: list[np.ndarray]) -> Ragged:
        """From one (rows_i, dim) array per scene."""
        if not arrays:
            raise ValueError("no scenes")
        dims = {a.shape[1:] for a in arrays}
        if len(dims) != 1 or any(a.ndim != 2 for a in arrays):
            raise ValueError(f"every scene needs (rows, dim) with one dim; got shapes {sorted({a.shape for a in arrays})[:4]}")
        return cls(np.concatenate(arrays), np.concatenate([[0], np.cumsum([len(a) for a in arrays])]).astype(np.int64))

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, i: int) -> np.ndarray:
        return self.values[self.offsets[i] : self.offsets[i + 1]]

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def mean(self) -> np.ndarray:
        """Each scene's mean row (scenes, dim), in float32 — the mean pool with no padding (a scene with no rows is an error)."""
        if (self.lengths == 0).any():
            raise ValueError("a scene with no rows has no mean")
        sums = np.add.reduceat(self.values.astype(np.float32, copy=False), self.offsets[:-1], axis=0)
        return sums / self.lengths[:, None]


def storage_dtype(array: np.ndarray) -> np.dtype:
    """float16 unless a value would overflow it."""
    return np.dtype(np.float16) if float(np.abs(array).max(initial=0.0)) < FLOAT16_MAX else np.dtype(np.float32)


def write_json(path: Path, obj) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=1, sort_keys=True) + "\n").encode())


@dataclass(frozen=True)
class StoreSpec:
    """Everything a store is made of, fixed before extraction starts."""

    key: str
    components: dict
    layouts: dict[str, TokenLayout]
    shard_scenes: list[list[str]]
    """Scene ids of each shard, in order."""


@contextmanager
def locked(directory: Path):
    """Hold the store's lock file (``.lock``) exclusively: one writer per store at a time."""
    import fcntl

    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".lock", "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def prepare(directory: Path, spec: StoreSpec, origin: dict | None = None) -> None:
    """Create the store directory (idempotent across processes) with its key and layouts.

    ``origin`` (the model spec and dataset path it came from; not part of the key) lets
    `spatialprobe store verify --repair` re-extract damaged shards by itself.
    """
    directory.mkdir(parents=True, exist_ok=True)
    key_path = directory / "key.json"
    body = {"key": spec.key, "components": spec.components, "shards": spec.shard_scenes}
    if key_path.exists():
        try:
            existing = json.loads(key_path.read_text())
        except ValueError:
            raise StoreError(f"{key_path}: not valid JSON; remove the store with `spatialprobe store rm {directory}` and extract again") from None
        if {k: existing.get(k) for k in body} != json.loads(json.dumps(body, default=str)):
            raise StoreError(f"{key_path}: a different extraction already uses this directory")
    else:
        write_json(key_path, {**body, "origin": origin or {}})
    if not (directory / "layouts.json").exists():  # also rewrites one that `--redo-bad` found damaged
        write_json(directory / "layouts.json", {site: layout.to_json() for site, layout in spec.layouts.items()})


def forget_shards(directory: Path, shards: list[int]) -> None:
    """Remove the records of shards to be extracted again (their files are overwritten) and the manifest."""
    for k in shards:
        (directory / "shards" / f"{shard_name(k)}.json").unlink(missing_ok=True)
    (directory / "manifest.json").unlink(missing_ok=True)


def shard_done(directory: Path, k: int) -> bool:
    return (directory / "shards" / f"{shard_name(k)}.json").exists()


def _save(directory: Path, stem: str, array: np.ndarray | Ragged, files: dict, floats: bool = False) -> None:
    """``<stem>.npy`` (and, for a `Ragged`, its offsets index ``<stem>.offsets.npy``) into the shard's file records."""
    if isinstance(array, Ragged):
        files[f"{stem}.offsets.npy"] = atomic_save_npy(directory / f"{stem}.offsets.npy", array.offsets)
        array = array.values
    files[f"{stem}.npy"] = atomic_save_npy(directory / f"{stem}.npy", array.astype(storage_dtype(array), copy=False) if floats else array)


def write_shard(directory: Path, k: int, scene_ids: list[str], arrays: dict[str, np.ndarray | Ragged], objects: dict[str, np.ndarray | Ragged],
                layouts: dict[str, tuple[Ragged, Ragged]] | None = None) -> dict:
    """Write one shard's site arrays (fixed-size or `Ragged`), object tables (a per-image model's also hold each
    object's coverage of its scene's rows per layout rule, ``cells.<rule>``) and per-scene ``layouts`` (per rule:
    codes and grids, `features.per_scene`), then its record (last)."""
    files = {}
    for site, array in arrays.items():
        if isinstance(array, Ragged) and len(array) != len(scene_ids):
            raise StoreError(f"site {site}: {len(array)} ragged scenes for the shard's {len(scene_ids)}")
        _save(directory, f"sites/{site}/{shard_name(k)}", array, files, floats=True)
    for part in OBJECT_PARTS + tuple(p for p in objects if p.startswith("cells.")):
        _save(directory, f"objects/{shard_name(k)}.{part}", objects[part], files)
    for rule, (codes, grids) in (layouts or {}).items():  # per rule: each scene's codes and grids (`features.per_scene`)
        if len(codes) != len(scene_ids) or len(grids) != len(scene_ids):
            raise StoreError(f"layout rule {rule}: {len(codes)} scenes' layouts for the shard's {len(scene_ids)}")
        _save(directory, f"layouts/{shard_name(k)}.{rule}", codes, files)
        _save(directory, f"layouts/{shard_name(k)}.{rule}.grid", grids, files)
    record = {"shard": k, "scenes": scene_ids, "rows": len(scene_ids), "files": files}
    write_json(directory / "shards" / f"{shard_name(k)}.json", record)
    return record


def merge(directory: str | Path, provenance: dict | None = None) -> dict:
    """Write ``manifest.json`` from the shard records; refuses while shards are missing."""
    directory = Path(directory)
    keyfile = json.loads((directory / "key.json").read_text())
    n = len(keyfile["shards"])
    missing = [k for k in range(n) if not shard_done(directory, k)]
    if missing:
        raise StoreError(f"{directory}: {len(missing)} of {n} shards are not finished yet (e.g. {missing[:5]}); run the extraction again to finish them")
    records = [json.loads((directory / "shards" / f"{shard_name(k)}.json").read_text()) for k in range(n)]
    layouts = json.loads((directory / "layouts.json").read_text())
    sites = {}
    for site in layouts:
        entries = [r["files"][f"sites/{site}/{shard_name(r['shard'])}.npy"] for r in records]
        dtypes = sorted({e["dtype"] for e in entries})
        ragged = all(f"sites/{site}/{shard_name(r['shard'])}.offsets.npy" in r["files"] for r in records)
        sites[site] = {
            "dtype": dtypes[0] if len(dtypes) == 1 else "float32 in some shards (float16 overflowed), float16 elsewhere",
            "row_shape": entries[0]["shape"][1:],
            **({"ragged": True} if ragged else {}),  # absent for fixed-size sites: earlier manifests stay valid
            "float32_shards": [r["shard"] for r, e in zip(records, entries) if e["dtype"] == "float32"],
        }
    store_hash = digest({"key": keyfile["key"], "layouts": layouts, "files": [r["files"] for r in records]})
    manifest = {
        "format": FORMAT,
        "key": keyfile["key"],
        "components": keyfile["components"],
        "rows": sum(r["rows"] for r in records),
        "sites": sites,
        "shards": records,
        "store_hash": store_hash,
        "provenance": provenance or {},
    }
    write_json(directory / "manifest.json", manifest)
    return manifest
