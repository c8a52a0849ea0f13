"""`ProbeConfig`: one config drives sites × pools × tasks × probes × seeds, validated with paths."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from spatialprobe.names import CONDITIONING, CONTROLS, DTYPES, PROTOCOLS
from spatialprobe.names import TEXT_ENCODERS as ENCODERS


class ConfigError(ValueError):
    """A bad config field: the message gives its path and the allowed values."""


@dataclass
class ProbeConfig:
    model: str
    data: str
    sites: list[str]
    tasks: list
    pools: list[str] = field(default_factory=lambda: ["mean"])
    probes: list[str] = field(default_factory=lambda: ["ridge"])
    seeds: list[int] = field(default_factory=lambda: [0])
    text: str = "bow"
    conditioning: str = "bilinear"
    controls: list[str] = field(default_factory=lambda: list(CONTROLS))
    store: str | None = None
    out: str = "runs/probe"
    batch_size: int = 64
    min_train: int = 20
    bootstrap: int = 1000
    protocols: list[str] = field(default_factory=lambda: ["frozen"])
    """``frozen``; add ``joint`` for the Lost-in-Space comparison with its references (neural probes; any model whose card declares a trainable connector)."""
    joint: dict = field(default_factory=dict)
    """The joint protocol: ``conditions`` (default: all that fit the task) and overrides of the training
    recipe (epochs, lr, connector_lr, weight_decay, batch_size, warmup)."""
    neural: dict = field(default_factory=dict)
    """Overrides of the neural probes' training recipe (epochs, lr, connector_lr, weight_decay, batch_size,
    warmup) and ``hidden`` (their width)."""
    name: str | None = None
    """How records name the model (default: the model spec), e.g. ``qformer+coarse@contrastive``."""
    device: str = "cpu"
    """Where the model runs for extraction (``cuda``, ``cuda:1``, ``mps``); recorded in provenance."""
    dtype: str = "float32"
    """The model's dtype for extraction (``bfloat16``, ``float16``); part of the store's key."""

    def __post_init__(self) -> None:
        from spatialprobe.registry import PROBES, TASKS

        for name in ("sites", "tasks", "pools", "probes", "seeds", "controls"):
            if not isinstance(getattr(self, name), list) or not getattr(self, name) and name not in ("controls",):
                raise ConfigError(f"config.{name}: expected a non-empty list, got {getattr(self, name)!r}")
        for name in ("sites", "pools", "probes", "controls", "protocols"):
            value = getattr(self, name)
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ConfigError(f"config.{name}: expected a list of names, got {value!r}")
        if self.dtype not in DTYPES:
            raise ConfigError(f"config.dtype: {self.dtype!r}; valid: {', '.join(DTYPES)}")
        for name in ("model", "data", "text", "conditioning", "out", "device"):
            if not isinstance(getattr(self, name), str):
                raise ConfigError(f"config.{name}: expected a string, got {getattr(self, name)!r}")
        for name in ("store", "name"):
            if getattr(self, name) is not None and not isinstance(getattr(self, name), str):
                raise ConfigError(f"config.{name}: expected a string, got {getattr(self, name)!r}")
        valid_tasks = TASKS.names()
        for i, task in enumerate(self.tasks):
            name = task if isinstance(task, str) else (task.get("name") if isinstance(task, dict) else None)
            if name not in valid_tasks:
                raise ConfigError(f"config.tasks[{i}]: unknown task {name!r}; valid: {', '.join(valid_tasks)}")
        for i, probe in enumerate(self.probes):
            if probe not in PROBES.names():
                raise ConfigError(f"config.probes[{i}]: unknown probe {probe!r}; valid: {', '.join(PROBES.names())}")
        from spatialprobe.features.pools import POOLS

        for i, pool in enumerate(self.pools):
            if pool not in POOLS:
                raise ConfigError(f"config.pools[{i}]: unknown pool {pool!r}; valid: {', '.join(POOLS)}")
        for i, control in enumerate(self.controls):
            if control not in CONTROLS:
                raise ConfigError(f"config.controls[{i}]: unknown control {control!r}; valid: {', '.join(CONTROLS)}")
        for i, protocol in enumerate(self.protocols):
            if protocol not in PROTOCOLS:
                raise ConfigError(f"config.protocols[{i}]: unknown protocol {protocol!r}; valid: {', '.join(PROTOCOLS)}")
        if "joint" in self.protocols and not any(PROBES.get(p).joint_trainable for p in self.probes):
            raise ConfigError("config.protocols: 'joint' trains a neural probe with the connector; add mlp or attention_pool to config.probes")
        if self.text not in ENCODERS:
            raise ConfigError(f"config.text: unknown encoder {self.text!r}; valid: {', '.join(ENCODERS)}")
        if self.conditioning not in CONDITIONING:
            raise ConfigError(f"config.conditioning: {self.conditioning!r}; valid: {', '.join(CONDITIONING)}")
        if not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in self.seeds):
            raise ConfigError(f"config.seeds: integers ≥ 0, got {self.seeds!r}")
        for name, low in (("batch_size", 1), ("min_train", 1), ("bootstrap", 100)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ConfigError(f"config.{name}: expected an integer ≥ {low}, got {value!r}" + (" (fewer resamples give no usable CI)" if name == "bootstrap" else ""))
        self._check_training()

    def _check_training(self) -> None:
        """Task options, the neural recipe and the joint plan, resolved now rather than after extraction."""
        from spatialprobe.probing.items import ProbingError
        from spatialprobe.probing.protocol import joint_plan
        from spatialprobe.probing.training import Recipe
        from spatialprobe.registry import TASKS

        try:
            for i, (name, options) in enumerate(self.task_specs()):
                TASKS.get(name).check_options(options, f"config.tasks[{i}]")
            if not isinstance(self.neural, dict) or not isinstance(self.joint, dict):
                raise ConfigError("config.neural, config.joint: expected mappings")
            hidden = self.neural.get("hidden", 256)
            if isinstance(hidden, bool) or not isinstance(hidden, int) or hidden < 1:
                raise ConfigError(f"config.neural.hidden: expected a positive integer, got {hidden!r}")
            Recipe.from_options({k: v for k, v in self.neural.items() if k != "hidden"}, "config.neural")
            if "joint" in self.protocols:
                for name, _ in self.task_specs():
                    joint_plan(self, TASKS.get(name))
        except ProbingError as err:
            raise ConfigError(str(err)) from None

    def task_specs(self) -> list[tuple[str, dict]]:
        """(task name, options) per task entry."""
        return [(t, {}) if isinstance(t, str) else (t["name"], {k: v for k, v in t.items() if k != "name"}) for t in self.tasks]

    @classmethod
    def from_dict(cls, d: dict) -> ProbeConfig:
        if not isinstance(d, dict):
            raise ConfigError(f"config: expected a mapping, got {type(d).__name__}")
        known = {f.name for f in fields(cls)}
        for key in d:
            if key not in known:
                from spatialprobe.registry import nearest

                near = nearest(key, known)
                raise ConfigError(f"config.{key}: unknown field" + (f"; did you mean {near!r}?" if near else "") + f" (valid: {', '.join(sorted(known))})")
        for key in ("model", "data", "sites", "tasks"):
            if key not in d:
                raise ConfigError(f"config.{key}: missing")
        d = dict(d)
        if isinstance(d["sites"], str):
            d["sites"] = [d["sites"]]
        return cls(**d)

    @classmethod
    def from_yaml(cls, path: str | Path) -> ProbeConfig:
        import yaml

        try:
            data = yaml.safe_load(Path(path).read_text())
        except yaml.YAMLError as err:
            raise ConfigError(f"{path}: not valid YAML ({err})") from None
        try:
            return cls.from_dict(data)
        except ConfigError as err:
            raise ConfigError(f"{path}: {err}") from None

    def to_dict(self) -> dict:
        return asdict(self)
