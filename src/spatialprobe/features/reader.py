"""Reading a feature store: memory-mapped shards, fast random rows, object tables, verification."""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import torch

from spatialprobe.features.key import FORMAT
from spatialprobe.features.per_scene import SceneLayouts
from spatialprobe.features.store import OBJECT_PARTS, Ragged, StoreError, shard_name
from spatialprobe.models.layout import ROLES, TokenLayout
from spatialprobe.scenes.files import sha256_file


class FeatureStore:
    """A finished store (one with ``manifest.json``), read by memory map."""

    def __init__(self, directory: str | Path):
        self.dir = Path(directory)
        path = self.dir / "manifest.json"
        if not path.exists():
            hint = " (shards exist: run `spatialprobe store merge` or finish the extraction)" if (self.dir / "shards").is_dir() else ""
            raise StoreError(f"{self.dir}: no manifest.json — not a finished feature store{hint}")
        self.manifest = read_json(path)
        if self.manifest.get("format") != FORMAT:
            raise StoreError(f"{path}: format {self.manifest.get('format')!r}, expected {FORMAT!r}")
        check(self.dir)
        stored = read_json(self.dir / "layouts.json")
        self.layouts = {s: layout_from_json(stored[s]) for s in self.manifest["components"]["sites"]}  # flow order
        """Each site's `TokenLayout`, or for a per-image model's sites a `SceneLayouts` (read one with `layout`)."""
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
            raise StoreError(f"{self.dir / rel}: unreadable ({err}); {REPAIR.format(dir=self.dir)}") from None
        if list(array.shape) != record["shape"] or str(array.dtype) != record["dtype"]:
            raise StoreError(
                f"{self.dir / rel}: shape {list(array.shape)} {array.dtype} disagrees with the manifest "
                f"({record['shape']} {record['dtype']}); {REPAIR.format(dir=self.dir)}"
            )
        return array

    def shards(self, site: str) -> list[np.ndarray]:
        """The memory-mapped (rows, tokens, dim) array of every shard of a site."""
        site = self._site(site)
        if site not in self._maps:
            self._maps[site] = [self._load(f"sites/{site}/{shard_name(r['shard'])}.npy") for r in self._shards]
        return self._maps[site]

    def ragged(self, site: str) -> bool:
        """Whether the site's scenes have different row counts (read with `take_ragged`)."""
        return bool(self.manifest["sites"][self._site(site)].get("ragged", False))

    def _offsets(self, site: str) -> list[np.ndarray]:
        """Each shard's offsets index of a ragged site, checked against its values and scenes."""
        return self._key(f"{site}.offsets", lambda: [self._index(f"sites/{site}/{shard_name(r['shard'])}.offsets.npy", len(values), r["rows"])
                                                     for r, values in zip(self._shards, self.shards(site))])

    def _index(self, rel: str, values: int, scenes: int | None = None) -> np.ndarray:
        """An offsets index over ``values`` rows (of ``scenes`` scenes), checked: a wrong one would read other scenes' rows."""
        offsets = np.asarray(self._load(rel))
        if (not len(offsets) or offsets[0] != 0 or offsets[-1] != values or (np.diff(offsets) < 0).any()
                or (scenes is not None and len(offsets) != scenes + 1)):
            of = f"of {scenes} scenes " if scenes is not None else ""
            raise StoreError(f"{self.dir / rel}: not an offsets index {of}over {values} rows; {REPAIR.format(dir=self.dir)}")
        return offsets

    def per_scene(self, site: str) -> bool:
        """Whether every scene has its own layout of the site (a tiled or dynamic-resolution model)."""
        return isinstance(self.layouts[self._site(site)], SceneLayouts)

    def layout(self, site: str, row: int) -> TokenLayout:
        """The layout of scene ``row``'s rows of a site."""
        layout = self.layouts[self._site(site)]
        if not isinstance(layout, SceneLayouts):
            return layout
        return TokenLayout.from_codes(self._of_scene(f"layouts/{{shard}}.{layout.rule}", row), self._of_scene(f"layouts/{{shard}}.{layout.rule}.grid", row))

    def role_rows(self, site: str, row: int, role: str) -> np.ndarray:
        """Indices of scene ``row``'s rows of a site that have ``role`` (`layout(site, row).rows(role)`, without building it)."""
        layout = self.layouts[self._site(site)]
        if not isinstance(layout, SceneLayouts):
            return layout.rows(role)
        return np.flatnonzero(self._of_scene(f"layouts/{{shard}}.{layout.rule}", row)[:, 0] == ROLES.index(role))

    def _key(self, key: str, make):
        if key not in self._maps:
            self._maps[key] = make()
        return self._maps[key]

    def _scene_table(self, stem: str) -> list[Ragged]:
        """Per shard, a ragged table (values + offsets) stored at ``stem`` (``{shard}`` filled in), offsets checked."""

        def load():
            out = []
            for record in self._shards:
                rel = stem.format(shard=shard_name(record["shard"]))
                values = self._load(f"{rel}.npy")
                out.append(Ragged(values, self._index(f"{rel}.offsets.npy", len(values))))
            return out

        return self._key(stem, load)

    def _of_scene(self, stem: str, row: int) -> np.ndarray:
        """Scene ``row``'s entry of a per-scene table (`_scene_table`)."""
        k = int(np.searchsorted(self._starts, row, side="right") - 1)
        return self._scene_table(stem)[k][int(row - self._starts[k])]

    def take_ragged(self, site: str, rows, dtype=None) -> Ragged:
        """Rows (any order, repeats allowed) of a ragged site: each scene's own rows, no padding (`Ragged`)."""
        if not self.ragged(site):
            raise StoreError(f"{self.dir}: site {site} has the same rows for every scene: read it with take()")
        rows = np.asarray(rows, dtype=np.int64)
        if rows.size and (rows.min() < 0 or rows.max() >= self.rows):
            raise IndexError(f"row indices must be in [0, {self.rows})")
        maps, offsets = self.shards(site), self._offsets(site)
        shard_of = np.searchsorted(self._starts, rows, side="right") - 1
        local = rows - self._starts[shard_of]
        starts, lengths = np.zeros(len(rows), np.int64), np.zeros(len(rows), np.int64)
        for k in np.unique(shard_of):
            sel = np.flatnonzero(shard_of == k)
            starts[sel] = offsets[k][local[sel]]
            lengths[sel] = offsets[k][local[sel] + 1] - starts[sel]
        out_offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        out = np.empty((int(out_offsets[-1]),) + maps[0].shape[1:], dtype=np.result_type(*(m.dtype for m in maps)))
        for k in np.unique(shard_of):
            sel = np.flatnonzero(shard_of == k)
            n = lengths[sel]
            within = np.arange(int(n.sum())) - np.repeat(np.cumsum(n) - n, n)  # each row's place in its scene
            out[np.repeat(out_offsets[sel], n) + within] = maps[k][np.repeat(starts[sel], n) + within]
        if not np.isfinite(out).all():
            raise StoreError(f"{self.dir}: site {site}: NaN or Inf values in stored rows (the store is damaged); {REPAIR.format(dir=self.dir)}")
        if dtype is not None and np.dtype(dtype) != out.dtype:
            out = torch.from_numpy(out).to(getattr(torch, np.dtype(dtype).name)).numpy()
        return Ragged(out, out_offsets)

    def take(self, site: str, rows, tokens=None, dtype=None) -> np.ndarray:
        """Rows (any order, repeats allowed) of a site, (n, tokens, dim), optionally a token subset.

        Returned in the stored dtype (float16, or float32 where a shard needed it) unless ``dtype``
        asks otherwise; conversion goes through torch, several times faster than numpy's float16 path.
        """
        if self.ragged(site):
            raise StoreError(f"{self.dir}: site {site} gives each scene its own number of rows: read it with take_ragged()")
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
        if not np.isfinite(out).all():  # extraction refuses NaN / Inf, so a stored one is damage
            bad = sorted({self.scene_ids[r] for r, ok in zip(rows, np.isfinite(out).reshape(len(out), -1).all(axis=1)) if not ok})
            raise StoreError(f"{self.dir}: site {site}: NaN or Inf values in stored rows of scenes {bad[:5]} (the store is damaged); {REPAIR.format(dir=self.dir)}")
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
        out = {
            "row": index[:, 0],
            "id": index[:, 1],
            "coverage": np.concatenate(parts["coverage"]).astype(np.float32),
            "nearest": np.concatenate(parts["nearest"]).astype(bool),
            "boxes": np.concatenate(parts["boxes"]),
        }
        for rule in sorted({l.rule for l in self.layouts.values() if isinstance(l, SceneLayouts)}):
            shards = self._scene_table(f"objects/{{shard}}.cells.{rule}")
            offsets = np.concatenate([[0], np.cumsum(np.concatenate([p.lengths for p in shards]))])
            if len(offsets) != len(index) + 1:
                raise StoreError(f"{self.dir}: the objects' coverage of the {rule} rows does not match the object index; {REPAIR.format(dir=self.dir)}")
            out[f"cells.{rule}"] = Ragged(np.concatenate([p.values for p in shards]).astype(np.float32), offsets.astype(np.int64))
        return out


def layout_from_json(d: dict) -> TokenLayout | SceneLayouts:
    return SceneLayouts(d["per_scene"]) if "per_scene" in d else TokenLayout.from_json(d)


REPAIR = "repair it with `spatialprobe store verify --repair {dir}` (re-extracts exactly the damaged shards)"
FAILED = ".failed.json"
"""Written into a store whose verification failed (`store ls` shows it); removed once it verifies."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a store; ``shard``: the shard that re-extracting would fix (None: the whole store)."""

    path: Path
    message: str
    shard: int | None = None

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


def read_json(path: Path):
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise StoreError(f"{path}: missing") from None
    except (OSError, ValueError) as err:
        raise StoreError(f"{path}: not valid JSON ({err})") from None


def _shard_problems(directory: Path, k: int, scenes: list[str]) -> list[Problem]:
    path = directory / "shards" / f"{shard_name(k)}.json"
    if not path.exists():
        return [Problem(path, "missing (the shard is unfinished)", k)]
    try:
        record = read_json(path)
        files = record["files"]
        if record.get("shard") != k or record.get("scenes") != scenes:
            return [Problem(path, "names other scenes than key.json assigns to this shard", k)]
    except (StoreError, KeyError, TypeError):
        return [Problem(path, "not a valid shard record", k)]
    out = []
    for rel, expected in files.items():
        file = directory / rel
        if not file.exists():
            out.append(Problem(file, "missing", k))
        elif sha256_file(file) != expected.get("sha256"):
            out.append(Problem(file, f"sha256 differs from {path.name} (truncated or modified)", k))
    return out


def verify(directory: str | Path) -> list[Problem]:
    """Check every file of a store: key.json, layouts.json, every shard record and the sha256 of
    every file it lists, and manifest.json against them. Returns the problems (empty = intact);
    changes nothing but the store's failure marker (`FAILED`)."""
    directory = Path(directory)
    if not (directory / "key.json").exists() and not (directory / "shards").is_dir():
        return [Problem(directory, "no key.json and no shards/ — not a feature store")]
    try:
        keyfile = read_json(directory / "key.json")
        assignment, sites = keyfile["shards"], keyfile["components"]["sites"]
    except (StoreError, KeyError, TypeError) as err:
        return _mark(directory, [Problem(directory / "key.json", f"unusable ({err}): the store cannot be repaired; remove it with `spatialprobe store rm {directory}` and extract again")])
    problems = []
    try:
        layouts = read_json(directory / "layouts.json")
        if not isinstance(layouts, dict) or sorted(layouts) != sorted(sites):
            problems.append(Problem(directory / "layouts.json", f"does not hold the layouts of the sites {sites}"))
        else:
            for site, layout in layouts.items():
                layout_from_json(layout)
    except (StoreError, KeyError, TypeError, ValueError) as err:
        problems.append(Problem(directory / "layouts.json", f"unusable ({err})"))
    for k, scenes in enumerate(assignment):
        problems += _shard_problems(directory, k, scenes)
    manifest_path = directory / "manifest.json"
    if not manifest_path.exists():
        if not problems:
            problems.append(Problem(manifest_path, "missing (every shard is done: run `spatialprobe store merge`)"))
    else:
        try:
            manifest = read_json(manifest_path)
            records = [read_json(directory / "shards" / f"{shard_name(k)}.json") for k in range(len(assignment))] if not problems else None
            if manifest.get("key") != keyfile["key"] or (records is not None and manifest.get("shards") != records):
                problems.append(Problem(manifest_path, "disagrees with key.json or the shard records"))
        except StoreError as err:
            problems.append(Problem(manifest_path, str(err).removeprefix(f"{manifest_path}: ")))
    return _mark(directory, problems)


def refuse_unrepairable(problems: list[Problem]) -> None:
    """Raise for a store whose key.json is unusable: nothing says what to re-extract."""
    for p in problems:
        if p.path.name == "key.json":
            raise StoreError(str(p))


def _mark(directory: Path, problems: list[Problem]) -> list[Problem]:
    """Record (or clear) the outcome in the store, so `store ls` shows a failed store as such."""
    marker = directory / FAILED
    with contextlib.suppress(OSError):  # a read-only store is still verified, only not marked
        if problems:
            marker.write_text(json.dumps([str(p) for p in problems], indent=1) + "\n")
        else:
            marker.unlink(missing_ok=True)
    _VERIFIED[str(directory.resolve())] = _stamp(directory) if not problems else None
    return problems


_VERIFIED: dict[str, tuple | None] = {}
"""Per store of this process: the file stamp (names, sizes, mtimes) it last verified clean at."""


def _stamp(directory: Path) -> tuple:
    return tuple(sorted((str(p.relative_to(directory)), p.stat().st_size, p.stat().st_mtime_ns)
                        for p in directory.rglob("*") if p.is_file() and not p.name.startswith(".")))


def check(directory: str | Path) -> None:
    """Verify a store fully once per process, and again whenever its files changed; refuse a damaged one."""
    directory = Path(directory)
    if _VERIFIED.get(str(directory.resolve())) == _stamp(directory):
        return
    problems = verify(directory)
    if problems:
        listed = "\n  ".join(str(p) for p in problems[:5]) + (f"\n  … and {len(problems) - 5} more" if len(problems) > 5 else "")
        raise StoreError(f"{directory}: the store failed verification:\n  {listed}\n{REPAIR.format(dir=directory)}")


def trust(directory: str | Path) -> None:
    """Mark a store this process has just written (and hashed while writing) as verified."""
    directory = Path(directory)
    (directory / FAILED).unlink(missing_ok=True)
    _VERIFIED[str(directory.resolve())] = _stamp(directory)


def list_stores(root: str | Path) -> list[dict]:
    """Every store under ``root``: key, model, sites, split, state (complete, k/n shards, FAILED verification, unreadable)."""
    out = []
    for keyfile in sorted(Path(root).glob("*/key.json")):
        d = keyfile.parent
        try:
            body = read_json(keyfile)
            comp, n = body["components"], len(body["shards"])
        except (StoreError, KeyError, TypeError):
            out.append({"dir": str(d), "key": d.name, "model": None, "sites": [], "data": None, "split": None, "state": "unreadable key.json"})
            continue
        done = len(list((d / "shards").glob("*.json"))) if (d / "shards").is_dir() else 0
        state = "complete" if (d / "manifest.json").exists() else f"{done}/{n} shards"
        if (d / FAILED).exists():
            state = "FAILED verification"
        out.append({"dir": str(d), "key": body["key"], "model": comp.get("model"), "sites": comp.get("sites"), "data": comp.get("dataset"), "split": comp.get("split"), "state": state})
    return out
