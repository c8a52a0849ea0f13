"""LLaVA-NeXT (``LlavaNextForConditionalGeneration``): LLaVA-1.5's CLIP tower, projector and LM, fed "anyres" tiles —
every image becomes a base frame (the image stretched) and the tiles of its best resolution (`tiling.Tiling`).

The tower and the projector see every image's frames stacked, ``(Σ frames, N, d)``: each image's rows are its frames,
frame after frame, each frame a CLS row (tower sites) and its patch grid. The LM reads the base frame's patches, then
the tiles' patches as one grid with the padding cut away, an ``image_newline`` row after each of its rows
(`Tiling.lm_layout`, what HF's ``pack_image_features`` packs)."""

from spatialprobe.models.card import TOWER_STEMS, Card, placeholder_vlm
from spatialprobe.models.families.llava import LAYOUTS, SITES
from spatialprobe.models.tiling import Tiling
from spatialprobe.registry import MODELS


def image_layout(adapter, rule: str, size):
    """A site's rows for an image of ``size``: every frame's prefix (``vision``) and grid, or the LM's image rows."""
    tiling, patch, cfg = adapter.preprocess, adapter.card.patch_size(adapter.model), adapter.model.config
    if rule == "lm":
        if len(adapter.prefix) != (cfg.vision_feature_select_strategy == "default"):
            raise ValueError(f"{adapter.name}: LM rows with vision_feature_select_strategy={cfg.vision_feature_select_strategy!r} "
                             f"on a tower with prefix {adapter.prefix} are not mapped (the base frame would not be its patch grid)")
        aspect = getattr(cfg, "vision_aspect_ratio", None)
        return tiling.lm_layout(size, patch, int(aspect.removeprefix("anyres_max_")) if aspect else None)
    return tiling.layout(size, patch, prefix=adapter.prefix if rule == "vision" else ())


def image_prompt(adapter, size) -> list[int]:
    return [adapter.model.config.image_token_id] * len(image_layout(adapter, "lm", size))


PACKING = dict.fromkeys((*TOWER_STEMS, "connector.out"), "frames")
"""The tower and the projector see every image's frames stacked."""


def anyres_card(family: str, model_class: str, sites: dict, layouts: dict, prefix: tuple[str, ...]) -> Card:
    """The card of a LLaVA-NeXT-style family: anyres frames into a tower and projector, the packed rows into the LM."""
    return placeholder_vlm(
        family,
        model_class,
        sites=sites,
        layouts=layouts,
        prefix=prefix,
        images=Tiling.from_hf,
        image_layout=image_layout,
        image_prompt=image_prompt,
        packing=PACKING,
    )


CARD = MODELS.register("llava_next", anyres_card("llava_next", "LlavaNextForConditionalGeneration", SITES, LAYOUTS, ("cls",)))
