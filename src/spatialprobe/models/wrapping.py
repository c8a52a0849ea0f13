"""An already loaded ``nn.Module`` (Hugging Face or not) behind the model interface, with ad-hoc sites.

    adapter = wrap(model, {"vision.layer.{i}": "encoder.layers.{i}", "vision.out": "norm"},
                   input_size=224, patch_size=16, mean=(0.5,) * 3, std=(0.5,) * 3)
    adapter.extract(images, ["vision.layer.*"]); extract(adapter, dataset, sites)   # a feature store

Each site reads the output of the module at its dotted path (``{i}``: one site per entry of the
list); layouts are the prefix rows (default: one CLS) followed by the patch grid, in row-major order.
The wrapped model is a vision encoder: connector and LM sites need a `Card` (docs/adding-a-model.md).
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from spatialprobe.models.adapter import Adapter
from spatialprobe.models.card import Card, Tap
from spatialprobe.models.preprocess import Preprocess

VISION_SITES = ("vision.embed", "vision.layer.{i}", "vision.out")


def _pixels(model, batch):
    return model(batch.pixel_values)


def wrap(model: nn.Module, sites: dict[str, str], *, input_size: int | tuple[int, int], patch_size: int, prefix: tuple[str, ...] = ("cls",),
         mean: tuple[float, float, float] = (0.0, 0.0, 0.0), std: tuple[float, float, float] = (1.0, 1.0, 1.0),
         forward: Callable | None = None, name: str | None = None) -> Adapter:
    """``sites``: site template → module path; ``input_size``: the (square, or (w, h)) input images are
    resized to; ``forward(model, batch)`` runs the model (default: ``model(batch.pixel_values)``)."""
    unknown = [s for s in sites if s not in VISION_SITES]
    if unknown:
        raise ValueError(f"wrap: sites {unknown} are not vision sites; a wrapped module offers {', '.join(VISION_SITES)}")
    modules = dict(model.named_modules())
    for site, path in sites.items():
        probe = path.replace("{i}", "0")
        if probe not in modules:
            near = [n for n in modules if n and n.split(".")[-1] == probe.split(".")[-1]][:5]
            raise ValueError(f"wrap: {site} → {path!r}: the model has no module {probe!r}" + (f" (modules with that name: {near})" if near else ""))
    w, h = (input_size, input_size) if isinstance(input_size, int) else input_size
    card = Card(family="wrapped", sites={site: Tap(path) for site, path in sites.items()},
                layouts={"vision.embed": "vision", "vision.layer": "vision", "vision.out": "vision"}, prefix=tuple(prefix),
                patch_size=lambda m: patch_size, forward=forward or _pixels)
    preprocess = Preprocess(resize=("exact", (w, h)), mean=tuple(mean), std=tuple(std))
    return Adapter(name or f"module:{type(model).__name__}", model, card, preprocess, info={"family": "wrapped", "class": type(model).__name__})
