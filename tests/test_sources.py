"""Real-dataset sources on fixture files written in the official schemas (no dataset can be downloaded here)."""

from __future__ import annotations

import json
import pickle
import warnings
from pathlib import Path

import numpy as np
import pytest

from spatialprobe.cli.main import main
from spatialprobe.registry import SOURCES
from spatialprobe.scenes import SceneDataset
from spatialprobe.scenes.sources._real import SourceError

from dataset_fixtures import annotation, coco_image, coco_instances, narration, narratives, paired_coco, refcoco, visual_genome, vsr, write_image

@pytest.fixture()
def coco(tmp_path) -> Path:
    root = tmp_path / "coco"
    (root / "annotations").mkdir(parents=True)
    for split, n in (("train", 6), ("val", 3)):
        images = [coco_image(i + (0 if split == "train" else 50)) for i in range(n)]
        anns = []
        for im in images:
            anns += [annotation(len(anns) + 1 + im["id"] * 10, im["id"], 17, (2.5, 3.0, 20.0, 15.0)), annotation(len(anns) + 2 + im["id"] * 10, im["id"], 67, (30, 20, 45, 38))]
            write_image(root / f"{split}2017" / im["file_name"], im["width"], im["height"], im["id"])
        if split == "val":
            anns.append(annotation(9001, images[0]["id"], 18, (70, 50, 20, 20)))  # outside the 80×60 image
            anns.append(annotation(9002, images[0]["id"], 99, (1, 1, 5, 5)))  # no such category
            images.append(coco_image(99))  # its file is missing
        (root / "annotations" / f"instances_{split}2017.json").write_text(json.dumps(coco_instances(images, anns)))
        captions = [{"id": 5000 + im["id"], "image_id": im["id"], "caption": "Two cats sit near a dining table."} for im in images]
        captions += [{"id": 6000 + im["id"], "image_id": im["id"], "caption": "A dog."} for im in images]
        (root / "annotations" / f"captions_{split}2017.json").write_text(json.dumps({"info": {}, "licenses": [], "images": images, "annotations": captions}))
    return root


def test_coco_reads_boxes_masks_captions_and_reports_every_skipped_row(coco):
    reading = SOURCES.get("coco").read(coco)
    scenes = list(reading.scenes)
    assert len(scenes) == 9 and {s.split for s in scenes} <= {"probe_train", "probe_val", "test"}
    val = [s for s in scenes if s.meta["dataset_split"] == "val"]
    assert [s.split for s in val] == ["test"] * 3
    first = val[0]
    assert first.image == "val2017/000000000150.jpg" and (first.width, first.height) == (80, 60)
    cat, table = first.objects
    assert cat.category == "cat" and cat.box.to("xyxy", "pixel").coords == (2.5, 3.0, 22.5, 18.0)  # xywh → xyxy, not rounded or clipped
    assert table.mask.kind == "polygons" and cat.meta["annotation_id"] > 0
    by_text = {c.text: c.mentions for c in first.captions}
    assert by_text == {"Two cats sit near a dining table.": (1, 2), "A dog.": ()}  # lemmatised: cats → cat, every word of "dining table"
    assert sorted(str(s) for s in reading.skipped) == [
        "instances_val2017.json annotation 9001: bbox [70, 50, 20, 20] lies outside the 80×60 image",
        "instances_val2017.json annotation 9002: unknown category id 99",
        "instances_val2017.json image 199: image file val2017/000000000199.jpg is missing",
    ]


def test_held_out_validation_is_drawn_by_image_and_recorded(coco):
    scenes = list(SOURCES.get("coco").read(coco, val_fraction=0.5).scenes)
    train = [s for s in scenes if s.meta["dataset_split"] == "train"]
    assert {s.split for s in train} == {"probe_train", "probe_val"}
    again = {s.id: s.split for s in SOURCES.get("coco").read(coco, val_fraction=0.5).scenes}
    assert all(again[s.id] == s.split for s in scenes)  # by a hash of the image id: the same every time
    only_val = list(SOURCES.get("coco").read(coco, splits=["val"], split_map={"val": "probe_train"}).scenes)
    assert {s.split for s in only_val} == {"probe_train"}
    with pytest.raises(SourceError, match="split_map.val: 'testing' is not a probing split"):
        SOURCES.get("coco").read(coco, split_map={"val": "testing"})
    with pytest.raises(SourceError, match="unknown option 'yaer'; did you mean 'year'"):
        SOURCES.get("coco").read(coco, yaer="2014")


def test_data_check_convert_and_validate(coco, tmp_path, capsys):
    assert main(["data", "check", "coco", str(coco)]) == 0
    out = capsys.readouterr().out
    assert "skipped instances_val2017.json annotation 9001" in out and "9 scenes; 3 rows skipped" in out
    assert "test: 3 scenes, 6 objects, 0 expressions, 0 relations, 6 captions" in out  # per split
    assert main(["data", "check", "coco", str(coco), "--strict"]) == 2
    assert "annotation 9001: bbox" in capsys.readouterr().err
    assert main(["data", "convert", "coco", str(coco), "--out", str(tmp_path / "scenes")]) == 0
    assert main(["scenes", "validate", str(tmp_path / "scenes"), "--quiet"]) == 0
    dataset = SceneDataset(tmp_path / "scenes")
    assert len(dataset.scenes()) == 9 and dataset.metadata["source"] == "coco" and len(dataset.metadata["skipped"]) == 3
    scene = dataset.scenes("test")[0]
    assert dataset.image(scene).shape == (60, 80, 3)
    assert main(["data", "convert", "coco", str(coco), "--out", str(tmp_path / "scenes")]) == 2  # never replaced without --force
    assert main(["data", "ls"]) == 0 and "-o split_map=" in capsys.readouterr().out
    assert main(["data", "check", "synthetic", str(coco)]) == 2


def test_refcoco_expressions_point_at_their_objects(tmp_path):
    root = refcoco(tmp_path / "refer")
    reading = SOURCES.get("refcoco").read(root)
    scenes = list(reading.scenes)
    assert len(scenes) == 40 and sum(len(s.expressions) for s in scenes) == 160
    assert {s.meta["dataset_split"]: s.split for s in scenes} == {"train": "probe_train", "val": "probe_val", "testA": "test", "testB": "test"}
    scene = scenes[0]
    left = next(e for e in scene.expressions if e.text == "the left one")
    assert scene.objects[left.referent - 1].category == "cat" and left.meta == {"ref_id": 0, "ann_id": 50000}
    assert [str(s) for s in reading.skipped] == ["refs(unc).p ref 999: annotation 1 is not in instances.json"]
    refs = pickle.loads((root / "refcoco" / "refs(unc).p").read_bytes())
    refs.append({**refs[2], "ref_id": 998, "split": "testA"})  # image 1001 also in testA, as RefCOCOg's google split does
    (root / "refcoco" / "refs(google).p").write_bytes(pickle.dumps(refs, protocol=2))
    with pytest.warns(UserWarning, match="1 images are in dataset splits that map to different probing splits \\(image 1001: testA, train\\)"):
        SOURCES.get("refcoco").read(root, split_by="google")
    with pytest.raises(SourceError, match="split_by: refcoco\\+ has unc splits, not 'google'"):
        SOURCES.get("refcoco").read(root, dataset="refcoco+", split_by="google")


class _Payload:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.marker}",))


def test_a_refs_pickle_that_would_run_code_is_refused_before_it_runs(tmp_path):
    from spatialprobe.scenes.sources.refcoco import load_refs

    marker = tmp_path / "ran"
    evil = tmp_path / "refs(unc).p"
    evil.write_bytes(pickle.dumps([{"ref_id": 0, "sentences": [_Payload(marker)]}], protocol=2))
    with pytest.raises(SourceError, match="refused: the file asks for posix.system"):
        load_refs(evil)
    assert not marker.exists()
    genuine = tmp_path / "ok.p"
    genuine.write_bytes(pickle.dumps([{"ref_id": 1, "split": "val", "sentences": [{"sent": "a cat", "tokens": ["a", "cat"]}], "box": (1.0, 2.0)}], protocol=2))
    assert load_refs(genuine) == [{"ref_id": 1, "split": "val", "sentences": [{"sent": "a cat", "tokens": ["a", "cat"]}], "box": (1.0, 2.0)}]


def test_referring_box_and_region_cell_run_on_converted_refcoco(tmp_path):
    from spatialprobe.probing import run

    root = refcoco(tmp_path / "refer")
    assert main(["data", "convert", "refcoco", str(root), "--out", str(tmp_path / "scenes")]) == 0
    records = run({"model": "toy:tiny-qformer", "data": str(tmp_path / "scenes"), "store": str(tmp_path / "st"), "out": str(tmp_path / "run"),
                   "sites": ["connector.out"], "tasks": ["referring_box", "region_cell"], "pools": ["mean"], "probes": ["ridge"], "controls": [], "bootstrap": 100,
                   "min_train": 10}, progress=False)
    record, cells = records
    assert cells.task == "region_cell" and cells.metrics["accuracy"].n > 0
    assert record.metrics["ACC@0.5"].n == 28 and record.metrics["ACC@0.5"].clusters == 7  # testA + testB: 7 images × 2 refs × 2 sentences


def test_vsr_statements_with_boxes_joined_only_where_unambiguous(tmp_path):
    root = vsr(tmp_path / "vsr")
    reading = SOURCES.get("vsr").read(root, instances=[str(root / "instances_train2017.json")])
    scenes = list(reading.scenes)
    assert [s.split for s in scenes] == ["probe_train"] * 3 + ["probe_val"] + ["test"] * 2
    rel = scenes[0].relations[0]
    assert (rel.text, rel.predicate, rel.label, rel.subject_name, rel.object_name) == ("The cat is left of the dog.", "left of", True, "cat", "dog")
    assert scenes[0].objects[rel.subject - 1].category == "cat" and scenes[0].objects[rel.object - 1].category == "dog"
    assert scenes[-1].relations[0].object is None  # two dogs: not guessed
    assert reading.metadata["join"] == {"statements": 12, "both ends boxed": 10, "ends with 0 or several instances": 2, "images not in the instances": 0}
    assert [str(s) for s in reading.skipped] == ["dev.jsonl:3: not valid JSON (Expecting property name enclosed in double quotes: line 1 column 2 (char 1))"]
    plain = list(SOURCES.get("vsr").read(root).scenes)  # no instances: statements about named things
    assert plain[0].objects == () and plain[0].relations[0].subject is None


def test_relation_runs_on_converted_vsr(tmp_path):
    from spatialprobe.probing import run

    root = vsr(tmp_path / "vsr", n=30)
    assert main(["data", "convert", "vsr", str(root), "-o", f"instances=[\"{root / 'instances_train2017.json'}\"]", "--out", str(tmp_path / "scenes")]) == 0
    assert main(["scenes", "validate", str(tmp_path / "scenes"), "--quiet"]) == 0
    (record,) = run({"model": "toy:tiny-qformer", "data": str(tmp_path / "scenes"), "store": str(tmp_path / "st"), "out": str(tmp_path / "run"),
                     "sites": ["connector.out"], "tasks": ["relation"], "pools": ["mean"], "probes": ["ridge"], "controls": [], "bootstrap": 100,
                     "min_train": 10}, progress=False)
    assert record.metrics["accuracy"].n == 20 and "accuracy[predicate=left of]" in record.metrics  # per relation


def test_narratives_give_every_spoken_word_its_trace_box(tmp_path):
    from spatialprobe.scenes.sources.narratives import utterance_box

    root = narratives(tmp_path / "ln")
    reading = SOURCES.get("narratives").read(root)
    scenes = {s.id: s for s in reading.scenes}
    assert len(scenes) == 6 and {s.meta["dataset_split"] for s in scenes.values()} == {"train", "val"}
    first = scenes["ln-train-400"]
    assert [c.meta["annotator_id"] for c in first.captions] == [1, 2, 3]  # one scene for the image's narrations in both shards
    caption = first.captions[0]
    assert [caption.word_text(w) for w in caption.words] == ["In", "this", "picture", "a", "cat"] and caption.kind == "narrative"
    region = first.object(caption.words[4].object)
    assert region.category is None and region.meta["kind"] == "trace" and region.meta["utterance"] == 4
    points = np.array(sorted(((p["x"], p["y"], p["t"]) for seg in narration("400", 1, ["in", "this", "picture", "a", "cat"], (0, 0, 1, 1))["traces"] for p in seg),
                      key=lambda p: p[2]))
    assert utterance_box(points, 4.0, 5.0).shape == (16, 2) and utterance_box(points, 6.0, 7.0) is None
    w, h = first.frame
    x0, y0, x1, y1 = region.box.to("xyxy", "pixel").coords
    assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h and x0 <= region.meta["point"][0] <= x1
    assert reading.metadata["words"]["utterances outside the trace's time"] == 1 and reading.metadata["words"]["narrations"] == 8
    assert sorted(str(s) for s in reading.skipped) == [
        "coco_train_localized_narratives-00001-of-00002.jsonl:3: not valid JSON (Expecting property name enclosed in double quotes: line 1 column 2 (char 1))",
        "coco_train_localized_narratives-00001-of-00002.jsonl:4: the trace has no points",
        f"coco_train_localized_narratives-00001-of-00002.jsonl:5: image file {root / 'train2017/000000000499.jpg'} is missing",
    ]


def test_word_location_runs_on_converted_narratives(tmp_path):
    from spatialprobe.probing import run

    root = narratives(tmp_path / "ln", n=30)
    assert main(["data", "convert", "narratives", str(root), "-o", "val_fraction=0.2", "--out", str(tmp_path / "scenes")]) == 0
    assert main(["scenes", "validate", str(tmp_path / "scenes"), "--quiet"]) == 0
    (record,) = run({"model": "toy:tiny-qformer", "data": str(tmp_path / "scenes"), "store": str(tmp_path / "st"), "out": str(tmp_path / "run"),
                     "sites": ["connector.out"], "tasks": ["word_location"], "pools": ["mean"], "probes": ["ridge"], "controls": [], "bootstrap": 100,
                     "min_train": 10}, progress=False)
    assert record.metrics["point_l1"].n == 50 and record.metrics["point_l1"].clusters == 10  # val: 10 images × 5 located words


def test_visual_genome_regions_are_objects_with_their_phrases(tmp_path):
    root = visual_genome(tmp_path / "vg")
    reading = SOURCES.get("visual_genome").read(root)
    scenes = list(reading.scenes)
    assert [s.split for s in scenes] == ["probe_train"] * 4 + ["probe_val"] * 2 + ["test"] * 2
    first = scenes[0]
    assert first.image == "VG_100K_2/1.jpg" and scenes[1].image == "VG_100K/2.jpg"
    region, phrase = first.objects[1], first.expressions[1]
    assert region.category is None and region.meta == {"region_id": 101} and (phrase.text, phrase.referent, phrase.kind) == ("the thing 1", 2, "region")
    assert region.box.to("xywh", "pixel").coords[2:] == (int(first.width / 3), int(first.height / 3))
    assert sorted(str(s) for s in reading.skipped) == [
        "region_descriptions.json image 77: image file 77.jpg is in neither VG_100K nor VG_100K_2",
        "region_descriptions.json region 9998: empty phrase",
        f"region_descriptions.json region 9999: box [{first.width - 10}, 0, 50, 10] lies outside the {first.width}×{first.height} image",
    ]
    assert reading.metadata["counts"] == {"images": 8, "regions": 24, "images in no split": 0}
    one = list(SOURCES.get("visual_genome").read(root, split_file=None, image_data=None, val_fraction=0.5).scenes)
    assert {s.meta["dataset_split"] for s in one} == {"all"} and {s.split for s in one} == {"probe_train", "probe_val"}
    with pytest.raises(SourceError, match="splits.jsonx: missing .*split_file=null"):
        SOURCES.get("visual_genome").read(root, split_file="densecap_splits.json" + "x")


def test_referring_box_runs_on_converted_visual_genome(tmp_path):
    from spatialprobe.probing import run

    root = visual_genome(tmp_path / "vg", n=24)
    assert main(["data", "convert", "visual_genome", str(root), "--out", str(tmp_path / "scenes")]) == 0
    assert main(["scenes", "validate", str(tmp_path / "scenes"), "--quiet"]) == 0
    (record,) = run({"model": "toy:tiny-qformer", "data": str(tmp_path / "scenes"), "store": str(tmp_path / "st"), "out": str(tmp_path / "run"),
                     "sites": ["connector.out"], "tasks": ["referring_box"], "pools": ["mean"], "probes": ["ridge"], "controls": [], "bootstrap": 100,
                     "min_train": 10}, progress=False)
    assert record.metrics["ACC@0.5"].n == 18 and record.metrics["ACC@0.5"].clusters == 6


def test_a_source_address_reads_the_dataset_once_and_again_when_its_files_change(tmp_path, monkeypatch, capsys):
    from spatialprobe.probing import run
    from spatialprobe.registry import UnknownNameError

    monkeypatch.setenv("SPATIALPROBE_CACHE", str(tmp_path / "cache"))
    root = vsr(tmp_path / "vsr", n=30)
    address = f"vsr:{root}?instances=[\"{root / 'instances_train2017.json'}\"]"
    first = SceneDataset(address)
    assert first.root.parent == tmp_path / "cache" / "sources" and len(first.scenes()) == 30
    assert "1 rows skipped (`spatialprobe data check vsr" in capsys.readouterr().err
    stamp = (first.root / "scenes.jsonl").stat().st_mtime_ns
    assert SceneDataset(address).root == first.root and (first.root / "scenes.jsonl").stat().st_mtime_ns == stamp  # read once
    assert SceneDataset(f"vsr:{root}").root != first.root  # other options, another dataset
    lines = (root / "test.jsonl").read_text().splitlines()
    (root / "test.jsonl").write_text("\n".join(lines[:-2]) + "\n")  # an annotation file changes: read again
    assert len(SceneDataset(address).scenes("test")) == 9
    config = {"model": "toy:tiny-qformer", "data": address, "store": str(tmp_path / "st"), "out": str(tmp_path / "run"), "sites": ["connector.out"],
              "tasks": ["relation"], "pools": ["mean"], "probes": ["ridge"], "controls": [], "bootstrap": 100, "min_train": 10}
    (record,) = run(config, progress=False)
    assert record.metrics["accuracy"].n == 18
    (tmp_path / "probe.yaml").write_text(json.dumps({**config, "data": "elsewhere", "out": str(tmp_path / "cli")}))
    assert main(["probe", str(tmp_path / "probe.yaml"), "--data", address, "--quiet"]) == 0  # the address overrides config.data
    assert json.loads((tmp_path / "cli" / "config.json").read_text())["data"] == address
    with pytest.raises(UnknownNameError, match="'vrs' is not a real-dataset source; did you mean 'vsr'"):
        SceneDataset(f"vrs:{root}")
    with pytest.raises(SourceError, match="unknown option 'split'; did you mean 'splits'"):
        SceneDataset(f"vsr:{root}?split=train")


def test_coco_task_sets_of_2406_09067(tmp_path):
    root = paired_coco(tmp_path / "coco")
    reading = SOURCES.get("coco").read(root, task_set="paired-0")
    scenes = list(reading.scenes)
    assert len(scenes) == 48 + 16 - 2 and reading.metadata["counts"]["images with several primary or secondary categories"] == 2  # image 5 of each split
    roles = {o.meta["role"]: o for o in scenes[0].objects if "role" in o.meta}
    assert roles["primary"].category == "cat" and roles["secondary"].category == "bench"
    assert roles["secondary"].box.to("xywh", "pixel").coords == (50, 30, 20, 20)  # the larger of the two benches
    assert len(scenes[0].objects) == 4  # the other objects stay, unmarked
    reading = SOURCES.get("coco").read(root, task_set="global", first_images=10, splits=["train"])
    whole = list(reading.scenes)  # the first 10 images; the 3 whose only 20-way object would be a person are not in the set
    assert len(whole) == 7 and all(len(s.objects) == 1 and s.objects[0].category in ("sheep", "bear") for s in whole)
    assert reading.metadata["counts"]["images not in the task set"] == 3
    with pytest.raises(SourceError, match="task_set: expected one of global, paired-0"):
        SOURCES.get("coco").read(root, task_set="paired-9")


def test_object_identity_runs_on_the_paired_and_global_sets(tmp_path):
    from spatialprobe.probing import run

    root = paired_coco(tmp_path / "coco")
    base = {"model": "toy:tiny-qformer", "store": str(tmp_path / "st"), "sites": ["vision.out"], "pools": ["object_mean"], "probes": ["logistic"],
            "controls": [], "bootstrap": 100, "min_train": 8}
    assert main(["data", "convert", "coco", str(root), "-o", "task_set=paired-0", "-o", "val_fraction=0.2", "--out", str(tmp_path / "paired")]) == 0
    records = run({**base, "data": str(tmp_path / "paired"), "out": str(tmp_path / "r1"),
                   "tasks": [{"name": "object_identity", "pairing": "paired", "source": s, "target": t} for s, t in (("primary", "primary"), ("secondary", "secondary"))]},
                  progress=False)
    primary, secondary = records
    assert primary.metrics["accuracy"].n == 14 and secondary.metrics["accuracy"].n == 14  # 15 val pairs, balanced to equal cat / dog counts per secondary
    assert {"accuracy[mentioned=mentioned]", "accuracy[mentioned=not mentioned]"} <= set(primary.metrics)
    assert main(["data", "convert", "coco", str(root), "-o", "task_set=global", "--out", str(tmp_path / "global")]) == 0
    (whole,) = run({**base, "data": str(tmp_path / "global"), "out": str(tmp_path / "r2"), "tasks": ["object_identity"]}, progress=False)
    assert whole.metrics["accuracy"].n == 11  # val objects of the 20 categories (sheep, bear), the person dropped


def test_a_centre_crop_of_wide_images_leaves_out_objects_it_removes_and_marks_those_it_cuts(tmp_path):
    """CLIP resizes the short side and crops the centre: on a 128×32 image it sees x ∈ [48, 80] only."""
    from spatialprobe.geometry import Box
    from spatialprobe.probing import run
    from spatialprobe.scenes import DatasetWriter
    from spatialprobe.scenes.record import Expression, Mask, Scene, SceneObject
    from tiny_hf import save_clip

    clip = save_clip(tmp_path / "clip")
    splits = ["probe_train"] * 8 + ["probe_val"] * 4 + ["test"] * 4
    with DatasetWriter(tmp_path / "wide") as writer:
        for i, split in enumerate(splits):
            write_image(tmp_path / "images" / f"{i}.png", 128, 32, 900 + i)
            boxes = {"gone": (2, 4, 20, 28), "cut": (40 + i % 3, 4, 60, 28), "seen": (52, 4 + i % 2, 76, 28)}
            objects = tuple(SceneObject(k + 1, Box(b, "xyxy", "pixel", (128, 32)), name, mask=Mask("polygons", [[b[0], b[1], b[2], b[1], b[2], b[3], b[0], b[3]]]))
                            for k, (name, b) in enumerate(boxes.items()))
            expressions = tuple(Expression(f"e{k}", f"the {name} one", k + 1) for k, name in enumerate(boxes))
            writer.add(Scene(f"w{i}", f"{i}.png", 128, 32, split=split, source="fixture", objects=objects, expressions=expressions))
        writer.finish({"image_root": str(tmp_path / "images")})
    with warnings.catch_warnings(record=True) as caught:  # (pytest.warns would re-emit pycocotools' numpy-2 notices)
        warnings.simplefilter("always", UserWarning)
        (record,) = run({"model": f"hf:{clip}", "data": str(tmp_path / "wide"), "store": str(tmp_path / "st"), "out": str(tmp_path / "run"),
                         "sites": ["vision.out"], "tasks": ["referring_box"], "pools": ["mean"], "probes": ["ridge"], "controls": [], "bootstrap": 100,
                         "min_train": 8}, progress=False)
    assert [str(w.message) for w in caught if w.category is UserWarning] == [
        "referring_box: 16 items left out: their object lies outside the model's input frame (the preprocessing crops it away); "
        "`view` breaks the rest down into whole and cropped"]
    assert record.metrics["ACC@0.5"].n == 8 and record.metrics["ACC@0.5[view=cropped]"].n == 4 and record.metrics["ACC@0.5[view=whole]"].n == 4
    with warnings.catch_warnings(record=True) as caught:  # an object pool never reads a patch the object does not cover
        warnings.simplefilter("always", UserWarning)
        (record,) = run({"model": f"hf:{clip}", "data": str(tmp_path / "wide"), "store": str(tmp_path / "st"), "out": str(tmp_path / "run2"),
                         "sites": ["vision.out"], "tasks": ["object_identity"], "pools": ["object_mean"], "probes": ["logistic"], "controls": [],
                         "bootstrap": 100, "min_train": 8}, progress=False)
    assert record.metrics["accuracy"].n == 8 and any(str(w.message).startswith("object_identity: 16 items left out") for w in caught)


@pytest.mark.parametrize("source, build, line", [
    ("refcoco", refcoco, "probe_train: 28 scenes, 56 objects, 112 expressions, 0 relations, 0 captions"),
    ("vsr", vsr, "probe_train: 3 scenes, 0 objects, 0 expressions, 6 relations, 0 captions"),
    ("narratives", narratives, "test: 2 scenes, 10 objects, 0 expressions, 0 relations, 2 captions"),
    ("visual_genome", visual_genome, "test: 2 scenes, 6 objects, 6 expressions, 0 relations, 0 captions"),
])
def test_data_check_counts_every_source_per_split(source, build, line, tmp_path, capsys):
    root = build(tmp_path / source)
    assert main(["data", "check", source, str(root)]) == 0
    out = capsys.readouterr().out
    assert line in out and "rows skipped" in out
    assert main(["data", "check", source, str(root), "--strict"]) == 2  # every fixture has a bad row
