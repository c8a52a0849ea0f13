"""The toy V&L model's card (``toy:<preset or directory>``)."""

import torch

from spatialprobe.models.card import VLM_LAYOUTS, Card, Tap
from spatialprobe.registry import MODELS


def _patch_size(model) -> int:
    return model.config.image_size // model.config.grid


def _prompt_layout(model) -> str:
    """Linear and MLP connectors map token by token (the prompt keeps the vision layout); a
    Q-Former has queries, a Perceiver latents."""
    return {"linear": "vision", "mlp": "vision", "qformer": "query", "perceiver": "latent"}[model.config.connector]


def _trainable(adapter):
    """The lab's connector; "joint from random" and "capacity-matched frozen" build toy modules."""
    from spatialprobe.models import toy
    from spatialprobe.models.trainable import Trainable

    model = adapter.model

    def capacity(seed: int):  # a connector of the same kind and size, reading the LM-width output
        with torch.random.fork_rng():
            torch.manual_seed(seed + 7)
            cfg = model.config
            return type(model.connector)(type(cfg)(**{**cfg.to_json(), "width": cfg.lm_width}))

    return Trainable(model.connector, fresh=lambda seed: toy.build(model.config, seed=seed + 1000).connector, capacity=capacity)


def _forward(model, batch):
    return model(batch.pixel_values, batch.input_ids, batch.attention_mask)


CARD = MODELS.register(
    "toy",
    Card(
        family="toy",
        sites={
            "vision.embed": Tap("vision.embed"),
            "vision.layer.{i}": Tap("vision.blocks.{i}"),
            "vision.out": Tap("vision.norm"),
            "connector.in": Tap("connector", kind="input", pick=0),
            "connector.attn": Tap("connector.layers.{last}.cross_attn", pick=1, reduce="mean_heads"),
            "connector.hidden": Tap("connector.norm"),
            "connector.out": Tap("connector.proj"),
            "lm.layer.{i}": Tap("lm.blocks.{i}"),
            "lm.out": Tap("lm.norm"),
        },
        layouts={**VLM_LAYOUTS, "connector.out": _prompt_layout, "connector.hidden": _prompt_layout},
        prefix=("cls",),
        patch_size=_patch_size,
        forward=_forward,
        needs_eager=("connector.attn",),
        prompt="prepended",
        trainable=_trainable,
    ),
)
