"""The one training recipe of every neural probe and of the joint protocol.

A fixed budget of epochs over shuffled minibatches of about ``batch_size`` *items* (in chunks of at
most three items of one scene, so a batch reads ~20 scenes' tokens; see `Inputs.batches`), AdamW, a linear warm-up then cosine decay to zero, and
after every epoch the task metric on ``probe_val``: the weights of the best epoch are kept. The
budget is fixed rather than stopped early, so every condition of a comparison trains for exactly
the same number of steps; the learning curve goes into each record.

Measured on the lab (upper reference, `referring_box`, 9k training items): items batched by 64
reach ACC@0.5 0.71 in 20 epochs where batches of 64 *scenes* (≈ 320 items, 8 steps an epoch),
a constant learning rate and early stopping sat at 0.09–0.12 after 200.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, fields

import numpy as np
import torch
from tqdm import tqdm

from spatialprobe.probing.items import ProbingError


@dataclass(frozen=True)
class Recipe:
    epochs: int = 20
    lr: float = 2e-3
    connector_lr: float = 2e-4
    """The joint protocol's connector learns at this (smaller, equally warmed-up) rate: at the probe's
    rate pretrained connectors were knocked out in the first epochs and never recovered."""
    weight_decay: float = 1e-4
    batch_size: int = 64
    warmup: float = 0.05
    """Fraction of all steps spent warming the learning rate up from zero."""

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ProbingError(f"training.{name}: expected a positive integer, got {value!r}")
        for name in ("lr", "connector_lr", "weight_decay", "warmup"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value) or value < 0:
                raise ProbingError(f"training.{name}: expected a finite number ≥ 0, got {value!r}")
        if self.warmup >= 1:
            raise ProbingError(f"training.warmup: a fraction of the steps below 1, got {self.warmup}")

    @classmethod
    def from_options(cls, options: dict | None, where: str = "training") -> Recipe:
        """A recipe from user options; an unknown key names the valid ones (and the nearest)."""
        from spatialprobe.registry import nearest

        options = dict(options or {})
        known = [f.name for f in fields(cls)]
        for key in options:
            if key not in known:
                near = nearest(key, known)
                hint = f" (did you mean {near!r}?)" if near else ""
                raise ProbingError(f"{where}.{key}: unknown training option{hint}; valid: {', '.join(known)}")
        try:
            return cls(**options)
        except ProbingError as err:
            raise ProbingError(str(err).replace("training.", f"{where}.", 1)) from None

    def to_dict(self) -> dict:
        return asdict(self)


def lr_factor(step: int, total: int, warmup: float) -> float:
    """Linear warm-up over ``warmup`` of the steps, then cosine decay to 0 at ``total``."""
    warm = max(1, int(round(warmup * total)))
    if step < warm:
        return (step + 1) / warm
    return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warm) / max(1, total - warm))))


@dataclass
class Fitted:
    curve: list[dict]
    """Per epoch: ``epoch``, ``train_loss``, ``val_score``."""
    best_epoch: int
    best_score: float


def fit(
    groups: list[tuple[Iterable[torch.nn.Parameter], float]],
    modules: list[torch.nn.Module],
    batches: Callable[[], list[np.ndarray]],
    loss_of: Callable[[np.ndarray], torch.Tensor],
    validate: Callable[[], float],
    recipe: Recipe,
    *,
    desc: str = "probe",
    progress: bool = False,
) -> Fitted:
    """Train ``groups`` (parameters, learning rate) for ``recipe.epochs``; keep the best epoch.

    ``batches()`` gives one epoch's minibatches (item indices), ``loss_of(batch)`` the loss of one,
    ``validate()`` the task metric on ``probe_val`` (higher is better). ``modules`` are put in
    train mode while training, and their state at the best epoch is restored at the end.
    """
    param_groups = [{"params": [p for p in params if p.requires_grad], "lr": lr} for params, lr in groups]
    param_groups = [g for g in param_groups if g["params"]]
    if not param_groups:
        raise ProbingError(f"{desc}: nothing to train")
    opt = torch.optim.AdamW(param_groups, weight_decay=recipe.weight_decay, fused=True)
    base = [g["lr"] for g in opt.param_groups]
    epoch_batches = batches()
    total = recipe.epochs * len(epoch_batches)
    curve, best, best_state, step = [], -math.inf, None, 0
    bar = tqdm(total=total, desc=desc, disable=not progress, leave=False)
    for epoch in range(1, recipe.epochs + 1):
        for m in modules:
            m.train()
        losses = []
        for rows in epoch_batches if epoch == 1 else batches():
            factor = lr_factor(step, total, recipe.warmup)
            for g, lr in zip(opt.param_groups, base):
                g["lr"] = lr * factor
            loss = loss_of(rows)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
            step += 1
            bar.update(1)
        for m in modules:
            m.eval()
        score = float(validate())
        curve.append({"epoch": epoch, "train_loss": float(np.mean(losses)), "val_score": score})
        bar.set_postfix(val=f"{score:.3f}")
        if score > best + 1e-9 or best_state is None:
            best, best_state, best_epoch = score, [copy.deepcopy(m.state_dict()) for m in modules], epoch
    bar.close()
    for m, state in zip(modules, best_state):
        m.load_state_dict(state)
        m.eval()
    return Fitted(curve, best_epoch, best)
