"""CLIP vision towers (``CLIPModel`` and ``CLIPVisionModel`` checkpoints)."""

from spatialprobe.models.card import VLM_LAYOUTS, Card, Derived, Tap, config_patch
from spatialprobe.registry import MODELS


def _forward(model, batch):
    return model(pixel_values=batch.pixel_values)


CARD = MODELS.register(
    "clip",
    Card(
        family="clip",
        sites={
            # HF hidden_states[0] is the input of the first block: after CLIP's pre-LayerNorm
            "vision.embed": Tap("pre_layrnorm"),
            "vision.layer.{i}": Tap("encoder.layers.{i}"),
            # CLIP applies post_layernorm to the CLS token only; the site applies it to every token
            "vision.out": Derived("vision.layer.{last}", "post_layernorm"),
        },
        layouts=VLM_LAYOUTS,
        prefix=("cls",),
        patch_size=config_patch(),
        forward=_forward,
        model_types=("clip", "clip_vision_model"),
        model_classes={"clip": "CLIPModel", "clip_vision_model": "CLIPVisionModel"},
        submodule="vision_model",
    ),
)
