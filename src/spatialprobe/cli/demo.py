"""`spatialprobe demo`: the main job. For now it makes the synthetic scenes every study starts from."""

from __future__ import annotations

import time
from pathlib import Path


def add_parser(sub) -> None:
    parser = sub.add_parser("demo", help="run the demo (currently: synthesise the demo scenes)")
    parser.add_argument("--runs", type=Path, default=Path("runs"), help="parent directory of run folders")
    parser.add_argument("--n", type=int, default=4000, help="number of scenes")
    parser.add_argument("--seed", type=int, default=0)
    parser.set_defaults(run=_demo)


def _demo(args) -> int:
    from spatialprobe.scenes import SceneDataset
    from spatialprobe.scenes.sources.synthetic import SyntheticConfig, build

    run_dir = args.runs / f"demo-{time.strftime('%Y%m%d-%H%M%S')}"
    start = time.perf_counter()
    out = build(SyntheticConfig(n=args.n, seed=args.seed), run_dir / "scenes")
    meta = SceneDataset(out).metadata
    print(f"demo scenes: {meta['scenes']} scenes, splits {meta['splits']}, in {time.perf_counter() - start:.1f} s")
    print(f"relation labels per predicate: {meta['relation_balance']['per_predicate']}")
    print(f"contact sheet: {out / 'contact_sheet.png'}")
    print(f"run folder: {run_dir}")
    return 0
