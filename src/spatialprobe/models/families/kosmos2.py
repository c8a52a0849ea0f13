"""Kosmos-2 (``Kosmos2ForConditionalGeneration``): a CLIP-style tower, an image-to-text projection (a
dense map, then latent queries cross-attending over the projected image rows *and* themselves), and a
decoder LM that reads the latents at the positions ``image_embeds_position_mask`` marks.

``vision.out`` is derived (the tower's ``post_layernorm`` is only called on the pooled CLS; the
projection reads the whole last layer through it). ``connector.in`` is that output after Kosmos-2's
L2 normalisation. The visual prompt comes first, without the ``<image>…</image>`` wrapper tokens of
Kosmos-2's processor: ``lm.*`` rows are the model's own computation on a shorter prompt than it was
trained with (docs/models.md: partial)."""

from spatialprobe.models.card import Card, Derived, Tap, VLM_LAYOUTS, config_patch
from spatialprobe.models.trainable import submodule
from spatialprobe.registry import MODELS

TOWER = "vision_model.model"


def _image_positions(adapter, batch, texts) -> dict:
    if batch.input_ids is None:
        return {}
    n, length = batch.prompt_length, batch.input_ids.shape[1]
    mask = batch.input_ids.new_zeros(batch.input_ids.shape[0], length)
    mask[:, :n] = 1
    return {"image_embeds_position_mask": mask}


def _forward(model, batch):
    if batch.input_ids is None:  # Kosmos2Model's own method: the conditional-generation class has the modules, not the method
        from transformers import Kosmos2Model

        return Kosmos2Model.get_image_features(model, pixel_values=batch.pixel_values)
    return model(pixel_values=batch.pixel_values, input_ids=batch.input_ids, attention_mask=batch.attention_mask, **batch.extra)


def _image_token(model) -> int:
    """Any id but padding (the rows are replaced by the latents; padding ids would lose their positions)."""
    return int(model.config.text_config.pad_token_id) + 1


CARD = MODELS.register(
    "kosmos2",
    Card(
        family="kosmos2",
        sites={
            "vision.embed": Tap(f"{TOWER}.pre_layrnorm"),
            "vision.layer.{i}": Tap(f"{TOWER}.encoder.layers.{{i}}"),
            "vision.out": Derived("vision.layer.{last}", f"{TOWER}.post_layernorm"),
            "connector.in": Tap("image_to_text_projection", kind="input", pick=0),
            "connector.attn": Tap("image_to_text_projection.x_attn", pick=1, reduce="mean_heads"),
            "connector.out": Tap("image_to_text_projection", pick=0),
            "lm.layer.{i}": Tap("text_model.model.layers.{i}"),
            "lm.out": Tap("text_model.model.layer_norm"),
        },
        layouts={**VLM_LAYOUTS, "connector.attn": "query+latents"},
        prefix=("cls",),
        patch_size=config_patch("vision_config"),
        forward=_forward,
        needs_eager=("connector.attn",),
        model_types=("kosmos-2",),
        model_classes={"kosmos-2": "Kosmos2ForConditionalGeneration"},
        prompt="placeholders",
        image_token=_image_token,
        extra_inputs=_image_positions,
        trainable=submodule("image_to_text_projection", pick=0),
    ),
)
