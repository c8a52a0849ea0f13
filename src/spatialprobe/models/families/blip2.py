"""BLIP-2: EVA ViT → Q-Former (learned queries) → linear projection → OPT / Flan-T5 / Llama LM.

With Flan-T5 the query rows and the text enter the T5 *encoder*: ``lm.*`` are its blocks and final
norm (the pass stops there, so no decoder input is needed)."""

import torch
from torch import nn

from spatialprobe.models.card import VLM_LAYOUTS, Card, Tap, config_patch, vlm_forward
from spatialprobe.models.trainable import Trainable
from spatialprobe.registry import MODELS

LM_LAYERS = ("language_model.model.decoder.layers.{i}", "language_model.model.layers.{i}", "language_model.encoder.block.{i}")
LM_NORM = ("language_model.model.decoder.final_layer_norm", "language_model.model.norm", "language_model.encoder.final_layer_norm")


class QFormerConnector(nn.Module):
    """BLIP-2's connector from its stored input, as ``get_image_features`` runs it: the learned queries
    through the Q-Former (cross-attending to the image rows; with InstructBLIP's instruction beside
    them), the query rows through the language projection."""

    def __init__(self, model, instruction: tuple[torch.Tensor, torch.Tensor] | None = None):
        super().__init__()
        self.query_tokens, self.qformer, self.projection = model.query_tokens, model.qformer, model.language_projection
        self.instructed = instruction is not None
        if self.instructed:  # (1, T) ids and mask, the same for every scene
            self.register_buffer("instruction_ids", instruction[0])
            self.register_buffer("instruction_mask", instruction[1])

    def forward(self, tokens):
        b, device = tokens.shape[0], tokens.device
        queries = self.query_tokens.expand(b, -1, -1)
        kwargs = {}
        if self.instructed:
            mask = self.instruction_mask.expand(b, -1)
            kwargs = {"input_ids": self.instruction_ids.expand(b, -1),
                      "attention_mask": torch.cat([torch.ones(queries.shape[:2], dtype=mask.dtype, device=device), mask], dim=1)}
        out = self.qformer(query_embeds=queries, encoder_hidden_states=tokens,
                           encoder_attention_mask=torch.ones(tokens.shape[:2], dtype=torch.long, device=device), **kwargs)
        return self.projection(out.last_hidden_state[:, : queries.shape[1]].to(tokens.dtype))


def _trainable(adapter):
    return Trainable(QFormerConnector(adapter.model))


def _image_token(model):
    cfg = model.config
    token = getattr(cfg, "image_token_id", None)
    return token if token is not None else getattr(cfg, "image_token_index", None)


SITES = {
    "vision.embed": Tap("vision_model.embeddings"),
    "vision.layer.{i}": Tap("vision_model.encoder.layers.{i}"),
    "vision.out": Tap("vision_model.post_layernorm"),
    "connector.in": Tap("qformer", kind="input", pick="encoder_hidden_states"),
    "connector.attn": Tap("qformer.encoder.layer.{last}.crossattention.attention", pick=1, reduce="mean_heads"),
    "connector.hidden": Tap("qformer", pick="last_hidden_state"),
    "connector.out": Tap("language_projection"),
    "lm.layer.{i}": Tap(LM_LAYERS),
    "lm.out": Tap(LM_NORM),
}
"""BLIP-2's taps (InstructBLIP shares them but for ``connector.hidden``)."""


CARD = MODELS.register(
    "blip2",
    Card(
        family="blip2",
        sites=SITES,
        layouts=VLM_LAYOUTS,
        prefix=("cls",),
        patch_size=config_patch("vision_config"),
        forward=vlm_forward,
        needs_eager=("connector.attn",),
        model_types=("blip-2",),
        model_classes={"blip-2": "Blip2ForConditionalGeneration"},
        prompt="placeholders",
        image_token=_image_token,
        trainable=_trainable,
    ),
)
