"""RefCOCO, RefCOCO+ and RefCOCOg in the ``refer`` layout: ``<root>/<dataset>/refs(<split_by>).p``
beside ``instances.json``, images from COCO train2014. One scene per image (and split), every
annotation of the image an object (the distractors stay), one expression per sentence.

The refs files are pickles: they are read only through `load_refs`, which admits builtin
containers and scalars and nothing else, so a file that would run code is refused before any of it
runs. ``spatialprobe data convert`` writes the result once as JSON (the scene exchange format).
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path

from spatialprobe.registry import SOURCES
from spatialprobe.scenes.record import Expression, Scene
from spatialprobe.scenes.sources._real import Instances, Reading, RealSource, Skipped, SourceError, split_mapper

SPLIT_BY = {"refcoco": ("unc", "google"), "refcoco+": ("unc",), "refcocog": ("umd", "google")}
SPLIT_MAP = {"train": "probe_train", "val": "probe_val", "test": "test", "testA": "test", "testB": "test"}


class _Builtins(pickle.Unpickler):
    """An unpickler that can build lists, dicts, tuples, sets, strings, numbers, booleans and None — and no class or function."""

    def find_class(self, module, name):
        raise pickle.UnpicklingError(f"refused: the file asks for {module}.{name}; a refs file holds only lists, dicts, strings and numbers")


def load_refs(path: Path) -> list:
    """A refs pickle, read with `_Builtins`: a list of dicts of builtins, or a `SourceError`."""
    try:
        refs = _Builtins(io.BytesIO(path.read_bytes()), encoding="utf-8").load()
    except FileNotFoundError:
        raise SourceError(f"{path}: missing") from None
    except (pickle.UnpicklingError, EOFError, ValueError, UnicodeDecodeError) as err:
        raise SourceError(f"{path}: not a refs file ({err})") from None
    if not isinstance(refs, list) or not all(isinstance(r, dict) for r in refs):
        raise SourceError(f"{path}: expected a list of dicts (ref_id, ann_id, image_id, split, sentences), got {type(refs).__name__}")
    return refs


def read(root: Path, dataset: str, split_by: str | None, images: str, split_map: dict | None) -> Reading:
    if dataset not in SPLIT_BY:
        raise SourceError(f"dataset: {dataset!r}; valid: {', '.join(SPLIT_BY)}")
    split_by = split_by or SPLIT_BY[dataset][0]
    if split_by not in SPLIT_BY[dataset]:
        raise SourceError(f"split_by: {dataset} has {', '.join(SPLIT_BY[dataset])} splits, not {split_by!r}")
    mapping, split_of = split_mapper(SPLIT_MAP, split_map, 0.0)
    folder = root / dataset
    refs_path = folder / f"refs({split_by}).p"
    refs = load_refs(refs_path)
    instances = Instances(folder / "instances.json")
    image_root = Path(images) if Path(images).is_absolute() else root / images
    skipped: list[Skipped] = []
    groups: dict = {}
    for line, ref in enumerate(refs):
        where = f"{refs_path.name} ref {ref.get('ref_id', f'#{line}')}"
        if ref.get("ann_id") not in instances.annotations:
            skipped.append(Skipped(where, f"annotation {ref.get('ann_id')!r} is not in instances.json"))
        elif ref.get("image_id") not in instances.images:
            skipped.append(Skipped(where, f"image {ref.get('image_id')!r} is not in instances.json"))
        elif not isinstance(ref.get("sentences"), list) or ref.get("split") not in mapping:
            skipped.append(Skipped(where, f"no sentences, or split {ref.get('split')!r} is not one of {', '.join(mapping)}"))
        else:
            groups.setdefault((ref["image_id"], ref["split"]), []).append(ref)
    splits_of_image: dict = {}
    for image_id, split in groups:
        splits_of_image.setdefault(image_id, set()).add(split)
    shared = sorted(i for i, s in splits_of_image.items() if len(s) > 1)
    leaking = [i for i in shared if len({split_of(s, i) for s in splits_of_image[i]} - {None}) > 1]
    if leaking:
        import warnings

        warnings.warn(f"{refs_path}: {len(leaking)} images are in dataset splits that map to different probing splits (image {leaking[0]}: "
                      f"{', '.join(sorted(splits_of_image[leaking[0]]))}): a probe would be tested on images it was trained on; "
                      f"RefCOCOg's google split is known for this — prefer split_by=umd", stacklevel=2)

    def scenes():
        for (image_id, split), group in groups.items():
            target = split_of(split, image_id)
            if target is None:
                continue
            image = instances.images[image_id]
            if not (image_root / image["file_name"]).exists():
                skipped.append(Skipped(f"instances.json image {image_id}", f"image file {image_root / image['file_name']} is missing"))
                continue
            objects, ids = instances.objects(image, skipped)
            expressions = []
            for ref in group:
                if ref["ann_id"] not in ids:
                    skipped.append(Skipped(f"{refs_path.name} ref {ref.get('ref_id')}", f"its annotation {ref['ann_id']} was skipped"))
                    continue
                for sent in ref["sentences"]:
                    text = (sent.get("sent") or sent.get("raw") or "").strip() if isinstance(sent, dict) else ""
                    if not text:
                        skipped.append(Skipped(f"{refs_path.name} ref {ref.get('ref_id')}", f"an empty sentence {sent!r}"))
                        continue
                    expressions.append(Expression(f"r{ref['ref_id']}s{sent.get('sent_id', len(expressions))}", text, ids[ref["ann_id"]], kind=dataset,
                                                  meta={"ref_id": ref["ref_id"], "ann_id": ref["ann_id"]}))
            yield Scene(f"{dataset}-{split_by}-{image_id}-{split}", image["file_name"], int(image["width"]), int(image["height"]), split=target,
                        source=dataset, objects=tuple(objects), expressions=tuple(expressions), meta={"dataset_split": split, "image_id": image_id})

    note = {"images_in_several_splits": len(shared)} if shared else {}
    return Reading(scenes(), image_root, {"split_map": mapping, "split_by": split_by, **note}, skipped, inputs=[refs_path, instances.path])


SOURCES.register("refcoco", RealSource("refcoco", "RefCOCO / RefCOCO+ / RefCOCOg referring expressions (refer layout; refs pickles read safely)", {
    "dataset": ("refcoco", f"one of {', '.join(SPLIT_BY)}"),
    "split_by": (None, "unc / umd / google (default: the dataset's first: " + ", ".join(f"{d} {s[0]}" for d, s in SPLIT_BY.items()) + ")"),
    "images": ("images/mscoco/images/train2014", "the COCO train2014 image folder, absolute or under the root"),
    "split_map": (None, f"dataset split → probing split (default {SPLIT_MAP})"),
}, read))
