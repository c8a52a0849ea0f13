"""`Outline`: the records a step *will* write, known before any work, so a plan's claims can be
resolved against what it produces (a typo is an error before the lab trains, never a verdict).

An outline lists, per record field, every value its records can take — an over-approximation:
each record of the step has a value from every set, though not every combination need occur.
A selector one outline admits may still match no record (that is refused after the run); one no
outline admits is refused before it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fnmatch import fnmatchcase


@dataclass(frozen=True)
class Outline:
    task: frozenset
    model: frozenset
    site: frozenset
    """Site names, or wildcards (``vision.layer.*``) that the model's sites expand."""
    probe: frozenset
    protocol: frozenset
    control: frozenset
    pool: frozenset
    metrics: frozenset
    seed: frozenset = frozenset()
    """Empty: any seed."""
    options: tuple = ({},)
    """The task options of its records (a selector's ``options`` must be a subset of one)."""

    @classmethod
    def of(cls, **fields_) -> Outline:
        """An outline from plain values or iterables (``None`` is a value: records without a site, pool or probe)."""
        sets = {k: frozenset(v if isinstance(v, (list, tuple, set, frozenset)) else [v]) for k, v in fields_.items() if k != "options"}
        return cls(**sets, options=tuple(fields_.get("options", ({},))))

    def mismatch(self, selector: dict) -> str | None:
        """The first selector field no record of this outline can have (None: some record may match)."""
        for key, want in selector.items():
            if key == "options":
                if not any(all(have.get(k) == v for k, v in want.items()) for have in self.options):
                    return f"options {want}"
            elif key == "site":
                if not any(want == s or (isinstance(s, str) and isinstance(want, str) and fnmatchcase(want, s)) for s in self.site):
                    return f"site {want!r}"
            elif key == "seed":
                if self.seed and want not in self.seed:
                    return f"seed {want!r}"
            elif want not in getattr(self, key):
                return f"{key} {want!r}"
        return None


@dataclass
class Produces:
    """Every outline of a plan, and what a selector or metric resolves to among them."""

    outlines: list[Outline] = field(default_factory=list)

    def admitting(self, selector: dict) -> list[Outline]:
        return [o for o in self.outlines if o.mismatch(selector) is None]

    def explain(self, selector: dict) -> str:
        """Why no outline admits ``selector``: the values the plan does produce for its first failing field."""
        from spatialprobe.registry import nearest

        near = [o for o in self.outlines if all(o.mismatch({k: v}) is None for k, v in selector.items() if k in ("task", "model"))] or self.outlines
        for key, want in selector.items():
            if all(o.mismatch({key: want}) is not None for o in near):
                values = sorted({str(v) for o in near for v in (getattr(o, key) if key != "options" else [str(d) for d in o.options])})
                hint = nearest(str(want), values) if key != "options" else None
                return f"{key}: no step of the plan writes {want!r}" + (f" (did you mean {hint!r}?)" if hint else "") + f"; it writes {', '.join(values)}"
        return f"no single step writes records matching all of {selector}"
