"""Wall time of `spatialprobe demo` at a scale, from empty caches, and what dominates it.

Targets (issue 10): `--quick` ≤ 60 s, the default ≤ 10 min on the 2-core machine; `--full` is
measured and reported. Each repeat starts from empty scene / lab / feature caches (the set-up of
a fresh machine, minus pip), so the lab is trained every time.

    python benchmarks/bench_demo.py --scale quick --repeats 3
    python benchmarks/bench_demo.py --scale default
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


def one_run(scale: str, threads: int) -> tuple[float, dict[str, float]]:
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "SPATIALPROBE_CACHE": f"{tmp}/cache", "SPATIALPROBE_LAB": f"{tmp}/lab", "SPATIALPROBE_STORE": f"{tmp}/store"}
        cmd = [str(Path(sys.executable).parent / "spatialprobe"), "demo", "--runs", f"{tmp}/runs", "--quiet", "--threads", str(threads)]
        if scale != "default":
            cmd += ["--scale", scale]
        start = time.perf_counter()
        subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
        total = time.perf_counter() - start
        (run,) = Path(tmp, "runs").iterdir()
        report = (run / "report.md").read_text().split("## Run time")[1]
        steps = {}
        for line in report.splitlines()[4:]:
            if line.startswith("| "):
                name, seconds = line.strip("| ").split(" | ")
                steps[name] = float(seconds)
        return total, steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", default="quick")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    runs = [one_run(args.scale, args.threads) for _ in range(args.repeats)]
    totals = [t for t, _ in runs]
    print(f"demo --scale {args.scale}: median {statistics.median(totals):.1f} s over {len(totals)} run(s) ({', '.join(f'{t:.1f}' for t in totals)})")
    steps = runs[-1][1]
    for name, seconds in sorted(steps.items(), key=lambda kv: -kv[1])[:8]:
        print(f"  {seconds:7.1f} s  {name}")


if __name__ == "__main__":
    main()
