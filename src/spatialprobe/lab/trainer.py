"""The lab's connector training: `train.connector.fit_connector` on a lab model.

The encoder and the LM stay frozen; only the connector (and the parameters of any loss module,
e.g. a probe head injected by the joint protocol) learn. The encoder's output tokens are computed
once and cached, so training never re-runs the encoder. A lab loss is any callable
``loss(ctx) -> scalar`` over a `Context`; the lab's own is the caption loss.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch

from spatialprobe.lab.data import LabData
from spatialprobe.lab.lm import caption_loss
from spatialprobe.train.connector import fit_connector
from spatialprobe.models.toy.model import ToyVLM


@dataclass
class Context:
    """What a loss sees for one batch."""

    model: ToyVLM
    index: np.ndarray
    tokens: torch.Tensor
    """The connector's input (cached encoder tokens) for the batch."""
    prompt: torch.Tensor
    """The connector's output: the visual prompt."""


class Loss(Protocol):
    name: str

    def __call__(self, ctx: Context) -> torch.Tensor: ...


class CaptionLoss:
    """Caption cross-entropy through the frozen LM, visual prompt prepended, caption tokens only."""

    def __init__(self, ids: torch.Tensor, mask: torch.Tensor, weight: float = 1.0, name: str = "caption"):
        self.ids, self.mask, self.weight, self.name = ids, mask, weight, name

    def __call__(self, ctx: Context) -> torch.Tensor:
        return self.weight * caption_loss(ctx.model.lm, ctx.prompt, self.ids[ctx.index], self.mask[ctx.index])


@torch.inference_mode()
def encoder_tokens(model: ToyVLM, data: LabData, batch_size: int = 256) -> torch.Tensor:
    """The frozen encoder's output tokens for every image (the connector's input)."""
    model.vision.eval()
    n = len(data.scenes)
    return torch.cat([model.vision(data.pixels(np.arange(i, min(i + batch_size, n)))) for i in range(0, n, batch_size)])


def train_connector(
    model: ToyVLM,
    tokens: torch.Tensor,
    losses: list,
    *,
    epochs: int,
    seed: int,
    batch_size: int = 64,
    lr: float = 2e-3,
    extra_params: list[torch.nn.Parameter] = (),
    progress: bool = True,
    connector_learns: bool = True,
    schedule: bool = True,
    on_epoch=None,
) -> list[float]:
    """Train ``model.connector`` (+ ``extra_params``) on cached ``tokens`` with the sum of ``losses`` (`fit_connector`)."""
    for module in (model.vision, model.lm):
        module.eval()
        module.requires_grad_(False)
    lab_losses = [lambda index, rows, prompt, loss=loss: loss(Context(model, index, rows, prompt)) for loss in losses]
    return fit_connector(model.connector, len(tokens), lambda index: tokens[index], lab_losses, epochs=epochs, seed=seed, batch_size=batch_size,
                         lr=lr, extra_params=extra_params, connector_learns=connector_learns, desc=f"connector:{model.config.connector}",
                         schedule=schedule, on_epoch=on_epoch, progress=progress)
