"""The tiny causal LM, pretrained on the lab split's text and taught to read a soft prefix.

A tiny LM trained on text alone can barely be steered by a visual prompt (lab notes); so for most
captions a soft prefix precedes the text: each object of the scene becomes the sum of its word
embeddings (size, colour, shape), placed in random slots of a prefix as long as a visual prompt,
the other slots zero. The LM then learns to read objects from a prefix, which the connectors
exploit. After this stage the LM is frozen.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from spatialprobe.lab.data import LabData
from spatialprobe.train.loop import train
from spatialprobe.lab.text import encode_batch
from spatialprobe.models.toy.model import ToyConfig, ToyLM

PREFIX_SHARE = 0.75


def caption_loss(lm: ToyLM, prefix: torch.Tensor, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Cross-entropy on caption tokens only: prefix positions and padding never contribute.

    Position t of the [prefix; caption] sequence predicts caption token t+1−P; the first caption
    token (<bos>) is given, not predicted.
    """
    logits = lm(prefix, ids[:, :-1], mask[:, :-1])[:, prefix.shape[1] :]
    target = ids[:, 1:].masked_fill(mask[:, 1:] == 0, -100)
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1), ignore_index=-100)


def object_words(tokenizer, scenes, max_objects: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, max_objects, 3) token ids of each object's size, colour and shape words, and a (N, max_objects) mask."""
    ids = torch.full((len(scenes), max_objects, 3), tokenizer.pad_token_id, dtype=torch.long)
    present = torch.zeros(len(scenes), max_objects, dtype=torch.bool)
    for i, scene in enumerate(scenes):
        for j, obj in enumerate(scene.objects[:max_objects]):
            words = [obj.attributes.get("size"), obj.attributes.get("colour"), obj.category]
            ids[i, j] = torch.tensor(tokenizer.convert_tokens_to_ids([w or "<pad>" for w in words]))
            present[i, j] = True
    return ids, present


def object_prefix(lm: ToyLM, ids: torch.Tensor, present: torch.Tensor, slots: int, rng: np.random.Generator) -> torch.Tensor:
    """(B, slots, d): each object's word embeddings summed, in random slots; zeros elsewhere."""
    emb = lm.embed(ids).sum(2) * present[..., None]  # (B, K, d); the <pad> embedding is zeroed by present
    b, k, d = emb.shape
    places = torch.from_numpy(np.argsort(rng.random((b, slots)), axis=1)[:, :k].copy())
    prefix = torch.zeros(b, slots, d)
    return prefix.scatter(1, places[..., None].expand(b, k, d), emb)


def pretrain(cfg: ToyConfig, data: LabData, tokenizer, *, epochs: int, seed: int, prefix_lengths=(16, 65), batch_size: int = 64, lr: float = 3e-3, progress: bool = True):
    """A pretrained `ToyLM` (frozen afterwards) and its loss curve."""
    torch.manual_seed(seed)
    lm = ToyLM(cfg)
    kinds = ("coarse", "spatial")
    texts = [c for kind in kinds for c in data.captions(kind)]
    scene_of = np.concatenate([np.arange(len(data.scenes))] * len(kinds))
    ids, mask = encode_batch(tokenizer, texts, cfg.max_length - max(prefix_lengths))
    obj_ids, present = object_words(tokenizer, data.scenes)
    rng = np.random.default_rng(seed)

    def step(idx):
        if rng.random() < PREFIX_SHARE:
            slots = int(rng.choice(prefix_lengths))
            rows = scene_of[idx]
            prefix = object_prefix(lm, obj_ids[rows], present[rows], slots, rng)
        else:
            prefix = torch.zeros(len(idx), 0, cfg.lm_width)
        return caption_loss(lm, prefix, ids[idx], mask[idx])

    lm.train()
    curve = train(list(lm.parameters()), len(texts), step, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, desc="lm", progress=progress)
    return lm.eval(), curve
