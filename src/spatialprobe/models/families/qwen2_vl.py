"""Qwen2-VL (``Qwen2VLForConditionalGeneration``): every image resized to its own grid (`dynamic.DynamicResize`), its
patches fed to the tower as one flat sequence with no batch dimension, in 2×2 merge-window order; a merger turns each
window's four rows into one (raster order of the windows); the LM reads them between ``<|vision_start|>`` and
``<|vision_end|>`` markers, with multimodal RoPE (``mm_token_type_ids`` marks the image rows).

The tower has no final norm: ``vision.out`` is its last block, ``connector.in`` the merger's input."""

from spatialprobe.models.card import TOWER_STEMS, VLM_LAYOUTS, Card, Tap, placeholder_vlm, vlm_forward
from spatialprobe.models.dynamic import DynamicResize
from spatialprobe.models.layout import TokenLayout
from spatialprobe.registry import MODELS

TOWER = "model.visual"
LAYOUTS = {**VLM_LAYOUTS, "vision.embed": "patches", "vision.layer": "patches", "vision.out": "patches",
           "connector.in": "patches", "connector.out": "merged"}
FLAT = dict.fromkeys((*TOWER_STEMS, "connector.out"), "flat")


def image_layout(adapter, rule: str, size) -> TokenLayout:
    """A site's rows for an image of ``size``; ``lm``: the markers around the merged rows, raster order."""
    dynamic, window = adapter.preprocess, getattr(adapter.model.config.vision_config, "window_size", 112)
    if rule != "lm":
        return dynamic.layout(size, rule, window)
    merged = dynamic.layout(size, "merged")
    return TokenLayout(("marker",) + merged.roles + ("marker",), merged.grid, merged.input_size, merged.patch_cells)


def image_prompt(adapter, size) -> list[int]:
    cfg = adapter.model.config
    return [cfg.vision_start_token_id] + [cfg.image_token_id] * len(adapter.preprocess.merged_cells(size)) + [cfg.vision_end_token_id]


def forward(model, batch):
    """`vlm_forward`, the whole model also told which rows are the image's (``mm_token_type_ids``, for multimodal RoPE)."""
    types = {} if batch.input_ids is None else {"mm_token_type_ids": (batch.input_ids == model.config.image_token_id).int()}
    return vlm_forward(model, batch, **types)


def card(family: str, model_class: str, layouts: dict) -> Card:
    """The Qwen2-VL card, or (with its own row orders) Qwen2.5-VL's."""
    return placeholder_vlm(
        family,
        model_class,
        sites={
            "vision.embed": Tap(f"{TOWER}.patch_embed"),
            "vision.layer.{i}": Tap(f"{TOWER}.blocks.{{i}}"),
            "vision.out": Tap(f"{TOWER}.blocks.{{last}}"),
            "connector.in": Tap(f"{TOWER}.merger", kind="input", pick=0),
            "connector.out": Tap(f"{TOWER}.merger"),
            "lm.layer.{i}": Tap("model.language_model.layers.{i}"),
            "lm.out": Tap("model.language_model.norm"),
        },
        layouts=layouts,
        forward=forward,
        images=DynamicResize.from_hf,
        image_layout=image_layout,
        image_prompt=image_prompt,
        packing=FLAT,
    )


CARD = MODELS.register("qwen2_vl", card("qwen2_vl", "Qwen2VLForConditionalGeneration", LAYOUTS))
