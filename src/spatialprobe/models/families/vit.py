"""ViT (``ViTModel``; image-classification checkpoints load their encoder)."""

from spatialprobe.models.card import vision_encoder
from spatialprobe.registry import MODELS

CARD = MODELS.register("vit", vision_encoder("vit", embed="embeddings", layers="layers.{i}", out="layernorm", prefix=("cls",), model_classes={"vit": "ViTModel"}))
