"""Random 256-row minibatch reads from a 100k × 768 feature store, against the peers.

Target (issue 5): ≥ 1M rows/s warm. Peers, timed in the same run when installed (`pip install
-e ".[bench]"`): HDF5 via h5py (1024-row chunks) and Hugging Face `datasets` (`with_format("numpy")`),
plus an in-RAM numpy array as the ceiling. All hold float16; spatialprobe returns the stored float16 (or float32 on request), HDF5 float16,
`datasets` float32 (it stores what it is given; float16 is not faster there).

    python benchmarks/bench_store_read.py [--rows 100000] [--dim 768] [--batches 2000] [--repeats 5]
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
from spatialprobe.features.store import merge, write_shard

SHARD = 8192


def build_store(directory: Path, data: np.ndarray) -> FeatureStore:
    n = len(data)
    ids = [f"{i:07d}" for i in range(n)]
    shards = [ids[i : i + SHARD] for i in range(0, n, SHARD)]
    (directory / "shards").mkdir(parents=True)
    (directory / "key.json").write_text(json.dumps({"key": "bench", "components": {"sites": ["x"]}, "shards": shards}))
    (directory / "layouts.json").write_text(json.dumps({"x": {"roles": ["cls"]}}))
    empty = {"index": np.zeros((0, 2), np.int32), "coverage": np.zeros((0, 1), np.float16), "nearest": np.zeros((0, 1), np.uint8), "boxes": np.zeros((0, 4), np.float32)}
    for k, start in enumerate(range(0, n, SHARD)):
        write_shard(directory, k, shards[k], {"x": data[start : start + SHARD, None, :]}, empty)
    merge(directory)
    return FeatureStore(directory)


def rate(read, n_rows: int, batches: int, repeats: int, seed: int = 0) -> list[float]:
    rng = np.random.default_rng(seed)
    index = rng.integers(0, n_rows, size=(batches, 256))
    for row in index[: batches // 4]:  # warm-up
        read(row)
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        for row in index:
            read(row)
        out.append(batches * 256 / (time.perf_counter() - start))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=768)
    parser.add_argument("--batches", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    data = np.random.default_rng(0).standard_normal((args.rows, args.dim)).astype(np.float16)
    results: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        store = build_store(tmp / "store", data)
        results["spatialprobe store (mmap .npy shards)"] = rate(lambda r: store.take("x", r), args.rows, args.batches, args.repeats)
        results["spatialprobe store, as float32"] = rate(lambda r: store.take("x", r, dtype=np.float32), args.rows, args.batches, args.repeats)
        results["numpy array in RAM, float16 (ceiling)"] = rate(lambda r: data[r], args.rows, args.batches, args.repeats)
        try:
            import h5py

            with h5py.File(tmp / "x.h5", "w") as f:
                f.create_dataset("x", data=data, chunks=(1024, args.dim))
            h5 = h5py.File(tmp / "x.h5", "r")["x"]
            few = max(20, args.batches // 50)  # HDF5 is ~100x slower: fewer batches
            results["HDF5 / h5py, 1024-row chunks"] = rate(lambda r: h5[np.sort(np.unique(r))], args.rows, few, args.repeats)
        except ImportError:
            print("(h5py not installed: pip install -e '.[bench]')")
        try:
            import datasets

            datasets.disable_progress_bars()
            ds = datasets.Dataset.from_dict({"x": data.astype(np.float32)}).with_format("numpy")
            ds.save_to_disk(str(tmp / "hf"))
            ds = datasets.load_from_disk(str(tmp / "hf")).with_format("numpy")
            few = max(50, args.batches // 10)
            results["Hugging Face datasets (numpy format)"] = rate(lambda r: ds[r]["x"], args.rows, few, args.repeats)
        except ImportError:
            print("(datasets not installed: pip install -e '.[bench]')")
    ours = statistics.median(results["spatialprobe store (mmap .npy shards)"])
    print(f"random 256-row minibatches from {args.rows:,} × {args.dim} float16, median of {args.repeats} (rows/s):")
    for name, runs in results.items():
        med = statistics.median(runs)
        print(f"  {name:40s} {med:>12,.0f}   spatialprobe / this = {ours / med:8.2f}x")
    print(f"  target 1,000,000 rows/s: {'met' if ours >= 1e6 else 'NOT met'} ({ours / 1e6:.2f}x)")


if __name__ == "__main__":
    main()
