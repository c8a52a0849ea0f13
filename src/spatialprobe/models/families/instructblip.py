"""InstructBLIP: BLIP-2's pipeline with an instruction-aware Q-Former. The Q-Former reads the learned
queries *and* the instruction's tokens; ``connector.hidden`` is the query rows only (the input of the
language projection), ``connector.attn`` the queries' cross-attention over the image.

The instruction is a model option, never a silent default: ``hf:<id>?instruction=Describe the image.``
(one fixed instruction: it enters the store key), ``?instruction=@text`` (each item's own text, e.g.
the referring expression, when the pass has text) or ``?instruction=`` (empty: off-distribution for
InstructBLIP — chosen visibly). It is tokenised with the checkpoint's own Q-Former tokenizer
(``qformer_tokenizer/``)."""

from spatialprobe.models.card import VLM_LAYOUTS, Card, Tap, config_patch, vlm_forward
from spatialprobe.models.families.blip2 import SITES, QFormerConnector, _image_token
from spatialprobe.models.trainable import Trainable
from spatialprobe.registry import MODELS

FROM_TEXT = "@text"


def _resources(target: str) -> dict:
    from transformers import AutoTokenizer

    return {"qformer_tokenizer": AutoTokenizer.from_pretrained(target, subfolder="qformer_tokenizer")}


def _instruction(adapter, batch, texts) -> dict:
    choice, n = adapter.options["instruction"], batch.pixel_values.shape[0]
    if choice == FROM_TEXT:
        if texts is None:
            raise ValueError(f"{adapter.name}: instruction=@text reads each item's text, and this pass has none "
                             "(feature extraction without text): give one fixed instruction, ?instruction=…")
        prompts = list(texts)
    else:
        prompts = [choice] * n
    enc = adapter.resources["qformer_tokenizer"](prompts, padding=True, return_tensors="pt")
    return {"qformer_input_ids": enc["input_ids"], "qformer_attention_mask": enc["attention_mask"]}


def _trainable(adapter) -> Trainable:
    """The Q-Former with the adapter's one fixed instruction (per-item instructions would need each
    scene's text inside the connector)."""
    choice = adapter.options["instruction"]
    if choice == FROM_TEXT:
        raise ValueError(f"{adapter.name}: the joint protocol trains the Q-Former with one fixed instruction; "
                         "give ?instruction=<text> (or an empty one), not @text")
    enc = adapter.resources["qformer_tokenizer"]([choice], return_tensors="pt")
    return Trainable(QFormerConnector(adapter.model, (enc["input_ids"], enc["attention_mask"])))


CARD = MODELS.register(
    "instructblip",
    Card(
        family="instructblip",
        sites={**SITES, "connector.hidden": Tap("language_projection", kind="input", pick=0)},  # query rows only, not the instruction's
        layouts=VLM_LAYOUTS,
        prefix=("cls",),
        patch_size=config_patch("vision_config"),
        forward=vlm_forward,
        needs_eager=("connector.attn",),
        model_types=("instructblip",),
        model_classes={"instructblip": "InstructBlipForConditionalGeneration"},
        prompt="placeholders",
        image_token=_image_token,
        options={"instruction": (True, "the Q-Former's instruction: a fixed text, @text (each item's own text) or empty (off-distribution)")},
        resources=_resources,
        extra_inputs=_instruction,
        trainable=_trainable,
    ),
)
