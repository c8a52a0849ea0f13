"""BLIP (v1) image encoders. The class follows the checkpoint's ``architectures`` (ITM retrieval,
captioning, VQA), so the weights are the checkpoint's own; the text side has no sites yet."""

from spatialprobe.models.card import vision_encoder
from spatialprobe.registry import MODELS

CARD = MODELS.register("blip", vision_encoder("blip", embed="embeddings", layers="encoder.layers.{i}", out="post_layernorm", prefix=("cls",),
               model_classes={"blip": "BlipModel", "blip_vision_model": "BlipVisionModel"}, submodule="vision_model",
               architectures=("BlipForImageTextRetrieval", "BlipForConditionalGeneration", "BlipForQuestionAnswering")))
