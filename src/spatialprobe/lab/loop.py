"""One small training loop shared by every lab stage: seeded batches, AdamW, a loss curve, a bar."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from tqdm import tqdm


def train(
    params: list[torch.nn.Parameter],
    n: int,
    step: Callable[[np.ndarray], torch.Tensor],
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    seed: int,
    desc: str,
    progress: bool = True,
    weight_decay: float = 0.01,
    schedule: bool = True,
    on_epoch: Callable[[int, float], bool] | None = None,
) -> list[float]:
    """Minimise ``step(batch_indices)`` over shuffled batches; returns the mean loss per epoch.

    ``schedule``: one-cycle learning rate over all epochs (else constant). ``on_epoch(epoch, loss)``
    runs after each epoch; returning True stops training (early stopping).
    """
    if not params:
        raise ValueError(f"{desc}: nothing to train")
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    steps = epochs * ((n + batch_size - 1) // batch_size)
    # one-cycle needs ≥ 2 warm-up steps (its warm-up of pct_start·steps − 1 steps divides by zero at 1)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=max(0.1, 2.5 / steps)) if schedule and steps >= 4 else None
    rng = np.random.default_rng(seed)
    curve = []
    bar = tqdm(total=steps, desc=desc, disable=not progress, leave=False)
    for _ in range(epochs):
        order, losses = rng.permutation(n), []
        for start in range(0, n, batch_size):
            loss = step(order[start : start + batch_size])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            if sched is not None:
                sched.step()
            losses.append(float(loss.detach()))
            bar.update(1)
        curve.append(float(np.mean(losses)))
        bar.set_postfix(loss=f"{curve[-1]:.3f}")
        if on_epoch is not None and on_epoch(len(curve), curve[-1]):
            break
    bar.close()
    return curve
