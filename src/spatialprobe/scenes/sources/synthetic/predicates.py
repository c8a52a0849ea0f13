"""The geometry of the six spatial predicates, with a margin so labels are never borderline."""

from __future__ import annotations

import math

FAMILIES = {"horizontal": ("left of", "right of"), "vertical": ("above", "below"), "distance": ("near", "far from")}


def signed_value(predicate: str, a: tuple[float, float], b: tuple[float, float], near: float) -> float:
    """How far (pixels) "a <predicate> b" is on its true side of the decision threshold.

    ``a`` and ``b`` are box centres (x, y) in pixels, y pointing down; ``near`` is the distance
    threshold in pixels. Positive = true, negative = false.
    """
    dx, dy = b[0] - a[0], b[1] - a[1]
    if predicate == "left of":
        return dx
    if predicate == "right of":
        return -dx
    if predicate == "above":
        return dy
    if predicate == "below":
        return -dy
    distance = math.hypot(dx, dy)
    if predicate == "near":
        return near - distance
    if predicate == "far from":
        return distance - near
    raise KeyError(predicate)


def truth(predicate: str, a, b, near: float, margin: float) -> bool | None:
    """True / False when the geometry is at least ``margin`` pixels from the threshold, else None."""
    value = signed_value(predicate, a, b, near)
    if value >= margin:
        return True
    if value <= -margin:
        return False
    return None

PREDICATES_ORDER = tuple(p for family in FAMILIES.values() for p in family)
