"""Training a connector on its cached input rows with a sum of pluggable losses — the one trainer of
the lab's connector objectives and of the fix on real connectors (`train.fix`).

A loss is ``loss(index, rows, prompt) -> scalar``: the batch's item indices, the connector's input
rows and its output (the visual prompt). Modules the losses add (location heads) train beside the
connector as ``extra_params``; with ``connector_learns=False`` only they learn — the same loop,
optimiser and batches, so a frozen and a joint run differ in nothing else.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from spatialprobe.train.loop import train


def fit_connector(connector: torch.nn.Module, n: int, inputs: Callable[[np.ndarray], torch.Tensor], losses: list, *, epochs: int, seed: int,
                  batch_size: int = 64, lr: float = 2e-3, extra_params=(), connector_learns: bool = True, desc: str = "connector",
                  schedule: bool = True, on_epoch=None, checkpoints=None, every: int = 50, progress: bool = True) -> list[float]:
    """Minimise the sum of ``losses`` over ``n`` items whose connector inputs ``inputs(index)`` gives; returns the loss per epoch."""
    connector.requires_grad_(connector_learns)
    connector.train(connector_learns)
    torch.manual_seed(seed)

    def step(index: np.ndarray) -> torch.Tensor:
        rows = inputs(index)
        prompt = connector(rows)
        return sum(loss(index, rows, prompt) for loss in losses)

    params = (list(connector.parameters()) if connector_learns else []) + list(extra_params)
    curve = train(params, n, step, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, desc=desc, progress=progress, schedule=schedule,
                  on_epoch=on_epoch, checkpoints=checkpoints, every=every)
    connector.eval()
    return curve
