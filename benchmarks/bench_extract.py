"""Extraction cost against a bare forward pass, and a shallow site against the full model.

Target (issue 5): extraction overhead vs a bare forward pass ≤ 10 % on a small (not tiny) model;
a shallow site costs proportionally less than the full forward. Model: the toy `small-qformer`
(ViT 4×128 on 64 px → 16-query Q-Former → 2-layer LM). Peers in the same run:

- bare forward: the model on already-decoded pixel batches, nothing kept (a floor, not a tool);
- naive loop: decode + preprocess + forward + keep every token of the site + np.save at the end —
  what a researcher writes by hand;
- spatialprobe `extract` of the same site (decode on a thread, float16 shards, sha256, object
  coverage tables).

    python benchmarks/bench_extract.py [--n 2000] [--repeats 3] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from spatialprobe.features.extraction import extract
from spatialprobe.models import load_model
from spatialprobe.scenes import SceneDataset
from spatialprobe.scenes.sources.synthetic import SyntheticConfig, build

BATCH = 64


def timed(fn, repeats: int) -> list[float]:
    fn()  # warm-up
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    adapter = load_model("toy:small-qformer")
    model = adapter.model
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data = SceneDataset(build(SyntheticConfig(n=args.n, seed=0), tmp / "scenes", progress=False))
        scenes = data.scenes()
        batches = [scenes[i : i + BATCH] for i in range(0, len(scenes), BATCH)]
        pixels = [adapter.preprocess([data.image(s) for s in b]) for b in batches]

        def bare(depth: str):
            def run():
                with torch.inference_mode():
                    for px in pixels:
                        model.vision(px) if depth == "vision" else model(px)

            return run

        def naive(depth: str):
            def run():
                kept = []
                with torch.inference_mode():
                    for b in batches:
                        px = adapter.preprocess([data.image(s) for s in b])
                        out = model.vision(px) if depth == "vision" else model.lm.norm.register_forward_hook(lambda m, a, o: kept.append(o.numpy().copy()))
                        if depth == "vision":
                            kept.append(out.numpy().astype(np.float16))
                        else:
                            model(px)
                            out.remove()
                np.save(tmp / "naive.npy", np.concatenate(kept))

            return run

        counter = iter(range(10**6))

        def ours(site: str):
            return lambda: extract(adapter, data, [site], root=tmp / f"store{next(counter)}", batch_size=BATCH, progress=False)

        rows = {
            "bare forward, vision (to vision.out)": timed(bare("vision"), args.repeats),
            "bare forward, whole model (to lm.out)": timed(bare("full"), args.repeats),
            "naive loop, vision.out": timed(naive("vision"), args.repeats),
            "naive loop, lm.out": timed(naive("full"), args.repeats),
            "spatialprobe extract vision.layer.0": timed(ours("vision.layer.0"), args.repeats),
            "spatialprobe extract vision.out": timed(ours("vision.out"), args.repeats),
            "spatialprobe extract lm.out": timed(ours("lm.out"), args.repeats),
        }
    med = {k: statistics.median(v) for k, v in rows.items()}
    print(f"{args.n} scenes, toy small-qformer, batch {BATCH}, {args.threads} threads, median of {args.repeats} (s):")
    for name, value in med.items():
        print(f"  {name:42s} {value:7.2f} s  ({args.n / value:7,.0f} scenes/s)")
    print("ratios:")
    print(f"  extract vision.out / bare vision forward : {med['spatialprobe extract vision.out'] / med['bare forward, vision (to vision.out)']:.2f}x")
    print(f"  extract lm.out / bare whole-model forward : {med['spatialprobe extract lm.out'] / med['bare forward, whole model (to lm.out)']:.2f}x")
    print(f"  extract vision.out / naive loop           : {med['spatialprobe extract vision.out'] / med['naive loop, vision.out']:.2f}x")
    print(f"  extract lm.out / naive loop               : {med['spatialprobe extract lm.out'] / med['naive loop, lm.out']:.2f}x")
    print(f"  shallow vision.layer.0 / vision.out       : {med['spatialprobe extract vision.layer.0'] / med['spatialprobe extract vision.out']:.2f}x")


if __name__ == "__main__":
    main()
