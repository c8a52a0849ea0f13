"""`spatialprobe probe CONFIG.yaml`: the frozen protocol over stored features."""

from __future__ import annotations

from pathlib import Path

from spatialprobe.cli.options import positive_int


def add_parser(sub) -> None:
    parser = sub.add_parser("probe", help="run probes (tasks × sites × pools × probes × seeds) from a YAML config")
    parser.add_argument("config", type=Path, help="probing config (see docs/probing.md)")
    parser.add_argument("--out", default=None, help="override config.out")
    parser.add_argument("--model", default=None, help="override config.model (hf:…, toy:…)")
    parser.add_argument("--data", default=None, help="override config.data: a scene dataset, or SOURCE:ROOT?options (docs/datasets.md)")
    parser.add_argument("--device", default=None, help="override config.device: where the model runs for extraction (cuda, cuda:1, mps)")
    parser.add_argument("--dtype", default=None, help="override config.dtype: the model's dtype for extraction (float32, bfloat16, float16)")
    parser.add_argument("--threads", type=positive_int, default=None)
    parser.add_argument("--force", action="store_true", help="replace an existing probe output (once the new one is complete)")
    parser.add_argument("--quiet", action="store_true")
    parser.set_defaults(run=_probe)


def best_sites(records) -> list[str]:
    """Per task, the site (probe, pool) with the best headline metric in its own direction, plain condition."""
    from spatialprobe.metrics import sign
    from spatialprobe.report import fmt, headline

    best = {}
    for r in records:
        metric = headline(r)
        if metric is None or r.condition.get("control", "none") != "none":
            continue
        if r.task not in best or sign(metric) * r.metrics[metric].value > sign(metric) * best[r.task][1].metrics[metric].value:
            best[r.task] = (metric, r)
    return [f"{task}: best at {r.site} ({r.probe}, {r.condition.get('pool', '')}) {metric} {fmt(r.metrics[metric])}" for task, (metric, r) in sorted(best.items())]


def _probe(args) -> int:
    import torch

    from spatialprobe.probing.config import ProbeConfig
    from spatialprobe.probing.protocol import run

    if args.threads:
        torch.set_num_threads(args.threads)
    config = ProbeConfig.from_yaml(args.config)
    overrides = {k: v for k, v in (("out", args.out), ("model", args.model), ("data", args.data), ("device", args.device), ("dtype", args.dtype)) if v}
    if overrides:
        config = ProbeConfig.from_dict({**config.to_dict(), **overrides})  # validated again, as the file was
    records = run(config, progress=not args.quiet, force=args.force)
    for line in best_sites(records):
        print(line)
    print(f"{len(records)} records in {config.out}/results; every row: {config.out}/summary.csv, summary.md")
    return 0
