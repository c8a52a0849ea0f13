"""`spatialprobe scenes synth | sheet | validate`."""

from __future__ import annotations

import time
from pathlib import Path

from spatialprobe.cli.options import positive_int


def add_parser(sub) -> None:
    parser = sub.add_parser("scenes", help="make, inspect and validate scene datasets")
    scenes = parser.add_subparsers(dest="scenes_command", metavar="SUBCOMMAND", required=True)

    synth = scenes.add_parser("synth", help="generate a synthetic scene dataset")
    synth.add_argument("--out", required=True, type=Path, help="dataset directory to create")
    synth.add_argument("--n", type=int, default=1000, help="number of scenes (default 1000)")
    synth.add_argument("--seed", type=int, default=0)
    synth.add_argument("--size", type=int, default=64, help="image side in pixels (default 64)")
    synth.add_argument("--min-objects", type=int, default=2)
    synth.add_argument("--max-objects", type=int, default=6)
    synth.add_argument("--overlap", type=float, default=0.0, help="max covered fraction of a box (default 0: disjoint)")
    synth.add_argument("--clutter", type=int, default=0, help="distractor specks per scene")
    synth.add_argument("--noise", type=float, default=6.0, help="pixel noise std in 0-255 levels")
    synth.add_argument("--coverage", type=float, default=1.0, help="expected fraction of objects coarse captions name")
    synth.add_argument("--duplicates", type=float, default=0.3, help="chance an object repeats an earlier type")
    synth.add_argument("--margin", type=float, default=0.1, help="relation label margin (fraction of the side)")
    synth.add_argument("--workers", type=positive_int, default=2, help="processes (default 2)")
    synth.add_argument("--force", action="store_true", help="replace --out if it exists (only once complete)")
    synth.add_argument("--quiet", action="store_true", help="no progress bar")
    synth.set_defaults(run=_synth)

    sheet = scenes.add_parser("sheet", help="draw a contact sheet of a dataset")
    sheet.add_argument("dataset", type=Path)
    sheet.add_argument("--out", type=Path, required=True, help="PNG file to write")
    sheet.add_argument("--n", type=positive_int, default=12)
    sheet.add_argument("--split", default=None)
    sheet.add_argument("--force", action="store_true", help="replace --out if it exists")
    sheet.set_defaults(run=_sheet)

    validate = scenes.add_parser("validate", help="check every record and file of a dataset")
    validate.add_argument("dataset", type=Path)
    validate.add_argument("--quick", action="store_true", help="check image headers (size) only, do not decode the pixels")
    validate.add_argument("--quiet", action="store_true", help="no progress bar")
    validate.set_defaults(run=_validate)


def _synth(args) -> int:
    from spatialprobe.scenes.sources.synthetic import SyntheticConfig, build

    start = time.perf_counter()
    cfg = SyntheticConfig(
        n=args.n,
        seed=args.seed,
        size=args.size,
        min_objects=args.min_objects,
        max_objects=args.max_objects,
        overlap=args.overlap,
        clutter=args.clutter,
        noise=args.noise,
        coverage=args.coverage,
        duplicates=args.duplicates,
        margin=args.margin,
    )
    out = build(cfg, args.out, workers=args.workers, force=args.force, progress=not args.quiet)
    elapsed = time.perf_counter() - start
    print(f"wrote {cfg.n} scenes to {out} in {elapsed:.2f} s ({cfg.n / elapsed:,.0f} scenes/s)")
    print(f"contact sheet: {out / 'contact_sheet.png'}")
    return 0


def _sheet(args) -> int:
    from spatialprobe.cli.main import UserError
    from spatialprobe.scenes import SceneDataset
    from spatialprobe.scenes.preview import contact_sheet

    if args.out.suffix.lower() != ".png":
        raise UserError(f"--out {args.out}: a contact sheet is a PNG file (name it *.png)")
    if args.out.exists() and not args.force:
        raise UserError(f"--out {args.out} exists; pass --force to replace it")
    dataset = SceneDataset(args.dataset)
    chosen = []
    for scene in dataset:
        if args.split is None or scene.split == args.split:
            chosen.append(scene)
        if len(chosen) == args.n:
            break
    contact_sheet(dataset.root, chosen).save(args.out)
    print(f"wrote {args.out} ({len(chosen)} scenes)")
    return 0


def _validate(args) -> int:
    from collections import Counter

    from tqdm import tqdm

    from spatialprobe.cli.main import UserError
    from spatialprobe.scenes import SceneDataset

    splits: Counter = Counter()
    counts: Counter = Counter()
    dataset = SceneDataset(args.dataset)
    for scene in tqdm(dataset.scenes(), desc="header check" if args.quick else "decoding", unit="scene", disable=args.quiet, leave=False):
        dataset.check_files(scene, decode=not args.quick)
        splits[scene.split] += 1
        counts.update(
            objects=len(scene.objects),
            expressions=len(scene.expressions),
            relations=len(scene.relations),
            captions=len(scene.captions),
        )
    total = sum(splits.values())
    if total != dataset.metadata.get("scenes"):
        raise UserError(f"{args.dataset}: dataset.json says {dataset.metadata.get('scenes')} scenes, scenes.jsonl has {total}")
    print(f"{args.dataset}: {total} valid scenes; splits {dict(splits)}; {dict(counts)}")
    return 0
