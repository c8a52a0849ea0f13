"""`spatialprobe scenes synth | sheet | validate`."""

from __future__ import annotations

import time
from pathlib import Path


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
    synth.add_argument("--workers", type=int, default=2, help="processes (default 2)")
    synth.add_argument("--force", action="store_true", help="replace --out if it exists (only once complete)")
    synth.add_argument("--quiet", action="store_true", help="no progress bar")
    synth.set_defaults(run=_synth)

    sheet = scenes.add_parser("sheet", help="draw a contact sheet of a dataset")
    sheet.add_argument("dataset", type=Path)
    sheet.add_argument("--out", type=Path, required=True, help="PNG file to write")
    sheet.add_argument("--n", type=int, default=12)
    sheet.add_argument("--split", default=None)
    sheet.set_defaults(run=_sheet)

    validate = scenes.add_parser("validate", help="check every record and file of a dataset")
    validate.add_argument("dataset", type=Path)
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
    from spatialprobe.scenes import SceneDataset
    from spatialprobe.scenes.preview import contact_sheet

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

    from spatialprobe.cli.main import UserError
    from spatialprobe.scenes import SceneDataset

    dataset = SceneDataset(args.dataset)
    splits: Counter = Counter()
    counts: Counter = Counter()
    for scene in dataset:
        for path in filter(None, (scene.image, scene.instances)):
            if not dataset._resolve(path).exists():
                raise UserError(f"{args.dataset}: scene {scene.id}: file {path} is missing")
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
