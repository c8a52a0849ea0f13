"""What the neural probes share: a torch network trained with the one recipe (`probing.training`).

A split reaches a neural probe as an array (n, d) of flattened features, or — for token probes —
a mapping ``{"tokens": (S, T, d) per scene, "scene_of": (n,) index into it (default: one token set
per item), "text": (n, k) | None}``
(+ ``"aux"`` training-only targets, e.g. a relation's subject and object boxes). Every network is
called as ``net(visual, text, scene_of)``. Validation picks the best epoch on the task's own
metric (box ACC@0.5, accuracy, −L1); box targets (unit cx, cy, w, h) train with L1 + GIoU (`kinds.box_loss`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from spatialprobe.probing.items import ProbingError
from spatialprobe.probing.probes._base import Probe
from spatialprobe.probing.training import Recipe, fit

CHUNK = 1024
PER_SCENE = 3
"""At most this many items of one scene go into a minibatch together (see `Inputs.batches`)."""


@dataclass
class Inputs:
    """One split as tensors: per-scene tokens (``scene_of`` set) or flat per-item rows."""

    visual: torch.Tensor
    text: torch.Tensor | None
    scene_of: torch.Tensor | None = None
    aux: dict[str, torch.Tensor] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.scene_of) if self.scene_of is not None else len(self.visual)

    def batch(self, rows: np.ndarray) -> tuple:
        """``(visual, text, scene_of)`` of the items ``rows`` (each scene's tokens once)."""
        rows_t = torch.as_tensor(rows)
        text = None if self.text is None else self.text[rows_t]
        if self.scene_of is None:
            return self.visual[rows_t], text, None
        scenes, scene_of = torch.unique(self.scene_of[rows_t], return_inverse=True)
        return self.visual[scenes], text, scene_of

    def batches(self, rng: np.random.Generator, size: int) -> list[np.ndarray]:
        """One epoch of shuffled minibatches of about ``size`` items, made of chunks of at most
        `PER_SCENE` items of one scene: a batch then reads ~size/3 scenes' tokens (the joint protocol
        runs the connector once per scene of a batch). Whole scenes per batch (a relation's
        statements are minimal pairs about the same two objects) delayed the relational probe's
        take-off on the lab's upper reference from epoch 6–7 to 12–16; chunks of 2–3 did not (take-off
        at 7, ACC 0.88 either way; chunks of 4: epoch 8)."""
        if self.scene_of is None:
            order = rng.permutation(len(self))
            return [order[s : s + size] for s in range(0, len(order), size)]
        scene_of = self.scene_of.numpy()
        by_scene = np.argsort(scene_of, kind="stable")
        bounds = np.searchsorted(scene_of[by_scene], np.arange(len(self.visual) + 1))
        chunks = []
        for s in range(len(self.visual)):
            items = rng.permutation(by_scene[bounds[s] : bounds[s + 1]])
            chunks += [items[k : k + PER_SCENE] for k in range(0, len(items), PER_SCENE)]
        out, current = [], []
        for k in rng.permutation(len(chunks)):
            current.extend(chunks[k])
            if len(current) >= size:
                out.append(np.array(current))
                current = []
        if current:
            out.append(np.array(current))
        return out


def as_inputs(X, wants_tokens: bool, training: bool = False) -> Inputs:
    """The `Inputs` of one split as the protocol gives it (aux targets only when ``training``)."""
    if not wants_tokens:
        return Inputs(torch.as_tensor(np.asarray(X, dtype=np.float32)), None)
    text = X.get("text")
    if text is not None:
        text = np.asarray(text)
        text = torch.as_tensor(text if text.dtype.kind == "i" else text.astype(np.float32))
    aux = {k: torch.as_tensor(np.asarray(v, dtype=np.float32)) for k, v in (X.get("aux") or {}).items()} if training else {}
    tokens = np.asarray(X["tokens"], dtype=np.float32)
    scene_of = X.get("scene_of")
    scene_of = np.arange(len(tokens)) if scene_of is None else scene_of  # one token set per item
    return Inputs(torch.as_tensor(tokens), text, torch.as_tensor(np.asarray(scene_of, dtype=np.int64)), aux)


class NeuralProbe(Probe):
    """Base of the torch probes; subclasses build the network from a shape dict (so a saved probe
    can be rebuilt) and may add auxiliary losses."""

    wants_tokens = False
    """Reads a site's token set per scene (else flattened features per item)."""
    wants_word_ids = False
    """Reads the item's text as word ids (else as text features)."""
    joint_trainable = True
    """The joint protocol can train it together with a connector."""

    def __init__(self, kind: str, seed: int = 0, box: bool = False, hidden: int = 256, recipe: Recipe | None = None, **training):
        super().__init__(kind, seed)
        self.box, self.hidden = box, hidden
        self.recipe = recipe if recipe is not None else Recipe.from_options(training, "neural")
        self.curve: list[dict] = []

    # subclasses: the network (from a shape dict) ------------------------------------------------
    def shape_of(self, X, n_out: int) -> dict:
        raise NotImplementedError

    def network(self, shape: dict) -> nn.Module:
        raise NotImplementedError

    def build(self, X, n_out: int) -> nn.Module:
        self.shape_ = self.shape_of(X, n_out)
        return self.network(self.shape_)

    # losses, targets and scores -----------------------------------------------------------------
    def loss(self, out, y: torch.Tensor, aux: dict[str, torch.Tensor]) -> torch.Tensor:
        """The training loss of one batch (``out`` is the network's output)."""
        return self.kind.loss(out, y, self.box)

    @staticmethod
    def main_output(out) -> torch.Tensor:
        """The network's answer (networks with auxiliary outputs return a tuple, answer first)."""
        return out[0] if isinstance(out, tuple) else out

    def encode_targets(self, y) -> torch.Tensor:
        return self.kind.network_targets(y, self.classes_)

    def n_outputs(self, y) -> int:
        """The network's output width for training targets ``y`` (learning the label set of classes)."""
        self._classes(np.asarray(y))
        return self.kind.n_outputs(y, self.classes_)

    def validation_score(self, out: torch.Tensor, y: torch.Tensor) -> float:
        """The task's own metric on ``probe_val`` (higher is better): accuracy, label accuracy,
        ACC@0.5 for boxes (mean IoU breaks ties, so a run still in the mean-box basin moves on), −L1."""
        return self.kind.validation_score(out, y, self.box)

    # training and prediction --------------------------------------------------------------------
    def fit(self, X, y, X_val=None, y_val=None) -> NeuralProbe:
        n_out = self.n_outputs(y)
        train = as_inputs(X, self.wants_tokens, training=True)
        torch.manual_seed(self.seed)
        self.net = self.build(X, n_out)
        Y = self.encode_targets(y)
        val, Y_val = (as_inputs(X_val, self.wants_tokens), self.encode_targets(y_val)) if X_val is not None else (None, None)
        rng = np.random.default_rng(self.seed)

        def loss_of(rows):
            return self.loss(self.net(*train.batch(rows)), Y[torch.as_tensor(rows)], {k: v[torch.as_tensor(rows)] for k, v in train.aux.items()})

        def validate():
            if val is None:
                return -float(np.mean([float(loss_of(rows).detach()) for rows in train.batches(np.random.default_rng(0), CHUNK)]))
            return self.validation_score(self.outputs(self.net, val), Y_val)

        fitted = fit([(self.net.parameters(), self.recipe.lr)], [self.net], lambda: train.batches(rng, self.recipe.batch_size), loss_of, validate,
                     self.recipe, desc=self.name)
        self.curve, self.best_epoch_ = fitted.curve, fitted.best_epoch
        return self

    @torch.inference_mode()
    def outputs(self, net: nn.Module, inputs: Inputs, prefix=None) -> torch.Tensor:
        """The network's answers for every item of ``inputs``, in chunks."""
        net.eval()
        outs = []
        for s in range(0, len(inputs), CHUNK):
            visual, text, scene_of = inputs.batch(np.arange(s, min(s + CHUNK, len(inputs))))
            outs.append(self.main_output(net(visual if prefix is None else prefix(visual), text, scene_of)))
        return torch.cat(outs)

    def decision(self, X) -> np.ndarray:
        return self.decode(self.outputs(self.net, as_inputs(X, self.wants_tokens)))

    def decode(self, out: torch.Tensor) -> np.ndarray:
        """Raw network outputs → class probabilities, label probabilities or values."""
        return self.kind.decode(out)

    # saving ---------------------------------------------------------------------------------------
    def config(self) -> dict:
        return {**super().config(), "box": self.box, "hidden": self.hidden, "training": self.recipe.to_dict(),
                "best_epoch": getattr(self, "best_epoch_", None), "curve": self.curve, "trained_parameters": self.parameter_count(),
                "shape": getattr(self, "shape_", None)}

    def parameter_count(self) -> int:
        return sum(p.numel() for p in self.net.parameters()) if hasattr(self, "net") else 0

    def tensors(self) -> dict[str, torch.Tensor]:
        return dict(self.net.state_dict())

    @classmethod
    def from_config(cls, meta: dict):
        probe = cls(meta["kind"], seed=meta["seed"], box=meta["box"], hidden=meta["hidden"], recipe=Recipe(**meta["training"]))
        probe.curve, probe.best_epoch_, probe.shape_ = meta["curve"], meta["best_epoch"], meta["shape"]
        return probe

    def load_tensors(self, tensors) -> None:
        self.net = self.network(self.shape_)
        self.net.load_state_dict(tensors)
        self.net.eval()


def require_tokens(X, name: str) -> None:
    if not isinstance(X, dict) or "tokens" not in X:
        raise ProbingError(f"probe {name!r} reads a site's tokens; give it {{'tokens', 'scene_of', 'text'}}")
