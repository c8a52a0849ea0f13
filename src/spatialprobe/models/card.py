"""Cards: what a model family's sites are, as data (site template → where to read it)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


VLM_LAYOUTS = {
    "vision.embed": "vision",
    "vision.layer": "vision",
    "vision.out": "vision",
    "connector.in": "vision",
    "connector.attn": "query",
    "connector.hidden": "query",
    "connector.out": "query",
    "lm.layer": "lm",
    "lm.out": "lm",
}
"""The usual layout rules: a ViT with CLS, a resampler with queries, an LM (override per family)."""


def config_patch(*path: str) -> Callable[[Any], int]:
    """``patch_size`` read from the model's config (``config_patch("vision_config")`` for a sub-config)."""

    def patch(model) -> int:
        cfg = model.config
        for name in path:
            cfg = getattr(cfg, name)
        p = cfg.patch_size
        return int(p[0] if isinstance(p, (list, tuple)) else p)

    return patch


@dataclass(frozen=True)
class Tap:
    """Read a module's output (or, with ``kind="input"``, its input) during the forward pass.

    ``module`` is a dotted path that may contain ``{i}`` (the site's index) or ``{last}`` (the last
    index of the list it sits in). ``pick`` chooses from a tuple / model-output value (an int
    index or a field name) or, for inputs, the positional index or keyword name. ``reduce`` is
    ``"mean_heads"`` for (B, heads, Q, K) attention maps. ``rows`` keeps the first n rows
    (e.g. InstructBLIP's queries before its instruction tokens). ``compute(module, args, kwargs)``,
    with ``kind="input"``, computes the tensor from the module and its inputs instead (attention a
    module never returns: IDEFICS's Perceiver).
    """

    module: str | tuple[str, ...]
    """A dotted path, or alternatives tried in order (e.g. the LM's layers in OPT vs Llama)."""
    kind: str = "output"
    pick: int | str = 0
    reduce: str | None = None
    rows: int | None = None
    compute: Callable[[Any, tuple, dict], Any] | None = None


@dataclass(frozen=True)
class Derived:
    """A site computed after the forward pass: ``module`` applied to another site's tensor
    (e.g. CLIP's final LayerNorm, which the model itself applies to the CLS token only)."""

    source: str
    module: str


@dataclass(frozen=True)
class Card:
    """A model family: its sites and token layouts, and how to run it.

    ``sites`` maps site templates (``vision.layer.{i}``, ``connector.out``) to taps; a site whose
    module is missing from a given model (e.g. ``connector.hidden`` of a linear connector) is
    simply not offered. ``layouts`` maps site stems to a layout rule: ``vision`` (prefix + patch
    grid), ``patches`` (grid only), ``query``/``latent`` (one row per query), ``lm`` (visual prompt
    rows, then text); a callable picks the rule from the loaded model. ``prefix`` names the vision
    prefix tokens (or, called with the model, returns them: DINOv2's registers); ``patch_size(model)``
    is the patch side in pixels — the grid is the preprocessed input size over it, never a config's
    ``image_size`` (DINOv2 checkpoints say 518 and are fed 224); ``forward(model, batch)`` runs the model.
    """

    family: str
    sites: dict[str, Tap | Derived]
    layouts: dict[str, str | Callable[[Any], str]]
    prefix: tuple[str, ...] | Callable[[Any], tuple[str, ...]]
    patch_size: Callable[[Any], int]
    forward: Callable[[Any, dict], Any]
    needs_eager: tuple[str, ...] = ()
    """Sites that need eager attention (SDPA returns no attention weights)."""
    model_types: tuple[str, ...] = ()
    """Hugging Face ``config.model_type`` values this card serves."""
    model_classes: dict[str, str] = field(default_factory=dict)
    """``model_type`` → transformers class name to load."""
    architectures: tuple[str, ...] = ()
    """Other classes the card serves, loaded when a checkpoint's ``config.architectures`` names one."""
    prompt: str | None = None
    """How the LM receives the visual prompt: ``"placeholders"`` (image tokens in the ids are
    replaced, as BLIP-2 and LLaVA do), ``"prepended"`` (the prompt precedes the text embeddings),
    ``"cross"`` (no image rows: the LM's text rows cross-attend to the connector's output, as in
    IDEFICS / Flamingo), or None (no LM)."""
    image_token: Callable[[Any], int | None] = lambda model: None
    """The id of the image placeholder token (``prompt="placeholders"``)."""
    submodule: str | None = None
    """Part of the loaded model the card describes (e.g. ``vision_model`` of a ``CLIPModel``)."""
    options: dict[str, tuple[bool, str]] = field(default_factory=dict)
    """``hf:<id>?name=value`` options: name → (required, what it means); they enter the store key."""
    resources: Callable[[str], dict] | None = None
    """Loads what the family needs beside the model and its tokenizer (InstructBLIP's Q-Former tokenizer)."""
    extra_inputs: Callable[[Any, Any, list[str] | None], dict] | None = None
    """``(adapter, batch, texts) → {name: tensor}``: model inputs beyond pixels and ids, carried by the batch."""
    trainable: Callable[[Any], Any] | None = None
    """``adapter → Trainable``: the connector as the joint protocol trains it (`models.trainable`)."""
    images: Callable[[dict], Any] | None = None
    """Tiled and dynamic-resolution families: ``preprocessor_config.json`` → their `imaging.PerImage` preprocessing;
    every image then has its own layouts (``image_layout``) and a batch's hooks are split back per image (``packing``)."""
    image_layout: Callable[[Any, str, tuple[int, int]], Any] | None = None
    """``(adapter, rule, size) → TokenLayout`` of a site whose ``layouts`` rule is ``rule``, for an image of ``size``
    (W, H); rule ``lm`` gives the image's rows in the LM's input."""
    image_prompt: Callable[[Any, tuple[int, int]], list[int]] | None = None
    """``(adapter, size) → token ids``: what stands for an image of ``size`` in the LM's input, a token per row of its
    ``lm`` image layout."""
    packing: dict[str, str | Callable[[Any, Any, Any], Any]] = field(default_factory=dict)
    """How a batch of a per-image family sits in a site's hook, per site stem: ``frames`` (Σ frames, N, d — every
    image's frames stacked), ``flat`` (Σ rows, d — no batch dimension), or ``(adapter, tensor, batch) → (Σ rows, d)``
    (Idefics2's padded frames, their padding patches dropped); otherwise (B, rows, d), each image's rows first."""


def projector_vlm_sites(embed: Tap, out: Tap | Derived, tower: str = "model.vision_tower") -> dict[str, Tap | Derived]:
    """The sites of a VLM made of ``model.vision_tower`` (its ``encoder.layers``), ``model.multi_modal_projector`` and
    ``model.language_model`` (LLaVA, PaliGemma, LLaVA-NeXT, LLaVA-OneVision); ``embed`` and ``out`` are the tower's own."""
    return {
        "vision.embed": embed,
        "vision.layer.{i}": Tap(f"{tower}.encoder.layers.{{i}}"),
        "vision.out": out,
        "connector.in": Tap("model.multi_modal_projector", kind="input", pick=0),
        "connector.out": Tap("model.multi_modal_projector"),
        "lm.layer.{i}": Tap("model.language_model.layers.{i}"),
        "lm.out": Tap("model.language_model.norm"),
    }


TOWER_STEMS = ("vision.embed", "vision.layer", "vision.out", "connector.in")
"""The site stems of a VLM's vision tower and of its connector's input (where a per-image family's frames sit)."""


def vlm_forward(model, batch, **text_inputs):
    """The image features alone (a batch without token ids), or the whole model on the prompt. The batch's extra inputs
    (InstructBLIP's instruction; LLaVA-NeXT's ``image_sizes``, Qwen2-VL's ``image_grid_thw``, Idefics'
    ``pixel_attention_mask``) go to both, ``text_inputs`` to the whole model only."""
    if batch.input_ids is None:
        return model.get_image_features(pixel_values=batch.pixel_values, **batch.extra)
    return model(pixel_values=batch.pixel_values, input_ids=batch.input_ids, attention_mask=batch.attention_mask, **batch.extra, **text_inputs)


def placeholder_vlm(family: str, model_class: str, **fields) -> Card:
    """The card of a VLM (HF ``model_type`` ``family``) whose LM reads the visual prompt in place of its image tokens
    (``config.image_token_id``): the tiled and dynamic-resolution families. Unless ``fields`` say otherwise: no prefix
    rows, the patch size of ``config.vision_config``, `vlm_forward`."""
    defaults = {"prefix": (), "patch_size": config_patch("vision_config"), "forward": vlm_forward}
    return Card(family=family, model_types=(family,), model_classes={family: model_class}, prompt="placeholders",
                image_token=lambda model: model.config.image_token_id, **{**defaults, **fields})


def _pixels_only(model, batch):
    return model(pixel_values=batch.pixel_values)


def vision_encoder(family: str, *, embed: str, layers: str, out: str, prefix, model_classes: dict[str, str],
                   submodule: str | None = None, architectures: tuple[str, ...] = ()) -> Card:
    """The card of a plain ViT-style image encoder: embeddings, a list of blocks, a final norm applied
    to every token (ViT, BEiT, DINOv2, SigLIP, FLAVA's and BLIP's image encoders)."""
    return Card(
        family=family,
        sites={"vision.embed": Tap(embed), "vision.layer.{i}": Tap(layers), "vision.out": Tap(out)},
        layouts=VLM_LAYOUTS,
        prefix=prefix,
        patch_size=config_patch(),
        forward=_pixels_only,
        model_types=tuple(model_classes),
        model_classes=model_classes,
        architectures=architectures,
        submodule=submodule,
    )
