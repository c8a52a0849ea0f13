"""Idefics2 (``Idefics2ForConditionalGeneration``): an image's frames (`quadrants.Quadrants`: with splitting, its four
quadrants and the whole) into a SigLIP-style tower, each at its own size — padded to the batch's largest frame, the
padding patches masked —, a connector (an MLP, then a Perceiver resampler: ``resampler_n_latents`` latents per frame,
no grid), and a Mistral LM that reads each frame's latents between ``<fake_token_around_image>`` markers, as HF's
processor writes the prompt. The tower rows of a frame are its whole patches only (a partial last row or column is
masked by the model, and not a row here)."""

from spatialprobe.models.card import TOWER_STEMS, VLM_LAYOUTS, Card, placeholder_vlm
from spatialprobe.models.families.idefics3 import FAKE, SITES
from spatialprobe.models.layout import TokenLayout
from spatialprobe.models.quadrants import Quadrants
from spatialprobe.registry import MODELS


def _latents(adapter) -> int:
    return int(adapter.model.config.perceiver_config.resampler_n_latents)


def unpadded(adapter, x, batch):
    """A padded-frames hook output (real frames, padded patches, d) as (Σ rows, d): each real frame's whole patches."""
    mask = batch.extra["pixel_attention_mask"].flatten(0, 1)
    mask = mask[mask.flatten(1).any(1)]  # the real frames, as the model keeps them
    p = adapter.card.patch_size(adapter.model)
    keep = mask.unfold(1, p, p).unfold(2, p, p).flatten(-2).all(-1).flatten(1)
    return x[keep.to(x.device)]


def image_prompt(adapter, size) -> list[int]:
    image = adapter.tokenizer.convert_ids_to_tokens(adapter.model.config.image_token_id)
    text = f"{FAKE}{image * _latents(adapter)}{FAKE}" * len(adapter.preprocess.regions(size))
    return list(adapter.tokenizer(text.replace(FAKE + FAKE, FAKE), add_special_tokens=False)["input_ids"])


def image_layout(adapter, rule: str, size) -> TokenLayout:
    if rule == "frames":
        return adapter.preprocess.layout(size, adapter.card.patch_size(adapter.model))
    frame_of = [k for k in range(len(adapter.preprocess.regions(size))) for _ in range(_latents(adapter))]  # each latent's frame
    if rule == "latents":
        return TokenLayout(("latent",) * len(frame_of), frame_of_row=tuple(frame_of))
    image, latents = [i == adapter.model.config.image_token_id for i in image_prompt(adapter, size)], iter(frame_of)
    return TokenLayout(tuple("image" if i else "marker" for i in image), frame_of_row=tuple(next(latents) if i else -1 for i in image))


CARD: Card = MODELS.register(
    "idefics2",
    placeholder_vlm(
        "idefics2",
        "Idefics2ForConditionalGeneration",
        sites=SITES,
        layouts={**VLM_LAYOUTS, **dict.fromkeys(TOWER_STEMS, "frames"), "connector.out": "latents"},
        images=Quadrants.from_hf,
        image_layout=image_layout,
        image_prompt=image_prompt,
        packing={**dict.fromkeys(TOWER_STEMS, unpadded), "connector.out": "frames"},
    ),
)
