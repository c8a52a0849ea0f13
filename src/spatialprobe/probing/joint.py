"""The joint protocol (Lost in Space) and the references that make a frozen-vs-joint gap readable.

Every condition trains the **same probe head** on the **same training rows** with the **same
loop** (the lab's connector trainer: AdamW, batches, constant learning rate) and the **same
early-stopping rule** on ``probe_val``; they differ only in what learns and what the probe reads:

| condition | the probe reads | what learns |
|---|---|---|
| frozen | the pretrained connector's output | probe |
| joint | the connector's output | connector (from its pretrained weights) + probe |
| joint from random | the connector's output | connector (re-initialised) + probe |
| upper reference | the connector's input (the encoder tokens it sees) | probe |
| capacity-matched frozen | a fresh module the size of the connector on the frozen output | module + probe |
| blind | the frozen output for another scene | probe |
| control task | the frozen output, control labels | probe |

The connector's input comes from the feature store (``connector.in``), so the encoder is never
re-run. Each record states how many parameters were trained.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from spatialprobe.lab.trainer import train_connector
from spatialprobe.models import toy
from spatialprobe.probing.items import Items, ProbingError
from spatialprobe.probing.probes._neural import MAX_EPOCHS, MIN_EPOCHS, PATIENCE

SPLITS = ("probe_train", "probe_val", "test")
TRAINED = ("frozen", "joint", "joint from random", "upper reference", "capacity-matched frozen")
"""Conditions that differ in what learns; blind and control task train as ``frozen`` on other inputs / labels."""
CONDITIONS = TRAINED + ("blind", "control task")


@dataclass
class JointSettings:
    """The neural probes' own early-stopping rule; a joint run capped at 60 epochs was still improving."""

    max_epochs: int = MAX_EPOCHS
    min_epochs: int = MIN_EPOCHS
    patience: int = PATIENCE
    lr: float = 2e-3
    batch_size: int = 64


class _ProbeLoss:
    """The probe's loss, injected into the connector trainer as a pluggable loss.

    The trainer batches *scenes* (the connector runs once per scene); the loss covers every item
    (expression, statement) of the scenes in the batch.
    """

    name = "probe"

    def __init__(self, head, data: SplitData, loss_fn):
        self.head, self.data, self.loss_fn = head, data, loss_fn

    def __call__(self, ctx) -> torch.Tensor:
        items = np.concatenate([self.data.items_of[k] for k in ctx.index])
        where = np.repeat(np.arange(len(ctx.index)), [len(self.data.items_of[k]) for k in ctx.index])
        text = None if self.data.text is None else self.data.text[items]
        return self.loss_fn(self.head(ctx.prompt[where], text), self.data.targets[items])


@dataclass
class SplitData:
    """One split for the joint protocol: unique scenes' connector inputs, and items pointing at them."""

    tokens: torch.Tensor
    """(scenes, T, d) connector input of each scene."""
    scene_of: np.ndarray
    """(items,) index into ``tokens`` of each item's scene."""
    text: torch.Tensor | None
    targets: torch.Tensor

    @property
    def items_of(self) -> list[np.ndarray]:
        if not hasattr(self, "_items_of"):
            order = np.argsort(self.scene_of, kind="stable")
            bounds = np.searchsorted(self.scene_of[order], np.arange(len(self.tokens) + 1))
            self._items_of = [order[bounds[k] : bounds[k + 1]] for k in range(len(self.tokens))]
        return self._items_of


class _Identity(nn.Module):
    def forward(self, x):
        return x


class _View:
    """A model view for the connector trainer: the lab model's frozen parts, any connector."""

    def __init__(self, model, connector):
        self.vision, self.lm, self.connector, self.config = model.vision, model.lm, connector, model.config


def _fresh_like(connector: nn.Module, cfg, seed: int) -> nn.Module:
    """A randomly initialised module of the connector's kind and size, reading the connector's output."""
    with torch.random.fork_rng():
        torch.manual_seed(seed + 7)
        adapted = type(cfg)(**{**cfg.to_json(), "width": cfg.lm_width})
        return type(connector)(adapted)


def lab_model(spec: str):
    """The toy model behind a ``toy:<preset or dir>`` spec (the joint protocol trains its connector)."""
    from spatialprobe.models import load_model, parse_spec

    if parse_spec(spec)[0] != "toy":
        raise ProbingError(f"the joint protocol trains a lab connector: it needs a toy:<dir> model, got {spec!r}")
    return load_model(spec).model


@dataclass
class ConditionResult:
    prediction: np.ndarray
    trained_parameters: int
    info: dict
    connector: nn.Module
    head: nn.Module


def train_condition(model, condition: str, probe, kind: str, data: dict[str, SplitData], seed: int, settings: JointSettings) -> ConditionResult:
    """Train one condition on a lab model (its encoder and LM stay untouched) and predict ``test``."""
    if condition not in TRAINED:
        raise ProbingError(f"unknown training condition {condition!r}; valid: {', '.join(TRAINED)}")
    model.eval()
    connector = model.connector
    learns = condition in ("joint", "joint from random")
    if condition == "joint from random":
        connector = toy.build(model.config, seed=seed + 1000).connector
    if condition == "upper reference":
        connector = _Identity()
    train = data["probe_train"]
    with torch.inference_mode():
        example = connector(train.tokens[:64])
    prefix = nn.Identity()
    if condition == "capacity-matched frozen":
        prefix = _fresh_like(model.connector, model.config, seed)
        with torch.inference_mode():
            example = prefix(example)
    n_out = len(probe.classes_) if kind == "classification" else train.targets.shape[1]
    wants_tokens = getattr(probe, "wants_tokens", False)
    ex_items = np.flatnonzero(train.scene_of < len(example))[:64]  # items whose scene is in the example batch
    ex = example[train.scene_of[ex_items]]
    shape_input = {"tokens": ex.numpy(), "text": None if train.text is None else train.text.numpy()} if wants_tokens else ex.flatten(1).numpy()
    torch.manual_seed(seed)
    probe.shape_ = probe.shape_of(shape_input, n_out)
    full = _Head(prefix, probe.network(probe.shape_), wants_tokens)
    loss = _ProbeLoss(full, train, probe._loss)

    def predict(split):
        d = data[split]
        connector.eval()
        full.eval()
        with torch.inference_mode():
            prompts = connector(d.tokens)
            return full(prompts[d.scene_of], d.text)

    best = {"score": -np.inf, "state": None, "epoch": 0, "waited": 0}
    curve = []

    def on_epoch(epoch, train_loss):
        out, target = predict("probe_val"), data["probe_val"].targets
        if kind == "regression":
            score = -float((out - target).abs().mean())
        elif kind == "multilabel":
            score = float(((out.sigmoid() >= 0.5).float() == target).float().mean())
        else:
            score = float((out.argmax(-1) == target).float().mean())
        curve.append({"epoch": epoch, "train_loss": train_loss, "val_score": score})
        if score > best["score"] + 1e-6:
            best.update(score=score, epoch=epoch, waited=0, state=(copy.deepcopy(connector.state_dict()), copy.deepcopy(full.state_dict())))
        else:
            best["waited"] += 1
        full.train()
        connector.train(learns)
        return best["waited"] >= settings.patience and epoch >= settings.min_epochs

    extra = list(full.parameters())
    trained = sum(p.numel() for p in extra) + (sum(p.numel() for p in connector.parameters()) if learns else 0)
    full.train()
    train_connector(_View(model, connector), train.tokens, [loss], epochs=settings.max_epochs, seed=seed, batch_size=settings.batch_size,
                    lr=settings.lr, extra_params=extra, progress=False, connector_learns=learns, schedule=False, on_epoch=on_epoch)
    connector.load_state_dict(best["state"][0])
    full.load_state_dict(best["state"][1])
    out = predict("test").double()
    if kind == "classification":
        pred = probe.classes_[out.argmax(-1).numpy()]
    elif kind == "multilabel":
        pred = (out.sigmoid() >= 0.5).double().numpy()
    else:
        pred = out.numpy()
        pred = pred[:, 0] if pred.shape[1] == 1 else pred
    return ConditionResult(pred, trained, {"curve": curve, "best_epoch": best["epoch"]}, connector, full)


class _Head(nn.Module):
    """[fresh capacity module →] probe head."""

    def __init__(self, prefix, head, wants_tokens):
        super().__init__()
        self.prefix, self.head, self.wants_tokens = prefix, head, wants_tokens

    def forward(self, prompt, text=None):
        x = self.prefix(prompt)
        return self.head(x, text) if self.wants_tokens else self.head(x.flatten(1))


def split_data(store, items: Items, site: str, probe, kind: str, text: np.ndarray | None, targets: np.ndarray, rows: np.ndarray | None = None) -> dict[str, SplitData]:
    """Per split: the stored ``site`` tokens of each item's scene (once per scene), text and targets."""
    if site not in store.layouts:
        raise ProbingError(f"the joint protocol reads {site!r} from the store; add it to the config's sites")
    rows = items.scene_row if rows is None else rows
    if kind == "classification":
        probe._classes(targets[items.split == "probe_train"])
        encoded = torch.as_tensor(np.searchsorted(probe.classes_, targets))
    else:
        encoded = torch.as_tensor(np.asarray(targets, dtype=np.float32).reshape(len(targets), -1))
    out = {}
    for split in SPLITS:
        mask = items.split == split
        unique, scene_of = np.unique(rows[mask], return_inverse=True)
        tokens = torch.as_tensor(store.take(site, unique, dtype=np.float32))
        t = None if text is None else torch.as_tensor(np.asarray(text[mask]))  # features (float32) or word ids (int64)
        out[split] = SplitData(tokens, scene_of, t, encoded[torch.as_tensor(np.flatnonzero(mask))])
    return out
