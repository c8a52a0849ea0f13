"""IDEFICS (v1, ``IdeficsForVisionText2Text``): a CLIP-style tower, a Perceiver resampler (latents
attend over the image rows *and* themselves), and a Llama LM that never holds image rows — before each
decoder layer (every ``cross_layer_interval``) a gated cross-attention block lets the text rows read
the latents (``prompt="cross"``). ``lm.*`` rows are therefore text rows only: they need texts.

The tower's ``post_layernorm`` is only called on the pooled CLS (``vision.out`` is derived); the
resampler reads the last layer itself. The Perceiver never returns its attention, so
``connector.attn`` is recomputed from the last block's inputs with its own weights."""

import torch

from spatialprobe.models.card import VLM_LAYOUTS, Card, Derived, Tap, config_patch
from spatialprobe.models.trainable import submodule
from spatialprobe.registry import MODELS

TOWER = "model.vision_model"
PERCEIVER = "model.perceiver_resampler"


def _perceiver_attention(attn, args, kwargs) -> torch.Tensor:
    """(B, heads, latents, context + latents): the softmax `IdeficsPerceiverAttention.forward` computes."""
    context, latents = args  # the resampler calls ``attn(context, latents)``
    context, latents = attn.context_layer_norm(context), attn.latents_layer_norm(latents)
    b = context.shape[0]
    q = attn.q_proj(latents)
    k = attn.k_proj(torch.cat([context, latents], dim=-2))
    q, k = (x.reshape(b, x.shape[1], attn.n_heads, attn.head_dim).transpose(1, 2) for x in (q, k))
    if attn.qk_layer_norms:
        q, k = attn.q_layer_norm(q), attn.k_layer_norm(k)
    scores = torch.einsum("... i d, ... j d -> ... i j", q * attn.qk_scale, k)
    return (scores - scores.amax(dim=-1, keepdim=True)).softmax(dim=-1)


def _forward(model, batch):
    ids, mask = batch.input_ids, batch.attention_mask
    if ids is None:  # vision and connector sites: the pass stops before the LM; one BOS row lets it start
        ids = torch.full((batch.pixel_values.shape[0], 1), model.config.bos_token_id, device=batch.pixel_values.device)
        mask = torch.ones_like(ids)
    return model(pixel_values=batch.pixel_values[:, None], input_ids=ids, attention_mask=mask, image_attention_mask=mask[..., None])


CARD = MODELS.register(
    "idefics",
    Card(
        family="idefics",
        sites={
            "vision.embed": Tap(f"{TOWER}.pre_layrnorm"),
            "vision.layer.{i}": Tap(f"{TOWER}.encoder.layers.{{i}}"),
            "vision.out": Derived("vision.layer.{last}", f"{TOWER}.post_layernorm"),
            "connector.in": Tap(PERCEIVER, kind="input", pick=0),
            "connector.attn": Tap(f"{PERCEIVER}.blocks.{{last}}.0", kind="input", compute=_perceiver_attention, reduce="mean_heads"),
            "connector.out": Tap(PERCEIVER),
            "lm.layer.{i}": Tap("model.layers.{i}"),
            "lm.out": Tap("model.norm"),
        },
        layouts={**VLM_LAYOUTS, "connector.attn": "query+latents"},
        prefix=("cls",),
        patch_size=config_patch("vision_config"),
        forward=_forward,
        model_types=("idefics",),
        model_classes={"idefics": "IdeficsForVisionText2Text"},
        prompt="cross",
        trainable=submodule(PERCEIVER),
    ),
)
