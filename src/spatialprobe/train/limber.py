"""LiMBeR (Merullo et al., ICLR 2023): one linear map from a frozen image encoder's tokens into a
frozen causal LM's input embeddings, trained with the caption loss on caption tokens only.

Two variants, as the paper's: ``tokens`` maps each of the encoder's tokens at ``site`` to one
prompt token (BEiT-style); ``pooled`` maps their mean to ``prefix`` prompt tokens (CLIP-style).
The encoder's tokens come from a feature store when one is given — the encoder runs once per image,
not once per epoch — else from the encoder itself at every step. Only the map learns; the encoder
and the LM are frozen (``requires_grad_(False)``, eval mode) and left bit-identical.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch import nn

from spatialprobe.train.encoder_tokens import EncoderTokens
from spatialprobe.train.lm import caption_loss, tokenize
from spatialprobe.train.loop import train
from spatialprobe.train.recipe import RecipeError, load_weights, metadata_of, save_weights

VARIANTS = ("tokens", "pooled")
CAPTION_KINDS = ("coco", "coarse", "narrative")
"""The caption a scene is trained on: its first caption of these kinds."""


class LinearMap(nn.Module):
    """The LiMBeR map: encoder tokens (B, N, d) → prompt embeddings (B, N or ``prefix``, d_lm)."""

    def __init__(self, d_in: int, d_lm: int, variant: str = "tokens", prefix: int = 4):
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f"variant {variant!r}; valid: {', '.join(VARIANTS)}")
        self.variant, self.prefix = variant, prefix
        self.linear = nn.Linear(d_in, d_lm * (prefix if variant == "pooled" else 1))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        if self.variant == "tokens":
            return self.linear(tokens)
        return self.linear(tokens.mean(dim=1)).reshape(len(tokens), self.prefix, -1)

    def save(self, path: str | Path, meta: dict | None = None) -> None:
        """The map's weights in safetensors; its shape and ``meta`` in the file's metadata."""
        shape = {"d_in": self.linear.in_features, "d_lm": self.linear.out_features // (self.prefix if self.variant == "pooled" else 1),
                 "variant": self.variant, "prefix": self.prefix}
        save_weights(self, path, {**(meta or {}), **shape})

    @classmethod
    def load(cls, path: str | Path) -> LinearMap:
        meta = metadata_of(path)
        mapping = cls(meta["d_in"], meta["d_lm"], meta["variant"], meta["prefix"])
        load_weights(mapping, path)
        return mapping


def load_causal_lm(spec: str, dtype: str = "float32", device: str = "cpu"):
    """``hf:<hub id or folder>`` → (a frozen causal LM, its tokenizer); safetensors only, offline by default."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from spatialprobe.models import ModelLoadError
    from spatialprobe.models.loading import check_device
    from spatialprobe.names import DTYPES

    scheme, _, target = spec.partition(":")
    if scheme != "hf" or not target:
        raise ModelLoadError(f"LM spec {spec!r}: expected hf:<hub id or local dir>")
    if dtype not in DTYPES:
        raise ModelLoadError(f"unknown dtype {dtype!r}; expected one of {', '.join(DTYPES)}")
    check_device(device)
    try:
        lm = AutoModelForCausalLM.from_pretrained(target, use_safetensors=True, dtype=getattr(torch, dtype))
        tokenizer = AutoTokenizer.from_pretrained(target)
    except (OSError, ValueError) as err:
        raise ModelLoadError(f"{spec}: cannot load a causal LM and its tokenizer ({type(err).__name__}: {err})") from None
    lm.to(device).eval().requires_grad_(False)
    return lm, tokenizer


def check_causal_lm(spec: str) -> None:
    """Refuse, reading only its config, a spec that is not a causal LM transformers can load (a plan's check)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoConfig
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    from spatialprobe.models import ModelLoadError

    scheme, _, target = spec.partition(":")
    if scheme != "hf" or not target:
        raise ModelLoadError(f"LM spec {spec!r}: expected hf:<hub id or local dir>")
    try:
        config = AutoConfig.from_pretrained(target)
    except (OSError, ValueError) as err:
        raise ModelLoadError(f"{spec}: cannot read its config ({type(err).__name__}: {err})") from None
    if config.model_type not in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES:
        raise ModelLoadError(f"{spec}: a {config.model_type!r} model is not a causal LM (LiMBeR's map feeds a decoder's input embeddings)")


def captions(scenes, tokenizer, max_length: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    """Each scene's caption + ``<eos>`` as LM token ids (B, T) and its attention mask (no BOS: the prompt comes first);
    a scene without one is an error."""
    texts = []
    for scene in scenes:
        text = next((c.text for c in scene.captions if c.kind in CAPTION_KINDS), None)
        if text is None:
            raise RecipeError(f"scene {scene.id}: no caption of kind {', '.join(CAPTION_KINDS)} to train the map on")
        texts.append(text)
    return tokenize(tokenizer, texts, max_length)


def train_limber(encoder, lm, tokenizer, dataset, *, site: str = "vision.out", variant: str = "tokens", prefix: int = 4, split: str = "probe_train",
                 epochs: int = 1, batch_size: int = 16, lr: float = 1e-3, seed: int = 0, store=None, accumulate: int = 1,
                 checkpoints: str | Path | None = None, every: int = 50, progress: bool = False,
                 max_scenes: int | None = None, device: str = "cpu") -> tuple[LinearMap, list[float]]:
    """Train the LiMBeR map on ``split``'s captions; returns (the map, the loss per epoch).

    ``encoder``: an `Adapter` (`spatialprobe.load_model`); ``lm``, ``tokenizer``: `load_causal_lm`;
    ``store``: a `FeatureStore` holding ``site`` for these scenes (the fast path), or None.
    ``device``: where the map, the LM and the tokens live (load the encoder there too). The map
    trains in float32 whatever the LM's dtype (a bfloat16 LM gets the prompt cast to bfloat16).
    ``checkpoints``, ``every``: resume points (`train.loop`). ``max_scenes``: train on the first N
    scenes only (benchmarks, smoke tests).
    """
    scenes = dataset.scenes(split)[:max_scenes]
    if not scenes:
        raise RecipeError(f"no {split} scenes to train on")
    for module in (encoder.model, lm):
        module.eval()
        module.requires_grad_(False)
    tokens = EncoderTokens(encoder, dataset, scenes, site, store)
    ids, mask = (t.to(device) for t in captions(scenes, tokenizer))
    d_in = tokens(np.arange(1)).shape[-1]
    torch.manual_seed(seed)
    mapping = LinearMap(d_in, lm.get_input_embeddings().embedding_dim, variant, prefix).to(device)
    lm.to(device)

    def step(index: np.ndarray) -> torch.Tensor:
        return caption_loss(lm, mapping(tokens(index).to(device)), ids[index], mask[index])

    curve = train(list(mapping.parameters()), len(scenes), step, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, desc="limber map",
                  progress=progress, accumulate=accumulate, checkpoints=checkpoints, every=every)
    return mapping.eval(), curve
