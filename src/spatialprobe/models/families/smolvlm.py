"""SmolVLM (``SmolVLMForConditionalGeneration``): Idefics3's modules, image splitting and prompt (`families.idefics3`)
on smaller towers and LMs."""

from spatialprobe.models.families.idefics3 import card
from spatialprobe.registry import MODELS

CARD = MODELS.register("smolvlm", card("smolvlm", "SmolVLMForConditionalGeneration"))
