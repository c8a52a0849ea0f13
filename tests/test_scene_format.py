import json

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
    _write_jsonl(path, [good, good, json.dumps(bad)])
    with pytest.raises(SceneFormatError, match=rf"{path}:3: objects\[0\].box: .*outside"):
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
