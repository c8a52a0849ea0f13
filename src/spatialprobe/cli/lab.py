"""`spatialprobe lab train CONFIG` and `spatialprobe lab eval CONFIG`."""

from __future__ import annotations

from pathlib import Path


def add_parser(sub) -> None:
    parser = sub.add_parser("lab", help="train the in-process V&L lab and evaluate its captions")
    cmds = parser.add_subparsers(dest="lab_command", metavar="SUBCOMMAND", required=True)
    for name, helptext, fn in (("train", "train (or reuse) every component a lab config names", _train),
                               ("eval", "caption the test split with every lab model, against the blind baseline", _eval)):
        p = cmds.add_parser(name, help=helptext)
        p.add_argument("config", type=Path, help="lab config (see configs/lab.yaml)")
        p.add_argument("--threads", type=int, default=None)
        p.add_argument("--quiet", action="store_true")
        if name == "eval":
            p.add_argument("--out", type=Path, default=Path("runs/lab-captions"))
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


def _eval(args) -> int:
    from spatialprobe.lab.config import LabConfig
    from spatialprobe.lab.evaluate import evaluate
    from spatialprobe.results.store import rows, to_markdown

    models = _models(args)
    records = evaluate(models.checkpoints, LabConfig.from_yaml(args.config).data, args.out / "results")
    print(to_markdown(rows(records)), end="")
    return 0
