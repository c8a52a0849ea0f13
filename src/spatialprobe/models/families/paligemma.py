"""PaliGemma (``PaliGemmaForConditionalGeneration``): a SigLIP tower (no CLS), a linear projector, a
Gemma LM that reads the image rows in place of its ``<image>`` placeholders.

PaliGemma is a prefix LM: rows marked ``token_type_ids == 0`` (the image and the prompt) attend to
each other both ways, later rows causally. ``token_type_ids`` are always passed: the image and the
text are the prefix, as PaliGemma reads a prompt (``detect the red circle``)."""

import torch

from spatialprobe.models.card import VLM_LAYOUTS, Card, Tap, config_patch, projector_vlm_sites
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
        sites=projector_vlm_sites(Tap(f"{TOWER}.embeddings"), Tap(f"{TOWER}.post_layernorm")),
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
