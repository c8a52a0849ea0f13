"""The joint protocol reading `connector.in` from the store vs re-running the frozen encoder each step.

Issue 8: the joint protocol trains the connector with the probe; since the encoder is frozen, its
tokens can come from the feature store. This times the same training steps (toy `small-qformer`,
attention-pool probe head, batches of 32 scenes) both ways and prints the ratio.

    python benchmarks/bench_joint.py [--scenes 1024] [--repeats 3] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from spatialprobe.models import toy
from spatialprobe.probing.probes.attention_pool import AttentionPool


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenes", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = toy.build(toy.PRESETS["small-qformer"]).eval()
    model.vision.requires_grad_(False)
    pixels = torch.randn(args.scenes, 3, 64, 64)
    with torch.inference_mode():
        cached = torch.cat([model.vision(pixels[i : i + 256]) for i in range(0, args.scenes, 256)])
    probe = AttentionPool("classification")
    probe.shape_ = {"tokens": 16, "dim": 128, "text_dim": 0, "n_out": 16}
    head = probe.network(probe.shape_)
    y = torch.randint(0, 16, (args.scenes,))
    opt = torch.optim.AdamW(list(model.connector.parameters()) + list(head.parameters()), lr=1e-3)

    def epoch(from_store: bool):
        order = np.random.default_rng(0).permutation(args.scenes)
        for start in range(0, args.scenes, 32):
            idx = order[start : start + 32]
            if from_store:
                tokens = cached[idx]
            else:
                with torch.no_grad():
                    tokens = model.vision(pixels[idx])
            loss = torch.nn.functional.cross_entropy(head(model.connector(tokens)), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()

    times = {}
    for from_store in (True, False):
        epoch(from_store)
        runs = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            epoch(from_store)
            runs.append(time.perf_counter() - start)
        times[from_store] = statistics.median(runs)
    print(f"one joint epoch over {args.scenes} scenes (toy small-qformer + attention-pool head), {args.threads} threads, median of {args.repeats}:")
    print(f"  connector.in from the store : {times[True]:6.2f} s")
    print(f"  re-running the encoder      : {times[False]:6.2f} s")
    print(f"  ratio                        : {times[False] / times[True]:.2f}x faster from the store")


if __name__ == "__main__":
    main()
