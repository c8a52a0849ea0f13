"""The toy V&L model's card (``toy:<preset or directory>``)."""

from spatialprobe.models.card import VLM_LAYOUTS, Card, Tap
from spatialprobe.registry import MODELS


def _patch_size(model) -> int:
    return model.config.image_size // model.config.grid


def _prompt_layout(model) -> str:
    """Linear and MLP connectors map token by token (the prompt keeps the vision layout); a
    Q-Former has queries, a Perceiver latents."""
    return {"linear": "vision", "mlp": "vision", "qformer": "query", "perceiver": "latent"}[model.config.connector]


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
    ),
)
