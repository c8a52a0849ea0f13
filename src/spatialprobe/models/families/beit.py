"""BEiT (``BeitModel``). With mean pooling (the default) its final ``layernorm`` is an identity, so
``vision.out`` equals the last layer — as the model's own ``last_hidden_state`` does."""

from spatialprobe.models.card import vision_encoder
from spatialprobe.registry import MODELS

CARD = MODELS.register("beit", vision_encoder("beit", embed="embeddings", layers="layers.{i}", out="layernorm", prefix=("cls",), model_classes={"beit": "BeitModel"}))
