"""LLaVA-NeXT (``LlavaNextForConditionalGeneration``): LLaVA-1.5's CLIP tower, projector and LM, fed "anyres" tiles —
every image becomes a base frame (the image stretched) and the tiles of its best resolution (`tiling.Tiling`).

The tower and the projector see every image's frames stacked, ``(Σ frames, N, d)``: each image's rows are its frames,
frame after frame, each frame a CLS row (tower sites) and its patch grid. The LM reads the base frame's patches, then
the tiles' patches as one grid with the padding cut away, an ``image_newline`` row after each of its rows
(`Tiling.lm_layout`, what HF's ``pack_image_features`` packs)."""

from spatialprobe.models.card import Card, config_patch
from spatialprobe.models.families.llava import LAYOUTS, SITES
from spatialprobe.models.tiling import Tiling
from spatialprobe.registry import MODELS


def _layout(adapter, rule: str, size):
    tiling, patch = adapter.preprocess, adapter.card.patch_size(adapter.model)
    if rule == "lm":
        if adapter.model.config.vision_feature_select_strategy != "default":
            raise ValueError(f"{adapter.name}: LM rows under vision_feature_select_strategy="
                             f"{adapter.model.config.vision_feature_select_strategy!r} are not mapped (only 'default')")
        return tiling.lm_layout(size, patch)
    return tiling.layout(size, patch, prefix=("cls",) if rule == "vision" else ())


def _forward(model, batch):
    sizes = batch.extra["image_sizes"]
    if batch.input_ids is None:
        return model.get_image_features(pixel_values=batch.pixel_values, image_sizes=sizes)
    return model(pixel_values=batch.pixel_values, image_sizes=sizes, input_ids=batch.input_ids, attention_mask=batch.attention_mask)


FRAMES = ("vision.embed", "vision.layer", "vision.out", "connector.in", "connector.out")

CARD = MODELS.register(
    "llava_next",
    Card(
        family="llava_next",
        sites=SITES,
        layouts=LAYOUTS,
        prefix=("cls",),
        patch_size=config_patch("vision_config"),
        forward=_forward,
        model_types=("llava_next",),
        model_classes={"llava_next": "LlavaNextForConditionalGeneration"},
        prompt="placeholders",
        image_token=lambda model: model.config.image_token_id,
        images=Tiling.from_hf,
        image_layout=_layout,
        image_prompt=lambda adapter, layout: [adapter.model.config.image_token_id] * len(layout),
        packing=dict.fromkeys(FRAMES, "frames"),
    ),
)
