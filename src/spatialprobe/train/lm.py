"""The frozen LM every recipe trains through: which module continues a visual prompt, and the caption loss.

A recipe's trained piece (LiMBeR's map, a box prompt, a fine-tuned connector) yields prompt rows
``(B, P, d_lm)``; the LM reads them as ``inputs_embeds`` before the caption's embeddings, and the
loss is the cross-entropy on the caption's tokens only (the prompt rows and padding carry label −100).
"""

from __future__ import annotations

import torch

from spatialprobe.train.recipe import RecipeError


def language_model(adapter):
    """The module that continues a VLM's visual prompt given as ``inputs_embeds`` (forward with labels, generate):
    the VLM's own causal LM where it has one with an output head (BLIP-2), else the VLM itself (LLaVA, PaliGemma)."""
    lm = getattr(adapter.model, "language_model", None)
    if lm is None or not hasattr(lm, "get_output_embeddings") or lm.get_output_embeddings() is None:
        lm = adapter.model
    config = getattr(lm.config, "text_config", None) or lm.config
    if getattr(lm.config, "is_encoder_decoder", False) or getattr(config, "is_encoder_decoder", False):
        raise RecipeError(f"{adapter.name}: an encoder-decoder LM (Flan-T5); the recipes here train through a decoder-only LM")
    if adapter.card.prompt not in ("placeholders", "prepended"):
        raise RecipeError(f"{adapter.name}: its LM reads the image by {adapter.card.prompt}, not as prompt rows")
    return lm


def caption_loss(lm, prompt: torch.Tensor, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of the caption ``ids`` (right-padded, ``mask``) after the prompt rows, on caption tokens only."""
    embed = lm.get_input_embeddings()
    prompt = prompt.to(embed.weight.dtype)
    inputs = torch.cat([prompt, embed(ids)], dim=1)
    attention = torch.cat([torch.ones(prompt.shape[:2], dtype=mask.dtype, device=mask.device), mask], dim=1)
    labels = torch.cat([torch.full(prompt.shape[:2], -100, device=ids.device), ids.masked_fill(mask == 0, -100)], dim=1)
    return lm(inputs_embeds=inputs, attention_mask=attention, labels=labels).loss


def tokenize(tokenizer, texts: list[str], max_length: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Texts + ``<eos>`` as right-padded ids (B, max_length) and mask, no BOS (the prompt comes first)."""
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    enc = tokenizer([t + (tokenizer.eos_token or "") for t in texts], padding="max_length", truncation=True, max_length=max_length,
                    add_special_tokens=False, return_tensors="pt")
    return enc["input_ids"], enc["attention_mask"]
