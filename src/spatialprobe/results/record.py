"""`ResultRecord`: one measurement — what was measured on what, the metrics with CIs, and provenance."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from spatialprobe.results.stats import Estimate

IDENTITY = ("task", "model", "site", "probe", "protocol", "seed", "condition")


@dataclass(frozen=True)
class ResultRecord:
    """Metrics of one (model, site, task, probe, protocol, seed, condition) measurement.

    ``condition`` holds any further identifying choices (token pool, control, split, ...);
    ``config`` the resolved configuration that produced it; ``provenance`` where it came from.
    """

    task: str
    metrics: dict[str, Estimate]
    model: str | None = None
    site: str | None = None
    probe: str | None = None
    protocol: str | None = None
    seed: int | None = None
    condition: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        """A stable id from the identifying fields (not the numbers)."""
        key = json.dumps({k: getattr(self, k) for k in IDENTITY}, sort_keys=True, default=str)
        return hashlib.sha256(key.encode()).hexdigest()[:16]

    def to_json(self) -> dict:
        return {
            "id": self.id,
            **{k: getattr(self, k) for k in IDENTITY},
            "metrics": {name: est.to_json() for name, est in self.metrics.items()},
            "config": self.config,
            "provenance": self.provenance,
        }

    @classmethod
    def from_json(cls, d: dict) -> ResultRecord:
        return cls(
            **{k: d.get(k) for k in IDENTITY if k != "condition"},
            condition=d.get("condition") or {},
            metrics={name: Estimate.from_json(e) for name, e in d["metrics"].items()},
            config=d.get("config", {}),
            provenance=d.get("provenance", {}),
        )


SELECTOR_KEYS = ("task", "model", "site", "probe", "protocol", "seed", "control", "pool", "options")


def matches(record, selector: dict) -> bool:
    """Whether ``record`` has every field (task, model, …) or condition entry (control, pool, options ⊆) of ``selector``."""
    for key, want in selector.items():
        if key in ("control", "pool"):
            have = record.condition.get(key)
        elif key == "options":
            have = record.condition.get("options", {})
            if not all(have.get(k) == v for k, v in want.items()):
                return False
            continue
        else:
            have = getattr(record, key)
        if have != want:
            return False
    return True
