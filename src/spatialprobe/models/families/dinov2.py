"""DINOv2, with or without registers (``Dinov2Model``, ``Dinov2WithRegistersModel``). The register
rows follow CLS; the grid comes from the preprocessed input (real checkpoints say ``image_size``
518 and are fed 224-pixel crops)."""

from spatialprobe.models.card import vision_encoder
from spatialprobe.registry import MODELS

CARD = MODELS.register("dinov2", vision_encoder(
    "dinov2",
    embed="embeddings",
    layers="encoder.layer.{i}",
    out="layernorm",
    prefix=lambda model: ("cls",) + ("register",) * int(getattr(model.config, "num_register_tokens", 0)),
    model_classes={"dinov2": "Dinov2Model", "dinov2_with_registers": "Dinov2WithRegistersModel"},
))
