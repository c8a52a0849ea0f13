"""A model's connector as the joint protocol trains it: one small interface for every family.

A card's ``trainable(adapter)`` returns a `Trainable` whose ``module`` maps the stored
``connector.in`` rows (B, N, d_in) to the ``connector.out`` rows (B, Q, d_out) — BLIP-2's Q-Former
and projection, LLaVA's projector, IDEFICS's Perceiver, the lab's connectors. The protocol only
ever trains copies (`copy`, `reinitialised`, `capacity_matched`): the loaded model never changes.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class Trainable:
    module: nn.Module
    """Stored ``connector.in`` rows → ``connector.out`` rows, holding the model's own parameters."""
    fresh: Callable[[int], nn.Module] | None = None
    """A re-initialised module of the same kind, seeded (default: every parameter reset, `reinitialise`)."""
    capacity: Callable[[int], nn.Module] | None = None
    """A fresh module the size of the connector, reading its output rows (default: a residual MLP of
    about the connector's parameter count)."""

    @property
    def parameter_count(self) -> int:
        return sum(p.numel() for p in self.module.parameters())

    def copy(self) -> nn.Module:
        """The pretrained connector, detached from the model, in float32 on the CPU."""
        return _training_copy(self.module)

    def reinitialised(self, seed: int) -> nn.Module:
        """The connector's architecture with fresh weights ("joint from random")."""
        if self.fresh is not None:
            return _training_copy(self.fresh(seed))
        return reinitialise(self.copy(), seed)

    def capacity_matched(self, seed: int, width: int) -> nn.Module:
        """A fresh module of the connector's size on its output rows of ``width`` ("capacity-matched frozen")."""
        if self.capacity is not None:
            return _training_copy(self.capacity(seed))
        with torch.random.fork_rng():
            torch.manual_seed(seed + 7)
            return ResidualMLP(width, max(1, round(self.parameter_count / (2 * width + 1))))


def submodule(path: str, pick: int | None = None) -> Callable:
    """A card's ``trainable`` for a connector that is one module of the model (LLaVA's projector,
    IDEFICS's Perceiver); ``pick`` takes that element of a tuple output (Kosmos-2's projection)."""

    def trainable(adapter) -> Trainable:
        module = adapter.model.get_submodule(path)
        return Trainable(module if pick is None else Picked(module, pick))

    return trainable


class Picked(nn.Module):
    """``module(x)[pick]``: a connector whose forward returns a tuple."""

    def __init__(self, module: nn.Module, pick: int):
        super().__init__()
        self.module, self.pick = module, pick

    def forward(self, x):
        return self.module(x)[self.pick]


class ResidualMLP(nn.Module):
    """x + W₂ GELU(W₁ x), token by token."""

    def __init__(self, width: int, hidden: int):
        super().__init__()
        self.up, self.down = nn.Linear(width, hidden), nn.Linear(hidden, width)

    def forward(self, x):
        return x + self.down(nn.functional.gelu(self.up(x)))


def _training_copy(module: nn.Module) -> nn.Module:
    return copy.deepcopy(module).to("cpu", torch.float32).train(False)


def reinitialise(module: nn.Module, seed: int, std: float = 0.02) -> nn.Module:
    """Reset every parameter in place, seeded: modules with ``reset_parameters`` (linear, norm,
    embedding layers) use it; other parameters (query tokens, latents, gates) are drawn from
    N(0, std²) when they are matrices, set to 1 (scales) or 0 (biases) otherwise."""
    with torch.random.fork_rng(), torch.no_grad():
        torch.manual_seed(seed)
        for sub in module.modules():
            if sub is not module and callable(getattr(sub, "reset_parameters", None)):
                sub.reset_parameters()
                continue
            for name, p in sub.named_parameters(recurse=False):
                if p.dim() >= 2:
                    p.normal_(0.0, std)
                else:
                    p.fill_(1.0 if name.endswith("weight") else 0.0)
    return module
