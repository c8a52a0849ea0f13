"""BLIP-2: EVA ViT → Q-Former (learned queries) → linear projection → OPT / Flan-T5 / Llama LM.

With Flan-T5 the query rows and the text enter the T5 *encoder*: ``lm.*`` are its blocks and final
norm (the pass stops there, so no decoder input is needed)."""

from spatialprobe.models.card import VLM_LAYOUTS, Card, Tap, config_patch
from spatialprobe.registry import MODELS

LM_LAYERS = ("language_model.model.decoder.layers.{i}", "language_model.model.layers.{i}", "language_model.encoder.block.{i}")
LM_NORM = ("language_model.model.decoder.final_layer_norm", "language_model.model.norm", "language_model.encoder.final_layer_norm")


def _forward(model, batch):
    if batch.input_ids is None:
        return model.get_image_features(pixel_values=batch.pixel_values)
    return model(pixel_values=batch.pixel_values, input_ids=batch.input_ids, attention_mask=batch.attention_mask)


def _image_token(model):
    cfg = model.config
    token = getattr(cfg, "image_token_id", None)
    return token if token is not None else getattr(cfg, "image_token_index", None)


CARD = MODELS.register(
    "blip2",
    Card(
        family="blip2",
        sites={
            "vision.embed": Tap("vision_model.embeddings"),
            "vision.layer.{i}": Tap("vision_model.encoder.layers.{i}"),
            "vision.out": Tap("vision_model.post_layernorm"),
            "connector.in": Tap("qformer", kind="input", pick="encoder_hidden_states"),
            "connector.attn": Tap("qformer.encoder.layer.{last}.crossattention.attention", pick=1, reduce="mean_heads"),
            "connector.hidden": Tap("qformer", pick="last_hidden_state"),
            "connector.out": Tap("language_projection"),
            "lm.layer.{i}": Tap(LM_LAYERS),
            "lm.out": Tap(LM_NORM),
        },
        layouts=VLM_LAYOUTS,
        prefix=("cls",),
        patch_size=config_patch("vision_config"),
        forward=_forward,
        needs_eager=("connector.attn",),
        model_types=("blip-2",),
        model_classes={"blip-2": "Blip2ForConditionalGeneration"},
        prompt="placeholders",
        image_token=_image_token,
    ),
)
