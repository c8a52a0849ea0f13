"""The training loop of every lab stage and trainer: seeded batches, AdamW, optional one-cycle
schedule and gradient accumulation, a loss curve, and checkpoints that resume.

With ``checkpoints=DIR`` the loop saves, every ``every`` optimiser steps, the trained parameters,
AdamW's moments and step counts and torch's RNG state in ``DIR/checkpoint-<step>.safetensors``,
and the position, the loss curve and the batch-order RNG in ``DIR/checkpoint.json`` (written last,
atomically, so it always names a complete tensor file; no pickle anywhere). A loop started again
on the same directory — after Ctrl-C or ``kill -9`` — continues from there and ends, on CPU, with
the same weights as a run that was never interrupted. A checkpoint of a different run (another
seed, size, schedule or set of parameters) is refused, never silently continued.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

STATE = "checkpoint.json"


class CheckpointError(RuntimeError):
    """A checkpoint directory that belongs to another run, or is damaged; the message says what to do."""


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
    accumulate: int = 1,
    checkpoints: str | Path | None = None,
    every: int = 50,
) -> list[float]:
    """Minimise ``step(batch_indices)`` over shuffled batches; returns the mean loss per epoch.

    ``schedule``: one-cycle learning rate over all optimiser steps (else constant).
    ``accumulate``: micro-batches of ``batch_size`` per optimiser step (their losses averaged).
    ``on_epoch(epoch, loss)`` runs after each epoch; returning True stops training (early stopping).
    ``checkpoints``, ``every``: see the module docstring.
    """
    if not params:
        raise ValueError(f"{desc}: nothing to train")
    if not isinstance(accumulate, int) or accumulate < 1:
        raise ValueError(f"{desc}: accumulate must be a positive integer, got {accumulate!r}")
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    micro = (n + batch_size - 1) // batch_size
    per_epoch = (micro + accumulate - 1) // accumulate
    steps = epochs * per_epoch
    # one-cycle needs ≥ 2 warm-up steps (its warm-up of pct_start·steps − 1 steps divides by zero at 1)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=max(0.1, 2.5 / steps)) if schedule and steps >= 4 else None
    rng = np.random.default_rng(seed)
    state = {"epoch": 0, "batch": 0, "optimiser_steps": 0, "curve": [], "losses": [], "rng": rng.bit_generator.state, "stopped": False}
    saver = None
    if checkpoints is not None:
        run = {"n": n, "epochs": epochs, "batch_size": batch_size, "lr": lr, "seed": seed, "weight_decay": weight_decay, "schedule": schedule,
               "accumulate": accumulate, "parameters": [list(p.shape) for p in params]}
        saver = _Checkpoints(Path(checkpoints), hashlib.sha256(json.dumps(run, sort_keys=True).encode()).hexdigest()[:16], desc)
        resumed = saver.load(params, opt)
        if resumed is not None:
            state = resumed
            if sched is not None:
                with warnings.catch_warnings():  # replaying before any optimiser step of this process is intended
                    warnings.simplefilter("ignore", UserWarning)
                    for _ in range(state["optimiser_steps"]):  # the schedule is a function of the step: replay it
                        sched.step()
    bar = tqdm(total=steps, initial=state["optimiser_steps"], desc=desc, disable=not progress, leave=False)
    while state["epoch"] < epochs and not state["stopped"]:
        rng.bit_generator.state = state["rng"]  # the epoch's order, drawn again from the state before it
        order = rng.permutation(n)
        starts = list(range(0, n, batch_size))
        while state["batch"] < len(starts):
            group = starts[state["batch"] : state["batch"] + accumulate]
            opt.zero_grad(set_to_none=True)
            total = 0.0
            for start in group:
                loss = step(order[start : start + batch_size])
                (loss / len(group)).backward()
                total += float(loss.detach()) / len(group)
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            if sched is not None:
                sched.step()
            state["losses"].append(total)
            state["batch"] += len(group)
            state["optimiser_steps"] += 1
            bar.update(1)
            if saver is not None and (state["optimiser_steps"] % every == 0 or state["optimiser_steps"] == steps):
                saver.save(params, opt, state)
        state["curve"].append(float(np.mean(state["losses"])))
        bar.set_postfix(loss=f"{state['curve'][-1]:.3f}")
        state.update(epoch=state["epoch"] + 1, batch=0, losses=[], rng=rng.bit_generator.state)
        state["stopped"] = bool(on_epoch is not None and on_epoch(len(state["curve"]), state["curve"][-1]))
        if saver is not None:
            saver.save(params, opt, state)
    bar.close()
    return state["curve"]


class _Checkpoints:
    def __init__(self, directory: Path, run: str, desc: str):
        self.dir, self.run, self.desc = directory, run, desc

    def load(self, params, opt) -> dict | None:
        from safetensors.torch import load_file

        path = self.dir / STATE
        if not path.exists():
            return None
        try:
            meta = json.loads(path.read_text())
            tensors = load_file(str(self.dir / meta["tensors"]))
        except (OSError, ValueError, KeyError) as err:
            raise CheckpointError(f"{self.dir}: unreadable checkpoint ({err}); delete the folder to train from the start") from None
        if meta.get("run") != self.run:
            raise CheckpointError(f"{self.dir}: a checkpoint of another run ({self.desc} with other settings or parameters); "
                                  "delete the folder or choose another to train from the start")
        with torch.no_grad():
            for i, p in enumerate(params):
                p.copy_(tensors[f"param.{i}"])
        for i, p in enumerate(params):
            if f"adam.{i}.step" in tensors:
                opt.state[p] = {"step": tensors[f"adam.{i}.step"], "exp_avg": tensors[f"adam.{i}.exp_avg"], "exp_avg_sq": tensors[f"adam.{i}.exp_avg_sq"]}
        torch.set_rng_state(tensors["torch_rng"])
        return meta["state"]

    def save(self, params, opt, state: dict) -> None:
        from spatialprobe.train.recipe import save_tensors

        self.dir.mkdir(parents=True, exist_ok=True)
        tensors = {f"param.{i}": p.detach().clone().contiguous() for i, p in enumerate(params)}
        for i, p in enumerate(params):
            for key, value in opt.state.get(p, {}).items():
                tensors[f"adam.{i}.{key}"] = value.detach().clone().contiguous()
        tensors["torch_rng"] = torch.get_rng_state()
        name = f"checkpoint-{state['optimiser_steps']:08d}-{state['epoch']:04d}.safetensors"
        save_tensors(self.dir / name, tensors)
        tmp = self.dir / f".{STATE}.tmp"
        tmp.write_text(json.dumps({"run": self.run, "tensors": name, "state": state}))
        os.replace(tmp, self.dir / STATE)
        for old in self.dir.glob("checkpoint-*.safetensors"):
            if old.name != name:
                old.unlink()
