"""Pre-registered claims and their decision rules.

A claim compares two sets of results records, ``a`` and ``b`` (selected by task, model, site,
probe, protocol, control, pool, options), on one per-item ``metric``: per test item the score is
averaged over every matching record (seeds), and the ``a − b`` difference gets a paired cluster
bootstrap CI over test scenes. The rule, fixed before the run:

- **reproduced**: the 95% CI lies entirely on the predicted side of 0 (``direction``);
- **not reproduced**: the CI lies entirely on the other side, or inside ±``margin`` (no effect);
- **inconclusive**: otherwise.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, fields

import numpy as np

from spatialprobe.results.record import SELECTOR_KEYS, matches

DIRECTIONS = ("greater", "less")


@dataclass(frozen=True)
class Claim:
    study: str
    """The plan's study key (e.g. ``lost_in_space``)."""
    statement: str
    """The claim in words, as the study makes it."""
    a: dict
    b: dict
    metric: str
    direction: str = "greater"
    """``greater``: the study predicts a − b > 0; ``less``: a − b < 0."""
    margin: float = 0.0
    """A CI inside ±margin counts as "no effect" (not reproduced); 0 disables it."""

    def __post_init__(self) -> None:
        for side in ("a", "b"):
            selector = getattr(self, side)
            if not isinstance(selector, dict) or not selector:
                raise ValueError(f"{side}: expected a selector mapping with some of {', '.join(SELECTOR_KEYS)}")
            unknown = sorted(set(selector) - set(SELECTOR_KEYS))
            if unknown:
                raise ValueError(f"{side}: unknown selector key(s) {unknown}; valid: {', '.join(SELECTOR_KEYS)}")
        if self.direction not in DIRECTIONS:
            raise ValueError(f"direction: {self.direction!r}; valid: {', '.join(DIRECTIONS)}")

    @classmethod
    def from_dict(cls, d: dict, where: str = "claim") -> Claim:
        known = {f.name for f in fields(cls)}
        if not isinstance(d, dict):
            raise ValueError(f"{where}: expected a mapping")
        unknown = sorted(set(d) - known)
        missing = sorted({"study", "statement", "a", "b", "metric"} - set(d))
        if unknown or missing:
            raise ValueError(f"{where}: " + "; ".join(([f"unknown field(s) {unknown}"] if unknown else []) + ([f"missing {missing}"] if missing else [])))
        try:
            return cls(**d)
        except ValueError as err:
            raise ValueError(f"{where}.{err}") from None

    def to_dict(self) -> dict:
        return asdict(self)

    def rule(self) -> str:
        side = "> 0" if self.direction == "greater" else "< 0"
        tail = f"; CI inside ±{self.margin:g} ⇒ not reproduced" if self.margin else ""
        return f"{self.metric}: a − b {side}, paired 95% CI excludes 0{tail}"


@dataclass
class Verdict:
    claim: Claim
    verdict: str
    """``reproduced``, ``not reproduced`` or ``inconclusive``."""
    estimate: object | None
    """The paired a − b `Estimate` (None when records were missing)."""
    records: tuple[int, int]
    """How many records (seeds) were averaged on each side."""
    reason: str

    def sentence(self) -> str:
        where = f"{self.estimate}" if self.estimate is not None else "no estimate"
        return f"{self.verdict.upper()}: {self.claim.statement} — a − b = {where} ({self.reason})."


def item_scores(records, rows_of: Callable, metric: str) -> dict[tuple, tuple[str, float]]:
    """(scene, item) → (scene, mean score over ``records``) from each record's prediction rows."""
    sums = defaultdict(list)
    for record in records:
        for row in rows_of(record):
            value = (row.get("scores") or {}).get(metric)
            if value is not None and not np.isnan(value):
                sums[(row["scene"], row["item"])].append(value)
    return {key: (key[0], float(np.mean(v))) for key, v in sums.items()}


def judge(claim: Claim, records: Iterable, rows_of: Callable, n_resamples: int = 1000, seed: int = 0) -> Verdict:
    """Apply ``claim``'s pre-registered rule to the records of a run."""
    from spatialprobe.results.stats import paired_difference

    records = list(records)
    a = [r for r in records if matches(r, claim.a)]
    b = [r for r in records if matches(r, claim.b)]
    if not a or not b:
        return Verdict(claim, "inconclusive", None, (len(a), len(b)), f"no records match {'a' if not a else 'b'}")
    sa, sb = item_scores(a, rows_of, claim.metric), item_scores(b, rows_of, claim.metric)
    keys = sorted(set(sa) & set(sb))
    if len({sa[k][0] for k in keys}) < 2:
        return Verdict(claim, "inconclusive", None, (len(a), len(b)), f"fewer than two test scenes scored on {claim.metric}")
    clusters = np.array([sa[k][0] for k in keys])
    est = paired_difference(np.array([sa[k][1] for k in keys]), np.array([sb[k][1] for k in keys]), clusters, n_resamples=n_resamples, seed=seed)
    sign = 1.0 if claim.direction == "greater" else -1.0
    low, high = sorted((sign * est.low, sign * est.high))
    if low > 0:
        verdict, reason = "reproduced", "the CI excludes 0 on the predicted side"
    elif high < 0:
        verdict, reason = "not reproduced", "the CI excludes 0 on the opposite side"
    elif claim.margin and -claim.margin <= est.low and est.high <= claim.margin:
        verdict, reason = "not reproduced", f"the CI lies inside ±{claim.margin:g}: no effect"
    else:
        verdict, reason = "inconclusive", "the CI includes 0"
    return Verdict(claim, verdict, est, (len(a), len(b)), f"{reason}; {len(keys)} items, {len(a)}+{len(b)} records")
