"""LLaVA-OneVision (``LlavaOnevisionForConditionalGeneration``): LLaVA-NeXT's anyres frames (`tiling.Tiling`; the frames
an exact resize, the tiles that size) on a SigLIP tower — no CLS, every tower row a patch, ``vision.out`` its final norm —
with an MLP projector and a Qwen2 LM. The LM's rows are LLaVA-NeXT's, except that an unpadded tile grid of more than
1.1 × ``anyres_max_<n>`` frames' patches is shrunk by bilinear interpolation: those rows are ``image`` rows, mixing
cells. One image per sample (several images per sample are not tiled by HF, and are not read here)."""

from spatialprobe.models.card import VLM_LAYOUTS, Tap, projector_vlm_sites
from spatialprobe.models.families.llava_next import anyres_card
from spatialprobe.registry import MODELS

TOWER = "model.vision_tower"
SITES = projector_vlm_sites(Tap(f"{TOWER}.embeddings"), Tap(f"{TOWER}.post_layernorm"))

CARD = MODELS.register("llava_onevision", anyres_card("llava_onevision", "LlavaOnevisionForConditionalGeneration", SITES,
                                                      {**VLM_LAYOUTS, "connector.in": "patches", "connector.out": "patches"}, ()))
