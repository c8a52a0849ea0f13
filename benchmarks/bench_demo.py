"""Wall time of `spatialprobe demo` at each scale, from empty caches, and what dominates it.

Targets: `--quick` ≤ 60 s, the default ≤ 600 s on the 2-core machine (a cached rerun ≤ 120 s);
`--full` is measured and reported. Each repeat starts from empty scene / lab / feature caches (the
set-up of a fresh machine, minus pip), so the lab is trained every time; `--cached` then runs the
same plan once more in a new run folder on the warm caches.

    python benchmarks/bench_demo.py --scales quick --repeats 3
    python benchmarks/bench_demo.py --scales quick default --cached --json bench_demo.json
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def one_run(tmp: str, scale: str, workers: int | None, threads: int | None) -> tuple[float, dict[str, float]]:
    env = {**os.environ, "SPATIALPROBE_CACHE": f"{tmp}/cache", "SPATIALPROBE_LAB": f"{tmp}/lab", "SPATIALPROBE_STORE": f"{tmp}/store"}
    cmd = [str(Path(sys.executable).parent / "spatialprobe"), "demo", "--runs", f"{tmp}/runs", "--quiet", "--fresh"]
    cmd += ["--scale", scale] if scale != "default" else []
    cmd += ["--workers", str(workers)] if workers else []
    cmd += ["--threads", str(threads)] if threads else []
    start = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
    total = time.perf_counter() - start
    run = max(Path(tmp, "runs").iterdir(), key=lambda p: p.stat().st_mtime)
    return total, json.loads((run / "timings.json").read_text())


@contextlib.contextmanager
def workdir(keep: Path | None, name: str):
    """A temporary folder, or ``keep/name`` (which must not exist yet) when the runs are to be kept."""
    if keep is None:
        with tempfile.TemporaryDirectory() as tmp:
            yield tmp
        return
    (keep / name).mkdir(parents=True)
    yield str(keep / name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scales", nargs="+", default=["quick"], help="quick, default, full")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--cached", action="store_true", help="also time a rerun on the warm caches")
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--json", type=Path, default=None, help="write the measurements here")
    parser.add_argument("--keep", type=Path, default=None, help="keep each run's caches and run folder under this (new) folder")
    args = parser.parse_args()
    out = {}
    for scale in args.scales:
        runs, cached = [], None
        for repeat in range(args.repeats):
            with workdir(args.keep, f"{scale}-{repeat}") as tmp:
                runs.append(one_run(tmp, scale, args.workers, args.threads))
                if args.cached and cached is None:
                    cached = one_run(tmp, scale, args.workers, args.threads)[0]
        totals = [t for t, _ in runs]
        steps = {k: v for k, v in runs[-1][1].items() if not k.startswith("total")}
        largest = dict(sorted(steps.items(), key=lambda kv: -kv[1])[:8])
        out[scale] = {"seconds": totals, "median_s": statistics.median(totals), "cached_rerun_s": cached, "largest_steps_s": largest}
        print(f"demo --scale {scale}: median {statistics.median(totals):.1f} s over {len(totals)} run(s) ({', '.join(f'{t:.1f}' for t in totals)})"
              + (f"; cached rerun {cached:.1f} s" if cached is not None else ""))
        for name, seconds in largest.items():
            print(f"  {seconds:7.1f} s  {name}")
    if args.json:
        args.json.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
