"""Pre-registered claims and their decision rules.

A claim compares two sets of results records, ``a`` and ``b`` (selected by task, model, site,
probe, protocol, control, pool, options), on one per-item ``metric``: per test item the score is
averaged over every matching record (seeds), and the ``a − b`` difference gets a paired cluster
bootstrap CI over test scenes. Each claim states, before the run, the **smallest effect of
interest** (``margin``, in the metric's units) and a **positive control**: a measurement on the
same data that must clearly beat its floor for the comparison to mean anything (e.g. the same
probe on the connector's input vs the blind probe). The rule, fixed before the run:

- **undecidable: positive control failed** — the control's CI does not lie above its floor's,
  it gains less than ``min_gain`` over it, or its predictions collapsed to one answer (a box
  probe still in the mean-box basin);
- **reproduced** — the CI lies entirely beyond ``+margin`` on the predicted side;
- **not reproduced** — the CI lies entirely inside ±``margin`` (equivalence: no effect of interest)
  or entirely beyond ``−margin`` on the other side;
- **inconclusive** — anything else: the data could not decide.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, fields

import numpy as np

from spatialprobe.metrics import sign as metric_sign
from spatialprobe.results.pooling import pooled, pooled_difference
from spatialprobe.results.record import SELECTOR_KEYS, matches

DIRECTIONS = ("greater", "less")


def _check_selector(selector, where: str) -> None:
    if not isinstance(selector, dict) or not selector:
        raise ValueError(f"{where}: expected a selector mapping with some of {', '.join(SELECTOR_KEYS)}")
    unknown = sorted(set(selector) - set(SELECTOR_KEYS))
    if unknown:
        raise ValueError(f"{where}: unknown selector key(s) {unknown}; valid: {', '.join(SELECTOR_KEYS)}")


@dataclass(frozen=True)
class PositiveControl:
    """``a`` must beat its ``floor`` on ``metric`` (default: the claim's) by at least ``min_gain``."""

    a: dict
    floor: dict
    metric: str | None = None
    min_gain: float = 0.1
    what: str = ""
    """How the report names it, e.g. "upper reference vs blind"."""

    def __post_init__(self) -> None:
        _check_selector(self.a, "control.a")
        _check_selector(self.floor, "control.floor")
        if not isinstance(self.min_gain, (int, float)) or not np.isfinite(self.min_gain) or self.min_gain < 0:
            raise ValueError(f"control.min_gain: expected a number ≥ 0, got {self.min_gain!r}")


@dataclass(frozen=True)
class Claim:
    study: str
    """The plan's study key (e.g. ``lost_in_space``)."""
    statement: str
    """The claim in words, as the study makes it."""
    a: dict
    b: dict
    metric: str
    margin: float
    """The smallest effect of interest, in the metric's units (stated before the run)."""
    control: PositiveControl | None = None
    direction: str = "greater"
    """``greater``: the study predicts a − b > 0; ``less``: a − b < 0."""

    def __post_init__(self) -> None:
        _check_selector(self.a, "a")
        _check_selector(self.b, "b")
        if self.direction not in DIRECTIONS:
            raise ValueError(f"direction: {self.direction!r}; valid: {', '.join(DIRECTIONS)}")
        if not isinstance(self.margin, (int, float)) or isinstance(self.margin, bool) or not np.isfinite(self.margin) or self.margin < 0:
            raise ValueError(f"margin: the smallest effect of interest, a number ≥ 0; got {self.margin!r}")

    @classmethod
    def from_dict(cls, d: dict, where: str = "claim") -> Claim:
        known = {f.name for f in fields(cls)}
        if not isinstance(d, dict):
            raise ValueError(f"{where}: expected a mapping")
        unknown = sorted(set(d) - known)
        missing = sorted({"study", "statement", "a", "b", "metric", "margin"} - set(d))
        if unknown or missing:
            raise ValueError(f"{where}: " + "; ".join(([f"unknown field(s) {unknown}"] if unknown else []) + ([f"missing {missing}"] if missing else [])))
        d = dict(d)
        try:
            if d.get("control") is not None:
                control = d["control"]
                if not isinstance(control, dict) or sorted(set(control) - {f.name for f in fields(PositiveControl)}):
                    raise ValueError(f"control: expected a mapping of {', '.join(f.name for f in fields(PositiveControl))}, got {control!r}")
                d["control"] = PositiveControl(**control)
            return cls(**d)
        except (ValueError, TypeError) as err:
            raise ValueError(f"{where}.{err}") from None

    def to_dict(self) -> dict:
        return asdict(self)

    def rule(self) -> str:
        side = ">" if self.direction == "greater" else "<"
        sign = "" if self.direction == "greater" else "−"
        return f"{self.metric}: reproduced if the 95% CI of a − b {side} {sign}{self.margin:g}; not reproduced if inside ±{self.margin:g}"


@dataclass
class ControlCheck:
    control: PositiveControl
    value: object | None
    floor: object | None
    passed: bool
    reason: str


@dataclass
class Verdict:
    claim: Claim
    verdict: str
    """One of `spatialprobe.names.VERDICTS`."""
    estimate: object | None
    """The paired a − b `Estimate` (None when records were missing)."""
    records: tuple[int, int]
    """How many records (seeds) were averaged on each side."""
    reason: str
    check: ControlCheck | None = None

    def sentence(self) -> str:
        where = f"{self.estimate}" if self.estimate is not None else "no estimate"
        control = f" Positive control ({self.check.control.what or 'vs its floor'}): {'passed' if self.check.passed else 'failed'}." if self.check else ""
        return f"{self.verdict.upper()}: {self.claim.statement} — a − b = {where}, smallest effect of interest ±{self.claim.margin:g} ({self.reason}).{control}"


def check_control(claim: Claim, records: list, rows_of: Callable, n_resamples: int = 1000, seed: int = 0) -> ControlCheck | None:
    """Whether the claim's positive control clearly beat its floor (None: the claim has none)."""
    control = claim.control
    if control is None:
        return None
    metric = control.metric or claim.metric
    a = [r for r in records if matches(r, control.a)]
    floor = [r for r in records if matches(r, control.floor)]
    if not a or not floor:
        return ControlCheck(control, None, None, False, f"no records match the control's {'a' if not a else 'floor'}")
    value, base = pooled(a, rows_of, metric, n_resamples=n_resamples, seed=seed), pooled(floor, rows_of, metric, n_resamples=n_resamples, seed=seed)
    if value is None or base is None:
        return ControlCheck(control, value, base, False, f"fewer than two test scenes scored on {metric}")
    collapsed = [r for r in a if (r.config.get("diagnostics") or {}).get("collapsed")]
    if collapsed:
        return ControlCheck(control, value, base, False, f"the control's predictions collapsed ({collapsed[0].config['diagnostics']['collapsed']})")
    sign = metric_sign(metric)  # a lower-is-better metric must fall below its floor
    gain = sign * (value.value - base.value)
    if not (value.low > base.high if sign > 0 else value.high < base.low) or gain < control.min_gain:
        return ControlCheck(control, value, base, False, f"{metric} {value} vs floor {base}: below the floor + {control.min_gain:g} the plan requires")
    return ControlCheck(control, value, base, True, f"{metric} {value} vs floor {base}")


def judge(claim: Claim, records: Iterable, rows_of: Callable, n_resamples: int = 1000, seed: int = 0) -> Verdict:
    """Apply ``claim``'s pre-registered rule to the records of a run."""
    records = list(records)
    a = [r for r in records if matches(r, claim.a)]
    b = [r for r in records if matches(r, claim.b)]
    if not a or not b:
        raise ValueError(f"claim {claim.statement!r}: no records match {'a' if not a else 'b'} — the plan produces none like it")
    check = check_control(claim, records, rows_of, n_resamples, seed)
    est, n_items = pooled_difference(a, b, rows_of, claim.metric, n_resamples=n_resamples, seed=seed)
    if est is None:
        return Verdict(claim, "inconclusive", None, (len(a), len(b)), f"fewer than two test scenes scored on {claim.metric}", check)
    counts = f"{n_items} items, {len(a)}+{len(b)} records"
    if check is not None and not check.passed:
        return Verdict(claim, "undecidable", est, (len(a), len(b)), f"positive control failed: {check.reason}; {counts}", check)
    sign, m = (1.0 if claim.direction == "greater" else -1.0), claim.margin
    low, high = sorted((sign * est.low, sign * est.high))
    if low > m:
        verdict, reason = "reproduced", f"the CI lies beyond the smallest effect of interest ({m:g}) on the predicted side"
    elif -m <= low and high <= m and m > 0:
        verdict, reason = "not reproduced", f"the CI lies inside ±{m:g}: no effect of interest"
    elif high < -m:
        verdict, reason = "not reproduced", f"the CI lies beyond −{m:g}: the opposite effect"
    else:
        verdict, reason = "inconclusive", f"the CI straddles a bound of ±{m:g}"
    return Verdict(claim, verdict, est, (len(a), len(b)), f"{reason}; {counts}", check)
