"""`spatialprobe ls [KIND]`: what is registered and every name a config accepts, without importing heavy modules."""

from __future__ import annotations

VOCABULARY = {
    "connectors": "CONNECTORS", "encoder objectives": "ENCODER_OBJECTIVES", "connector objectives": "CONNECTOR_OBJECTIVES",
    "toy presets (random init)": "TOY_PRESETS", "pools": "POOLS", "protocols": "PROTOCOLS", "joint conditions": "JOINT_CONDITIONS",
    "controls": "CONTROLS", "text encoders": "TEXT_ENCODERS", "conditioning": "CONDITIONING", "verdicts": "VERDICTS",
}
"""What `ls names` prints: a heading → its tuple in `spatialprobe.names`."""


def add_parser(sub) -> None:
    parser = sub.add_parser("ls", help="list registered sources, models, tasks, probes, metrics, studies and every name a config accepts")
    parser.add_argument("kind", nargs="?", help="one of: sources, models, tasks, probes, metrics, studies, names, claim-metrics")
    parser.set_defaults(run=_ls)


def _claim_metrics() -> list[str]:
    """Per task (and lab study), the metrics a claim may compare (``metric[group=value]`` reads one item group)."""
    from spatialprobe.experiments.studies import limber, pixel
    from spatialprobe.registry import TASKS

    lines = [f"{name}: {', '.join(TASKS.get(name).metric_names)}" for name in TASKS.names()]
    lines += [f"{task} (pixel): {', '.join(metrics)}" for task, metrics in pixel.METRICS.items()]
    return lines + [f"captioning (limber): {', '.join(limber.METRICS)}", "any control_task record: selectivity"]


def _ls(args) -> int:
    from spatialprobe import names
    from spatialprobe.registry import ALL, UnknownNameError

    kinds = list(ALL) + ["names", "claim-metrics"]
    if args.kind is not None and args.kind not in kinds:
        raise UnknownNameError(f"unknown kind {args.kind!r}; valid kinds: {', '.join(kinds)}")
    for kind, registry in ALL.items():
        if args.kind in (None, kind):
            listed = registry.names()
            print(f"{kind}: {', '.join(listed) if listed else '(none yet)'}")
    if args.kind in (None, "names"):
        for heading, constant in VOCABULARY.items():
            print(f"{heading}: {', '.join(getattr(names, constant))}")
    if args.kind in (None, "claim-metrics"):
        print("claim metrics:\n  " + "\n  ".join(_claim_metrics()))
    return 0
