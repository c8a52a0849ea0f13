"""`spatialprobe lab train|eval|locate CONFIG`."""

from __future__ import annotations

from pathlib import Path

from spatialprobe.cli.options import positive_int


def add_parser(sub) -> None:
    parser = sub.add_parser("lab", help="train the in-process V&L lab and evaluate its captions")
    cmds = parser.add_subparsers(dest="lab_command", metavar="SUBCOMMAND", required=True)
    for name, helptext, fn in (("train", "train (or reuse) every component a lab config names", _train),
                               ("eval", "caption the test split with every lab model, against the blind baseline", _eval),
                               ("locate", "PixelLLM heads on lab models (word boxes, referring at <eos>, box-conditioned captions) vs baselines", _locate)):
        p = cmds.add_parser(name, help=helptext)
        p.add_argument("config", type=Path, help="lab config (see configs/lab.yaml)")
        p.add_argument("--threads", type=positive_int, default=None)
        p.add_argument("--quiet", action="store_true")
        if name != "train":
            p.add_argument("--out", type=Path, default=Path(f"runs/lab-{'captions' if name == 'eval' else 'locate'}"))
            p.add_argument("--model", action="append", help="only this lab model (repeatable), e.g. qformer+coarse@contrastive")
        p.set_defaults(run=fn)


def _models(args):
    import torch

    from spatialprobe.lab.build import train_lab
    from spatialprobe.lab.config import LabConfig

    if args.threads:
        torch.set_num_threads(args.threads)
    return train_lab(LabConfig.from_yaml(args.config), progress=not args.quiet)


def _train(args) -> int:
    models = _models(args)
    for name, directory in models.checkpoints.items():
        print(f"{name:24s} toy:{directory}")
    trained = ", ".join(f"{k} {v:.0f} s" for k, v in models.seconds.items()) or "nothing (all reused)"
    print(f"trained: {trained}; reused: {', '.join(models.reused) or 'nothing'}")
    return 0


def _chosen(args) -> dict:
    checkpoints = _models(args).checkpoints
    unknown = [m for m in args.model or () if m not in checkpoints]
    if unknown:
        from spatialprobe.lab.config import LabConfigError

        raise LabConfigError(f"--model: {', '.join(unknown)} not in {args.config}; it has {', '.join(checkpoints)}")
    return {k: v for k, v in checkpoints.items() if not args.model or k in args.model}


def _eval(args) -> int:
    from spatialprobe.lab.config import LabConfig
    from spatialprobe.lab.evaluate import evaluate
    from spatialprobe.results.store import rows, to_markdown

    records = evaluate(_chosen(args), LabConfig.from_yaml(args.config).data, args.out / "results")
    print(to_markdown(rows(records)), end="")
    print(f"results: {args.out / 'results'} ({len(records)} records)")
    return 0


def _locate(args) -> int:
    from spatialprobe.lab.config import LabConfig
    from spatialprobe.lab.locate import evaluate_location
    from spatialprobe.results.store import rows, to_markdown

    data = LabConfig.from_yaml(args.config).data
    records = [r for name, directory in _chosen(args).items() for r in evaluate_location(directory, data, args.out / "results", name=name, progress=not args.quiet)]
    print(to_markdown(rows(records)), end="")
    print(f"results: {args.out / 'results'} ({len(records)} records)")
    return 0
