"""Reading a feature store: memory-mapped shards, fast random rows, object tables, verification."""

from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path

import numpy as np
import torch

from spatialprobe.features.key import FORMAT
from spatialprobe.features.store import OBJECT_PARTS, StoreError, shard_name
from spatialprobe.models.layout import TokenLayout
from spatialprobe.scenes.files import sha256_file


class FeatureStore:
    """A finished store (one with ``manifest.json``), read by memory map."""

    def __init__(self, directory: str | Path):
        self.dir = Path(directory)
        path = self.dir / "manifest.json"
        if not path.exists():
            hint = " (shards exist: run `spatialprobe store merge` or finish the extraction)" if (self.dir / "shards").is_dir() else ""
            raise StoreError(f"{self.dir}: no manifest.json — not a finished feature store{hint}")
        try:
            self.manifest = json.loads(path.read_text())
        except json.JSONDecodeError as err:
            raise StoreError(f"{path}: not valid JSON ({err.msg})") from None
        if self.manifest.get("format") != FORMAT:
            raise StoreError(f"{path}: format {self.manifest.get('format')!r}, expected {FORMAT!r}")
        stored = json.loads((self.dir / "layouts.json").read_text())
        self.layouts = {s: TokenLayout.from_json(stored[s]) for s in self.manifest["components"]["sites"]}  # flow order
        self._shards = self.manifest["shards"]
        self._starts = np.cumsum([0] + [r["rows"] for r in self._shards])
        self._maps: dict[str, list[np.ndarray]] = {}

    @property
    def sites(self) -> list[str]:
        return list(self.layouts)

    @property
    def rows(self) -> int:
        return int(self._starts[-1])

    @cached_property
    def scene_ids(self) -> list[str]:
        return [sid for r in self._shards for sid in r["scenes"]]

    def _site(self, site: str) -> str:
        if site not in self.layouts:
            raise StoreError(f"{self.dir}: no site {site!r}; stored sites: {', '.join(self.layouts)}")
        return site

    def _load(self, rel: str) -> np.ndarray:
        """Memory-map one file and check it against its record."""
        shard = int(Path(rel).name.split(".")[0])
        record = self._shards[shard]["files"].get(rel)
        if record is None:
            raise StoreError(f"{self.dir / rel}: not in the manifest")
        try:
            array = np.load(self.dir / rel, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError) as err:
            raise StoreError(f"{self.dir / rel}: unreadable ({err}); run `spatialprobe store verify {self.dir}`") from None
        if list(array.shape) != record["shape"] or str(array.dtype) != record["dtype"]:
            raise StoreError(
                f"{self.dir / rel}: shape {list(array.shape)} {array.dtype} disagrees with the manifest "
                f"({record['shape']} {record['dtype']}); run `spatialprobe store verify {self.dir}`"
            )
        return array

    def shards(self, site: str) -> list[np.ndarray]:
        """The memory-mapped (rows, tokens, dim) array of every shard of a site."""
        site = self._site(site)
        if site not in self._maps:
            self._maps[site] = [self._load(f"sites/{site}/{shard_name(r['shard'])}.npy") for r in self._shards]
        return self._maps[site]

    def take(self, site: str, rows, tokens=None, dtype=None) -> np.ndarray:
        """Rows (any order, repeats allowed) of a site, (n, tokens, dim), optionally a token subset.

        Returned in the stored dtype (float16, or float32 where a shard needed it) unless ``dtype``
        asks otherwise; conversion goes through torch, several times faster than numpy's float16 path.
        """
        rows = np.asarray(rows, dtype=np.int64)
        if rows.size and (rows.min() < 0 or rows.max() >= self.rows):
            raise IndexError(f"row indices must be in [0, {self.rows})")
        maps = self.shards(site)
        first = maps[0][:0] if tokens is None else maps[0][:0, tokens]
        out = np.empty((len(rows),) + first.shape[1:], dtype=np.result_type(*(m.dtype for m in maps)))
        shard_of = np.searchsorted(self._starts, rows, side="right") - 1
        order = np.argsort(shard_of, kind="stable")
        bounds = np.searchsorted(shard_of[order], np.arange(len(maps) + 1))
        for k in np.flatnonzero(np.diff(bounds)):
            sel = order[bounds[k] : bounds[k + 1]]
            block = maps[k][rows[sel] - self._starts[k]]
            out[sel] = block if tokens is None else block[:, tokens]
        if dtype is not None and np.dtype(dtype) != out.dtype:
            out = torch.from_numpy(out).to(getattr(torch, np.dtype(dtype).name)).numpy()
        return out

    def sample(self, site: str, batch: int, rng: np.random.Generator, dtype=None) -> tuple[np.ndarray, np.ndarray]:
        """A random minibatch: (row indices, features)."""
        rows = rng.integers(0, self.rows, size=batch)
        return rows, self.take(site, rows, dtype=dtype)

    def objects(self) -> dict[str, np.ndarray]:
        """Per object of every scene: global ``row``, ``id``, grid ``coverage``, ``nearest`` cells, model-frame ``boxes``."""
        parts = {p: [self._load(f"objects/{shard_name(r['shard'])}.{p}.npy") for r in self._shards] for p in OBJECT_PARTS}
        index = np.concatenate([idx + np.array([self._starts[k], 0]) for k, idx in enumerate(parts["index"])])
        return {
            "row": index[:, 0],
            "id": index[:, 1],
            "coverage": np.concatenate(parts["coverage"]).astype(np.float32),
            "nearest": np.concatenate(parts["nearest"]).astype(bool),
            "boxes": np.concatenate(parts["boxes"]),
        }


def verify(directory: str | Path) -> list[str]:
    """Re-hash every file against its shard record; returns the problems (empty = intact)."""
    directory = Path(directory)
    problems = []
    shard_dir = directory / "shards"
    if not shard_dir.is_dir():
        return [f"{directory}: no shards/ directory — not a feature store"]
    for record_path in sorted(shard_dir.glob("*.json")):
        record = json.loads(record_path.read_text())
        for rel, expected in record["files"].items():
            path = directory / rel
            if not path.exists():
                problems.append(f"{path}: missing")
            elif sha256_file(path) != expected["sha256"]:
                problems.append(f"{path}: sha256 differs from {record_path.name} (truncated or modified)")
    if not (directory / "manifest.json").exists():
        problems.append(f"{directory}: no manifest.json (unfinished, or not merged yet)")
    return problems


def list_stores(root: str | Path) -> list[dict]:
    """Every store under ``root``: key, model, sites, rows, state."""
    out = []
    for keyfile in sorted(Path(root).glob("*/key.json")):
        d = keyfile.parent
        body = json.loads(keyfile.read_text())
        comp = body["components"]
        done = len(list((d / "shards").glob("*.json"))) if (d / "shards").is_dir() else 0
        state = "complete" if (d / "manifest.json").exists() else f"{done}/{len(body['shards'])} shards"
        out.append({"dir": str(d), "key": body["key"], "model": comp.get("model"), "sites": comp.get("sites"), "data": comp.get("dataset"), "split": comp.get("split"), "state": state})
    return out
