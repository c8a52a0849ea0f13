"""LLaVA-1.5 (``LlavaForConditionalGeneration``): a CLIP tower, an MLP projector applied token by token
to ``hidden_states[vision_feature_layer]`` (the CLS row dropped under the ``default`` strategy), and a
Llama-family LM that reads the projected rows in place of its ``<image>`` placeholders. Both the
CLIP processor and ``LlavaImageProcessor``'s pad-to-square are mapped (`Preprocess`)."""

from spatialprobe.models.card import VLM_LAYOUTS, Card, Derived, Tap, config_patch, projector_vlm_sites
from spatialprobe.models.trainable import submodule
from spatialprobe.registry import MODELS

TOWER = "model.vision_tower"


def _projected(model) -> str:
    """The projector's rows are the selected tower rows: patches only, or CLS + patches (``full``)."""
    return "patches" if model.config.vision_feature_select_strategy == "default" else "vision"


def _forward(model, batch):
    if batch.input_ids is None:
        return model.get_image_features(pixel_values=batch.pixel_values)
    return model(pixel_values=batch.pixel_values, input_ids=batch.input_ids, attention_mask=batch.attention_mask)


SITES = projector_vlm_sites(Tap(f"{TOWER}.pre_layrnorm"), Derived("vision.layer.{last}", f"{TOWER}.post_layernorm"))
"""LLaVA's sites, which LLaVA-NeXT shares."""
LAYOUTS = {**VLM_LAYOUTS, "connector.in": _projected, "connector.out": _projected}

CARD = MODELS.register(
    "llava",
    Card(
        family="llava",
        sites=SITES,
        layouts=LAYOUTS,
        prefix=("cls",),
        patch_size=config_patch("vision_config"),
        forward=_forward,
        model_types=("llava",),
        model_classes={"llava": "LlavaForConditionalGeneration"},
        prompt="placeholders",
        image_token=lambda model: model.config.image_token_id,
        trainable=submodule("model.multi_modal_projector"),
    ),
)
