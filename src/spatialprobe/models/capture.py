"""Reading sites with forward hooks: added for one pass, always removed, outputs normalised once."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

from spatialprobe.models.card import Tap


class StopForward(Exception):
    """Raised from a hook once every requested site is captured: the rest of the pass is skipped."""


def _resolve_one(model: nn.Module, path: str, index: int | None) -> nn.Module:
    if "{i}" in path:
        path = path.replace("{i}", str(index))
    if "{last}" in path:  # the last entry of the list for which the rest of the path exists
        head = path.split("{last}")[0].rstrip(".")
        for k in reversed(range(len(model.get_submodule(head)))):
            try:
                return model.get_submodule(path.replace("{last}", str(k)))
            except AttributeError:
                continue
        raise AttributeError(f"no entry of {head} has {path.split('{last}')[1]}")
    return model.get_submodule(path)


def resolve(model: nn.Module, paths: str | tuple[str, ...], index: int | None) -> nn.Module:
    """The module at the first dotted path that exists, with ``{i}`` / ``{last}`` filled in."""
    errors = []
    for path in (paths,) if isinstance(paths, str) else paths:
        try:
            return _resolve_one(model, path, index)
        except (AttributeError, IndexError, TypeError) as err:
            errors.append(f"{path}: {err}")
    raise AttributeError("; ".join(errors))


def count(model: nn.Module, paths: str | tuple[str, ...]) -> int:
    """How many entries the list holding ``{i}`` has, for the first path whose list exists (else 0)."""
    for path in (paths,) if isinstance(paths, str) else paths:
        try:
            return len(model.get_submodule(path.split("{i}")[0].rstrip(".")))
        except AttributeError:
            continue
    return 0


def exists(model: nn.Module, paths: str | tuple[str, ...]) -> bool:
    try:
        resolve(model, paths, 0)
    except AttributeError:
        return False
    return True


def as_tensor(value, pick: int | str) -> torch.Tensor:
    """The one place where tuple / ModelOutput / tensor module outputs become a tensor."""
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(pick, str):
        value = value[pick] if isinstance(value, dict) else getattr(value, pick)
    elif isinstance(value, dict):  # transformers ModelOutput is an ordered dict
        value = list(value.values())[pick]
    else:
        value = value[pick]
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"expected a tensor at {pick!r}, got {type(value).__name__} (is eager attention on?)")
    return value


def _finish(tensor: torch.Tensor, tap: Tap) -> torch.Tensor:
    if tap.reduce == "mean_heads":
        tensor = tensor.mean(dim=1)
    elif tap.reduce is not None:
        raise ValueError(f"unknown reduce {tap.reduce!r}")
    if tap.rows is not None:
        tensor = tensor[:, : tap.rows]
    return tensor.detach()


@contextmanager
def capture(model: nn.Module, taps: dict[str, tuple[nn.Module, Tap]]) -> Iterator[dict[str, torch.Tensor]]:
    """Hook every (module, tap) for one forward pass; yields the dict the hooks fill.

    When the last requested site is captured the hook raises `StopForward`, which the caller
    catches: the forward pass stops after the deepest requested site. Hooks are removed in
    ``finally``, whatever happens.
    """
    store: dict[str, torch.Tensor] = {}
    handles = []

    def make(site: str, tap: Tap):
        def keep(value) -> None:
            if site in store:  # a module called twice (BLIP-2's post_layernorm also norms the pooled CLS): first call
                return
            store[site] = _finish(as_tensor(value, tap.pick), tap)
            if len(store) == len(taps):
                raise StopForward

        if tap.kind == "input":

            def pre_hook(module, args, kwargs):
                if tap.compute is not None:
                    keep(tap.compute(module, args, kwargs))
                else:
                    keep(kwargs[tap.pick] if isinstance(tap.pick, str) else args[tap.pick])

            return pre_hook
        return lambda module, args, output: keep(output)

    try:
        for site, (module, tap) in taps.items():
            hook = make(site, tap)
            if tap.kind == "input":
                handles.append(module.register_forward_pre_hook(hook, with_kwargs=True))
            else:
                handles.append(module.register_forward_hook(hook))
        yield store
    finally:
        for handle in handles:
            handle.remove()


def hook_count(model: nn.Module) -> int:
    """Forward and pre-forward hooks on all modules (for leak checks)."""
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())
