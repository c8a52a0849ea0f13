"""`LabConfig`: what the lab trains, validated with paths to the bad field."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from spatialprobe.lab.encoders import OBJECTIVES
from spatialprobe.lab.objectives import OBJECTIVES as CONNECTOR_OBJECTIVES
from spatialprobe.models.toy.model import CONNECTORS



class LabConfigError(ValueError):
    """A bad lab config field; the message names it and the allowed values."""


def _default_model() -> dict:
    return {"width": 128, "depth": 4, "heads": 4, "stem": "conv", "lm_width": 128, "lm_depth": 2, "lm_heads": 4,
            "queries": 16, "connector_width": 128, "connector_depth": 2}


def _default_connectors() -> list[dict]:
    return [{"type": "linear", "encoder": e} for e in ("contrastive", "labels", "masked", "random")] + [
        {"type": t, "encoder": "contrastive"} for t in ("mlp", "qformer", "perceiver")
    ]


@dataclass
class LabConfig:
    data: str
    split: str = "lab"
    limit: int | None = None
    seed: int = 0
    model: dict = field(default_factory=_default_model)
    encoder_epochs: int = 6
    lm_epochs: int = 6
    connector_epochs: int = 8
    encoders: list[str] = field(default_factory=lambda: ["contrastive", "labels", "masked", "random"])
    connectors: list = field(default_factory=_default_connectors)
    """Dicts ``{type, encoder, position_in_kv, objectives}`` or preset strings ``qformer+spatial+location@contrastive``."""
    seen_predicates: list[str] | None = None
    """Predicates the object-aware objectives may see; default: the dataset's ``predicate_sets.seen``."""
    location_weight: float = 0.1
    cache: str | None = None

    def __post_init__(self) -> None:
        for i, name in enumerate(self.encoders):
            if name not in OBJECTIVES:
                raise LabConfigError(f"lab.encoders[{i}]: unknown objective {name!r}; valid: {', '.join(OBJECTIVES)}")
        self.connectors = [parse_preset(c, f"lab.connectors[{i}]") if isinstance(c, str) else c for i, c in enumerate(self.connectors)]
        for i, c in enumerate(self.connectors):
            if not isinstance(c, dict) or c.get("type") not in CONNECTORS:
                raise LabConfigError(f"lab.connectors[{i}].type: expected one of {', '.join(CONNECTORS)}, got {c!r}")
            if c.get("encoder") not in self.encoders:
                raise LabConfigError(f"lab.connectors[{i}].encoder: {c.get('encoder')!r} is not in lab.encoders {self.encoders}")
            for objective in c.setdefault("objectives", ["coarse"]):
                if objective not in CONNECTOR_OBJECTIVES:
                    raise LabConfigError(f"lab.connectors[{i}].objectives: unknown {objective!r}; valid: {', '.join(CONNECTOR_OBJECTIVES)}")
            if not {"coarse", "spatial"} & set(c["objectives"]):
                raise LabConfigError(f"lab.connectors[{i}].objectives: needs a caption objective (coarse or spatial), got {c['objectives']}")
        for name in ("encoder_epochs", "lm_epochs", "connector_epochs"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise LabConfigError(f"lab.{name}: expected a positive integer")

    @staticmethod
    def name(c: dict) -> str:
        """A connector's model name, the inverse of `parse_preset`: ``qformer+pos+spatial+location@contrastive``."""
        return "+".join([c["type"]] + (["pos"] if c.get("position_in_kv") else []) + list(c.get("objectives", ["coarse"]))) + f"@{c['encoder']}"

    @classmethod
    def from_dict(cls, d: dict) -> LabConfig:
        known = {f.name for f in fields(cls)}
        for key in d:
            if key not in known:
                from spatialprobe.registry import nearest

                near = nearest(key, known)
                raise LabConfigError(f"lab.{key}: unknown field" + (f"; did you mean {near!r}?" if near else "") + f" (valid: {', '.join(sorted(known))})")
        if "data" not in d:
            raise LabConfigError("lab.data: missing")
        return cls(**d)

    @classmethod
    def from_yaml(cls, path: str | Path) -> LabConfig:
        import yaml

        return cls.from_dict(yaml.safe_load(Path(path).read_text()))

    def to_dict(self) -> dict:
        return asdict(self)

    def cache_root(self) -> Path:
        import os

        return Path(self.cache or os.environ.get("SPATIALPROBE_LAB", Path.home() / ".cache" / "spatialprobe" / "lab"))


def parse_preset(text: str, where: str = "preset") -> dict:
    """``<type>[+pos][+objective…]@<encoder>`` → a connector dict (objectives default to coarse)."""
    head, _, encoder = text.partition("@")
    kind, *options = head.split("+")
    if not encoder:
        raise LabConfigError(f"{where}: {text!r} names no encoder; write e.g. {kind}+spatial@contrastive")
    return {"type": kind, "encoder": encoder, "position_in_kv": "pos" in options, "objectives": [o for o in options if o != "pos"] or ["coarse"]}
