"""`spatialprobe report RUN_DIR`: write a run folder's report again from its records (no training)."""

from __future__ import annotations

from pathlib import Path


def add_parser(sub) -> None:
    parser = sub.add_parser("report", help="re-render a run folder's report (report.md / report.html) from its records")
    parser.add_argument("run_dir", type=Path)
    parser.set_defaults(run=_report)


def _report(args) -> int:
    from spatialprobe.experiments.document import write_report
    from spatialprobe.experiments.plan import Plan
    from spatialprobe.experiments.runner import scenes_for, step_timings

    import json

    plan = Plan.from_run(args.run_dir)
    saved = args.run_dir / "timings.json"  # written at the end of the run: includes scenes and lab
    timings = json.loads(saved.read_text()) if saved.exists() else step_timings(args.run_dir)
    print(write_report(args.run_dir, plan, scenes_for(plan, progress=False), timings))
    return 0
