"""Throughput of the whole `spatialprobe scenes synth` command (start-up included).

Target (issue 3): ≥ 1,000 scenes/s at 64 px on the 2-core machine. The peer is the same generator
run in one process (`--workers 1`), i.e. what a plain loop over scenes gives. Prints medians of
repeated runs and the ratios.

    python benchmarks/bench_synth.py [--n 5000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET = 1000.0
SETTLE_S = 6.0


def run(n: int, workers: int, out: Path) -> float:
    """One timed command into a fresh directory, after letting the file system settle (untimed).

    On this VM, creating files right after many were written or deleted is up to 20x slower for a
    few seconds (journal commits); that is the previous run's cost, not this one's.
    """
    os.sync()
    time.sleep(SETTLE_S)
    cmd = [sys.executable, "-m", "spatialprobe.cli.main", "scenes", "synth", "--n", str(n), "--out", str(out)]
    start = time.perf_counter()
    subprocess.run(cmd + ["--workers", str(workers), "--quiet"], check=True, capture_output=True)
    return n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        results = {w: [] for w in (2, 1)}
        for i in range(args.repeats):
            for workers in results:
                results[workers].append(run(args.n, workers, Path(tmp) / f"scenes-{i}-{workers}"))
    two, one = statistics.median(results[2]), statistics.median(results[1])
    print(f"scenes synth --n {args.n} (64 px, start-up included), median of {args.repeats}:")
    print(f"  spatialprobe, 2 workers : {two:8,.0f} scenes/s  (runs: {', '.join(f'{r:,.0f}' for r in results[2])})")
    print(f"  one process (peer loop) : {one:8,.0f} scenes/s  (runs: {', '.join(f'{r:,.0f}' for r in results[1])})")
    print(f"  ratio 2 workers / 1     : {two / one:.2f}x")
    print(f"  vs target {TARGET:,.0f} scenes/s : {two / TARGET:.2f}x {'(met)' if two >= TARGET else '(NOT met)'}")


if __name__ == "__main__":
    main()
