"""FLAVA's image encoder (``FlavaModel`` checkpoints, ``FlavaImageModel``); the multimodal encoder
has no sites yet."""

from spatialprobe.models.card import vision_encoder
from spatialprobe.registry import MODELS

CARD = MODELS.register("flava", vision_encoder("flava", embed="embeddings", layers="encoder.layer.{i}", out="layernorm", prefix=("cls",),
               model_classes={"flava": "FlavaModel", "flava_image_model": "FlavaImageModel"}, submodule="image_model"))
