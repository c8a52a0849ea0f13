"""`spatialprobe report DIR`: write a run folder's or a probe output's report from its records (no training)."""

from __future__ import annotations

from pathlib import Path


def add_parser(sub) -> None:
    parser = sub.add_parser("report", help="write the report (report.md / report.html) of a run folder or a probe output folder from its records")
    parser.add_argument("run_dir", type=Path, help="a `spatialprobe run` folder (plan.json) or a `spatialprobe probe` output (config.json + results/)")
    parser.set_defaults(run=_report)


def _report(args) -> int:
    from spatialprobe.experiments.document import write_report
    from spatialprobe.experiments.plan import Plan
    from spatialprobe.experiments.runner import scenes_for, step_timings

    import json

    from spatialprobe.cli.main import UserError
    from spatialprobe.report.probe_output import is_probe_output, write_probe_report

    if not (args.run_dir / "plan.json").exists():
        if not is_probe_output(args.run_dir):
            raise UserError(f"{args.run_dir}: neither a run folder (no plan.json) nor a probe output (no config.json and results/)")
        print(write_probe_report(args.run_dir))
        return 0
    plan = Plan.from_run(args.run_dir)
    saved = args.run_dir / "timings.json"  # written at the end of the run: includes scenes and lab
    timings = json.loads(saved.read_text()) if saved.exists() else step_timings(args.run_dir)
    print(write_report(args.run_dir, plan, scenes_for(plan, progress=False), timings))
    return 0
