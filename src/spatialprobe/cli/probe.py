"""`spatialprobe probe CONFIG.yaml`: the frozen protocol over stored features."""

from __future__ import annotations

from pathlib import Path


def add_parser(sub) -> None:
    parser = sub.add_parser("probe", help="run probes (tasks × sites × pools × probes × seeds) from a YAML config")
    parser.add_argument("config", type=Path, help="probing config (see docs/probing.md)")
    parser.add_argument("--out", default=None, help="override config.out")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--quiet", action="store_true")
    parser.set_defaults(run=_probe)


def _probe(args) -> int:
    import torch

    from spatialprobe.probing.config import ProbeConfig
    from spatialprobe.probing.protocol import run
    from spatialprobe.results.store import rows, to_markdown

    if args.threads:
        torch.set_num_threads(args.threads)
    config = ProbeConfig.from_yaml(args.config)
    if args.out:
        config.out = args.out
    records = run(config, progress=not args.quiet)
    print(to_markdown(rows(records)), end="")
    print(f"{len(records)} records in {config.out}/results; tables: {config.out}/summary.csv, summary.md")
    return 0
