"""Localized Narratives: ``<dataset>_<split>_localized_narratives*.jsonl``, one narration per line
(``image_id``, ``annotator_id``, ``caption``, ``timed_caption``, ``traces``), on COCO (or other) images.

Per-word location targets as PixelLLM built them: the mouse trace is interpolated at 16 times
between each utterance's ``start_time`` and ``end_time``; the samples' min/max box is the utterance's
location and their mean its point. Each located utterance becomes a region object (no category;
``meta.point``, ``meta.utterance``) and the caption word it spans points at it, so ``word_location``
reads it like any grounded word. An utterance whose window misses the trace, whose samples leave the
image, or whose text is not in the caption gets no location — counted in the metadata, never clipped.

A split's files are read twice: once to index each image's lines (byte offsets only), then image by
image, so an image with several narrations (in any shard) is one scene and no file sits in memory.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from spatialprobe.geometry import Box
from spatialprobe.registry import SOURCES
from spatialprobe.scenes.record import Caption, Scene, SceneObject, Utterance, Word
from spatialprobe.scenes.sources._real import HELD_OUT, Reading, RealSource, Skipped, SourceError, split_mapper

SPLIT_MAP = {"train": HELD_OUT, "val": "test", "test": "test"}
FIELDS = ("image_id", "annotator_id", "caption", "timed_caption", "traces")
SAMPLES = 16
"""Trace samples per utterance (PixelLLM's ``build_ln_tfrecord``)."""
FILE_NAME = re.compile(r"^(?P<dataset>\w+?)_(?P<split>train|val|test)_localized_narratives")


def utterance_box(points: np.ndarray, start: float, end: float) -> tuple[np.ndarray, np.ndarray] | None:
    """The (16, 2) unit-coordinate samples of a time-sorted (n, 3) ``x, y, t`` trace over
    ``[start, end]``, or None when the window does not overlap the trace's time span."""
    t = points[:, 2]
    if end < start or end < t[0] or start > t[-1]:
        return None
    times = np.linspace(start, end, SAMPLES)
    return np.stack([np.interp(times, t, points[:, 0]), np.interp(times, t, points[:, 1])], axis=1)


def _index(path: Path, index: dict, skipped: list[Skipped]) -> None:
    """Add ``image_id → [(file, line number, byte offset)]`` in first-seen order; malformed lines reported."""
    with open(path, "rb") as f:
        offset = 0
        for n, line in enumerate(f, start=1):
            where, start, offset = f"{path.name}:{n}", offset, offset + len(line)
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError as err:
                skipped.append(Skipped(where, f"not valid JSON ({err})"))
                continue
            missing = [k for k in FIELDS if not isinstance(row, dict) or k not in row]
            if missing:
                skipped.append(Skipped(where, f"missing {missing}"))
            elif not any(isinstance(seg, list) and seg for seg in row["traces"]):
                skipped.append(Skipped(where, "the trace has no points"))
            else:
                index.setdefault(str(row["image_id"]), []).append((path, n, start))


def _caption(row: dict, cid: str, frame: tuple[int, int], first_id: int, counts: dict) -> tuple[Caption, list[SceneObject]]:
    """One narration: its utterances, trace, located words and their region objects (ids from ``first_id``)."""
    text = row["caption"]
    points = np.array(sorted(((p["x"], p["y"], p["t"]) for seg in row["traces"] for p in seg), key=lambda p: p[2]), dtype=np.float64)
    utterances, words, objects = [], [], []
    cursor, lowered = 0, text.lower()
    for i, u in enumerate(row["timed_caption"]):
        utterance = Utterance(u["utterance"], float(u["start_time"]), float(u["end_time"]))
        utterances.append(utterance)
        spoken = utterance.text.strip().lower()
        at = lowered.find(spoken, cursor) if spoken else -1
        if at < 0:
            counts["utterances not in the caption"] += 1
            continue
        cursor = at + len(spoken)
        samples = utterance_box(points, utterance.start_time, utterance.end_time)
        if samples is None:
            counts["utterances outside the trace's time"] += 1
            continue
        if samples.min() < 0.0 or samples.max() > 1.0:
            counts["utterances whose trace leaves the image"] += 1
            continue
        (x0, y0), (x1, y1), (mx, my) = samples.min(axis=0), samples.max(axis=0), samples.mean(axis=0)
        w, h = frame
        oid = first_id + len(objects)
        objects.append(SceneObject(oid, Box((x0 * w, y0 * h, x1 * w, y1 * h), "xyxy", "pixel", frame),
                                   meta={"kind": "trace", "utterance": i, "point": [mx * w, my * h]}))
        words.append(Word(at, at + len(spoken), oid))
        counts["located utterances"] += 1
    caption = Caption(cid, text, kind="narrative", words=tuple(words), utterances=tuple(utterances),
                      trace=tuple(map(tuple, points.tolist())), meta={"annotator_id": row["annotator_id"], "dataset_id": row.get("dataset_id")})
    return caption, objects


def read(root: Path, files: str, image_root: str, image_file: str, split_map: dict | None, val_fraction: float) -> Reading:
    from PIL import Image

    mapping, split_of = split_mapper(SPLIT_MAP, split_map, val_fraction)
    paths = sorted(root.glob(files))
    if not paths:
        raise SourceError(f"{root}: no file matches {files!r} (expected Localized Narratives' <dataset>_<split>_localized_narratives*.jsonl)")
    splits = {}
    for path in paths:
        match = FILE_NAME.match(path.name)
        if match is None:
            raise SourceError(f"{path}: not a Localized Narratives file name (<dataset>_<train|val|test>_localized_narratives….jsonl)")
        splits.setdefault(match["split"], []).append(path)
    images = Path(image_root) if Path(image_root).is_absolute() else root / image_root
    skipped: list[Skipped] = []
    counts = {k: 0 for k in ("narrations", "located utterances", "utterances not in the caption", "utterances outside the trace's time",
                             "utterances whose trace leaves the image")}

    def scenes():
        for split, split_paths in splits.items():
            index: dict = {}
            for path in split_paths:
                _index(path, index, skipped)
            handles = {path: open(path, "rb") for path in split_paths}
            try:
                for image_id, lines in index.items():
                    target = split_of(split, image_id)
                    if target is None:
                        continue
                    relative = image_file.format(split=split, image_id=image_id)
                    if not (images / relative).exists():
                        skipped.append(Skipped(f"{lines[0][0].name}:{lines[0][1]}", f"image file {images / relative} is missing"))
                        continue
                    with Image.open(images / relative) as im:
                        frame = im.size
                    captions, objects = [], []
                    for path, n, offset in lines:
                        handles[path].seek(offset)
                        try:
                            caption, regions = _caption(json.loads(handles[path].readline()), f"n{len(captions)}", frame, len(objects) + 1, counts)
                        except (KeyError, TypeError, ValueError) as err:
                            skipped.append(Skipped(f"{path.name}:{n}", f"malformed narration ({err!r})"))
                            continue
                        counts["narrations"] += 1
                        captions.append(caption)
                        objects += regions
                    if captions:
                        yield Scene(f"ln-{split}-{image_id}", relative, frame[0], frame[1], split=target, source="narratives",
                                    objects=tuple(objects), captions=tuple(captions), meta={"dataset_split": split, "image_id": image_id})
            finally:
                for handle in handles.values():
                    handle.close()

    return Reading(scenes(), images, {"split_map": mapping, "val_fraction": val_fraction, "words": counts}, skipped, inputs=paths)


SOURCES.register("narratives", RealSource("narratives", "Localized Narratives: narrations with per-word trace boxes (PixelLLM's targets)", {
    "files": ("*_localized_narratives*.jsonl", "a glob under the root; the split comes from each file's name"),
    "image_root": (".", "the images' folder, absolute or under the root"),
    "image_file": ("{split}2017/{image_id:0>12}.jpg", "an image's path under image_root ({split}, {image_id}); COCO's by default"),
    "split_map": (None, f"dataset split → probing split (default {SPLIT_MAP}; {HELD_OUT}: hold out val_fraction of the images)"),
    "val_fraction": (0.1, f"the share of a {HELD_OUT} split's images held out as probe_val"),
}, read))
