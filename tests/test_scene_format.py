import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from pycocotools import mask as coco_mask

from spatialprobe.geometry import Box
from spatialprobe.scenes import (
    Caption,
    DatasetWriter,
    Expression,
    Mask,
    Relation,
    Scene,
    SceneDataset,
    SceneFormatError,
    SceneObject,
    Utterance,
    Word,
    read_scenes,
    scene_from_json,
    scene_to_json,
)


def _scene() -> Scene:
    frame = (40, 30)
    return Scene(
        id="s1",
        image="images/s1.png",
        width=40,
        height=30,
        split="test",
        source="hand",
        objects=(
            SceneObject(1, Box.xyxy(0, 0, 10, 10, frame), "cat", {"colour": "black"}, Mask("polygons", [[0, 0, 10, 0, 10, 10, 0, 10]])),
            SceneObject(2, Box.xyxy(20, 5, 30, 25, frame), None, {}, None, visible=0.5, crowd=True),
        ),
        expressions=(Expression("e0", "the black cat", 1, "attribute", "attr.colour_shape"),),
        relations=(
            Relation("r0", "the cat is left of the region", "left of", True, 1, 2, group="g0", margin=15.0),
            Relation("r1", "the dog is on the bed", "on", False, subject_name="dog", object_name="bed"),
        ),
        captions=(
            Caption(
                "c0",
                "a black cat",
                "narrative",
                (1,),
                (Word(0, 1, 1), Word(2, 7, 1), Word(8, 11, 1, Box.xyxy(0, 0, 12, 11, frame))),
                (Utterance("a black cat", 0.0, 1.5),),
                ((0.1, 0.2, 0.0), (0.15, 0.25, 0.5)),
            ),
        ),
    )


def test_scene_json_round_trip():
    scene = _scene()
    assert scene_from_json(json.loads(json.dumps(scene_to_json(scene)))) == scene


def test_fractional_coordinates_and_visibility_round_trip_exactly():
    """Found by the fuzzer: writing rounded coordinates moved a box by 0.0005 px on every save."""
    frame = (40, 30)
    first, second = _scene().objects
    moved = dataclasses.replace(first, box=Box.xyxy(0.0625, 1 / 3, 10.123456789, 10, frame), visible=0.123456)
    scene = dataclasses.replace(_scene(), objects=(moved, second))
    again = scene_from_json(json.loads(json.dumps(scene_to_json(scene))))
    assert again == scene


def test_masks_decode_from_rle_and_polygons():
    full = np.zeros((30, 40), np.uint8)
    full[5:25, 20:30] = 1
    rle = coco_mask.encode(np.asfortranarray(full))
    rle["counts"] = rle["counts"].decode()
    assert (Mask("rle", rle).decode(30, 40, 2) == full.astype(bool)).all()
    poly = Mask("polygons", [[20, 5, 30, 5, 30, 25, 20, 25]]).decode(30, 40, 2)
    assert poly.sum() == pytest.approx(full.sum(), rel=0.15)
    instances = np.zeros((30, 40), np.uint8)
    instances[1, 1] = 3
    assert Mask("instance").decode(30, 40, 3, instances).sum() == 1


@pytest.mark.parametrize(
    "edit, field, message",
    [
        (lambda d: d["objects"][1]["box"].update(xyxy=[20, 5, 45, 25]), "objects[1].box", "outside"),
        (lambda d: d["objects"][0].pop("box"), "objects[0].box", "missing"),
        (lambda d: d["objects"][0].update(id=0), "objects[0].id", "positive"),
        (lambda d: d["objects"][0].update(id="1"), "objects[0].id", "expected int"),
        (lambda d: d["expressions"][0].update(referent=9), "expressions[0].referent", "no object with id 9"),
        (lambda d: d["relations"][0].update(label="yes"), "relations[0].label", "expected bool"),
        (lambda d: d["captions"][0]["words"].append([5, 99, None]), "captions[0].words[3]", "does not fit"),
        (lambda d: d.update(split="train"), "split", "unknown split"),
        (lambda d: d["objects"][0].update(mask="instance"), "objects[0].mask", "instances"),
        (lambda d: d["objects"].append(dict(d["objects"][0])), "objects[2].id", "duplicate"),
        (lambda d: d.update(expresions=d.pop("expressions")), "expresions", "unknown scene field; did you mean 'expressions'"),
        (lambda d: d["objects"][0].update(bbox=[0, 0, 1, 1]), "objects[0].bbox", "did you mean 'box'"),
        (lambda d: d["expressions"][0].update(referent_id=1), "expressions[0].referent_id", "did you mean 'referent'"),
        (lambda d: d["relations"][0].update(zzz=1), "relations[0].zzz", "under 'meta'"),
        (lambda d: d["captions"][0].update(mention=[1]), "captions[0].mention", "did you mean 'mentions'"),
    ],
)
def test_bad_scene_fields_are_named(edit, field, message):
    d = scene_to_json(_scene())
    edit(d)
    with pytest.raises(SceneFormatError, match=message) as info:
        scene_from_json(d)
    assert info.value.field == field


def _write_jsonl(path, lines):
    path.write_text("".join(line + "\n" for line in lines))


def test_corrupt_and_truncated_lines_name_file_and_line(tmp_path):
    good = json.dumps(scene_to_json(_scene()))
    path = tmp_path / "scenes.jsonl"
    _write_jsonl(path, [good, good[: len(good) // 2]])
    with pytest.raises(SceneFormatError, match=rf"{path}:2: line: not valid JSON"):
        list(read_scenes(path))
    bad = scene_to_json(_scene())
    bad["objects"][0]["box"] = {"xyxy": [0, 0, 50, 10]}
    bad["id"] = "other"
    _write_jsonl(path, [good, json.dumps({**json.loads(good), "id": "two"}), json.dumps(bad)])
    with pytest.raises(SceneFormatError, match=rf"{path}:3: objects\[0\].box: .*outside"):
        list(read_scenes(path))


def test_duplicate_scene_ids_are_refused_with_both_lines(tmp_path):
    good = scene_to_json(_scene())
    other = {**good, "image": "images/other.png"}
    path = tmp_path / "scenes.jsonl"
    _write_jsonl(path, [json.dumps(good), json.dumps({**good, "id": "b"}), json.dumps(other)])
    with pytest.raises(SceneFormatError, match=rf"{path}:3: id: duplicate scene id '{good['id']}' \(first at line 1\)"):
        list(read_scenes(path))


def test_writer_is_atomic(tmp_path):
    out = tmp_path / "ds"
    with pytest.raises(RuntimeError):
        with DatasetWriter(out) as w:
            w.add(_scene())
            raise RuntimeError("interrupted")
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []
    with DatasetWriter(out) as w:
        w.add(_scene())
        w.finish({"source": "hand"})
    assert [s.id for s in SceneDataset(out)] == ["s1"]
    with pytest.raises(FileExistsError, match="--force"):
        DatasetWriter(out)
    # --force keeps the old dataset until the new one is complete
    with pytest.raises(RuntimeError):
        with DatasetWriter(out, force=True) as w:
            raise RuntimeError("interrupted")
    assert SceneDataset(out).metadata["scenes"] == 1
    with DatasetWriter(out, force=True) as w:
        w.add(_scene())
        w.add(scene_to_json(_scene()) | {"id": "s2"})
        w.finish({"source": "hand"})
    assert SceneDataset(out).metadata["scenes"] == 2


def test_incomplete_dataset_is_refused(tmp_path):
    (tmp_path / "scenes.jsonl").write_text("")
    with pytest.raises(SceneFormatError, match="incomplete"):
        SceneDataset(tmp_path)


@pytest.fixture
def small_dataset(tmp_path):
    from spatialprobe.scenes.sources.synthetic import SyntheticConfig, build

    return build(SyntheticConfig(n=6, seed=1), tmp_path / "scenes", workers=1, progress=False)


def test_validate_decodes_every_image_and_checks_its_size(small_dataset, capsys):
    from PIL import Image

    from spatialprobe.cli.main import main
    from spatialprobe.scenes import SceneDataset

    dataset = SceneDataset(small_dataset)
    first, second = dataset.scenes()[:2]
    assert main(["scenes", "validate", str(small_dataset), "--quiet"]) == 0
    Image.new("RGB", (32, 48)).save(small_dataset / first.image)  # the record says 64×64
    assert main(["scenes", "validate", str(small_dataset), "--quiet"]) == 2
    assert f"scene {first.id}: image: {small_dataset / first.image} is 32×48 px, the record says 64×64" in capsys.readouterr().err
    with pytest.raises(SceneFormatError, match="is 32×48 px"):
        dataset.image(first)  # extraction reads through the same check
    Image.new("RGB", (64, 64)).save(small_dataset / first.image)
    data = (small_dataset / second.image).read_bytes()
    (small_dataset / second.image).write_bytes(data[: len(data) // 2])  # truncated: the header is intact
    assert main(["scenes", "validate", str(small_dataset), "--quiet", "--quick"]) == 0  # --quick reads headers only
    assert main(["scenes", "validate", str(small_dataset), "--quiet"]) == 2
    assert f"scene {second.id}: image: cannot decode {small_dataset / second.image}" in capsys.readouterr().err


def test_files_outside_the_dataset_are_refused_unless_it_names_an_image_root(small_dataset, capsys):
    from spatialprobe.cli.main import main
    from spatialprobe.scenes import SceneDataset

    lines = (small_dataset / "scenes.jsonl").read_text().splitlines()
    record = json.loads(lines[0])
    elsewhere = small_dataset.parent / "elsewhere"
    elsewhere.mkdir()
    (small_dataset / record["image"]).rename(elsewhere / "a.png")
    for path in ("../elsewhere/a.png", str(elsewhere / "a.png")):
        record["image"] = path
        (small_dataset / "scenes.jsonl").write_text("\n".join([json.dumps(record)] + lines[1:]) + "\n")
        assert main(["scenes", "validate", str(small_dataset), "--quiet"]) == 2
        assert f"image: {path!r} is outside {small_dataset}" in capsys.readouterr().err
    for scene in SceneDataset(small_dataset).scenes()[1:]:  # an explicit image root: every image moves there
        (small_dataset / scene.image).rename(elsewhere / Path(scene.image).name)
        (small_dataset / scene.instances).rename(elsewhere / Path(scene.instances).name)
    (elsewhere / "a.png").rename(elsewhere / Path(json.loads(lines[0])["image"]).name)
    moved = [json.loads(line) for line in lines]
    for r in moved:
        r["image"], r["instances"] = Path(r["image"]).name, Path(r["instances"]).name
    (small_dataset / "scenes.jsonl").write_text("".join(json.dumps(r) + "\n" for r in moved))
    meta = json.loads((small_dataset / "dataset.json").read_text())
    (small_dataset / "dataset.json").write_text(json.dumps({**meta, "image_root": "../elsewhere"}))
    assert main(["scenes", "validate", str(small_dataset), "--quiet"]) == 0
    assert SceneDataset(small_dataset).image(SceneDataset(small_dataset).scenes()[0]).shape == (64, 64, 3)


def test_force_replaces_a_dataset_never_another_folder(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("years of work")
    with pytest.raises(FileExistsError, match="is not a scene dataset"):
        DatasetWriter(tmp_path / "mine", force=True)
    assert (tmp_path / "mine" / "thesis.tex").read_text() == "years of work" and sorted(p.name for p in tmp_path.iterdir()) == ["mine"]
