"""PaliGemma (``PaliGemmaForConditionalGeneration``): a SigLIP tower (no CLS), a linear projector, a
Gemma LM that reads the image rows in place of its ``<image>`` placeholders.

PaliGemma is a prefix LM: rows marked ``token_type_ids == 0`` (the image and the prompt) attend to
each other both ways, later rows causally. ``token_type_ids`` are always passed: the image and the
text are the prefix, as PaliGemma reads a prompt (``detect the red circle``)."""

import torch

from spatialprobe.models.card import VLM_LAYOUTS, Card, Tap, config_patch
from spatialprobe.models.trainable import submodule
from spatialprobe.registry import MODELS

TOWER = "model.vision_tower"


def _forward(model, batch):
    if batch.input_ids is None:
        return model.get_image_features(pixel_values=batch.pixel_values)
    return model(pixel_values=batch.pixel_values, input_ids=batch.input_ids, attention_mask=batch.attention_mask,
                 token_type_ids=torch.zeros_like(batch.input_ids))


CARD = MODELS.register(
    "paligemma",
    Card(
        family="paligemma",
        sites={
            "vision.embed": Tap(f"{TOWER}.embeddings"),
            "vision.layer.{i}": Tap(f"{TOWER}.encoder.layers.{{i}}"),
            "vision.out": Tap(f"{TOWER}.post_layernorm"),
            "connector.in": Tap("model.multi_modal_projector", kind="input", pick=0),
            "connector.out": Tap("model.multi_modal_projector"),
            "lm.layer.{i}": Tap("model.language_model.layers.{i}"),
            "lm.out": Tap("model.language_model.norm"),
        },
        layouts={**VLM_LAYOUTS, "connector.in": "vision", "connector.out": "vision"},
        prefix=(),
        patch_size=config_patch("vision_config"),
        forward=_forward,
        model_types=("paligemma",),
        model_classes={"paligemma": "PaliGemmaForConditionalGeneration"},
        prompt="placeholders",
        image_token=lambda model: model.config.image_token_id,
        trainable=submodule("model.multi_modal_projector"),
    ),
)
