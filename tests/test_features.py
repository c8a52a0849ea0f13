"""Extraction, the feature store and token pools."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from spatialprobe.features import FeatureStore, StoreError, extract, merge, pool, verify
from spatialprobe.features.extraction import ExtractionError
from spatialprobe.features.pools import POOLS, PoolError
from spatialprobe.features.store import write_shard
from spatialprobe.models import UnknownSiteError, load_model
from spatialprobe.scenes import DatasetWriter, SceneDataset, SceneObject
from spatialprobe.scenes.sources.synthetic import SyntheticConfig, build

SITES = ["vision.layer.*", "connector.out"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    out = tmp_path_factory.mktemp("feat") / "scenes"
    return SceneDataset(build(SyntheticConfig(n=120, seed=4), out, workers=1, progress=False))


@pytest.fixture(scope="module")
def model():
    return load_model("toy:tiny-qformer")


@pytest.fixture(scope="module")
def stored(data, model, tmp_path_factory):
    root = tmp_path_factory.mktemp("stores")
    return extract(model, data, SITES, root=root, shard_size=32, batch_size=16, progress=False)


def _tree(directory: Path, skip=("manifest.json",)) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file() and p.name not in skip}


def test_the_store_holds_every_token_of_every_site(stored, data, model):
    fs = FeatureStore(stored.directory)
    assert fs.rows == 120 and fs.scene_ids == [s.id for s in data]
    assert fs.sites == ["vision.layer.0", "vision.layer.1", "connector.out"]
    scenes = data.scenes()
    direct = model.extract([data.image(s) for s in scenes[40:45]], ["vision.layer.1", "connector.out"])
    got = fs.take("vision.layer.1", np.arange(40, 45))
    np.testing.assert_allclose(got, direct["vision.layer.1"].numpy(), rtol=2e-3, atol=2e-3)  # float16 storage
    assert fs.shards("vision.layer.1")[0].dtype == np.float16
    assert fs.layouts["connector.out"].roles == ("query",) * 8
    assert fs.manifest["sites"]["vision.layer.0"]["dtype"] == "float16"


def test_object_tables_map_masks_onto_the_grid(stored, data, model):
    fs = FeatureStore(stored.directory)
    objects = fs.objects()
    assert len(objects["id"]) == sum(len(s.objects) for s in data)
    scene = data.scenes()[7]
    obj = scene.objects[0]
    i = np.flatnonzero((objects["row"] == 7) & (objects["id"] == obj.id))[0]
    expected = model.preprocess.mask_to_grid(data.mask(scene, obj), 8).ravel()
    np.testing.assert_allclose(objects["coverage"][i], expected, atol=1e-3)
    np.testing.assert_allclose(objects["boxes"][i], obj.box.array())  # 64 px scenes, 64 px model: identity


def test_same_input_gives_an_identical_store(stored, data, model, tmp_path):
    again = extract(model, data, SITES, root=tmp_path, shard_size=32, batch_size=16, progress=False)
    assert again.directory.name == stored.directory.name
    assert _tree(again.directory) == _tree(stored.directory)
    a, b = (json.loads((d / "manifest.json").read_text()) for d in (again.directory, stored.directory))
    assert a["store_hash"] == b["store_hash"] and a["provenance"]["threads"] == torch.get_num_threads()


def test_a_second_run_skips_finished_shards(stored, data, model):
    result = extract(model, data, SITES, root=stored.directory.parent, shard_size=32, batch_size=16, progress=False)
    assert result.written == [] and result.skipped == [0, 1, 2, 3]


def test_sharded_processes_merge_into_the_single_process_store(stored, data, model, tmp_path):
    for i in range(3):
        r = extract(model, data, SITES, root=tmp_path, shard_size=32, batch_size=16, shard=(i, 3), progress=False)
    assert r.merged  # the last one saw every shard done
    assert _tree(r.directory) == _tree(stored.directory)
    assert merge(r.directory)["store_hash"] == FeatureStore(stored.directory).manifest["store_hash"]


def test_torchrun_two_processes_then_merge_equals_one_process(stored, data, tmp_path):
    torchrun = Path(sys.executable).with_name("torchrun")
    cmd = [str(torchrun), "--standalone", "--nproc_per_node=2", "-m", "spatialprobe.cli.main", "extract",
           "--model", "toy:tiny-qformer", "--data", str(data.root), "--sites", *SITES, "--store", str(tmp_path),
           "--shard-size", "32", "--batch-size", "16", "--quiet"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run(cmd, check=True, capture_output=True, env=env, timeout=240)
    directory = tmp_path / stored.directory.name
    subprocess.run([sys.executable, "-m", "spatialprobe.cli.main", "store", "merge", str(directory)], check=True, capture_output=True)
    assert _tree(directory) == _tree(stored.directory)


def test_a_killed_extraction_resumes_to_the_same_bytes(tmp_path):
    data = build(SyntheticConfig(n=600, seed=9), tmp_path / "scenes", workers=1, progress=False)
    cmd = [sys.executable, "-m", "spatialprobe.cli.main", "extract", "--model", "toy:small-qformer", "--data", str(data),
           "--sites", "vision.layer.*", "connector.out", "--shard-size", "20", "--batch-size", "20", "--quiet", "--threads", "1"]
    proc = subprocess.Popen(cmd + ["--store", str(tmp_path / "a")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    records = []
    while time.time() < deadline:
        records = list((tmp_path / "a").glob("*/shards/*.json"))
        if len(records) >= 3:
            break
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    directory = next((tmp_path / "a").iterdir())
    done_before = {p.name: p.stat().st_mtime_ns for p in (directory / "shards").glob("*.json")}
    assert 3 <= len(done_before) < 30, "the kill must land mid-way"
    assert not (directory / "manifest.json").exists()
    with pytest.raises(StoreError, match="no manifest.json"):
        FeatureStore(directory)
    out = subprocess.run(cmd + ["--store", str(tmp_path / "a")], check=True, capture_output=True, text=True).stdout
    assert f"wrote {30 - len(done_before)} shards, skipped {len(done_before)}" in out
    assert {p.name: p.stat().st_mtime_ns for p in (directory / "shards").glob("*.json") if p.name in done_before} == done_before
    subprocess.run(cmd + ["--store", str(tmp_path / "b")], check=True, capture_output=True)
    clean = next((tmp_path / "b").iterdir())
    leftovers = [p for p in directory.rglob("*.tmp")]
    assert _tree(directory, skip=("manifest.json",) + tuple(p.name for p in leftovers)) == _tree(clean)
    assert FeatureStore(directory).manifest["store_hash"] == FeatureStore(clean).manifest["store_hash"]


def test_verify_finds_truncated_and_tampered_shards_and_deletes_nothing(stored, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(stored.directory, copy)
    assert verify(copy) == []
    truncated = copy / "sites/vision.layer.0/00001.npy"
    truncated.write_bytes(truncated.read_bytes()[:-100])
    tampered = copy / "sites/connector.out/00002.npy"
    array = np.load(tampered)
    array[0, 0, 0] += 1
    np.save(tampered, array)
    problems = verify(copy)
    assert len(problems) == 2 and "00001.npy" in str(problems[0]) and "00002.npy" in str(problems[1])
    assert [p.shard for p in problems] == [1, 2]
    assert truncated.exists() and tampered.exists()
    with pytest.raises(StoreError, match="failed verification"):
        FeatureStore(copy).take("vision.layer.0", np.arange(40, 50))


def _nan_in_place(path: Path, index=(0, 0, 0)) -> None:
    """Same size, same header: a NaN written into the array's bytes (what bit rot or a stray write does)."""
    array = np.load(path, mmap_mode="r+")
    array[index] = np.nan
    array.flush()


def test_same_size_nan_corruption_is_refused_on_read_with_the_repair_command(stored, tmp_path, capsys):
    """Issue 15.5: a probe read a NaN-corrupted store at rc 0 (0.025 → 0.051)."""
    from spatialprobe.cli.main import main

    copy = tmp_path / "stores" / stored.directory.name
    shutil.copytree(stored.directory, copy)
    _nan_in_place(copy / "sites/connector.out/00001.npy")
    with pytest.raises(StoreError, match=r"failed verification:\n  .*00001.npy: sha256 differs(.|\n)*store verify --repair"):
        FeatureStore(copy)
    assert main(["store", "ls", str(tmp_path / "stores")]) == 0
    assert "FAILED verification" in capsys.readouterr().out


def test_values_that_turn_non_finite_after_the_store_was_opened_are_refused(stored, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(stored.directory, copy)
    fs = FeatureStore(copy)
    fs.take("connector.out", np.arange(40))  # maps the shards
    _nan_in_place(copy / "sites/connector.out/00001.npy", (2, 0, 0))
    assert np.isfinite(fs.take("connector.out", np.arange(30))).all()  # shard 0 is intact
    with pytest.raises(StoreError, match=rf"NaN or Inf values in stored rows of scenes \['{fs.scene_ids[34]}'\]"):
        fs.take("connector.out", np.arange(30, 40))


def test_a_store_is_hashed_once_per_process_and_again_when_its_files_change(stored, tmp_path, monkeypatch):
    from spatialprobe.features import reader

    copy = tmp_path / "copy"
    shutil.copytree(stored.directory, copy)
    hashed = []
    real = reader.sha256_file
    monkeypatch.setattr(reader, "sha256_file", lambda path: hashed.append(path) or real(path))
    FeatureStore(copy)
    files = len(hashed)
    assert files == len(list(copy.glob("sites/*/*.npy")) + list(copy.glob("objects/*.npy")))
    FeatureStore(copy)
    assert len(hashed) == files
    _nan_in_place(copy / "objects/00000.boxes.npy", (0, 0))
    with pytest.raises(StoreError, match="00000.boxes.npy: sha256 differs"):
        FeatureStore(copy)


def test_verify_repair_re_extracts_exactly_the_damaged_shards_to_the_same_bytes(stored, tmp_path, capsys):
    from spatialprobe.cli.main import main

    copy = tmp_path / stored.directory.name
    shutil.copytree(stored.directory, copy)
    _nan_in_place(copy / "sites/vision.layer.1/00002.npy")
    (copy / "layouts.json").write_text("{garbage")
    (copy / "shards/00003.json").write_text("[]")
    untouched = {p: p.stat().st_mtime_ns for p in copy.glob("sites/*/0000[01].npy")}
    assert main(["store", "verify", str(copy)]) == 2
    err = capsys.readouterr().err
    assert "layouts.json: unusable" in err and "00003.json: not a valid shard record" in err and f"repair: spatialprobe store verify --repair {copy}" in err
    assert main(["store", "verify", "--repair", "--quiet", str(copy)]) == 0
    assert "re-extracting shard(s) [2, 3]" in capsys.readouterr().out
    assert {p: p.stat().st_mtime_ns for p in untouched} == untouched
    assert _tree(copy, skip=("manifest.json", "key.json", ".lock")) == _tree(stored.directory, skip=("manifest.json", "key.json", ".lock"))
    assert verify(copy) == [] and FeatureStore(copy).manifest["store_hash"] == FeatureStore(stored.directory).manifest["store_hash"]


def test_extract_redo_bad_and_verify_cover_key_and_manifest(stored, data, model, tmp_path):
    root = tmp_path / "root"
    copy = root / stored.directory.name
    shutil.copytree(stored.directory, copy)
    _nan_in_place(copy / "objects/00001.coverage.npy", (0, 0))
    result = extract(model, data, SITES, root=root, shard_size=32, batch_size=16, progress=False, redo_bad=True)
    assert result.written == [1] and verify(copy) == []
    manifest = json.loads((copy / "manifest.json").read_text())
    (copy / "manifest.json").write_text(json.dumps({**manifest, "shards": manifest["shards"][:-1]}))
    assert [str(p).split(": ", 1)[1] for p in verify(copy)] == ["disagrees with key.json or the shard records"]
    (copy / "key.json").write_text("nope")
    assert "store rm" in str(verify(copy)[0])
    with pytest.raises(StoreError, match="store rm"):
        extract(model, data, SITES, root=root, shard_size=32, batch_size=16, progress=False, redo_bad=True)


def test_store_rm_removes_stores_and_refuses_anything_else(stored, tmp_path, capsys):
    from spatialprobe.cli.main import main

    copy = tmp_path / "copy"
    shutil.copytree(stored.directory, copy)
    other = tmp_path / "other"
    other.mkdir()
    assert main(["store", "rm", str(copy), str(other)]) == 2 and copy.exists()
    assert "not a feature store" in capsys.readouterr().err
    assert main(["store", "rm", str(copy)]) == 0 and not copy.exists()


def test_a_shard_whose_shape_disagrees_with_the_manifest_is_refused(stored, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(stored.directory, copy)
    np.save(copy / "sites/connector.out/00000.npy", np.zeros((32, 7, 64), np.float16))
    with pytest.raises(StoreError, match="00000.npy: sha256 differs"):
        FeatureStore(copy).take("connector.out", np.arange(3))


def test_nan_features_are_refused_before_anything_is_written(data, tmp_path):
    bad = load_model("toy:tiny-qformer")
    with torch.no_grad():
        bad.model.connector.proj.bias[0] = float("nan")
    with pytest.raises(ExtractionError, match="NaN or Inf features for scenes"):
        extract(bad, data, ["connector.out"], root=tmp_path, shard_size=32, progress=False)
    assert list(tmp_path.glob("*/shards/*.json")) == []


def test_unknown_sites_list_the_models_sites(data, model, tmp_path):
    with pytest.raises(UnknownSiteError, match="its sites: vision.embed"):
        extract(model, data, ["vision.layer.9"], root=tmp_path, progress=False)


def test_float16_overflow_is_stored_as_float32_and_said(tmp_path):
    d = tmp_path / "s"
    (d / "shards").mkdir(parents=True)
    (d / "key.json").write_text(json.dumps({"key": "k", "components": {"sites": ["x"]}, "shards": [["a"], ["b"]]}))
    (d / "layouts.json").write_text(json.dumps({"x": {"roles": ["cls"]}}))
    empty = {"index": np.zeros((0, 2), np.int32), "coverage": np.zeros((0, 4), np.float16), "nearest": np.zeros((0, 4), np.uint8), "boxes": np.zeros((0, 4), np.float32)}
    write_shard(d, 0, ["a"], {"x": np.ones((1, 1, 2), np.float32)}, empty)
    write_shard(d, 1, ["b"], {"x": np.full((1, 1, 2), 1e6, np.float32)}, empty)
    manifest = merge(d)
    assert manifest["sites"]["x"]["float32_shards"] == [1] and "float32" in manifest["sites"]["x"]["dtype"]
    assert FeatureStore(d).take("x", np.array([1, 0]))[:, 0, 0].tolist() == [1e6, 1.0]


def test_scene_pools(stored):
    fs = FeatureStore(stored.directory)
    all_tokens = fs.take("vision.layer.1", np.arange(5), dtype=np.float32)
    np.testing.assert_array_equal(pool(fs, "vision.layer.1", "cls", np.arange(5)), all_tokens[:, 0])
    assert pool(fs, "vision.layer.1", "patches", np.arange(5)).shape == (5, 64, 64)
    assert pool(fs, "connector.out", "queries", np.arange(5)).shape == (5, 8, 64)
    np.testing.assert_allclose(pool(fs, "vision.layer.1", "mean", np.arange(5)), all_tokens.mean(1), rtol=1e-6)
    with pytest.raises(PoolError, match="no 'cls' rows"):
        pool(fs, "connector.out", "cls")
    with pytest.raises(PoolError, match="unknown pool"):
        pool(fs, "connector.out", "max")


def test_object_pools_read_the_objects_own_patches(stored):
    fs = FeatureStore(stored.directory)
    objects = fs.objects()
    items = np.arange(10)
    means = pool(fs, "vision.layer.1", "object_mean", items)
    layout = fs.layouts["vision.layer.1"]
    patch_rows = layout.rows("patch")
    for j, i in enumerate(items):
        cells = np.flatnonzero(objects["coverage"][i] >= 0.5)
        cells = cells if cells.size else [int(np.argmax(objects["coverage"][i]))]
        tokens = fs.take("vision.layer.1", objects["row"][i : i + 1], dtype=np.float32)[0, patch_rows[cells]]
        np.testing.assert_allclose(means[j], tokens.mean(0), rtol=1e-5, atol=1e-6)
    a = pool(fs, "vision.layer.1", "object_random", items, seed=1)
    b = pool(fs, "vision.layer.1", "object_random", items, seed=1)
    np.testing.assert_array_equal(a, b)
    assert POOLS["object_mean"].uses_object_mask and not POOLS["random_patch"].uses_object_mask
    with pytest.raises(PoolError, match="no patch grid"):
        pool(fs, "connector.out", "object_mean", items)


def test_a_pool_that_needs_masks_the_data_lacks_is_refused(model, tmp_path):
    out = tmp_path / "nomask"
    src = build(SyntheticConfig(n=4, seed=1), tmp_path / "src", workers=1, progress=False)
    with DatasetWriter(out) as w:
        for scene in SceneDataset(src):
            objs = tuple(SceneObject(o.id, o.box, o.category, o.attributes, None) for o in scene.objects)
            w.add(scene.__class__(**{**scene.__dict__, "objects": objs, "instances": None}))
        w.finish({"source": "hand", "image_root": str(src)})  # the images stay where they are
    r = extract(model, SceneDataset(out), ["vision.layer.1"], root=tmp_path / "st", progress=False)
    with pytest.raises(PoolError, match="has no mask: this pool needs masks"):
        pool(FeatureStore(r.directory), "vision.layer.1", "object_mean")
    assert pool(FeatureStore(r.directory), "vision.layer.1", "random_patch").shape[0] > 0


def test_the_store_key_covers_the_pixels(data, model, tmp_path):
    """An edited image (same annotations) gets its own store: features are never reused across pixels."""
    from PIL import Image

    from spatialprobe.features.key import dataset_fingerprint

    copy = tmp_path / "copy"
    shutil.copytree(data.root, copy)
    scene = data.scenes()[3]
    image = np.asarray(Image.open(copy / scene.image)).copy()
    image[:16, :16] = 255 - image[:16, :16]  # same size, same records: only pixels differ
    Image.fromarray(image).save(copy / scene.image)
    edited = extract(model, SceneDataset(copy), ["vision.layer.1"], root=tmp_path / "stores", shard_size=32, batch_size=16, progress=False)
    original = extract(model, data, ["vision.layer.1"], root=tmp_path / "stores", shard_size=32, batch_size=16, progress=False)
    assert edited.directory != original.directory
    a, b = (FeatureStore(r.directory).take("vision.layer.1", np.array([3])) for r in (edited, original))
    assert np.abs(a - b).max() > 0.1
    before = dataset_fingerprint(copy)
    (copy / scene.instances).write_bytes((data.root / data.scenes()[4].instances).read_bytes())  # an instance map changes
    assert dataset_fingerprint(copy) != before


def test_file_hashes_are_reread_only_when_a_file_changes(data, tmp_path, monkeypatch):
    import spatialprobe.scenes.files as files

    monkeypatch.setenv("SPATIALPROBE_CACHE", str(tmp_path / "cache"))
    copy = tmp_path / "copy"
    shutil.copytree(data.root, copy)
    paths = sorted(s.image for s in data.scenes()[:10])
    first = files.file_hashes(copy, paths)
    reads = []
    real = files.sha256_file
    monkeypatch.setattr(files, "sha256_file", lambda p: reads.append(Path(p).name) or real(p))
    assert files.file_hashes(copy, paths) == first and reads == []  # nothing changed: nothing read
    target = copy / paths[0]
    target.write_bytes(target.read_bytes() + b"\0")
    second = files.file_hashes(copy, paths)
    assert reads == [Path(paths[0]).name] and second[paths[0]] != first[paths[0]]
    assert {k: v for k, v in second.items() if k != paths[0]} == {k: v for k, v in first.items() if k != paths[0]}
    files._index_path(copy.resolve()).write_text("{garbage")  # a damaged index costs a re-read, never a wrong hash
    assert files.file_hashes(copy, paths) == second


def test_an_object_that_covers_no_patch_is_an_error_not_patch_zero():
    from spatialprobe.features.pools import PoolError, _object_cells

    objects = {"coverage": np.array([[0.0, 0.0, 0.0, 0.0], [0.0, 0.01, 0.0, 0.0]]), "nearest": np.zeros((2, 4), bool), "id": np.array([3, 4]), "row": np.array([0, 0])}
    assert _object_cells(objects, [1], "area")[0].tolist() == [1]  # a small object: its most covered patch
    with pytest.raises(PoolError, match="object 3 of row 0 covers no patch of the grid"):
        _object_cells(objects, [0], "area")
