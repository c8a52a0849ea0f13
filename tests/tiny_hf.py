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


VISION = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4, patch_size=8)
"""Every tiny image encoder: width 32, 2 layers, 8-pixel patches; the input size comes from its processor."""


def _encoder(name: str):
    """(model, image processor) of a tiny image encoder, with the preprocessing real checkpoints of the family use."""
    import transformers as T
    from transformers.models.beit.image_processing_pil_beit import BeitImageProcessorPil
    from transformers.models.bit.image_processing_pil_bit import BitImageProcessorPil
    from transformers.models.blip.image_processing_pil_blip import BlipImageProcessorPil
    from transformers.models.flava.image_processing_pil_flava import FlavaImageProcessorPil
    from transformers.models.siglip.image_processing_pil_siglip import SiglipImageProcessorPil
    from transformers.models.vit.image_processing_pil_vit import ViTImageProcessorPil

    square = {"height": 32, "width": 32}
    if name == "clip":  # shortest edge 40, crop 32 (CLIP's 224 → 224 crop)
        from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

        return T.CLIPVisionModel(T.CLIPVisionConfig(**VISION, image_size=32)), CLIPImageProcessorPil(size={"shortest_edge": 40}, crop_size=square)
    if name == "vit":
        return T.ViTModel(T.ViTConfig(**VISION, image_size=32)), ViTImageProcessorPil(size=square)
    if name == "beit":  # resize 40, crop 32 (BEiT's 256 → 224)
        return T.BeitModel(T.BeitConfig(**VISION, image_size=32)), BeitImageProcessorPil(size={"height": 40, "width": 40}, do_center_crop=True, crop_size=square)
    if name in ("dinov2", "dinov2-registers"):  # the config says 56 (real: 518); the processor crops to 32 (real: 224)
        bit = BitImageProcessorPil(size={"shortest_edge": 40}, do_center_crop=True, crop_size=square, image_mean=[0.485, 0.456, 0.406], image_std=[0.229, 0.224, 0.225])
        if name == "dinov2":
            return T.Dinov2Model(T.Dinov2Config(**VISION, image_size=56)), bit
        return T.Dinov2WithRegistersModel(T.Dinov2WithRegistersConfig(**VISION, image_size=56, num_register_tokens=4)), bit
    if name == "siglip":
        return T.SiglipVisionModel(T.SiglipVisionConfig(**VISION, image_size=32)), SiglipImageProcessorPil(size=square)
    if name == "flava":
        return T.FlavaImageModel(T.FlavaImageConfig(**VISION, image_size=32)), FlavaImageProcessorPil(size={"height": 40, "width": 40}, do_center_crop=True, crop_size=square)
    if name == "blip-itm":  # a retrieval checkpoint: the class comes from config.architectures
        cfg = T.BlipConfig(vision_config={**VISION, "image_size": 32}, text_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                                                                        num_attention_heads=4, vocab_size=50, encoder_hidden_size=32))
        return T.BlipForImageTextRetrieval(cfg), BlipImageProcessorPil(size=square)
    raise KeyError(name)


ENCODERS = ("clip", "vit", "beit", "dinov2", "dinov2-registers", "siglip", "flava", "blip-itm")


def save_encoder(directory: Path, name: str) -> Path:
    torch.manual_seed(0)
    model, processor = _encoder(name)
    model.save_pretrained(directory)
    processor.save_pretrained(directory)
    return directory


def _save_vlm(directory: Path, model, processor) -> Path:
    model.save_pretrained(directory)
    processor.save_pretrained(directory)
    tiny_tokenizer().save_pretrained(directory)
    return directory


def save_llava(directory: Path, pad: bool = False) -> Path:
    """LLaVA-1.5: CLIP tower, MLP projector, Llama LM; ``pad``: LlavaImageProcessor's pad-to-square, else the CLIP processor."""
    from transformers import LlavaConfig, LlavaForConditionalGeneration
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil
    from transformers.models.llava.image_processing_pil_llava import LlavaImageProcessorPil

    tokenizer = tiny_tokenizer()
    text = dict(model_type="llama", hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=4,
                vocab_size=len(tokenizer), pad_token_id=0, bos_token_id=2, eos_token_id=2)
    cfg = LlavaConfig(vision_config={**VISION, "image_size": 32, "model_type": "clip_vision_model"}, text_config=text,
                      image_token_index=tokenizer.convert_tokens_to_ids(IMAGE_TOKEN))
    torch.manual_seed(0)
    kind = LlavaImageProcessorPil if pad else CLIPImageProcessorPil
    processor = kind(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}, **({"do_pad": True} if pad else {}))
    return _save_vlm(directory, LlavaForConditionalGeneration(cfg), processor)


def save_paligemma(directory: Path) -> Path:
    from transformers import PaliGemmaConfig, PaliGemmaForConditionalGeneration
    from transformers.models.siglip.image_processing_pil_siglip import SiglipImageProcessorPil

    tokenizer = tiny_tokenizer()
    text = dict(model_type="gemma", hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=1,
                head_dim=8, vocab_size=len(tokenizer), pad_token_id=0, bos_token_id=2, eos_token_id=2)
    cfg = PaliGemmaConfig(vision_config={**VISION, "image_size": 32, "model_type": "siglip_vision_model"}, text_config=text,
                          image_token_index=tokenizer.convert_tokens_to_ids(IMAGE_TOKEN), projection_dim=32)
    torch.manual_seed(0)
    return _save_vlm(directory, PaliGemmaForConditionalGeneration(cfg), SiglipImageProcessorPil(size={"height": 32, "width": 32}))


def save_blip2_t5(directory: Path) -> Path:
    """BLIP-2 with a Flan-T5 LM: the queries and the text enter the T5 encoder."""
    from transformers import Blip2Config, Blip2ForConditionalGeneration
    from transformers.models.blip.image_processing_pil_blip import BlipImageProcessorPil

    tokenizer = tiny_tokenizer()
    cfg = Blip2Config(
        vision_config={**VISION, "image_size": 32},
        qformer_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4, cross_attention_frequency=1, vocab_size=50),
        text_config=dict(model_type="t5", d_model=32, d_ff=64, d_kv=8, num_layers=2, num_heads=4, vocab_size=len(tokenizer), pad_token_id=0,
                         eos_token_id=2, decoder_start_token_id=0),
        num_query_tokens=6,
        image_token_index=tokenizer.convert_tokens_to_ids(IMAGE_TOKEN),
    )
    torch.manual_seed(0)
    return _save_vlm(directory, Blip2ForConditionalGeneration(cfg), BlipImageProcessorPil(size={"height": 32, "width": 32}))


VLMS = {"blip2": save_blip2, "llava": save_llava, "llava-pad": lambda d: save_llava(d, pad=True), "paligemma": save_paligemma, "blip2-t5": save_blip2_t5}


def qformer_tokenizer():
    """A BERT-style WordLevel tokenizer, as InstructBLIP's Q-Former uses ([CLS] text [SEP])."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {tok: i for i, tok in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]"] + WORDS + ["describe", "image"])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]", cls_token="[CLS]", sep_token="[SEP]")


def save_instructblip(directory: Path) -> Path:
    from transformers import InstructBlipConfig, InstructBlipForConditionalGeneration
    from transformers.models.blip.image_processing_pil_blip import BlipImageProcessorPil

    tokenizer = tiny_tokenizer()
    cfg = InstructBlipConfig(
        vision_config={**VISION, "image_size": 32},
        qformer_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4, cross_attention_frequency=1, vocab_size=50),
        text_config=dict(model_type="opt", hidden_size=32, ffn_dim=64, num_hidden_layers=2, num_attention_heads=4, vocab_size=len(tokenizer),
                         word_embed_proj_dim=32, pad_token_id=0, eos_token_id=2, bos_token_id=2),
        num_query_tokens=6,
        image_token_index=tokenizer.convert_tokens_to_ids(IMAGE_TOKEN),
    )
    torch.manual_seed(0)
    _save_vlm(directory, InstructBlipForConditionalGeneration(cfg), BlipImageProcessorPil(size={"height": 32, "width": 32}))
    qformer_tokenizer().save_pretrained(directory / "qformer_tokenizer")
    return directory


VLMS["instructblip"] = save_instructblip


def save_kosmos2(directory: Path) -> Path:
    from transformers import Kosmos2Config, Kosmos2ForConditionalGeneration
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    text = dict(embed_dim=32, ffn_dim=64, layers=2, attention_heads=4, vocab_size=len(tiny_tokenizer()), pad_token_id=0, bos_token_id=2, eos_token_id=2)
    cfg = Kosmos2Config(vision_config={**VISION, "image_size": 32}, text_config=text, latent_query_num=5)
    torch.manual_seed(0)
    processor = CLIPImageProcessorPil(size={"height": 32, "width": 32}, do_center_crop=False)
    return _save_vlm(directory, Kosmos2ForConditionalGeneration(cfg), processor)


VLMS["kosmos-2"] = save_kosmos2


def save_idefics(directory: Path) -> Path:
    """IDEFICS v1 with its Perceiver; the cross-attention gates start at a random value (zero in HF's
    default init, which would hide the image from the LM)."""
    from transformers import IdeficsConfig, IdeficsForVisionText2Text
    from transformers.models.idefics.image_processing_pil_idefics import IdeficsImageProcessorPil

    cfg = IdeficsConfig(
        vocab_size=len(tiny_tokenizer()), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        vision_config=dict(embed_dim=32, image_size=32, patch_size=8, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64),
        perceiver_config=dict(use_resampler=True, resampler_n_latents=6, resampler_depth=2, resampler_n_heads=2, resampler_head_dim=8),
        use_resampler=True, pad_token_id=0, bos_token_id=2, eos_token_id=2,
    )
    torch.manual_seed(0)
    model = IdeficsForVisionText2Text(cfg)
    with torch.no_grad():  # (alpha_initializer="normal" fails in transformers 5.23: torch.normal(size=1))
        for block in model.model.gated_cross_attn_layers:
            block.alpha_cross_attn.normal_(0.0, 1.0)
            block.alpha_dense.normal_(0.0, 1.0)
    return _save_vlm(directory, model, IdeficsImageProcessorPil(size={"height": 32, "width": 32}))


VLMS["idefics"] = save_idefics


def save_gpt2(directory: Path) -> Path:
    """A tiny causal LM (GPT-2 architecture) with the word-level tokenizer: LiMBeR's frozen LM."""
    from transformers import GPT2Config, GPT2LMHeadModel

    tokenizer = tiny_tokenizer()
    torch.manual_seed(0)
    GPT2LMHeadModel(GPT2Config(n_embd=32, n_layer=2, n_head=4, n_positions=128, vocab_size=len(tokenizer), eos_token_id=2, bos_token_id=2)).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def saved_config(processor, directory: Path) -> dict:
    """An image processor's ``preprocessor_config.json`` as ``save_pretrained`` writes it (what spatialprobe reads)."""
    import json

    processor.save_pretrained(directory)
    return json.loads((Path(directory) / "preprocessor_config.json").read_text())


def noise_image(size: tuple[int, int], seed: int):
    """A (width, height) RGB image of uniform noise."""
    import numpy as np
    from PIL import Image

    return Image.fromarray(np.random.default_rng(seed).integers(0, 255, (size[1], size[0], 3), dtype=np.uint8))


QWEN_TOKENS = ["<|vision_start|>", "<|vision_end|>", "<|image_pad|>"]


def _lm(tokenizer, hidden: int = 32, **extra) -> dict:
    return dict(hidden_size=hidden, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=4,
                vocab_size=len(tokenizer), pad_token_id=0, bos_token_id=2, eos_token_id=2, **extra)


ANYRES = {
    "llava_next": ("LlavaNext", "clip_vision_model", "llama", dict(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})),
    "llava_onevision": ("LlavaOnevision", "siglip_vision_model", "qwen2", dict(size={"height": 32, "width": 32})),
}
"""Per anyres family: class prefix, tower, LM and image-processor sizes."""


def save_llava_next(directory: Path, family: str = "llava_next") -> Path:
    """LLaVA-NeXT: 32-pixel CLIP frames of 8-pixel patches, anyres pinpoints up to 3 tiles a side, a Llama LM; or
    (``family="llava_onevision"``) LLaVA-OneVision: a SigLIP tower, the same frames and pinpoints, a Qwen2 LM."""
    import transformers

    name, tower, lm, sizes = ANYRES[family]
    processor = getattr(__import__(f"transformers.models.{family}.image_processing_pil_{family}", fromlist=["_"]), f"{name}ImageProcessorPil")
    tokenizer = tiny_tokenizer()
    pinpoints = [[32, 64], [64, 32], [64, 64], [96, 32], [32, 96]]
    cfg = getattr(transformers, f"{name}Config")(vision_config={**VISION, "image_size": 32, "model_type": tower}, text_config=dict(model_type=lm, **_lm(tokenizer)),
                                                 image_grid_pinpoints=pinpoints, image_token_index=tokenizer.convert_tokens_to_ids(IMAGE_TOKEN))
    torch.manual_seed(0)
    return _save_vlm(directory, getattr(transformers, f"{name}ForConditionalGeneration")(cfg), processor(**sizes, image_grid_pinpoints=pinpoints))


SPLIT_TOKENS = ["<fake_token_around_image>", "<global-img>", "\n"] + [f"<row_{r}_col_{c}>" for r in range(1, 7) for c in range(1, 7)]


def save_idefics3(directory: Path, family: str = "idefics3") -> Path:
    """Idefics3 (or, ``family="smolvlm"``, SmolVLM): images resized to a longest edge of 64 and split into 32-pixel
    crops plus a global frame, 8-pixel patches pixel-shuffled 2×2, a Llama LM; the tokenizer knows the split markers."""
    import transformers

    name = {"idefics3": "Idefics3", "smolvlm": "SmolVLM"}[family]
    processor_module = getattr(__import__(f"transformers.models.{family}.image_processing_pil_{family}", fromlist=["_"]), f"{name}ImageProcessorPil")
    tokenizer = tiny_tokenizer()
    tokenizer.add_tokens([IMAGE_TOKEN] + SPLIT_TOKENS, special_tokens=True)  # as real tokenizers do: split out of running text
    vision = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4, image_size=32, patch_size=8)
    cfg = getattr(transformers, f"{name}Config")(vision_config=vision, text_config=dict(model_type="llama", **_lm(tokenizer)), scale_factor=2,
                                                 image_token_id=tokenizer.convert_tokens_to_ids(IMAGE_TOKEN))
    torch.manual_seed(0)
    model = getattr(transformers, f"{name}ForConditionalGeneration")(cfg)
    processor = processor_module(size={"longest_edge": 64}, max_image_size={"longest_edge": 32})
    model.save_pretrained(directory)
    processor.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def save_qwen(directory: Path, version: str = "2") -> Path:
    """Qwen2-VL (``version="2"``) or Qwen2.5-VL (``"2.5"``, 56-pixel attention windows, block 1 full attention): 14-pixel
    patches merged 2×2, images resized within [56², 28² · 40] pixels, a Qwen2 LM with multimodal RoPE."""
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    tokenizer = tiny_tokenizer()
    tokenizer.add_tokens(QWEN_TOKENS, special_tokens=True)
    start, end, pad = tokenizer.convert_tokens_to_ids(QWEN_TOKENS)
    text = _lm(tokenizer, hidden=48, rope_scaling={"type": "mrope", "mrope_section": [2, 2, 2]})
    ids = dict(image_token_id=pad, vision_start_token_id=start, vision_end_token_id=end, video_token_id=1)
    torch.manual_seed(0)
    if version == "2":
        from transformers import Qwen2VLConfig, Qwen2VLForConditionalGeneration

        model = Qwen2VLForConditionalGeneration(Qwen2VLConfig(vision_config=dict(depth=2, embed_dim=32, hidden_size=48, num_heads=4, mlp_ratio=2),
                                                              text_config=text, **ids))
    else:
        from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

        vision = dict(depth=2, hidden_size=32, intermediate_size=64, num_heads=4, out_hidden_size=48, window_size=56, fullatt_block_indexes=[1])
        model = Qwen2_5_VLForConditionalGeneration(Qwen2_5_VLConfig(vision_config=vision, text_config=text, **ids))
    processor = Qwen2VLImageProcessorPil(size={"shortest_edge": 56 * 56, "longest_edge": 28 * 28 * 40}, patch_size=14, merge_size=2)
    model.save_pretrained(directory)
    processor.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def save_idefics2(directory: Path) -> Path:
    """Idefics2 with splitting: frames resized to at most 44 and at least 20 pixels a side, 8-pixel patches, a
    Perceiver of 4 latents, a Mistral LM."""
    from transformers import Idefics2Config, Idefics2ForConditionalGeneration
    from transformers.models.idefics2.image_processing_pil_idefics2 import Idefics2ImageProcessorPil

    tokenizer = tiny_tokenizer()
    tokenizer.add_tokens([IMAGE_TOKEN, "<fake_token_around_image>"], special_tokens=True)
    text = dict(model_type="mistral", **_lm(tokenizer))
    perceiver = dict(resampler_n_latents=4, resampler_depth=1, resampler_n_heads=2, resampler_head_dim=8, num_key_value_heads=2,
                     hidden_size=text["hidden_size"])
    cfg = Idefics2Config(vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4, image_size=32, patch_size=8),
                         perceiver_config=perceiver, text_config=text, image_token_id=tokenizer.convert_tokens_to_ids(IMAGE_TOKEN))
    torch.manual_seed(0)
    model = Idefics2ForConditionalGeneration(cfg)
    processor = Idefics2ImageProcessorPil(size={"shortest_edge": 20, "longest_edge": 44}, do_image_splitting=True)
    model.save_pretrained(directory)
    processor.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory
