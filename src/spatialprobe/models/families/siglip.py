"""SigLIP image towers (``SiglipModel`` and ``SiglipVisionModel``; fixed-resolution SigLIP2
checkpoints are ``siglip`` too). No CLS token: every row is a patch."""

from spatialprobe.models.card import vision_encoder
from spatialprobe.registry import MODELS

CARD = MODELS.register("siglip", vision_encoder("siglip", embed="embeddings", layers="encoder.layers.{i}", out="post_layernorm", prefix=(),
               model_classes={"siglip": "SiglipModel", "siglip_vision_model": "SiglipVisionModel"}, submodule="vision_model"))
