"""`spatialprobe run CONFIG.yaml`: an experiment plan end to end, with caching, resume and a report."""

from __future__ import annotations

from pathlib import Path

from spatialprobe.cli.options import key_value, positive_int


def add_scale_arguments(parser) -> None:
    scale = parser.add_mutually_exclusive_group()
    scale.add_argument("--quick", dest="scale", action="store_const", const="quick", help="the plan's smoke-test scale (not evidence)")
    scale.add_argument("--full", dest="scale", action="store_const", const="full", help="the plan's full scale (three lab seeds)")
    scale.add_argument("--scale", dest="scale", help="any scale the plan names")
    parser.set_defaults(scale="default")
    parser.add_argument("--runs", type=Path, default=Path("runs"), help="parent folder of run folders (default: runs)")
    parser.add_argument("--fresh", action="store_true", help="start a new run folder instead of continuing an unfinished one")
    parser.add_argument("--workers", type=positive_int, default=None, help="worker processes for independent lab stages and steps "
                        "(default: $SPATIALPROBE_WORKERS, else one per core, at most 2; 1 = everything in this process)")
    parser.add_argument("--threads", type=positive_int, default=None, help="torch threads per worker (default 1; with --workers 1, torch's default)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--device", default=None, help="where the probing steps' models run for extraction (cuda, cuda:1, mps); = --set device=…")
    parser.add_argument("--dtype", default=None, help="their dtype for extraction (bfloat16, float16; default float32); = --set dtype=…")
    parser.add_argument("--executor", choices=("local", "ray", "slurm"), default="local",
                        help="where the plan's steps run: this machine's worker pool (default), a Ray cluster ($RAY_ADDRESS, else a local Ray), "
                             "or Slurm job arrays via submitit; results are identical to a sequential run")
    parser.add_argument("--executor-option", dest="executor_options", type=key_value, action="append", default=[], metavar="KEY=VALUE",
                        help="passed to ray.init (address=…) or to submitit's update_parameters (timeout_min=240, slurm_partition=gpu, cluster=local, …)")
    parser.add_argument("--set", dest="overrides", type=key_value, action="append", default=[], metavar="PATH=VALUE",
                        help="override a plan field by its dotted path (repeatable), e.g. --set probe_seeds=[0,1] "
                             "--set studies.lost_in_space.epochs=3; recorded in the run's plan.json")
    parser.add_argument("--model", dest="models", action="append", default=[], metavar="[ALIAS=]SPEC",
                        help="replace the model a plan alias names (repeatable), e.g. --model blip2=hf:/ckpt/blip2; without ALIAS, the plan's only alias")
    parser.add_argument("--data", dest="datasets", action="append", default=[], metavar="[NAME=]ADDRESS",
                        help="replace a dataset the plan names (repeatable): a scene directory or SOURCE:ROOT, e.g. --data refcoco=refcoco:/data/refer; "
                             "without NAME, the plan's only dataset (or its synthetic scenes)")


def add_parser(sub) -> None:
    parser = sub.add_parser("run", help="run an experiment plan (see configs/demo.yaml) and write its report")
    parser.add_argument("config", type=Path)
    add_scale_arguments(parser)
    parser.set_defaults(run=lambda args: run(args, args.config))


def run(args, config: Path) -> int:
    import torch

    from spatialprobe.experiments.plan import Plan
    from spatialprobe.experiments.runner import run_plan

    from spatialprobe.cli.main import UserError

    for name in ("workers", "threads"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            raise UserError(f"--{name}: expected a positive integer, got {getattr(args, name)}")
    if args.threads:
        torch.set_num_threads(args.threads)
    overrides = [(k, getattr(args, k)) for k in ("device", "dtype") if getattr(args, k)] + args.overrides
    plan = Plan.from_yaml(config, args.scale, overrides, args.models, args.datasets)
    run_plan(plan, args.runs, resume=not args.fresh, progress=not args.quiet, workers=args.workers, threads=args.threads or 1,
             executor=args.executor, executor_options=dict(args.executor_options))
    return 0
