"""The probe interface: scikit-learn shaped (`fit`, `predict`, `score`) on arrays, saved as safetensors + JSON."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from spatialprobe.probing import kinds as kinds_
from spatialprobe.probing.items import ProbingError

KINDS = kinds_.NAMES


class Probe:
    """Base class. ``fit(X, y, X_val, y_val)`` with X of shape (n, d) — or (L, n, d) for probes that
    fit L feature sets (layers) at once — and y as class indices (classification) or (n, k)
    floats. Validation rows are used only to choose hyper-parameters; test rows never reach `fit`."""

    name = "probe"
    kinds: tuple[str, ...] = KINDS
    # declared capabilities (tags): what a probe reads and whether the joint protocol can train it
    wants_tokens = False
    wants_word_ids = False
    joint_trainable = False

    def __init__(self, kind: str, seed: int = 0):
        if kind not in self.kinds:
            raise ProbingError(f"probe {self.name!r} does not fit {kind} tasks (it fits: {', '.join(self.kinds)})")
        self.kind, self.seed = kinds_.of(kind), seed
        """The task kind (`probing.kinds`): a name with the kind's behaviour."""
        self.classes_: np.ndarray | None = None

    # -- subclasses implement these three ------------------------------------------------------
    def fit(self, X, y, X_val=None, y_val=None) -> Probe:
        raise NotImplementedError

    def decision(self, X) -> np.ndarray:
        """Raw outputs: class scores (n, k), regression values (n, k), or label scores (n, k)."""
        raise NotImplementedError

    def tensors(self) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    # -- shared --------------------------------------------------------------------------------
    def _classes(self, y: np.ndarray) -> np.ndarray:
        """Learn the label set (classification: the targets as class indices; other kinds: none, ``y`` as is)."""
        self.classes_ = self.kind.classes(y)
        return y if self.classes_ is None else np.searchsorted(self.classes_, y)

    def predict(self, X) -> np.ndarray:
        return self.labels(self.decision(X))

    def labels(self, out: np.ndarray) -> np.ndarray:
        """Decision values → predictions: classes, 0/1 labels, or the values themselves."""
        return self.kind.labels(out, self.classes_)

    def score(self, X, y) -> float:
        """Accuracy (classification), label accuracy (multi-label) or R² (regression)."""
        return self.kind.score(self.predict(X), y)

    def config(self) -> dict:
        return {"probe": self.name, "kind": self.kind, "seed": self.seed}

    def save(self, directory: str | Path) -> Path:
        from safetensors.torch import save_file

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        tensors = {k: v.contiguous() for k, v in self.tensors().items()}
        save_file(tensors, str(directory / "probe.safetensors"))
        meta = {**self.config(), "classes": None if self.classes_ is None else self.classes_.tolist()}
        (directory / "probe.json").write_text(json.dumps(meta, indent=2))
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> Probe:
        """Load any saved probe (the JSON names its class)."""
        from safetensors.torch import load_file

        from spatialprobe.registry import PROBES

        directory = Path(directory)
        meta = json.loads((directory / "probe.json").read_text())
        probe_cls = PROBES.get(meta["probe"])
        probe = probe_cls.from_config(meta)
        probe.classes_ = None if meta["classes"] is None else np.array(meta["classes"])
        probe.load_tensors(load_file(str(directory / "probe.safetensors")))
        return probe

    @classmethod
    def from_config(cls, meta: dict) -> Probe:
        return cls(meta["kind"], seed=meta["seed"])

    def load_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        raise NotImplementedError
