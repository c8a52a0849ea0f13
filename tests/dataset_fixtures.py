"""Dataset fixtures in the official schemas (COCO, RefCOCO's refer layout, VSR), written into a folder:
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
