"""Real-dataset sources: COCO annotation parsing in scenes/s (pixels never decoded) and peak memory,
against pycocotools' own index (`COCO(...)` + `loadAnns` per image), each in a fresh process.

Target: ≥ 5,000 scenes/s, and memory that does not grow with the scenes iterated (the scenes are
streamed; what stays is the parsed JSON, as in pycocotools).

    python benchmarks/bench_sources.py                # 20k images, 100k annotations
    python benchmarks/bench_sources.py --images 2000  # quicker
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

OURS = """
import resource, sys, time
from spatialprobe.registry import SOURCES
start = time.perf_counter()
n = objects = 0
for scene in SOURCES.get("coco").read(sys.argv[1], splits=["val"], captions=False).scenes:
    n += 1
    objects += len(scene.objects)
print(n, objects, time.perf_counter() - start, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""
PEER = """
import contextlib, io, resource, sys, time
from pycocotools.coco import COCO
start = time.perf_counter()
with contextlib.redirect_stdout(io.StringIO()):
    coco = COCO(sys.argv[1] + "/annotations/instances_val2017.json")
n = objects = 0
for image_id in coco.getImgIds():
    objects += len(coco.loadAnns(coco.getAnnIds(imgIds=image_id)))
    n += 1
print(n, objects, time.perf_counter() - start, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def fixture(root: Path, n_images: int, per_image: int) -> None:
    """COCO's schema at scale: instances_val2017.json and an (empty) file per image — only its existence is checked."""
    rng = np.random.default_rng(0)
    (root / "annotations").mkdir(parents=True)
    (root / "val2017").mkdir()
    images, anns = [], []
    for i in range(n_images):
        images.append({"id": i, "width": 640, "height": 480, "file_name": f"{i:012d}.jpg", "license": 1, "coco_url": "", "date_captured": ""})
        (root / "val2017" / images[-1]["file_name"]).touch()
        for _ in range(per_image):
            x, y = rng.uniform(0, 500), rng.uniform(0, 380)
            w, h = rng.uniform(5, 640 - x), rng.uniform(5, 480 - y)
            anns.append({"id": len(anns) + 1, "image_id": i, "category_id": int(rng.integers(1, 11)), "bbox": [x, y, w, h], "area": w * h, "iscrowd": 0,
                         "segmentation": [[x, y, x + w, y, x + w, y + h, x, y + h]]})
    categories = [{"id": k, "name": f"thing{k}", "supercategory": "x"} for k in range(1, 11)]
    (root / "annotations" / "instances_val2017.json").write_text(json.dumps({"images": images, "annotations": anns, "categories": categories}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=20_000)
    parser.add_argument("--per-image", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        fixture(Path(tmp), args.images, args.per_image)
        results = {}
        for name, code in (("spatialprobe coco source", OURS), ("pycocotools COCO index", PEER)):
            runs = [subprocess.run([sys.executable, "-c", code, tmp], check=True, capture_output=True, text=True).stdout.split() for _ in range(args.repeats)]
            seconds = sorted(float(r[2]) for r in runs)[len(runs) // 2]
            results[name] = seconds
            print(f"{name:26s} {int(runs[0][0]):,} scenes, {int(runs[0][1]):,} objects: median {seconds:.2f} s = {int(runs[0][0]) / seconds:,.0f} scenes/s, "
                  f"peak RSS {max(int(r[3]) for r in runs) / 1024:.0f} MiB")
        ours, peer = results.values()
        print(f"ratio (pycocotools / spatialprobe time): {peer / ours:.2f}× — spatialprobe also builds Scene records, checks every box and every image file")


if __name__ == "__main__":
    main()
