"""Idefics3 (``Idefics3ForConditionalGeneration``): every image split into square crops plus a global frame
(`splitting.Splitting`), a SigLIP-style tower on each frame (no CLS), a connector that pixel-shuffles each frame's
grid — every ``scale_factor`` × ``scale_factor`` block of patches becomes one row — and projects it, and a Llama LM
that reads each frame's rows after ``<fake_token_around_image><row_r_col_c>`` markers (``\\n`` after each row of
crops), the global frame's after ``<fake_token_around_image><global-img>``, as HF's processor writes the prompt.

The LM's image rows come from tokenising that prompt with the model's own tokenizer: every image token holds the
next shuffled cell of its frame, every other token is a ``marker`` row."""

import numpy as np

from spatialprobe.models.card import TOWER_STEMS, VLM_LAYOUTS, Card, Tap, placeholder_vlm
from spatialprobe.models.layout import TokenLayout
from spatialprobe.models.splitting import Splitting
from spatialprobe.registry import MODELS

FAKE, GLOBAL = "<fake_token_around_image>", "<global-img>"
SITES = {
    "vision.embed": Tap("model.vision_model.embeddings"),
    "vision.layer.{i}": Tap("model.vision_model.encoder.layers.{i}"),
    "vision.out": Tap("model.vision_model.post_layernorm"),
    "connector.in": Tap("model.connector", kind="input", pick=0),
    "connector.out": Tap("model.connector"),
    "lm.layer.{i}": Tap("model.text_model.layers.{i}"),
    "lm.out": Tap("model.text_model.norm"),
}
"""The sites of Idefics3 and SmolVLM — and of Idefics2, whose modules sit at the same paths."""


def _scale(adapter) -> int:
    return int(adapter.model.config.scale_factor)


def image_prompt(adapter, size) -> list[int]:
    """The image's tokens as HF's processor writes them (``replace_image_token``), tokenised by the model's tokenizer."""
    splitting, patch = adapter.preprocess, adapter.card.patch_size(adapter.model)
    image = adapter.tokenizer.convert_ids_to_tokens(adapter.model.config.image_token_id)
    per_frame = image * ((splitting.side // patch // _scale(adapter)) ** 2)
    rows, cols = splitting.tiles(size)
    text = "".join("".join(f"{FAKE}<row_{r + 1}_col_{c + 1}>{per_frame}" for c in range(cols)) + "\n" for r in range(rows))
    text += ("\n" if rows else "") + f"{FAKE}{GLOBAL}{per_frame}{FAKE}"
    return list(adapter.tokenizer(text, add_special_tokens=False)["input_ids"])


def image_layout(adapter, rule: str, size) -> TokenLayout:
    splitting, patch = adapter.preprocess, adapter.card.patch_size(adapter.model)
    if rule != "lm":
        return splitting.layout(size, patch, _scale(adapter) if rule == "shuffled" else 1)
    frames = splitting.layout(size, patch, _scale(adapter))
    cells, frame_of = iter(frames.patch_cells), iter(frames.frame_of_row)
    ids = np.array(image_prompt(adapter, size))
    image = ids == adapter.model.config.image_token_id
    if image.sum() != len(frames):
        raise ValueError(f"{adapter.name}: the prompt holds {int(image.sum())} image tokens for {len(frames)} shuffled cells")
    return TokenLayout(tuple("patch" if i else "marker" for i in image), frames.grid, frames.input_size,
                       tuple(next(cells) for i in image if i), frame_of_row=tuple(next(frame_of) if i else -1 for i in image))


def card(family: str, model_class: str) -> Card:
    """Idefics3's card, or SmolVLM's (the same modules, processor and prompt)."""
    return placeholder_vlm(
        family,
        model_class,
        sites=SITES,
        layouts={**VLM_LAYOUTS, **dict.fromkeys(TOWER_STEMS, "frames"), "connector.out": "shuffled"},
        images=Splitting.from_hf,
        image_layout=image_layout,
        image_prompt=image_prompt,
        packing=dict.fromkeys((*TOWER_STEMS, "connector.out"), "frames"),
    )


CARD = MODELS.register("idefics3", card("idefics3", "Idefics3ForConditionalGeneration"))
