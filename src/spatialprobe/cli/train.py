"""`spatialprobe train limber|pixel|fix …`: the training recipes on real models (docs/training.md)."""

from __future__ import annotations

import argparse
from pathlib import Path

from spatialprobe.cli.options import positive_int


def _recipe(cmds, name: str, helptext: str, run, *, epochs: int, batch_size: int, lr: float, trained: str):
    """A recipe's subcommand with the options every recipe has (folder, schedule, dtype, device, resume)."""
    p = cmds.add_parser(name, help=helptext)
    p.add_argument("--out", type=Path, default=Path(f"runs/{name}"), help="the run's folder (resumed when run again with the same settings)")
    p.add_argument("--epochs", type=positive_int, default=epochs)
    p.add_argument("--batch-size", type=positive_int, default=batch_size)
    p.add_argument("--lr", type=float, default=lr)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-scenes", type=positive_int, default=None, help="only the first N scenes of each split")
    p.add_argument("--dtype", default="float32", help=f"the models' dtype ({trained} trains in float32)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--every", type=positive_int, default=50, help="optimiser steps between checkpoints (a killed run resumes from the last)")
    p.add_argument("--threads", type=positive_int, default=None)
    p.add_argument("--force", action="store_true", help="replace a folder holding another run (once the new one completes)")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(run=run)
    return p


def add_parser(sub) -> None:
    parser = sub.add_parser("train", help="train the pieces that keep location on real models (LiMBeR maps, PixelLLM heads, the connector fix)")
    cmds = parser.add_subparsers(dest="train_command", metavar="RECIPE", required=True)
    limber = _recipe(cmds, "limber", "LiMBeR: a linear map from an image encoder into a frozen causal LM, captions vs blind and a random encoder",
                     _limber, epochs=1, batch_size=16, lr=1e-3, trained="the map")
    limber.add_argument("--encoder", required=True, help="image encoder spec (hf:…, toy:…)")
    limber.add_argument("--lm", required=True, help="causal LM spec (hf:<hub id or folder>)")
    limber.add_argument("--data", required=True, help="a scene dataset with captions, or SOURCE:ROOT (e.g. coco:/data/coco)")
    limber.add_argument("--variant", choices=("tokens", "pooled"), default="pooled", help="one prompt token per encoder token, or the mean token to --prefix tokens")
    limber.add_argument("--prefix", type=positive_int, default=4, help="prompt tokens of the pooled map")
    limber.add_argument("--site", default="vision.out", help="the encoder site the map reads")
    limber.add_argument("--accumulate", type=positive_int, default=1, help="micro-batches per optimiser step")
    limber.add_argument("--no-random-encoder", action="store_true", help="skip the random-encoder control (the blind control always runs)")
    limber.add_argument("--bootstrap", type=positive_int, default=1000, help="bootstrap resamples of each CI")
    limber.add_argument("--no-store", action="store_true", help="run the encoder at every step instead of reading its tokens from a feature store")
    limber.add_argument("--features", type=Path, default=None, help="feature store root (default: the cache)")
    pixel = _recipe(cmds, "pixel", "PixelLLM: a location head on a frozen VLM's LM hidden states (word boxes, referring at <eos>) and box-conditioned "
                    "captions, vs baselines", _pixel, epochs=20, batch_size=64, lr=2e-3, trained="the head")
    pixel.add_argument("--model", required=True, help="VLM spec (hf:…): LLaVA-, BLIP-2-class cards")
    pixel.add_argument("--data", required=True, action="append", help="captions with located words (narratives:…, coco:…) and/or referring expressions "
                       "(refcoco:…, visual_genome:…: also the box captions' regions); repeat to mix")
    pixel.add_argument("--site", default="lm.out", help="the LM site the head reads")
    pixel.add_argument("--hidden", type=positive_int, default=256, help="the head's hidden width")
    pixel.add_argument("--box-epochs", type=int, default=8, help="epochs of the box prompt for location-conditioned captions (0: none)")
    pixel.add_argument("--no-meteor", action="store_true", help="leave METEOR out of the box captions' scores (by default it runs where Java is present)")
    pixel.add_argument("--bootstrap", type=positive_int, default=1000)
    fix = _recipe(cmds, "fix", "fine-tune a VLM's own connector with spatial captions / the set-matched location loss (encoder, LM frozen)", _fix,
                  epochs=2, batch_size=8, lr=1e-4, trained="the connector")
    fix.add_argument("--model", required=True, help="VLM spec with a trainable connector (BLIP-2, InstructBLIP, LLaVA, IDEFICS, …)")
    fix.add_argument("--data", required=True, help="scenes with categorised boxes (refcoco:…, coco:…, visual_genome:…)")
    fix.add_argument("--loss", action="append", choices=("caption", "query_location"), help="repeat to sum (default: caption)")
    fix.add_argument("--features", type=Path, default=None, help="feature store root for connector.in (default: the cache)")


def _threads(args) -> None:
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)


def _print(records, folder: Path, trained: str) -> None:
    from spatialprobe.results.store import rows, to_markdown

    print(to_markdown(rows(records)), end="")
    print(f"{trained}: {folder / trained}; results: {folder / 'results'} ({len(records)} records)")


def _limber(args: argparse.Namespace) -> int:
    from spatialprobe.train.limber_recipe import CONTROLS, limber_settings, run_limber

    _threads(args)
    controls = tuple(c for c in CONTROLS if not (args.no_random_encoder and c == "random_encoder"))
    settings = limber_settings(args.encoder, args.lm, args.data, variant=args.variant, prefix=args.prefix, site=args.site, epochs=args.epochs,
                               batch_size=args.batch_size, accumulate=args.accumulate, lr=args.lr, seed=args.seed, max_scenes=args.max_scenes,
                               controls=controls, dtype=args.dtype, n_resamples=args.bootstrap)
    records = run_limber(args.out, settings, device=args.device, use_store=not args.no_store, features=args.features, force=args.force,
                         every=args.every, progress=not args.quiet)
    _print(records, args.out, "map.safetensors")
    return 0


def _pixel(args: argparse.Namespace) -> int:
    from spatialprobe.train.pixel_recipe import pixel_settings, run_pixel

    _threads(args)
    settings = pixel_settings(args.model, args.data, site=args.site, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, hidden=args.hidden,
                              box_epochs=args.box_epochs, meteor=False if args.no_meteor else None, seed=args.seed, max_scenes=args.max_scenes, dtype=args.dtype, n_resamples=args.bootstrap)
    records = run_pixel(args.out, settings, device=args.device, force=args.force, every=args.every, progress=not args.quiet)
    _print(records, args.out, "head.safetensors")
    return 0


def _fix(args: argparse.Namespace) -> int:
    from spatialprobe.train.fix_recipe import fix_settings, run_fix

    _threads(args)
    settings = fix_settings(args.model, args.data, losses=tuple(args.loss or ("caption",)), epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                            seed=args.seed, max_scenes=args.max_scenes, dtype=args.dtype)
    spec = run_fix(args.out, settings, device=args.device, features=args.features, force=args.force, every=args.every, progress=not args.quiet)
    print(f"connector: {args.out / 'connector.safetensors'}")
    print(f"the fixed model: {spec}")
    return 0
