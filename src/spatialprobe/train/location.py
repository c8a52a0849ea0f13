"""Location heads and their losses (PixelLLM's per-word boxes; DETR-style boxes per visual token).

Boxes are unit (cx, cy, w, h). `LocationHead` maps any feature (an LM hidden state, a connector
output token) to a box; `word_location_loss` is PixelLLM's L1, masked where a token names no
object; `set_location_loss` matches a scene's visual tokens to its objects one-to-one (Hungarian,
scipy) and regresses the matched boxes, with an objectness logit for the rest. `BoxPrompt` turns a
box into soft prompt tokens (PixelLLM's location-conditioned captioning).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from scipy.optimize import linear_sum_assignment
from torch import nn


class LocationHead(nn.Module):
    """A small MLP: feature → box (and, with ``objectness``, a fifth logit)."""

    def __init__(self, width: int, hidden: int = 128, objectness: bool = False):
        super().__init__()
        self.objectness = objectness
        self.net = nn.Sequential(nn.Linear(width, hidden), nn.GELU(), nn.Linear(hidden, 5 if objectness else 4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.net(x)
        return torch.cat([out[..., :4].sigmoid(), out[..., 4:]], dim=-1)


def word_location_loss(pred: torch.Tensor, target: torch.Tensor, located: torch.Tensor) -> torch.Tensor:
    """Mean L1 over the located tokens' box coordinates; exactly zero (with a graph) when none is located."""
    per_token = (pred[..., :4] - target).abs().mean(-1)
    return (per_token * located).sum() / located.sum().clamp(min=1)


def set_location_loss(pred: torch.Tensor, boxes: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
    """Per scene, match tokens to objects (L1 cost), L1 on matched boxes + objectness cross-entropy.

    ``pred`` (B, T, 5) from a `LocationHead` with objectness; ``boxes`` (B, K, 4); ``present`` (B, K).
    """
    cost = torch.cdist(pred[..., :4].detach(), boxes, p=1).numpy()
    obj_target = torch.zeros(pred.shape[:2])
    l1 = []
    for b in range(len(pred)):
        k = np.flatnonzero(present[b].numpy())
        if not len(k):
            continue
        tokens, objects = linear_sum_assignment(cost[b][:, k])
        obj_target[b, tokens] = 1.0
        l1.append((pred[b, tokens, :4] - boxes[b, k[objects]]).abs().mean(-1))
    box_term = torch.cat(l1).mean() if l1 else pred.sum() * 0
    return box_term + F.binary_cross_entropy_with_logits(pred[..., 4], obj_target)


class BoxPrompt(nn.Module):
    """A box (unit cxcywh) → ``tokens`` soft tokens appended to the visual prompt."""

    def __init__(self, width: int, tokens: int = 2):
        super().__init__()
        self.tokens, self.width = tokens, width
        self.net = nn.Sequential(nn.Linear(4, width), nn.GELU(), nn.Linear(width, tokens * width))

    def forward(self, prompt: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
        return torch.cat([prompt, self.net(boxes).view(len(boxes), self.tokens, self.width)], dim=1)


def object_boxes(scenes, max_objects: int, largest_first: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, K, 4) unit cxcywh boxes of each scene's objects (the first ``max_objects``, or the largest with
    ``largest_first``; crowd regions left out) and the (N, K) mask of real ones — `set_location_loss`'s targets."""
    boxes = torch.zeros(len(scenes), max_objects, 4)
    present = torch.zeros(len(scenes), max_objects, dtype=torch.bool)
    for i, scene in enumerate(scenes):
        objects = [o for o in scene.objects if not o.crowd]
        if largest_first:
            objects.sort(key=lambda o: -o.box.area)
        for j, obj in enumerate(objects[:max_objects]):
            boxes[i, j] = torch.as_tensor(obj.box.array("cxcywh", "unit"), dtype=torch.float32)
            present[i, j] = True
    return boxes, present
