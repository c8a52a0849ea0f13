"""`spatialprobe demo`: `spatialprobe run` on the shipped plan — the four studies and the fix, with a report."""

from __future__ import annotations

from pathlib import Path

from spatialprobe.cli.run import add_scale_arguments, run

DEMO = Path(__file__).resolve().parents[1] / "experiments" / "demo.yaml"


def add_parser(sub) -> None:
    parser = sub.add_parser("demo", help="the four studies and the object-aware fix on the synthetic lab, with a report")
    add_scale_arguments(parser)
    parser.set_defaults(run=lambda args: run(args, DEMO))
