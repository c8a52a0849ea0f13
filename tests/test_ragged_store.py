"""A store for variable rows (issue 20): scenes with different row counts per site are stored
without padding — (Σ rows, dim) plus an offsets index — read back exactly, in any order, checked
like every other file, and never read as if they were fixed-size."""

from __future__ import annotations

import json

import numpy as np
import pytest

from spatialprobe.features.reader import FeatureStore, verify
from spatialprobe.features.store import Ragged, StoreError, merge, write_shard

EMPTY = {"index": np.zeros((0, 2), np.int32), "coverage": np.zeros((0, 1), np.float16), "nearest": np.zeros((0, 1), np.uint8),
         "boxes": np.zeros((0, 4), np.float32)}


def build(directory, scenes: list[np.ndarray], fixed: np.ndarray, shard: int = 7) -> FeatureStore:
    ids = [f"s{i:03d}" for i in range(len(scenes))]
    shards = [ids[i : i + shard] for i in range(0, len(ids), shard)]
    (directory / "shards").mkdir(parents=True)
    (directory / "key.json").write_text(json.dumps({"key": "t", "components": {"sites": ["fixed", "tiles"]}, "shards": shards}))
    (directory / "layouts.json").write_text(json.dumps({"fixed": {"roles": ["cls"] * fixed.shape[1]}, "tiles": {"roles": []}}))
    for k, start in enumerate(range(0, len(ids), shard)):
        write_shard(directory, k, shards[k], {"fixed": fixed[start : start + shard], "tiles": Ragged.of(scenes[start : start + shard])}, EMPTY)
    merge(directory)
    return FeatureStore(directory)


@pytest.fixture
def stored(tmp_path):
    rng = np.random.default_rng(0)
    scenes = [rng.normal(size=(int(n), 8)).astype(np.float16) for n in rng.integers(1, 30, size=23)]
    fixed = rng.normal(size=(23, 5, 8)).astype(np.float16)
    return build(tmp_path / "store", scenes, fixed), scenes, fixed


def test_ragged_rows_come_back_exactly_in_any_order_with_repeats(stored):
    store, scenes, fixed = stored
    assert store.ragged("tiles") and not store.ragged("fixed") and store.manifest["sites"]["tiles"]["ragged"]
    rows = [22, 0, 7, 7, 13, 6, 21]  # across all four shards, a repeat
    got = store.take_ragged("tiles", rows)
    assert len(got) == len(rows) and list(got.lengths) == [len(scenes[r]) for r in rows]
    for i, r in enumerate(rows):
        np.testing.assert_array_equal(got[i], scenes[r])
    np.testing.assert_allclose(got.mean(), np.stack([scenes[r].astype(np.float32).mean(0) for r in rows]), rtol=1e-6)
    np.testing.assert_array_equal(store.take("fixed", rows), fixed[rows])
    assert store.take_ragged("tiles", [], dtype=np.float32).values.shape == (0, 8)


def test_a_ragged_site_is_never_read_as_fixed_size_and_damage_is_found(stored, tmp_path):
    store, _, _ = stored
    with pytest.raises(StoreError, match="its own number of rows: read it with take_ragged"):
        store.take("tiles", [0])
    with pytest.raises(StoreError, match="same rows for every scene"):
        store.take_ragged("fixed", [0])
    offsets = store.dir / "sites" / "tiles" / "00001.offsets.npy"
    np.save(offsets, np.load(offsets) + 1)
    problems = verify(store.dir)
    assert [p.path for p in problems] == [offsets] and "sha256 differs" in problems[0].message
