"""Reads from a ragged site (scenes with different row counts: tiled and dynamic-resolution models)
next to the fixed-size path, on the same number of token rows.

Target (issue 20): the ragged path within 2× of the fixed one. The fixed store holds every scene
at the mean row count; the ragged one draws each scene's count uniformly in [mean/2, 3·mean/2],
so both hold the same rows on disk. Timed: random batches of scenes read warm (`take` vs
`take_ragged`), in token rows per second, median of repeats.

    python benchmarks/bench_store_ragged.py [--scenes 8000] [--rows 32] [--dim 384] [--batch 256] [--batches 200] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from spatialprobe.features.reader import FeatureStore
from spatialprobe.features.store import Ragged, merge, write_shard

SHARD = 1024
EMPTY = {"index": np.zeros((0, 2), np.int32), "coverage": np.zeros((0, 1), np.float16), "nearest": np.zeros((0, 1), np.uint8),
         "boxes": np.zeros((0, 4), np.float32)}


def store(directory: Path, site: str, shards: list, chunks) -> FeatureStore:
    (directory / "shards").mkdir(parents=True)
    (directory / "key.json").write_text(json.dumps({"key": "bench", "components": {"sites": [site]}, "shards": shards}))
    (directory / "layouts.json").write_text(json.dumps({site: {"roles": []}}))
    for k, chunk in enumerate(chunks):
        write_shard(directory, k, shards[k], {site: chunk}, EMPTY)
    merge(directory)
    return FeatureStore(directory)


def timed(read, scenes: int, batch: int, batches: int, seed: int) -> float:
    """Token rows per second over ``batches`` random batches (after one warm-up pass)."""
    rng = np.random.default_rng(seed)
    picks = [rng.integers(0, scenes, size=batch) for _ in range(batches)]
    for rows in picks:
        read(rows)
    start, total = time.perf_counter(), 0
    for rows in picks:
        total += read(rows)
    return total / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for name, default in (("scenes", 8000), ("rows", 32), ("dim", 384), ("batch", 256), ("batches", 200), ("repeats", 5)):
        parser.add_argument(f"--{name}", type=int, default=default)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    counts = rng.integers(args.rows // 2, args.rows * 3 // 2 + 1, size=args.scenes)
    ids = [f"{i:07d}" for i in range(args.scenes)]
    shards = [ids[i : i + SHARD] for i in range(0, args.scenes, SHARD)]
    with tempfile.TemporaryDirectory() as tmp:
        fixed = store(Path(tmp) / "fixed", "x", shards, (rng.normal(size=(len(s), args.rows, args.dim)).astype(np.float16) for s in shards))
        ragged = store(Path(tmp) / "ragged", "x", shards, (Ragged.of([rng.normal(size=(int(n), args.dim)).astype(np.float16) for n in counts[i : i + SHARD]])
                                                            for i in range(0, args.scenes, SHARD)))
        results = {"fixed": [], "ragged": []}
        for r in range(args.repeats):
            results["fixed"].append(timed(lambda rows: fixed.take("x", rows).shape[0] * args.rows, args.scenes, args.batch, args.batches, r))
            results["ragged"].append(timed(lambda rows: len(ragged.take_ragged("x", rows).values), args.scenes, args.batch, args.batches, r))
    fixed_rate, ragged_rate = statistics.median(results["fixed"]), statistics.median(results["ragged"])
    print(f"{args.scenes} scenes × {args.rows} rows (ragged: {args.rows // 2}–{args.rows * 3 // 2}) × {args.dim}, batches of {args.batch} scenes, "
          f"median of {args.repeats}")
    print(f"fixed  take()        {fixed_rate / 1e6:8.2f} M rows/s")
    print(f"ragged take_ragged() {ragged_rate / 1e6:8.2f} M rows/s")
    print(f"fixed / ragged = {fixed_rate / ragged_rate:.2f}× (target ≤ 2×)")


if __name__ == "__main__":
    main()
