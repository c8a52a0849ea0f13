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
from spatialprobe.features.per_scene import SceneLayouts, layout_table, row_coverage
from spatialprobe.features.store import Ragged
from spatialprobe.models.adapter import Adapter, Batch
from spatialprobe.models.imaging import frame_maps
from spatialprobe.models.loading import RANDOM_INIT
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
    split: str | list[str] | None,
    limit: int | None,
    batch_size: int,
    shard_size: int,
) -> tuple[st.StoreSpec, list[Scene]]:
    """Resolve sites and scenes (of one split, of several, or all) and compute the store's content key."""
    for name, value in (("limit", limit), ("batch_size", batch_size), ("shard_size", shard_size)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ExtractionError(f"{name}: expected a positive integer, got {value!r}" + (" (no limit is None, not 0)" if name == "limit" and value == 0 else ""))
    sites = expand(sites, adapter.sites(), adapter.name)
    lm = [s for s in sites if s.startswith("lm.")]
    if lm and adapter.card.prompt == "cross":
        raise ExtractionError(f"{adapter.name} reads the image by cross-attention, so its LM has no image rows to store: "
                              f"{', '.join(lm)} are text rows, and extraction stores the visual prompt only (Adapter.extract(images, sites, texts) reads them)")
    if adapter.card.extra_inputs is not None:  # a family option this text-free pass cannot serve fails here, not at batch 1
        try:
            adapter.card.extra_inputs(adapter, Batch(pixel_values=torch.zeros(1, 3, 1, 1)), None)
        except ValueError as err:
            raise ExtractionError(str(err)) from None
    if split is None or isinstance(split, str):
        scenes = dataset.scenes(split)
    else:
        split = list(split)
        scenes = [s for s in dataset.scenes() if s.split in split]
    if not scenes:
        raise ExtractionError(f"{dataset.root}: no scenes in split {split!r}")
    scenes = scenes if limit is None else scenes[:limit]
    components = {
        "model": adapter.name if not Path(adapter.name.partition(":")[2].partition("?")[0]).exists() else adapter.card.family,
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
        **({"model_options": adapter.options} if adapter.options else {}),  # absent without options: earlier keys stay valid
        "spatialprobe": __version__,
    }
    layouts = {site: SceneLayouts(adapter.layout_rule(site)) if adapter.per_image else adapter.layout(site) for site in sites}
    shards = [[s.id for s in scenes[i : i + shard_size]] for i in range(0, len(scenes), shard_size)]
    return st.StoreSpec(content_key(components), components, layouts, shards), scenes


def _per_scene_tables(adapter: Adapter, dataset: SceneDataset, scenes: list[Scene], first_row: int, rules: dict[str, str]):
    """A per-image model's object tables — (row, id), the image-frame box and, per layout rule, each object's coverage
    of its scene's patch rows in every frame (one (area, nearest) pair per row) — and each scene's layout per rule."""
    index, boxes, cells, layouts = [], [], {rule: [] for rule in rules}, {rule: [] for rule in rules}
    for r, scene in enumerate(scenes, start=first_row):
        own = {rule: adapter.layout(site, size=scene.frame) for rule, site in rules.items()}
        for rule, layout in own.items():
            layouts[rule].append(layout)
        if not scene.objects:
            continue
        index += [(r, obj.id) for obj in scene.objects]
        w, h = scene.frame
        boxes.append(np.clip(np.stack([obj.box.array() for obj in scene.objects]), 0, [w, h, w, h]))
        with_mask = [i for i, obj in enumerate(scene.objects) if obj.mask is not None]
        if with_mask:
            instances = dataset.instances(scene)
            masks = np.stack([dataset.mask(scene, scene.objects[i], instances) for i in with_mask])
            maps = frame_maps(adapter.preprocess, scene.frame)
        for rule, layout in own.items():
            table = np.full((len(scene.objects), len(layout.rows("patch")), 2), np.nan, np.float16)
            if with_mask:
                table[with_mask] = row_coverage(layout, maps, scene.frame, masks)
            cells[rule] += list(table)
    return {"index": index, "boxes": boxes, "cells": cells}, layouts


def _object_tables(adapter: Adapter, dataset: SceneDataset, scenes: list[Scene], first_row: int) -> dict[str, np.ndarray]:
    """Per object: (row, id), coverage of the model's patch grid (area and nearest), model-frame box."""
    rows, cols, _, _ = adapter.geometry
    n = rows * cols
    index, coverage, nearest, boxes = [], [], [], []
    for r, scene in enumerate(scenes, start=first_row):
        if not scene.objects:
            continue
        index += [(r, obj.id) for obj in scene.objects]
        frame_map = adapter.preprocess.frame_map(scene.frame)
        mapped = frame_map.map_boxes(np.stack([obj.box.array() for obj in scene.objects]))
        w, h = frame_map.dst
        boxes.append(np.clip(mapped, 0, [w, h, w, h]))
        with_mask = [obj for obj in scene.objects if obj.mask is not None]
        area = np.full((len(scene.objects), n), np.nan)
        near = np.zeros((len(scene.objects), n), bool)
        if with_mask:
            instances = dataset.instances(scene)
            masks = np.stack([dataset.mask(scene, obj, instances) for obj in with_mask])
            grid = adapter.preprocess.grid_coverage(scene.frame, (rows, cols))
            where = [i for i, obj in enumerate(scene.objects) if obj.mask is not None]
            area[where] = grid.area(masks).reshape(len(with_mask), n)
            near[where] = grid.nearest(masks).reshape(len(with_mask), n) > 0
        coverage.append(area)
        nearest.append(near)
    return {
        "index": np.array(index, dtype=np.int32).reshape(-1, 2),
        "coverage": np.concatenate(coverage).astype(np.float16) if coverage else np.zeros((0, n), np.float16),
        "nearest": np.concatenate(nearest).astype(np.uint8) if nearest else np.zeros((0, n), np.uint8),
        "boxes": np.concatenate(boxes).astype(np.float32) if boxes else np.zeros((0, 4), np.float32),
    }


def _rules(adapter: Adapter, sites: list[str]) -> dict[str, str]:
    """Layout rule → the first of the sites that follow it (a per-image model's sites share one table per rule)."""
    out: dict[str, str] = {}
    for site in sites:
        out.setdefault(adapter.layout_rule(site), site)
    return out


def _extract_per_image(adapter: Adapter, dataset: SceneDataset, scenes: list[Scene], sites: list[str], batch_size: int, pool):
    """One shard of a per-image model: every site `Ragged` (each scene its own rows), object and layout tables."""
    rules = _rules(adapter, sites)

    def load(start: int):
        batch = scenes[start : start + batch_size]
        return adapter.pixels([dataset.image(s) for s in batch]), _per_scene_tables(adapter, dataset, batch, start, rules)

    parts: dict[str, list[np.ndarray]] = {site: [] for site in sites}
    tables = []  # per batch: (object tables, layouts per rule)
    for start, (pixels, found) in _prefetched(load, range(0, len(scenes), batch_size), pool):
        tables.append(found)
        for site, per_image in adapter.forward_images(adapter.make_batch(pixels), sites).items():
            for scene, tensor in zip(scenes[start : start + batch_size], per_image):
                array = tensor.float().cpu().numpy()
                if not np.isfinite(array).all():
                    raise ExtractionError(f"site {site}: NaN or Inf features for scene {scene.id} (nothing of this shard was written)")
                parts[site].append(array)
    index = [row for t, _ in tables for row in t["index"]]
    boxes = [b for t, _ in tables for b in t["boxes"]]
    objects = {
        "index": np.array(index, dtype=np.int32).reshape(-1, 2),
        "coverage": np.zeros((len(index), 0), np.float16),
        "nearest": np.zeros((len(index), 0), np.uint8),
        "boxes": np.concatenate(boxes).astype(np.float32) if boxes else np.zeros((0, 4), np.float32),
        **{f"cells.{rule}": _ragged([c for t, _ in tables for c in t["cells"][rule]], 2) for rule in rules},
    }
    layouts = {rule: layout_table([l for _, ls in tables for l in ls[rule]]) for rule in rules}
    return {site: Ragged.of(chunks) for site, chunks in parts.items()}, objects, layouts


def _ragged(rows: list[np.ndarray], dim: int) -> Ragged:
    """`Ragged.of`, or an empty one (a shard without objects)."""
    return Ragged.of(rows) if rows else Ragged(np.zeros((0, dim), np.float16), np.zeros(1, np.int64))


def _extract_shard(adapter: Adapter, dataset: SceneDataset, scenes: list[Scene], sites: list[str], batch_size: int, pool):
    """Site arrays and object tables of one shard; decoding and mask tables run on a thread."""
    if adapter.per_image:
        return _extract_per_image(adapter, dataset, scenes, sites, batch_size, pool)

    def load(start: int):
        batch = scenes[start : start + batch_size]
        return adapter.preprocess([dataset.image(s) for s in batch]), _object_tables(adapter, dataset, batch, start)

    parts: dict[str, list[np.ndarray]] = {site: [] for site in sites}
    tables = []
    for start, (pixels, objects) in _prefetched(load, range(0, len(scenes), batch_size), pool):
        tables.append(objects)
        out = adapter.forward_sites(adapter.make_batch(pixels), sites)
        for site, tensor in out.items():
            array = tensor.float().cpu().numpy()
            bad = ~np.isfinite(array).reshape(len(array), -1).all(axis=1)
            if bad.any():
                ids = [s.id for s, b in zip(scenes[start : start + batch_size], bad) if b]
                raise ExtractionError(f"site {site}: NaN or Inf features for scenes {ids[:5]} (nothing of this shard was written)")
            parts[site].append(array)
    arrays = {site: np.concatenate(chunks) for site, chunks in parts.items()}
    return arrays, {k: np.concatenate([t[k] for t in tables]) for k in tables[0]}, {}


def _prefetched(load, starts, pool):
    """(start, load(start)) for each start, the next one loading on ``pool`` while the caller works on this one."""
    starts = list(starts)
    pending = pool.submit(load, starts[0])
    for i, start in enumerate(starts):
        done = pending.result()
        if i + 1 < len(starts):
            pending = pool.submit(load, starts[i + 1])
        yield start, done


class _Inline:
    """Runs 'submitted' work at once, in the calling thread (the executor interface, no thread)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        return None

    @staticmethod
    def submit(fn, *args):
        from concurrent.futures import Future

        future: Future = Future()
        future.set_result(fn(*args))
        return future


def extract(
    adapter: Adapter,
    dataset: SceneDataset,
    sites: list[str],
    *,
    root: str | Path | None = None,
    split: str | list[str] | None = None,
    limit: int | None = None,
    batch_size: int = 64,
    shard_size: int = DEFAULT_SHARD_SIZE,
    shard: tuple[int, int] | None = None,
    progress: bool = True,
    redo_bad: bool = False,
) -> ExtractResult:
    """Extract into ``root/<key>``; resumes finished shards; merges when this process ran them all.

    ``redo_bad``: first verify the store and extract again exactly the shards that failed.
    """
    from spatialprobe.features import reader

    spec, scenes = plan(adapter, dataset, sites, split=split, limit=limit, batch_size=batch_size, shard_size=shard_size)
    directory = Path(root or default_root()) / spec.key
    rank, size = shard or world()
    if not 0 <= rank < size:
        raise ExtractionError(f"shard {rank}/{size}: need 0 ≤ i < n")
    mine = [k for k in range(len(spec.shard_scenes)) if k % size == rank]
    with st.locked(directory):  # a second process on the same store waits, then skips the finished shards
        if redo_bad and (directory / "key.json").exists():
            problems = reader.verify(directory)
            reader.refuse_unrepairable(problems)
            if any(p.path.name == "layouts.json" for p in problems):
                (directory / "layouts.json").unlink()
            st.forget_shards(directory, sorted({p.shard for p in problems if p.shard is not None}))
        st.prepare(directory, spec, {"model": adapter.name.removesuffix(RANDOM_INIT), "random_init": adapter.name.endswith(RANDOM_INIT),
                                     "data": str(dataset.root), "dtype": str(adapter.dtype).removeprefix("torch.")})
        result = _extract_shards(adapter, dataset, spec, scenes, directory, mine, rank, size, batch_size, progress)
        if result.merged and not result.skipped:
            reader.trust(directory)  # every file was hashed as this process wrote it
        return result


def repair(directory: str | Path, device: str = "cpu", trust_remote_code: bool = False, progress: bool = True) -> ExtractResult:
    """Re-extract exactly the damaged shards of a store, from the model and dataset its key.json
    names, after checking they still produce the same store key."""
    from spatialprobe.features.reader import read_json
    from spatialprobe.models import load_model

    directory = Path(directory)
    body = read_json(directory / "key.json")  # the store itself is verified once, by extract(redo_bad=True)
    if not isinstance(body, dict) or not isinstance(body.get("components"), dict) or "key" not in body:
        raise st.StoreError(f"{directory / 'key.json'}: unusable: the store cannot be repaired; remove it with `spatialprobe store rm {directory}` and extract again")
    origin, comp = body.get("origin") or {}, body["components"]
    if not origin.get("model") or not origin.get("data"):
        raise st.StoreError(f"{directory / 'key.json'}: records no model and dataset to re-extract from; run the original "
                            "`spatialprobe extract` command again with --redo-bad")
    adapter = load_model(origin["model"], dtype=origin["dtype"], device=device, trust_remote_code=trust_remote_code, random_init=origin.get("random_init", False))
    dataset = SceneDataset(origin["data"])
    spec, _ = plan(adapter, dataset, comp["sites"], split=comp["split"], limit=comp["limit"], batch_size=comp["batch_size"], shard_size=comp["shard_size"])
    if spec.key != body["key"]:
        raise st.StoreError(f"{directory}: {origin['model']} on {origin['data']} now gives store key {spec.key}, not {body['key']} "
                            "(the model or dataset changed since extraction): remove this store with `spatialprobe store rm` and extract again")
    return extract(adapter, dataset, comp["sites"], root=directory.parent, split=comp["split"], limit=comp["limit"], batch_size=comp["batch_size"],
                   shard_size=comp["shard_size"], shard=(0, 1), progress=progress, redo_bad=True)


def _extract_shards(adapter, dataset, spec, scenes, directory: Path, mine: list[int], rank: int, size: int, batch_size: int, progress: bool) -> ExtractResult:
    from spatialprobe.results.origin import provenance

    written, skipped = [], []
    by_id = {s.id: s for s in scenes}
    bar = tqdm(total=sum(len(spec.shard_scenes[k]) for k in mine), unit="scene", desc=f"extract {spec.key[:8]}", disable=not progress, leave=False)
    # decode on a thread only when a core is free for it: on a CPU that torch already fills, a
    # second busy thread slows the model more than it saves (measured: benchmarks/bench_extract.py)
    spare = adapter.device.type != "cpu" or (os.cpu_count() or 1) > torch.get_num_threads()
    with ThreadPoolExecutor(max_workers=1) if spare else _Inline() as pool:
        for k in mine:
            ids = spec.shard_scenes[k]
            if st.shard_done(directory, k):
                skipped.append(k)
            else:
                arrays, objects, layouts = _extract_shard(adapter, dataset, [by_id[i] for i in ids], spec.components["sites"], batch_size, pool)
                st.write_shard(directory, k, ids, arrays, objects, layouts)
                written.append(k)
            bar.update(len(ids))
    bar.close()
    merged = False
    if size == 1 or all(st.shard_done(directory, k) for k in range(len(spec.shard_scenes))):
        st.merge(directory, provenance(dtype=spec.components["dtype"], model=adapter.name, rank=rank, world_size=size))
        merged = True
    return ExtractResult(directory, written, skipped, merged)
