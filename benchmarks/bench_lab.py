"""Time to train the default lab from an empty cache, stage by stage.

Target (issue 7): the three pretrained encoders, the LM and four connectors on one encoder in
≤ 6 minutes on the 2-core machine. Data: 4,000 synthetic scenes (the lab split is half).

    python benchmarks/bench_lab.py [--n 4000] [--repeats 1] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from spatialprobe.lab.build import train_lab
from spatialprobe.lab.config import LabConfig
from spatialprobe.scenes.sources.synthetic import SyntheticConfig, build


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=4000)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    totals, stages = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        data = build(SyntheticConfig(n=args.n, seed=0), Path(tmp) / "scenes", progress=False)
        for r in range(args.repeats):
            cfg = LabConfig(
                data=str(data), cache=str(Path(tmp) / f"cache{r}"), encoders=["contrastive", "labels", "masked"],
                connectors=[{"type": t, "encoder": "contrastive"} for t in ("linear", "mlp", "qformer", "perceiver")],
            )
            start = time.perf_counter()
            models = train_lab(cfg, progress=False)
            totals.append(time.perf_counter() - start)
            for k, v in models.seconds.items():
                stages.setdefault(k, []).append(v)
    print(f"default lab from an empty cache, {args.n} scenes, {args.threads} threads, median of {args.repeats}:")
    for k, v in sorted(stages.items(), key=lambda kv: -statistics.median(kv[1])):
        print(f"  {k:24s} {statistics.median(v):6.1f} s")
    total = statistics.median(totals)
    print(f"  {'total':24s} {total:6.1f} s   target ≤ 360 s: {'met' if total <= 360 else 'NOT met'}")


if __name__ == "__main__":
    main()
