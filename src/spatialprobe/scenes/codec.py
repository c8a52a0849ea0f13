"""Scene ↔ JSON, with validation that names the field that is wrong.

The JSON layout is the exchange format documented in ``docs/scene-format.md``.
"""

from __future__ import annotations

import math
from typing import Any

from spatialprobe.geometry import BOX_FORMATS, Box
from spatialprobe.scenes.record import (
    MASK_KINDS,
    SPLITS,
    Caption,
    Expression,
    Mask,
    Relation,
    Scene,
    SceneObject,
    Utterance,
    Word,
)


class SceneFormatError(ValueError):
    """Bad scene data; the message names the file, the line and the field."""

    def __init__(self, field: str, message: str, where: str = ""):
        self.field, self.message, self.where = field, message, where
        super().__init__(f"{where}: {field}: {message}" if where else f"{field}: {message}")

    def at(self, where: str) -> SceneFormatError:
        return SceneFormatError(self.field, self.message, where)


FIELDS = {
    "scene": {"id", "image", "width", "height", "split", "source", "instances", "objects", "expressions", "relations", "captions", "meta"},
    "object": {"id", "box", "category", "attributes", "mask", "visible", "crowd", "meta"},
    "expression": {"id", "text", "referent", "kind", "template", "meta"},
    "relation": {"id", "text", "predicate", "label", "subject", "object", "subject_name", "object_name", "group", "margin", "meta"},
    "caption": {"id", "text", "kind", "mentions", "words", "utterances", "trace", "meta"},
    "utterance": {"text", "start", "end"},
}
"""The fields each record may have: anything else (``expresions``) is an error, not silently dropped;
free-form additions go under ``meta``."""


def _known(d: Any, kind: str, path: str) -> None:
    from spatialprobe.registry import nearest

    if not isinstance(d, dict):
        return  # _get reports the type
    for key in d:
        if key not in FIELDS[kind]:
            close = nearest(key, FIELDS[kind])
            hint = f"; did you mean {close!r}?" if close else f"; {kind} fields are {', '.join(sorted(FIELDS[kind]))} (free-form data goes under 'meta')"
            raise SceneFormatError(f"{path}.{key}" if path else str(key), f"unknown {kind} field{hint}")


def _get(d: dict, key: str, kinds, path: str, default: Any = ..., nullable: bool = False) -> Any:
    if not isinstance(d, dict):
        raise SceneFormatError(path, f"expected an object, got {type(d).__name__}")
    if key not in d:
        if default is ...:
            raise SceneFormatError(f"{path}.{key}" if path else key, "missing")
        return default
    value = d[key]
    if value is None and nullable:
        return None
    if isinstance(value, bool) and bool not in (kinds if isinstance(kinds, tuple) else (kinds,)):
        raise SceneFormatError(f"{path}.{key}" if path else key, f"expected {_names(kinds)}, got a boolean")
    if not isinstance(value, kinds):
        raise SceneFormatError(f"{path}.{key}" if path else key, f"expected {_names(kinds)}, got {value!r}")
    return value


def _names(kinds) -> str:
    kinds = kinds if isinstance(kinds, tuple) else (kinds,)
    return " or ".join(k.__name__ for k in kinds)


def box_from_json(value: Any, frame: tuple[int, int], path: str, check_inside: bool = True) -> Box:
    if not isinstance(value, dict):
        raise SceneFormatError(path, f"expected {{'xyxy': [x0, y0, x1, y1]}} (or xywh / cxcywh), got {value!r}")
    formats = [k for k in value if k in BOX_FORMATS]
    if len(formats) != 1:
        raise SceneFormatError(path, f"give exactly one of {BOX_FORMATS}, got keys {sorted(value)}")
    fmt = formats[0]
    coords = value[fmt]
    if not (isinstance(coords, list) and len(coords) == 4 and all(_is_number(v) for v in coords)):
        raise SceneFormatError(f"{path}.{fmt}", f"expected four numbers, got {coords!r}")
    units = value.get("units", "pixel")
    try:
        box = Box(tuple(coords), fmt, units, frame)
    except ValueError as err:
        raise SceneFormatError(path, str(err)) from None
    if check_inside and not box.inside_frame(tolerance=0.5):
        raise SceneFormatError(path, f"box {box.array().round(2).tolist()} lies outside the {frame[0]}×{frame[1]} image")
    return box


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def box_to_json(box: Box) -> dict:
    return {"xyxy": [_compact(v) for v in box.to("xyxy", "pixel").coords]}


def _compact(v: float) -> float | int:
    """Whole numbers as ints, everything else exactly (JSON floats round-trip; rounding here would move boxes)."""
    return int(v) if v == int(v) else float(v)


def _mask_from_json(value: Any, path: str) -> Mask | None:
    if value is None:
        return None
    if value == "instance":
        return Mask("instance")
    if isinstance(value, dict) and "rle" in value:
        rle = value["rle"]
        if not (isinstance(rle, dict) and isinstance(rle.get("size"), list) and "counts" in rle):
            raise SceneFormatError(f"{path}.rle", "expected {'size': [h, w], 'counts': ...}")
        return Mask("rle", rle)
    if isinstance(value, dict) and "polygons" in value:
        polys = value["polygons"]
        if not (isinstance(polys, list) and all(isinstance(p, list) and len(p) >= 6 for p in polys)):
            raise SceneFormatError(f"{path}.polygons", "expected a list of [x0, y0, x1, y1, ...] polygons")
        return Mask("polygons", polys)
    raise SceneFormatError(path, f"expected one of {MASK_KINDS} ('instance', {{'rle': ...}}, {{'polygons': ...}})")


def _mask_to_json(mask: Mask | None) -> Any:
    if mask is None:
        return None
    return "instance" if mask.kind == "instance" else {mask.kind: mask.data}


def _object_from_json(d: dict, frame: tuple[int, int], path: str) -> SceneObject:
    _known(d, "object", path)
    oid = _get(d, "id", int, path)
    if oid < 1:
        raise SceneFormatError(f"{path}.id", f"object ids are positive ints, got {oid}")
    attributes = _get(d, "attributes", dict, path, {})
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in attributes.items()):
        raise SceneFormatError(f"{path}.attributes", "expected string keys and string values")
    visible = _get(d, "visible", (int, float), path, 1.0)
    if not 0.0 <= visible <= 1.0:
        raise SceneFormatError(f"{path}.visible", f"expected a fraction in [0, 1], got {visible}")
    return SceneObject(
        id=oid,
        box=box_from_json(_get(d, "box", dict, path), frame, f"{path}.box"),
        category=_get(d, "category", str, path, None, nullable=True),
        attributes=attributes,
        mask=_mask_from_json(d.get("mask"), f"{path}.mask"),
        visible=float(visible),
        crowd=_get(d, "crowd", bool, path, False),
        meta=_get(d, "meta", dict, path, {}),
    )


def _object_to_json(o: SceneObject) -> dict:
    d: dict[str, Any] = {"id": o.id, "category": o.category, "attributes": o.attributes, "box": box_to_json(o.box)}
    if o.mask is not None:
        d["mask"] = _mask_to_json(o.mask)
    if o.visible != 1.0:
        d["visible"] = o.visible
    if o.crowd:
        d["crowd"] = True
    if o.meta:
        d["meta"] = o.meta
    return d


def _ref(d: dict, key: str, ids: set[int], path: str) -> int | None:
    value = _get(d, key, int, path, None, nullable=True)
    if value is not None and value not in ids:
        raise SceneFormatError(f"{path}.{key}", f"no object with id {value} (ids: {sorted(ids)})")
    return value


def _expression_from_json(d: dict, ids: set[int], path: str) -> Expression:
    _known(d, "expression", path)
    return Expression(
        id=_get(d, "id", str, path),
        text=_get(d, "text", str, path),
        referent=_ref(d, "referent", ids, path),
        kind=_get(d, "kind", str, path, "attribute"),
        template=_get(d, "template", str, path, None, nullable=True),
        meta=_get(d, "meta", dict, path, {}),
    )


def _relation_from_json(d: dict, ids: set[int], path: str) -> Relation:
    _known(d, "relation", path)
    margin = _get(d, "margin", (int, float), path, None, nullable=True)
    return Relation(
        id=_get(d, "id", str, path),
        text=_get(d, "text", str, path),
        predicate=_get(d, "predicate", str, path),
        label=_get(d, "label", bool, path),
        subject=_ref(d, "subject", ids, path),
        object=_ref(d, "object", ids, path),
        subject_name=_get(d, "subject_name", str, path, None, nullable=True),
        object_name=_get(d, "object_name", str, path, None, nullable=True),
        group=_get(d, "group", str, path, None, nullable=True),
        margin=None if margin is None else float(margin),
        meta=_get(d, "meta", dict, path, {}),
    )


def _word_from_json(w: Any, text: str, ids: set[int], frame, path: str) -> Word:
    if type(w) is list and len(w) == 3 and type(w[0]) is int and type(w[1]) is int and 0 <= w[0] < w[1] <= len(text):
        if w[2] is None or (type(w[2]) is int and w[2] in ids):  # the common case, checked without building error paths
            return Word(w[0], w[1], w[2])
    if not (isinstance(w, list) and len(w) in (3, 4)):
        raise SceneFormatError(path, f"expected [start, end, object_id or null(, box)], got {w!r}")
    start, end, obj = w[0], w[1], w[2]
    if not (isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= len(text)):
        raise SceneFormatError(path, f"span [{start}, {end}) does not fit a text of {len(text)} characters")
    if obj is not None and not (type(obj) is int and obj in ids):
        raise SceneFormatError(path, f"no object with id {obj!r} (ids: {sorted(ids)})")
    box = box_from_json(w[3], frame, f"{path}[3]") if len(w) == 4 and w[3] is not None else None
    return Word(start, end, obj, box)


def _caption_from_json(d: dict, ids: set[int], frame, path: str) -> Caption:
    _known(d, "caption", path)
    text = _get(d, "text", str, path)
    mentions = _get(d, "mentions", list, path, [])
    for i, m in enumerate(mentions):
        if not (type(m) is int and m in ids):
            raise SceneFormatError(f"{path}.mentions[{i}]", f"no object with id {m} (ids: {sorted(ids)})")
    words = tuple(_word_from_json(w, text, ids, frame, f"{path}.words[{i}]") for i, w in enumerate(_get(d, "words", list, path, [])))
    utterances = []
    for i, u in enumerate(_get(d, "utterances", list, path, [])):
        p = f"{path}.utterances[{i}]"
        _known(u, "utterance", p)
        utterances.append(
            Utterance(_get(u, "text", str, p), float(_get(u, "start", (int, float), p)), float(_get(u, "end", (int, float), p)))
        )
    trace = _get(d, "trace", list, path, [])
    for i, point in enumerate(trace):
        if not (isinstance(point, list) and len(point) == 3 and all(_is_number(v) for v in point)):
            raise SceneFormatError(f"{path}.trace[{i}]", f"expected [x, y, t], got {point!r}")
    return Caption(
        id=_get(d, "id", str, path),
        text=text,
        kind=_get(d, "kind", str, path, "coarse"),
        mentions=tuple(mentions),
        words=words,
        utterances=tuple(utterances),
        trace=tuple(tuple(float(v) for v in p) for p in trace),
        meta=_get(d, "meta", dict, path, {}),
    )


def _caption_to_json(c: Caption) -> dict:
    d: dict[str, Any] = {"id": c.id, "kind": c.kind, "text": c.text, "mentions": list(c.mentions)}
    if c.words:
        d["words"] = [
            [w.start, w.end, w.object] + ([box_to_json(w.box)] if w.box is not None else []) for w in c.words
        ]
    if c.utterances:
        d["utterances"] = [{"text": u.text, "start": u.start_time, "end": u.end_time} for u in c.utterances]
    if c.trace:
        d["trace"] = [list(p) for p in c.trace]
    if c.meta:
        d["meta"] = c.meta
    return d


def _unique(items, path: str, key=lambda x: x.id) -> None:
    seen = set()
    for i, item in enumerate(items):
        k = key(item)
        if k in seen:
            raise SceneFormatError(f"{path}[{i}].id", f"duplicate id {k!r}")
        seen.add(k)


def scene_from_json(d: Any) -> Scene:
    """Build and validate a `Scene` from its JSON object; raises `SceneFormatError`."""
    if not isinstance(d, dict):
        raise SceneFormatError("scene", f"expected a JSON object, got {type(d).__name__}")
    _known(d, "scene", "")
    width, height = _get(d, "width", int, ""), _get(d, "height", int, "")
    if width < 1 or height < 1:
        raise SceneFormatError("width/height", f"must be positive, got {width}×{height}")
    frame = (width, height)
    split = _get(d, "split", str, "", None, nullable=True)
    if split is not None and split not in SPLITS:
        raise SceneFormatError("split", f"unknown split {split!r}; expected one of {SPLITS}")
    objects = tuple(_object_from_json(o, frame, f"objects[{i}]") for i, o in enumerate(_get(d, "objects", list, "", [])))
    _unique(objects, "objects")
    ids = {o.id for o in objects}
    instances = _get(d, "instances", str, "", None, nullable=True)
    for i, o in enumerate(objects):
        if o.mask is not None and o.mask.kind == "instance" and instances is None:
            raise SceneFormatError(f"objects[{i}].mask", "'instance' masks need the scene's 'instances' PNG")
    expressions = tuple(
        _expression_from_json(e, ids, f"expressions[{i}]") for i, e in enumerate(_get(d, "expressions", list, "", []))
    )
    relations = tuple(
        _relation_from_json(r, ids, f"relations[{i}]") for i, r in enumerate(_get(d, "relations", list, "", []))
    )
    captions = tuple(
        _caption_from_json(c, ids, frame, f"captions[{i}]") for i, c in enumerate(_get(d, "captions", list, "", []))
    )
    for name, items in (("expressions", expressions), ("relations", relations), ("captions", captions)):
        _unique(items, name)
    return Scene(
        id=_get(d, "id", str, ""),
        image=_get(d, "image", str, ""),
        width=width,
        height=height,
        split=split,
        source=_get(d, "source", str, "", "unknown"),
        instances=instances,
        objects=objects,
        expressions=expressions,
        relations=relations,
        captions=captions,
        meta=_get(d, "meta", dict, "", {}),
    )


def scene_to_json(s: Scene) -> dict:
    """The JSON object of a scene (inverse of `scene_from_json`)."""
    d: dict[str, Any] = {
        "id": s.id,
        "image": s.image,
        "width": s.width,
        "height": s.height,
        "split": s.split,
        "source": s.source,
    }
    if s.instances is not None:
        d["instances"] = s.instances
    d["objects"] = [_object_to_json(o) for o in s.objects]
    d["expressions"] = [_drop_empty(e.__dict__) for e in s.expressions]
    d["relations"] = [_drop_empty(r.__dict__) for r in s.relations]
    d["captions"] = [_caption_to_json(c) for c in s.captions]
    if s.meta:
        d["meta"] = s.meta
    return d


def _drop_empty(d: dict) -> dict:
    return {k: v for k, v in d.items() if v is not None and v != {}}
