"""Vision encoder pretraining along LiMBeR's axis of supervision.

- ``contrastive``: CLIP-style InfoNCE between the CLS embedding and a small text tower reading the
  coarse caption (language supervision);
- ``labels``: one label per image, the largest object's shape (lexical-category supervision);
- ``masked``: half the patches are masked after the stem and the encoder predicts their mean colour
  and its 2×2 layout (masked-patch prediction, the BEiT analogue: no language);
- ``random``: untrained (the control).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from spatialprobe.lab.data import LabData
from spatialprobe.lab.loop import train
from spatialprobe.lab.text import encode_batch
from spatialprobe.models.toy.model import ToyConfig, VisionEncoder

OBJECTIVES = ("contrastive", "labels", "masked", "random")


def _largest_shape(scene) -> str:
    return max(scene.objects, key=lambda o: (o.box.area, -o.id)).category


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


def pretrain(objective: str, cfg: ToyConfig, data: LabData, tokenizer, *, epochs: int, seed: int, batch_size: int = 64, lr: float = 2e-3, progress: bool = True):
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
        head = nn.Linear(d, len(classes))
        extra = list(head.parameters())

        def step(idx):
            return F.cross_entropy(head(_encode(encoder, data.pixels(idx))[:, 0]), y[idx])

    elif objective == "contrastive":
        ids, mask = encode_batch(tokenizer, data.captions("coarse"), 48)
        tower, proj = TextTower(len(tokenizer), d, d), nn.Linear(d, d)
        temperature = nn.Parameter(torch.tensor(2.66))  # log(1/0.07), as CLIP
        extra = list(tower.parameters()) + list(proj.parameters()) + [temperature]

        def step(idx):
            img = F.normalize(proj(_encode(encoder, data.pixels(idx))[:, 0]), dim=-1)
            txt = F.normalize(tower(ids[idx], mask[idx]), dim=-1)
            logits = img @ txt.T * temperature.exp().clamp(max=100)
            target = torch.arange(len(idx))
            return (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2

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
