"""`spatialprobe data ls | check | convert`: real datasets read as published (`spatialprobe.scenes.sources`)."""

from __future__ import annotations

import json
from pathlib import Path

from spatialprobe.cli.options import key_value


def add_parser(sub) -> None:
    parser = sub.add_parser("data", help="read real datasets (COCO, RefCOCO, …) as published: list, check, convert")
    cmds = parser.add_subparsers(dest="data_command", metavar="SUBCOMMAND", required=True)
    cmds.add_parser("ls", help="the real-dataset sources and their options").set_defaults(run=_ls)
    for name, helptext, fn in (("check", "load everything; print counts and every skipped row with its reason", _check),
                               ("convert", "write the scene exchange format (images referenced, not copied)", _convert)):
        p = cmds.add_parser(name, help=helptext)
        p.add_argument("source", help="a source from `spatialprobe data ls`")
        p.add_argument("root", type=Path, help="the dataset's folder, as published")
        p.add_argument("-o", "--option", type=key_value, action="append", default=[], metavar="KEY=VALUE", help="a source option (repeatable), e.g. -o dataset=refcoco+")
        p.add_argument("--strict", action="store_true", help="a skipped row is an error")
        if name == "convert":
            p.add_argument("--out", type=Path, required=True)
            p.add_argument("--force", action="store_true", help="replace an existing dataset at --out once the new one is complete")
        p.set_defaults(run=fn)


def _source(name: str):
    from spatialprobe.registry import SOURCES, UnknownNameError
    from spatialprobe.scenes.sources._real import RealSource

    source = SOURCES.get(name)
    if not isinstance(source, RealSource):
        raise UnknownNameError(f"{name!r} is not a real-dataset source ({name} scenes are made with `spatialprobe scenes {name}`); "
                               f"real sources: {', '.join(_real_sources())}")
    return source


def _real_sources() -> list[str]:
    from spatialprobe.registry import SOURCES
    from spatialprobe.scenes.sources._real import RealSource

    return [n for n in SOURCES.names() if isinstance(SOURCES.get(n), RealSource)]


def _ls(args) -> int:
    from spatialprobe.registry import SOURCES

    for name in _real_sources():
        source = SOURCES.get(name)
        print(f"{name}: {source.summary}")
        for key, (default, meaning) in source.options.items():
            print(f"  -o {key}=…  {meaning} (default {json.dumps(default)})")
    return 0


def _reading(args):
    return _source(args.source).read(args.root, strict=args.strict, **dict(args.option))


FIGURES = ("join", "words", "counts", "images_in_several_splits")
"""A source's own figures in its metadata (VSR's box join, narrations' located words, …), printed as they are."""


def _report(reading, counts: dict) -> None:
    from spatialprobe.scenes.address import COUNTED

    for row in reading.skipped:
        print(f"skipped {row}")
    for split, n in sorted(counts.items()):
        print(f"{split}: " + ", ".join(f"{n[k]} {k}" for k in COUNTED))
    for key in FIGURES:
        if key in reading.metadata:
            print(f"{key}: {json.dumps(reading.metadata[key])}")
    total = sum(n["scenes"] for n in counts.values())
    print(f"{total} scenes; {len(reading.skipped)} rows skipped")


def _check(args) -> int:
    from spatialprobe.scenes.address import tally

    reading, counts = _reading(args), {}
    for _ in tally(reading.scenes, counts):
        pass
    _report(reading, counts)
    return 0


def _convert(args) -> int:
    from spatialprobe.scenes.address import convert

    reading, counts = convert(_source(args.source), args.root, dict(args.option), args.out, strict=args.strict, force=args.force)
    _report(reading, counts)
    print(f"dataset: {args.out} (images read from {reading.image_root.resolve()}); check it with `spatialprobe scenes validate {args.out}`")
    return 0
