"""Vision encoder pretraining along LiMBeR's axis of supervision.

- ``contrastive``: language supervision from the coarse caption — CLIP-style InfoNCE between the
  CLS embedding and a small text tower reading it, and grounded caption words: each patch predicts
  the shape and colour words the caption uses for the object it shows (caption words are grounded
  to objects, as in location-aware captioners such as LocCa);
- ``labels``: class labels, no language — the largest object's shape for the image (on CLS), and the
  shape class and the colour class of the object under each patch (dense labels, as a
  segmentation-trained encoder). Measured alternatives: shape classes alone made the encoder discard
  colour (colour decoded from an object's tokens 0.29, below the random encoder's 0.85); one atomic
  class per shape × colour learned too slowly (shape 0.48 after 12 epochs);
- ``masked``: half the patches are masked after the stem and the encoder predicts their mean colour
  and its 2×2 layout (masked-patch prediction, the BEiT analogue: no language);
- ``random``: untrained (the control).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from spatialprobe.lab.data import LabData
from spatialprobe.train.loop import train
from spatialprobe.lab.text import encode_batch
from spatialprobe.models.toy.model import ToyConfig, VisionEncoder
from spatialprobe.names import ENCODER_OBJECTIVES as OBJECTIVES


def _largest_shape(scene) -> str:
    return max(scene.objects, key=lambda o: (o.box.area, -o.id)).category


def _shape(obj):
    return obj.category


def _colour(obj):
    return obj.attributes.get("colour")


class TextTower(nn.Module):
    """Mean word embedding → MLP: a small text encoder for the contrastive objective."""

    def __init__(self, vocab: int, dim: int, out: int):
        super().__init__()
        self.embed = nn.Embedding(vocab, dim, padding_idx=0)
        self.mlp = nn.Sequential(nn.Linear(dim, dim), nn.GELU(), nn.Linear(dim, out))

    def forward(self, ids, mask):
        e = (self.embed(ids) * mask[..., None]).sum(1) / mask.sum(1, keepdim=True).clamp(min=1)
        return self.mlp(e)


def _encode(encoder: VisionEncoder, pixels, mask_tokens=None, mask=None):
    x = encoder.embed(pixels)
    if mask is not None:
        x = torch.where(mask[..., None], mask_tokens.expand_as(x), x)
    for block in encoder.blocks:
        x = block(x)
    return encoder.norm(x)


GLOBAL_WEIGHT = 0.05
"""The weight of the image-level loss (InfoNCE, the CLS label) beside the dense one: at 0.2 or more
InfoNCE kept shape out of the patch tokens at the lab's scale (shape decoded from an object's tokens
0.35–0.81 vs 0.95 at 0.05, 2,000 scenes, 12 epochs); the CLS label at weight 1 gave 0.67."""


def _patch_targets(data: LabData, grid: int, attribute, mentioned_only: bool) -> torch.Tensor:
    """(N, grid²) class of each patch's owner under ``attribute(obj)`` (−100 = no owner / not named)."""
    owners = data.patch_owners(grid)
    values = sorted({attribute(o) for s in data.scenes for o in s.objects if attribute(o) is not None})
    table = torch.full((len(data.scenes), 1 + max(len(s.objects) for s in data.scenes)), -100, dtype=torch.long)
    for i, scene in enumerate(data.scenes):
        named = set(next((c.mentions for c in scene.captions if c.kind == "coarse"), ())) if mentioned_only else None
        for j, obj in enumerate(scene.objects):
            if attribute(obj) is not None and (named is None or obj.id in named):
                table[i, j] = values.index(attribute(obj))
    return torch.gather(table, 1, owners.clamp(min=0)).masked_fill(owners < 0, len(values)), len(values) + 1


def _dense_loss(heads, targets, tokens):
    """Mean cross-entropy of each per-patch head on its targets (patch tokens only)."""
    return sum(F.cross_entropy(head(tokens[:, 1:]).flatten(0, 1), target.flatten(), ignore_index=-100) for head, target in zip(heads, targets))


def pretrain(objective: str, cfg: ToyConfig, data: LabData, tokenizer, *, epochs: int, seed: int, batch_size: int = 32, lr: float = 2e-3, progress: bool = True):
    """A pretrained `VisionEncoder` and its loss curve."""
    if objective not in OBJECTIVES:
        raise ValueError(f"unknown encoder objective {objective!r}; valid: {', '.join(OBJECTIVES)}")
    torch.manual_seed(seed)
    encoder = VisionEncoder(cfg)
    if objective == "random":
        return encoder.eval(), []
    d, n = cfg.width, len(data.scenes)
    if objective == "labels":
        classes = sorted({_largest_shape(s) for s in data.scenes})
        y = torch.tensor([classes.index(_largest_shape(s)) for s in data.scenes])
        dense = [_patch_targets(data, cfg.grid, attribute, mentioned_only=False) for attribute in (_shape, _colour)]
        head, heads = nn.Linear(d, len(classes)), [nn.Linear(d, n) for _, n in dense]
        extra = list(head.parameters()) + [p for h in heads for p in h.parameters()]

        def step(idx):
            x = _encode(encoder, data.pixels(idx))
            return GLOBAL_WEIGHT * F.cross_entropy(head(x[:, 0]), y[idx]) + _dense_loss(heads, [t[idx] for t, _ in dense], x)

    elif objective == "contrastive":
        ids, mask = encode_batch(tokenizer, data.captions("coarse"), 48)
        tower, proj = TextTower(len(tokenizer), d, d), nn.Linear(d, d)
        temperature = nn.Parameter(torch.tensor(2.66))  # log(1/0.07), as CLIP
        words = [_patch_targets(data, cfg.grid, attribute, mentioned_only=True) for attribute in (_shape, _colour)]
        heads = [nn.Linear(d, n) for _, n in words]
        extra = list(tower.parameters()) + list(proj.parameters()) + [temperature] + [p for h in heads for p in h.parameters()]

        def step(idx):
            x = _encode(encoder, data.pixels(idx))
            img = F.normalize(proj(x[:, 0]), dim=-1)
            txt = F.normalize(tower(ids[idx], mask[idx]), dim=-1)
            logits = img @ txt.T * temperature.exp().clamp(max=100)
            target = torch.arange(len(idx))
            contrastive = (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2
            return GLOBAL_WEIGHT * contrastive + _dense_loss(heads, [w[idx] for w, _ in words], x)

    else:  # masked
        mask_token = nn.Parameter(torch.zeros(1, 1, d))
        head = nn.Linear(d, 12)
        extra = [mask_token] + list(head.parameters())
        p, g = cfg.patch_size, cfg.grid

        def step(idx):
            pixels = data.pixels(idx)
            b = len(idx)
            # target: mean colour of each 2×2 quarter of every patch → (B, g*g, 12)
            quarters = F.avg_pool2d(pixels, p // 2).view(b, 3, g, 2, g, 2).permute(0, 2, 4, 1, 3, 5).reshape(b, g * g, 12)
            mask = torch.rand(b, g * g + 1) < 0.5
            mask[:, 0] = False  # never the CLS
            out = head(_encode(encoder, pixels, mask_token, mask)[:, 1:])
            return F.mse_loss(out[mask[:, 1:]], quarters[mask[:, 1:]])

    encoder.train()
    curve = train(list(encoder.parameters()) + extra, n, step, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, desc=f"encoder:{objective}", progress=progress)
    return encoder.eval(), curve
