"""`spatialprobe train limber …`: the training recipes on real models (docs/training.md)."""

from __future__ import annotations

import argparse
from pathlib import Path

from spatialprobe.cli.options import positive_int


def add_parser(sub) -> None:
    parser = sub.add_parser("train", help="train the pieces that keep location on real models (LiMBeR maps)")
    cmds = parser.add_subparsers(dest="train_command", metavar="RECIPE", required=True)
    limber = cmds.add_parser("limber", help="LiMBeR: a linear map from an image encoder into a frozen causal LM, captions vs blind and a random encoder")
    limber.add_argument("--encoder", required=True, help="image encoder spec (hf:…, toy:…)")
    limber.add_argument("--lm", required=True, help="causal LM spec (hf:<hub id or folder>)")
    limber.add_argument("--data", required=True, help="a scene dataset with captions, or SOURCE:ROOT (e.g. coco:/data/coco)")
    limber.add_argument("--out", type=Path, default=Path("runs/limber"), help="the run's folder (resumed when run again with the same settings)")
    limber.add_argument("--variant", choices=("tokens", "pooled"), default="pooled", help="one prompt token per encoder token, or the mean token to --prefix tokens")
    limber.add_argument("--prefix", type=positive_int, default=4, help="prompt tokens of the pooled map")
    limber.add_argument("--site", default="vision.out", help="the encoder site the map reads")
    limber.add_argument("--epochs", type=positive_int, default=1)
    limber.add_argument("--batch-size", type=positive_int, default=16)
    limber.add_argument("--accumulate", type=positive_int, default=1, help="micro-batches per optimiser step")
    limber.add_argument("--lr", type=float, default=1e-3)
    limber.add_argument("--seed", type=int, default=0)
    limber.add_argument("--max-scenes", type=positive_int, default=None, help="only the first N scenes of each split")
    limber.add_argument("--no-random-encoder", action="store_true", help="skip the random-encoder control (the blind control always runs)")
    limber.add_argument("--bootstrap", type=positive_int, default=1000, help="bootstrap resamples of each CI")
    limber.add_argument("--dtype", default="float32", help="the encoder's and the LM's dtype (the map trains in float32)")
    limber.add_argument("--device", default="cpu")
    limber.add_argument("--no-store", action="store_true", help="run the encoder at every step instead of reading its tokens from a feature store")
    limber.add_argument("--features", type=Path, default=None, help="feature store root (default: the cache)")
    limber.add_argument("--every", type=positive_int, default=50, help="optimiser steps between checkpoints (a killed run resumes from the last)")
    limber.add_argument("--threads", type=positive_int, default=None)
    limber.add_argument("--force", action="store_true", help="replace a folder holding another run (once the new one completes)")
    limber.add_argument("--quiet", action="store_true")
    limber.set_defaults(run=_limber)


def _limber(args: argparse.Namespace) -> int:
    import torch

    from spatialprobe.results.store import rows, to_markdown
    from spatialprobe.train.limber_recipe import CONTROLS, limber_settings, run_limber

    if args.threads:
        torch.set_num_threads(args.threads)
    controls = tuple(c for c in CONTROLS if not (args.no_random_encoder and c == "random_encoder"))
    settings = limber_settings(args.encoder, args.lm, args.data, variant=args.variant, prefix=args.prefix, site=args.site, epochs=args.epochs,
                               batch_size=args.batch_size, accumulate=args.accumulate, lr=args.lr, seed=args.seed, max_scenes=args.max_scenes,
                               controls=controls, dtype=args.dtype, n_resamples=args.bootstrap)
    records = run_limber(args.out, settings, device=args.device, use_store=not args.no_store, features=args.features, force=args.force,
                         every=args.every, progress=not args.quiet)
    print(to_markdown(rows(records)), end="")
    print(f"map: {args.out / 'map.safetensors'}; results: {args.out / 'results'} ({len(records)} records)")
    return 0
