"""Tiny randomly initialised Hugging Face models, saved with save_pretrained into a directory."""

from __future__ import annotations

from pathlib import Path

import torch

WORDS = ["a", "red", "blue", "circle", "square", "left", "of", "is", "the", "where"]
IMAGE_TOKEN = "<image>"


def tiny_tokenizer():
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {tok: i for i, tok in enumerate(["<pad>", "<unk>", "</s>", IMAGE_TOKEN] + WORDS)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", unk_token="<unk>", eos_token="</s>")


def save_clip(directory: Path, full: bool = False) -> Path:
    from transformers import CLIPConfig, CLIPModel, CLIPVisionConfig, CLIPVisionModel
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    vision = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=3, num_attention_heads=4, image_size=32, patch_size=8)
    torch.manual_seed(0)
    if full:
        cfg = CLIPConfig(vision_config=vision, text_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4, vocab_size=50), projection_dim=16)
        model = CLIPModel(cfg)
    else:
        model = CLIPVisionModel(CLIPVisionConfig(**vision))
    model.save_pretrained(directory)
    CLIPImageProcessorPil(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(directory)
    return directory


def save_blip2(directory: Path) -> Path:
    from transformers import Blip2Config, Blip2ForConditionalGeneration
    from transformers.models.blip.image_processing_pil_blip import BlipImageProcessorPil

    tokenizer = tiny_tokenizer()
    cfg = Blip2Config(
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4, image_size=32, patch_size=8),
        qformer_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4, cross_attention_frequency=1, vocab_size=50),
        text_config=dict(model_type="opt", hidden_size=32, ffn_dim=64, num_hidden_layers=2, num_attention_heads=4, vocab_size=len(tokenizer), word_embed_proj_dim=32, pad_token_id=0, eos_token_id=2, bos_token_id=2),
        num_query_tokens=6,
        image_token_index=tokenizer.convert_tokens_to_ids(IMAGE_TOKEN),
    )
    torch.manual_seed(0)
    Blip2ForConditionalGeneration(cfg).save_pretrained(directory)
    BlipImageProcessorPil(size={"height": 32, "width": 32}).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory
