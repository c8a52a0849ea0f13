"""Dataset fixtures in the official schemas (COCO, RefCOCO's refer layout, VSR, Localized Narratives, Visual Genome), written into a folder:
no dataset can be downloaded here, so the sources and the shipped plans are tested on these."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
from PIL import Image

CATEGORIES = [{"id": 17, "name": "cat", "supercategory": "animal"}, {"id": 18, "name": "dog", "supercategory": "animal"},
              {"id": 67, "name": "dining table", "supercategory": "furniture"}]


def coco_instances(images: list[dict], annotations: list[dict]) -> dict:
    """COCO's instances_*.json: info, licenses, images, annotations (bbox xywh in pixels), categories."""
    return {"info": {"description": "fixture"}, "licenses": [], "images": images, "annotations": annotations, "categories": CATEGORIES}


def write_image(path: Path, width: int, height: int, seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.random.default_rng(seed).integers(0, 255, (height, width, 3), dtype=np.uint8)).save(path, quality=90)


def coco_image(i: int, width: int = 80, height: int = 60) -> dict:
    return {"id": 100 + i, "width": width, "height": height, "file_name": f"{100 + i:012d}.jpg", "license": 1, "coco_url": "", "date_captured": ""}


def annotation(ann_id: int, image_id: int, category: int, bbox, crowd: int = 0) -> dict:
    x, y, w, h = bbox
    seg = {"size": [60, 80], "counts": "0"} if crowd else [[x, y, x + w, y, x + w, y + h, x, y + h]]
    return {"id": ann_id, "image_id": image_id, "category_id": category, "bbox": list(bbox), "area": w * h, "iscrowd": crowd, "segmentation": seg}


def refcoco(root: Path, n_images: int = 40) -> Path:
    """The refer layout: refcoco/refs(unc).p (a pickled list of dicts) beside refcoco/instances.json; COCO train2014 images."""
    rng = np.random.default_rng(0)
    images, anns, refs = [], [], []
    for i in range(n_images):
        w, h = int(rng.integers(60, 100)), int(rng.integers(50, 90))
        image = {"id": 1000 + i, "width": w, "height": h, "file_name": f"COCO_train2014_{1000 + i:012d}.jpg"}
        images.append(image)
        write_image(root / "images/mscoco/images/train2014" / image["file_name"], w, h, i)
        split = "train" if i < 28 else "val" if i < 33 else "testA" if i < 37 else "testB"
        for k, side in enumerate(("left", "right")):
            x = 2 + k * w / 2
            ann = {"id": 50000 + 2 * i + k, "image_id": image["id"], "category_id": 17 + k, "bbox": [x, 5.0, w / 2 - 4, h - 10.0], "area": 1.0, "iscrowd": 0,
                   "segmentation": [[x, 5, x + 10, 5, x + 10, 15]]}
            anns.append(ann)
            sentences = [{"tokens": ["the", side, "one"], "raw": f"The {side} one", "sent_id": 10 * i + 2 * k + j, "sent": f"the {side} one"} for j in range(2)]
            refs.append({"image_id": image["id"], "split": split, "sentences": sentences, "file_name": image["file_name"][:-4] + f"_{k}.jpg",
                         "category_id": ann["category_id"], "ann_id": ann["id"], "sent_ids": [s["sent_id"] for s in sentences], "ref_id": 2 * i + k})
    refs.append({**refs[0], "ref_id": 999, "ann_id": 1})  # an annotation instances.json does not have
    folder = root / "refcoco"
    folder.mkdir(parents=True)
    (folder / "refs(unc).p").write_bytes(pickle.dumps(refs, protocol=2))
    (folder / "instances.json").write_text(json.dumps(coco_instances(images, anns)))
    return root


def vsr(root: Path, n: int = 6) -> Path:
    """VSR's random split: {train,dev,test}.jsonl, one statement per line; COCO 2017 images; COCO instances to join boxes."""
    lines = {"train": [], "dev": [], "test": []}
    images, anns = [], []
    for i in range(n):
        name = f"{300 + i:012d}.jpg"
        write_image(root / "images" / name, 80, 60, 300 + i)
        images.append({"id": 300 + i, "width": 80, "height": 60, "file_name": name})
        anns += [annotation(700 + 3 * i, 300 + i, 17, (2, 2, 20, 20)), annotation(701 + 3 * i, 300 + i, 18, (40, 10, 30, 30))]
        if i == 5:
            anns.append(annotation(702 + 3 * i, 300 + i, 18, (5, 30, 10, 10)))  # a second dog: ambiguous
        split = "train" if i < n // 2 else "dev" if i < 2 * n // 3 else "test"
        for label, relation in ((1, "left of"), (0, "right of")):
            lines[split].append({"image": name, "image_link": f"http://images.cocodataset.org/train2017/{name}", "caption": f"The cat is {relation} the dog.",
                                 "relation": relation, "subj": "cat", "obj": "dog", "label": label, "annotator_id": 1, "vote_true_validator_id": [2], "vote_false_validator_id": []})
    for split, rows in lines.items():
        (root / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows) + ("{broken\n" if split == "dev" else ""))
    (root / "instances_train2017.json").write_text(json.dumps(coco_instances(images, anns)))
    return root


PAIRED_CATEGORIES = [{"id": i, "name": n, "supercategory": ""} for i, n in ((17, "cat"), (18, "dog"), (15, "bench"), (65, "bed"), (63, "couch"), (62, "chair"),
                                                                            (20, "sheep"), (23, "bear"), (1, "person"))]


def paired_coco(root: Path, n: int = 48) -> Path:
    """COCO instances and captions whose images hold one of cat / dog and one of bench / bed / couch / chair (2406.09067's task 0)."""
    (root / "annotations").mkdir(parents=True)
    for split, count in (("train", n), ("val", n // 3)):
        images, anns, caps = [], [], []
        for i in range(count):
            image = coco_image(i + (0 if split == "train" else 500))
            images.append(image)
            write_image(root / f"{split}2017" / image["file_name"], 80, 60, image["id"])
            primary, secondary = (17, 18)[i % 2], (15, 65, 63, 62)[(i // 2) % 4]
            anns += [annotation(10 * image["id"] + 1, image["id"], primary, (2, 2, 40, 40)), annotation(10 * image["id"] + 2, image["id"], secondary, (50, 30, 20, 20)),
                     annotation(10 * image["id"] + 3, image["id"], secondary, (50, 5, 8, 8)), annotation(10 * image["id"] + 4, image["id"], (20, 23, 1)[i % 3], (20, 45, 10, 10))]
            if i == 5:
                anns.append(annotation(10 * image["id"] + 5, image["id"], 18 if primary == 17 else 17, (60, 40, 15, 15)))  # both primaries: not in the set
            caps.append({"id": 7000 + image["id"], "image_id": image["id"], "caption": "A cat." if i % 4 < 2 else "A room."})
        instances = {**coco_instances(images, anns), "categories": PAIRED_CATEGORIES}
        (root / "annotations" / f"instances_{split}2017.json").write_text(json.dumps(instances))
        (root / "annotations" / f"captions_{split}2017.json").write_text(json.dumps({"images": images, "annotations": caps}))
    return root


def narration(image_id: str, annotator: int, words: list[str], box: tuple[float, float, float, float]) -> dict:
    """One Localized Narratives line: each word spoken for 1 s while the mouse sweeps ``box`` (unit xyxy) left to right."""
    x0, y0, x1, y1 = box
    timed = [{"utterance": w, "start_time": float(i), "end_time": float(i) + 1.0} for i, w in enumerate(words)]
    trace = [{"x": x0 + (x1 - x0) * k / 20, "y": y0 + (y1 - y0) * (k % 2), "t": len(words) * k / 20} for k in range(21)]
    return {"dataset_id": "mscoco_train2017", "image_id": image_id, "annotator_id": annotator, "caption": " ".join(words).capitalize() + ".",
            "timed_caption": timed, "traces": [trace[:10], trace[10:]], "voice_recording": f"coco_train/coco_train_{image_id}_{annotator}.ogg"}


def narratives(root: Path, n: int = 6) -> Path:
    """COCO's Localized Narratives: coco_train_…-0000{0,1}-of-00002.jsonl (train sharded) and coco_val_….jsonl; COCO 2017 images."""
    rng = np.random.default_rng(1)
    lines = {"coco_train_localized_narratives-00000-of-00002.jsonl": [], "coco_train_localized_narratives-00001-of-00002.jsonl": [],
             "coco_val_localized_narratives.jsonl": []}
    names = list(lines)
    for i in range(n):
        split = "train" if i < 2 * n // 3 else "val"
        image_id = str(400 + i)
        write_image(root / f"{split}2017" / f"{400 + i:012d}.jpg", int(rng.integers(60, 90)), int(rng.integers(50, 80)), 400 + i)
        a, b = sorted(rng.uniform(0.05, 0.95, 2)), sorted(rng.uniform(0.05, 0.95, 2))
        row = narration(image_id, 1, ["in", "this", "picture", "a", "cat"], (a[0], b[0], a[1], b[1]))
        lines[names[0] if split == "train" else names[2]].append(json.dumps(row))
        if i == 0:  # a second narration of the same image, in the other shard
            lines[names[1]].append(json.dumps(narration(image_id, 2, ["a", "cat", "sits"], (0.1, 0.1, 0.5, 0.6))))
    late = narration("400", 3, ["a", "dog"], (0.1, 0.1, 0.4, 0.4))
    late["timed_caption"].append({"utterance": "there", "start_time": 50.0, "end_time": 51.0})  # after the trace ended
    late["caption"] = "A dog there."
    lines[names[1]] += [json.dumps(late), "{not json", json.dumps({**late, "traces": [[]]}),
                        json.dumps(narration("499", 1, ["lost"], (0.1, 0.1, 0.2, 0.2)))]  # no points; an image with no file
    for name, rows in lines.items():
        (root / name).write_text("".join(r + "\n" for r in rows))
    return root


def visual_genome(root: Path, n: int = 8) -> Path:
    """Visual Genome 1.2: region_descriptions.json, image_data.json, images in VG_100K / VG_100K_2; DenseCap's densecap_splits.json."""
    rng = np.random.default_rng(2)
    entries, data = [], []
    for i in range(n):
        image_id, w, h = 1 + i, int(rng.integers(60, 100)), int(rng.integers(50, 90))
        folder = "VG_100K" if i % 2 else "VG_100K_2"
        write_image(root / folder / f"{image_id}.jpg", w, h, 500 + i)
        data.append({"width": w, "height": h, "url": f"https://cs.stanford.edu/people/rak248/{folder}/{image_id}.jpg", "image_id": image_id,
                     "coco_id": None, "flickr_id": None})
        regions = [{"region_id": 100 * image_id + k, "width": int(w / 3), "height": int(h / 3), "image_id": image_id, "phrase": f"the thing {k}",
                    "y": int(k * h / 4), "x": int(k * w / 4)} for k in range(3)]
        entries.append({"regions": regions, "id": image_id})
    entries[0]["regions"].append({"region_id": 9999, "width": 50, "height": 10, "image_id": 1, "phrase": "off the edge", "y": 0, "x": data[0]["width"] - 10})
    entries[1]["regions"].append({"region_id": 9998, "width": 5, "height": 5, "image_id": 2, "phrase": " ", "y": 0, "x": 0})
    entries.append({"regions": [], "id": 77})  # no image file
    (root / "region_descriptions.json").write_text(json.dumps(entries))
    (root / "image_data.json").write_text(json.dumps(data))
    ids = list(range(1, n + 1))
    (root / "densecap_splits.json").write_text(json.dumps({"train": ids[: n // 2] + [77], "val": ids[n // 2 : 3 * n // 4], "test": ids[3 * n // 4 :]}))
    return root
