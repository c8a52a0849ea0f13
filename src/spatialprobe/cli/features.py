"""`spatialprobe extract` and `spatialprobe store verify | ls | merge | rm`."""

from __future__ import annotations

import argparse
from pathlib import Path

from spatialprobe.cli.options import positive_int


def _shard(text: str) -> tuple[int, int]:
    try:
        i, n = (int(v) for v in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected i/n, e.g. 0/4, got {text!r}") from None
    return i, n


def add_parser(sub) -> None:
    ex = sub.add_parser("extract", help="extract every token of model sites into the feature store")
    ex.add_argument("--model", required=True, help="hf:<hub id or dir> or toy:<preset or dir>")
    ex.add_argument("--data", required=True, type=Path, help="scene dataset directory")
    ex.add_argument("--sites", required=True, nargs="+", help="site names or wildcards, e.g. 'vision.layer.*' connector.out")
    ex.add_argument("--split", default=None, help="only this split (default: all scenes)")
    ex.add_argument("--limit", type=positive_int, default=None, help="only the first N scenes")
    ex.add_argument("--batch-size", type=positive_int, default=64)
    ex.add_argument("--shard-size", type=positive_int, default=4096, help="scenes per shard")
    ex.add_argument("--shard", type=_shard, default=None, help="i/n: this process writes shards k with k %% n == i (default: torchrun's RANK/WORLD_SIZE)")
    ex.add_argument("--store", type=Path, default=None, help="store root (default $SPATIALPROBE_STORE or ~/.cache/spatialprobe/features)")
    ex.add_argument("--dtype", default="float32", help="model dtype (features are stored as float16)")
    ex.add_argument("--device", default="cpu")
    ex.add_argument("--threads", type=positive_int, default=None, help="torch CPU threads")
    ex.add_argument("--trust-remote-code", action="store_true")
    ex.add_argument("--redo-bad", action="store_true", help="verify the store first and extract again exactly the shards that fail")
    ex.add_argument("--quiet", action="store_true")
    ex.set_defaults(run=_extract)

    store = sub.add_parser("store", help="inspect, verify and merge feature stores")
    cmds = store.add_subparsers(dest="store_command", metavar="SUBCOMMAND", required=True)
    verify = cmds.add_parser("verify", help="check every file of a store (sha256 of each shard file, key, layouts, manifest)")
    verify.add_argument("directory", type=Path)
    verify.add_argument("--repair", action="store_true", help="re-extract exactly the damaged shards (from the model and dataset key.json names)")
    verify.add_argument("--device", default="cpu", help="with --repair: where the model runs")
    verify.add_argument("--trust-remote-code", action="store_true", help="with --repair: as the extraction was run")
    verify.add_argument("--quiet", action="store_true")
    verify.set_defaults(run=_verify)
    rm = cmds.add_parser("rm", help="delete feature stores (directories holding a key.json)")
    rm.add_argument("directories", nargs="+", type=Path)
    rm.set_defaults(run=_rm)
    ls = cmds.add_parser("ls", help="list the stores under a root")
    ls.add_argument("root", nargs="?", type=Path, default=None)
    ls.set_defaults(run=_ls)
    merge = cmds.add_parser("merge", help="write manifest.json once every shard of a sharded extraction is done")
    merge.add_argument("directory", type=Path)
    merge.set_defaults(run=_merge)


def _extract(args) -> int:
    import torch

    from spatialprobe.features.extraction import extract
    from spatialprobe.models import load_model
    from spatialprobe.scenes import SceneDataset

    if args.threads:
        torch.set_num_threads(args.threads)
    dataset = SceneDataset(args.data)
    adapter = load_model(args.model, dtype=args.dtype, device=args.device, trust_remote_code=args.trust_remote_code)
    result = extract(
        adapter,
        dataset,
        args.sites,
        root=args.store,
        split=args.split,
        limit=args.limit,
        batch_size=args.batch_size,
        shard_size=args.shard_size,
        shard=args.shard,
        progress=not args.quiet,
        redo_bad=args.redo_bad,
    )
    print(f"store {result.directory}: wrote {len(result.written)} shards, skipped {len(result.skipped)} finished ones")
    if not result.merged:
        print(f"other shards are still running or pending: once all are done, run `spatialprobe store merge {result.directory}`")
    return 0


def _verify(args) -> int:
    from spatialprobe.cli.main import UserError
    from spatialprobe.features.reader import verify

    problems = verify(args.directory)
    if problems and args.repair:
        from spatialprobe.features.extraction import repair
        from spatialprobe.features.reader import refuse_unrepairable

        refuse_unrepairable(problems)
        shards = sorted({p.shard for p in problems if p.shard is not None})
        print(f"{args.directory}: {len(problems)} problem(s); re-extracting shard(s) {shards}")
        result = repair(args.directory, device=args.device, trust_remote_code=args.trust_remote_code, progress=not args.quiet)
        print(f"re-extracted {len(result.written)} shard(s)")
        problems = verify(args.directory)
    if problems:
        hint = "" if args.repair else f"\nrepair: spatialprobe store verify --repair {args.directory}"
        raise UserError("store verification failed:\n  " + "\n  ".join(str(p) for p in problems) + hint)
    print(f"{args.directory}: every file matches its record")
    return 0


def _rm(args) -> int:
    import shutil

    from spatialprobe.cli.main import UserError
    from spatialprobe.features.store import locked

    for directory in args.directories:
        if not (directory / "key.json").exists() and not (directory / "shards").is_dir():
            raise UserError(f"{directory}: not a feature store (no key.json); nothing removed")
    for directory in args.directories:
        with locked(directory):  # not while an extraction writes it
            shutil.rmtree(directory)
        print(f"removed {directory}")
    return 0


def _ls(args) -> int:
    from spatialprobe.features.extraction import default_root
    from spatialprobe.features.reader import list_stores

    root = args.root or default_root()
    stores = list_stores(root)
    if not stores:
        print(f"no stores under {root}")
    for s in stores:
        print(f"{s['key']}  {s['state']:>12s}  {s['model']}  split={s['split']}  sites={','.join(s['sites'])}  {s['dir']}")
    return 0


def _merge(args) -> int:
    from spatialprobe.features.store import merge
    from spatialprobe.results.origin import provenance

    manifest = merge(args.directory, provenance())
    print(f"{args.directory}: merged {len(manifest['shards'])} shards, {manifest['rows']} rows, store hash {manifest['store_hash'][:16]}")
    return 0
