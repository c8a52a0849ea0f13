"""Dataset addresses: a scene dataset directory, or ``SOURCE:ROOT[?option=value&…]`` — a real dataset
read as published (``refcoco:/data/refer?dataset=refcocog&split_by=umd``).

A ``SOURCE:ROOT`` address is read once into the scene exchange format in the cache
(``$SPATIALPROBE_CACHE/sources/<hash of source, root and options>``) and that folder is used from
then on, so worker processes, stores and content keys see an ordinary dataset. The source's input
files (annotations, not images) are stamped there by size and modification time: when one changes,
the next use reads the source again. Option values are JSON when they parse (``val_fraction=0.2``,
``splits=["val"]``), strings otherwise — as ``data convert -o``.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from urllib.parse import parse_qsl

ADDRESS = re.compile(r"^(?P<source>[a-z][a-z0-9_+]*):(?P<root>[^?]+)(?:\?(?P<query>.*))?$")


def option_value(text: str):
    """A ``key=value`` value: JSON when it parses, else the string."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def parse(address: str) -> tuple[str, Path, dict] | None:
    """``(source, root, options)`` of a ``SOURCE:ROOT?…`` address, or None when it is not one."""
    match = ADDRESS.match(str(address))
    if match is None:
        return None
    options = {k: option_value(v) for k, v in parse_qsl(match["query"] or "", keep_blank_values=True, strict_parsing=bool(match["query"]))}
    return match["source"], Path(match["root"]).expanduser(), options


def stamps(paths) -> dict[str, list[int]]:
    """``path → [size, mtime_ns]`` of each input file."""
    out = {}
    for path in paths:
        stat = Path(path).stat()
        out[str(Path(path).resolve())] = [stat.st_size, stat.st_mtime_ns]
    return out


def resolve(address: str | Path) -> Path:
    """The dataset directory an address names, reading a ``SOURCE:ROOT`` once into the cache."""
    from spatialprobe.registry import SOURCES, UnknownNameError, nearest
    from spatialprobe.scenes.sources._real import RealSource, SourceError

    path = Path(address)
    if path.is_dir():
        return path
    parsed = parse(str(address))
    if parsed is None:
        return path  # not an address: the dataset reader says what is missing
    name, root, options = parsed
    source = SOURCES.get(name) if name in SOURCES.names() else None
    if not isinstance(source, RealSource):
        near = nearest(name, [n for n in SOURCES.names() if isinstance(SOURCES.get(n), RealSource)])
        raise UnknownNameError(f"{address}: no such dataset directory, and {name!r} is not a real-dataset source" + (f"; did you mean {near!r}?" if near else ""))
    strict = bool(options.pop("strict", False))
    out = cached_dir(name, root, options, strict)
    if not _fresh(out):
        try:
            reading, _ = convert(source, root, options, out, strict, force=True)
        except SourceError as err:
            raise SourceError(f"{address}: {err}") from None
        if reading.skipped:
            print(f"{address}: {len(reading.skipped)} rows skipped (`spatialprobe data check {name} {root}` lists them)", file=sys.stderr)
    return out


def cached_dir(name: str, root: Path, options: dict, strict: bool) -> Path:
    from spatialprobe.features.key import digest
    from spatialprobe.scenes.files import cache_root

    return cache_root() / "sources" / f"{name}-{digest({'source': name, 'root': str(root.resolve()), 'options': options, 'strict': strict})[:16]}"


def _fresh(out: Path) -> bool:
    """A converted dataset whose recorded input files are unchanged."""
    try:
        recorded = json.loads((out / "dataset.json").read_text())["inputs"]
        return stamps(recorded) == recorded
    except (OSError, ValueError, KeyError, TypeError):
        return False


def convert(source, root: Path, options: dict, out: Path, strict: bool = False, force: bool = False) -> tuple[object, dict]:
    """Read ``source`` into a scene dataset at ``out``; returns the reading and per-split counts."""
    from spatialprobe.scenes.dataset import DatasetWriter

    reading, counts = source.read(root, strict=strict, **options), {}
    with DatasetWriter(out, force=force) as writer:
        for scene in tally(reading.scenes, counts):
            writer.add(scene)
        writer.finish({**reading.metadata, "image_root": str(reading.image_root.resolve()), "inputs": stamps(reading.inputs),
                       "splits": {split: n["scenes"] for split, n in counts.items()}, "counts_per_split": counts,
                       "skipped": [str(s) for s in reading.skipped]})
    return reading, counts


def tally(scenes, counts: dict):
    """The scenes, counted per probing split into ``counts`` as they pass."""
    for scene in scenes:
        n = counts.setdefault(scene.split, dict.fromkeys(COUNTED, 0))
        n["scenes"] += 1
        for key in COUNTED[1:]:
            n[key] += len(getattr(scene, key))
        yield scene


COUNTED = ("scenes", "objects", "expressions", "relations", "captions")
"""What a conversion counts per probing split (expressions: referring expressions and region phrases;
relations: true/false statements; captions: captions and narrations)."""
