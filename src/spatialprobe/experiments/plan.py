"""`Plan`: a typed, validated experiment — scenes or datasets, models, the lab if any, studies, seeds, pre-registered claims, scales.

A plan file is YAML. ``scales`` holds named overrides (``quick``, ``full``) merged into the plan
before validation, so one file states all three scales of the same experiment. ``models`` names
models by alias (``blip2: hf:Salesforce/blip2-opt-2.7b``): studies and claims use the alias, so one
``--model blip2=hf:/my/checkpoint`` swaps the model everywhere and the claims still select it.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from spatialprobe.experiments.claims import Claim


class PlanError(ValueError):
    """A bad plan field: the message names the file and the field path."""


def merge(base: dict, override: dict) -> dict:
    """Deep merge: mappings merge key by key, anything else is replaced."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        out[key] = merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else copy.deepcopy(value)
    return out


ALIAS = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")
"""A model alias or dataset name: no ``:`` (a spec), ``+`` or ``@`` (a lab connector)."""


def shortcuts(d: dict, models: list[str], data: list[str], source: str) -> list[tuple[str, object]]:
    """``--model [ALIAS=]SPEC`` and ``--data [NAME=]ADDRESS`` as ``--set`` overrides of plan ``d``.

    Without a name, ``--model`` replaces the plan's only alias and ``--data`` the plan's only
    dataset (or its synthetic scenes)."""
    out = []
    for flag, values, key in (("--model", models, "models"), ("--data", data, "data")):
        for text in values:
            name, sep, value = text.partition("=")
            if not (sep and ALIAS.match(name)):
                name, value = None, text
            current = d.get(key)
            names = sorted(current) if isinstance(current, dict) else []
            if name is None and key == "data" and not isinstance(current, dict):
                out += [("data", value)] + ([("scenes", {})] if d.get("scenes") else [])
                continue
            if name is None:
                if len(names) != 1:
                    raise PlanError(f"{source}: {flag} {text}: the plan has {len(names) or 'no'} {key} names"
                                    + (f" ({', '.join(names)})" if names else "") + f"; give {flag} NAME={'SPEC' if key == 'models' else 'ADDRESS'}")
                name = names[0]
            if name not in names:
                from spatialprobe.registry import nearest

                near = nearest(name, names)
                raise PlanError(f"{source}: {flag} {text}: the plan has no {key} name {name!r}" + (f"; did you mean {near!r}?" if near else "")
                                + f" (it has: {', '.join(names) or 'none'})")
            out.append((f"{key}.{name}", value))
    return out


def _substitute(d: dict, source: str) -> dict:
    """``d`` with every model alias in the studies' model options and the claims' selectors replaced by its spec."""
    from spatialprobe.experiments.studies import STUDIES
    from spatialprobe.experiments.studies._probing import SPEC_SCHEMES

    aliases = d.get("models") or {}
    if not isinstance(aliases, dict):
        raise PlanError(f"{source}: models: expected a mapping alias → spec, got {aliases!r}")
    for alias, spec in aliases.items():
        if not isinstance(alias, str) or not ALIAS.match(alias):
            raise PlanError(f"{source}: models.{alias}: an alias is a letter then letters, digits, '_' or '-' (no ':', '+', '@')")
        if not isinstance(spec, str) or spec.partition(":")[0] not in (*SPEC_SCHEMES, "lab") or not spec.partition(":")[2]:
            raise PlanError(f"{source}: models.{alias}: expected a model spec (hf:…, toy:… or lab:<connector>), got {spec!r}")
    if not aliases:
        return d
    d = copy.deepcopy(d)

    def swap(name):
        """``alias`` → its spec; ``alias <suffix>`` (a record name built on it: ``clip (random init)``, ``blip2 + fix``) → ``spec <suffix>``."""
        if not isinstance(name, str):
            return name
        head, sep, rest = name.partition(" ")
        return aliases[head] + sep + rest if head in aliases else name

    for study, options in (d.get("studies") or {}).items():
        if study in STUDIES.names() and isinstance(options, dict):
            for key in STUDIES.get(study).model_options:
                if key in options:
                    options[key] = swap(options[key]) if isinstance(options[key], str) else [swap(m) for m in options[key]]
    for claim in d.get("claims") or []:
        sides = [claim.get("a"), claim.get("b")] + ([claim["control"].get("a"), claim["control"].get("floor")] if isinstance(claim.get("control"), dict) else [])
        for side in sides:
            if isinstance(side, dict) and "model" in side:
                side["model"] = swap(side["model"])
    return d


def _settable(parents: list[str]) -> set[str] | None:
    """Keys a ``--set`` may add under ``parents`` (validated later with the plan), or None: only existing keys."""
    from spatialprobe.lab.config import LabConfig
    from spatialprobe.scenes.sources.synthetic import SyntheticConfig

    if not parents:
        return {f.name for f in fields(Plan)}
    if parents in (["models"], ["data"]):
        return set()  # only names the plan has: --model / --data say so with the names it has
    if parents == ["scenes"]:
        return {f.name for f in fields(SyntheticConfig)}
    if parents == ["lab"]:
        return {f.name for f in fields(LabConfig)} - {"data", "cache", "seed"}
    if len(parents) == 2 and parents[0] == "studies":
        from spatialprobe.experiments.studies import STUDIES

        return set(STUDIES.get(parents[1]).options) if parents[1] in STUDIES.names() else set()
    return None


def _override(d: dict, path: str, value, source: str) -> dict:
    """``d`` with the value at dotted ``path`` replaced; a path the plan cannot hold is an error."""
    from spatialprobe.registry import nearest

    keys = path.split(".")
    out = copy.deepcopy(d)
    node = out
    for depth, key in enumerate(keys):
        if not isinstance(node, dict):
            raise PlanError(f"{source}: --set {path}: {'.'.join(keys[:depth])} is not a mapping")
        allowed = _settable(keys[:depth])
        valid = set(node) | (allowed or set())
        if key not in valid:
            near = nearest(key, sorted(valid))
            raise PlanError(f"{source}: --set {path}: no field {key!r} at {'.'.join(keys[:depth]) or 'the top'}"
                            + (f"; did you mean {near!r}?" if near else "") + f" (valid: {', '.join(sorted(valid))})")
        if depth == len(keys) - 1:
            node[key] = copy.deepcopy(value)
        else:
            node = node.setdefault(key, {})
    return out


@dataclass
class Plan:
    name: str
    studies: dict
    """Study name → its options; studies run in this order. A study's ``models`` are lab connectors
    (``qformer+coarse@contrastive``, or ``lab:…``) or any model spec (``hf:…``, ``toy:…``)."""
    scenes: dict = field(default_factory=dict)
    """`SyntheticConfig` fields of the synthetic scenes every study reads (or give ``data``)."""
    data: str | dict | None = None
    """Instead of ``scenes``: a scene directory or a real dataset as ``SOURCE:ROOT?options``, or
    several by name (``{refcoco: "refcoco:/data/refer", vsr: "vsr:/data/vsr"}``) that studies pick
    with their ``data`` option."""
    models: dict = field(default_factory=dict)
    """Alias → model spec; replaced in the studies and claims when the plan is read (see the module docstring)."""
    lab: dict = field(default_factory=dict)
    """`LabConfig` fields (without ``data``, ``cache`` and ``seed``); trained only when a study names a lab connector."""
    claims: list[Claim] = field(default_factory=list)
    lab_seeds: list[int] = field(default_factory=lambda: [0])
    probe_seeds: list[int] = field(default_factory=lambda: [0])
    bootstrap: int = 1000
    scale: str = "default"
    label: str = ""
    """What this scale's numbers are, printed on the report (e.g. "smoke test, not evidence")."""
    budget_s: float | None = None
    """The run time this scale is meant to fit (reported next to the measured time)."""
    device: str = "cpu"
    """Where the models of the probing steps run for extraction (``--device``); the lab's trainers and the
    joint protocol's connector training run on the CPU in float32."""
    dtype: str = "float32"
    """Those models' dtype for extraction (``--dtype``: float32, bfloat16, float16)."""

    def __post_init__(self) -> None:
        from spatialprobe.experiments.studies import STUDIES

        from spatialprobe.registry import nearest

        for name, options in self.studies.items():
            if name not in STUDIES.names():
                raise PlanError(f"studies.{name}: unknown study; valid: {', '.join(STUDIES.names())}")
            if not isinstance(options, dict):
                raise PlanError(f"studies.{name}: expected a mapping of options, got {options!r}")
            known = STUDIES.get(name).options
            for key in options:
                if key not in known:
                    near = nearest(key, known)
                    raise PlanError(f"studies.{name}.{key}: unknown option" + (f"; did you mean {near!r}?" if near else "") + f" (valid: {', '.join(known)})")
        for name in ("lab_seeds", "probe_seeds"):
            values = getattr(self, name)
            if not values or not all(isinstance(s, int) for s in values):
                raise PlanError(f"{name}: expected a non-empty list of integers, got {values!r}")
        for key in ("data", "cache", "seed"):
            if key in self.lab:
                raise PlanError(f"lab.{key}: set by the run (scenes, cache, lab_seeds), not in the plan")
        if bool(self.scenes) == (self.data is not None):
            raise PlanError("scenes, data: give exactly one — synthetic scenes (scenes: {n: …}) or a dataset (data: DIR or SOURCE:ROOT)")
        for name, address in self.datasets().items():
            if not (isinstance(address, str) and address):
                raise PlanError(f"data{'.' + str(name) if name else ''}: expected a scene directory or SOURCE:ROOT string, got {address!r}")
            if name and not (isinstance(name, str) and ALIAS.match(name)):
                raise PlanError(f"data.{name}: a dataset name is a letter then letters, digits, '_' or '-'")
        if isinstance(self.data, dict) and not self.data:
            raise PlanError("data: an empty mapping; name at least one dataset")
        from spatialprobe.names import DTYPES

        if self.dtype not in DTYPES:
            raise PlanError(f"dtype: {self.dtype!r}; valid: {', '.join(DTYPES)}")
        for i, claim in enumerate(self.claims):
            if claim.study not in self.studies:
                raise PlanError(f"claims[{i}].study: {claim.study!r} is not among the plan's studies {list(self.studies)}")

    @classmethod
    def from_dict(cls, d: dict, scale: str = "default", source: str = "plan", overrides: list[tuple[str, object]] = (),
                  models: list[str] = (), data: list[str] = ()) -> Plan:
        """``overrides``: (dotted field path, value) pairs (``--set``), applied after the scale and the
        ``models`` / ``data`` shortcuts (``--model``, ``--data``: see `shortcuts`), so the resolved plan —
        and the run's ``plan.json`` — holds them."""
        if not isinstance(d, dict):
            raise PlanError(f"{source}: expected a mapping")
        d = dict(d)
        scales = d.pop("scales", {}) or {}
        if scale != "default":
            if scale not in scales:
                raise PlanError(f"{source}: no scale {scale!r}; it has default, {', '.join(scales)}")
            d = merge(d, scales[scale])
        for path, value in [*shortcuts(d, list(models), list(data), source), *overrides]:
            d = _override(d, path, value, source)
        d = _substitute(d, source)
        known = {f.name for f in fields(cls)}
        for key in d:
            if key not in known:
                raise PlanError(f"{source}: {key}: unknown field; valid: scales, {', '.join(sorted(known))}")
        for key in ("name", "studies"):
            if key not in d:
                raise PlanError(f"{source}: {key}: missing")
        try:
            d["claims"] = [Claim.from_dict(c, f"claims[{i}]") for i, c in enumerate(d.get("claims") or [])]
            return cls(**{**d, "scale": scale})
        except (PlanError, ValueError, TypeError) as err:
            raise PlanError(f"{source}: {err}") from None

    @classmethod
    def from_yaml(cls, path: str | Path, scale: str = "default", overrides: list[tuple[str, object]] = (), models: list[str] = (),
                  data: list[str] = ()) -> Plan:
        import yaml

        try:
            d = yaml.safe_load(Path(path).read_text())
        except yaml.YAMLError as err:
            raise PlanError(f"{path}: not valid YAML ({err})") from None
        return cls.from_dict(d, scale, str(path), overrides, models, data)

    @classmethod
    def from_run(cls, directory: str | Path) -> Plan:
        """The resolved plan a run folder was made with (its ``plan.json``)."""
        path = Path(directory) / "plan.json"
        try:
            d = json.loads(path.read_text())
        except (OSError, ValueError) as err:
            raise PlanError(f"{path}: not a run folder's plan ({err})") from None
        d.pop("fingerprint", None)
        scale = d.pop("scale", "default")
        plan = cls.from_dict(d, source=str(path))
        plan.scale = scale
        return plan

    def datasets(self) -> dict:
        """``data`` by name (``""`` for a single unnamed one); empty for synthetic ``scenes``."""
        if self.data is None:
            return {}
        return dict(self.data) if isinstance(self.data, dict) else {"": self.data}

    def to_dict(self) -> dict:
        return {**asdict(self), "claims": [c.to_dict() for c in self.claims]}

    def fingerprint(self) -> str:
        """Hash of everything that changes results (not the label or budget)."""
        defaults = {"data": None, "models": {}, "device": "cpu", "dtype": "float32"}  # absent fields keep earlier plans' fingerprints
        d = {k: v for k, v in self.to_dict().items() if k not in ("label", "budget_s", "claims") and not (k in defaults and v == defaults[k])}
        return hashlib.sha256(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()[:12]
