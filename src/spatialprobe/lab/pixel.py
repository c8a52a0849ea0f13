"""PixelLLM on a lab model: a location head on the LM's hidden states, everything else frozen.

One `LocationHead` learns, on a mixture of
  (a) captions whose grounded words carry their object's box (the target of the token at input
      position t is read at position t), and
  (b) ``where is <expression>`` prompts whose referent's box is read at ``<eos>``;
and a `BoxPrompt` learns (c) location-conditioned captioning: a box, encoded as extra prompt
tokens after the visual prompt, makes the frozen LM describe that object. The visual prompt and
the LM's hidden states are computed once (the model is frozen), so only the small heads train.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from spatialprobe.lab.data import LabData
from spatialprobe.lab.grounding import GroundedText, ground
from spatialprobe.lab.lm import caption_loss
from spatialprobe.train.box_captions import fit_box_prompt
from spatialprobe.train.location import BoxPrompt, LocationHead
from spatialprobe.train.pixel import train_head
from spatialprobe.lab.objectives import captions_for
from spatialprobe.lab.text import encode_batch
from spatialprobe.lab.trainer import encoder_tokens
from spatialprobe.scenes.record import Caption

LENGTH = 48


def where_prompt(expression: str) -> str:
    return f"where is {expression}"


def object_description(obj) -> str:
    """What a location-conditioned caption should say: ``a small red circle.``"""
    return f"a {obj.attributes.get('size', '')} {obj.attributes.get('colour', '')} {obj.category}.".replace("  ", " ")


def eos_positions(mask: torch.Tensor) -> torch.Tensor:
    """Index of ``<eos>`` (the last real token) in each right-padded row."""
    return mask.sum(1) - 1


def referring_prompts(tokenizer, data: LabData) -> tuple[GroundedText, list[tuple[int, str]]]:
    """One ``where is …`` prompt per expression with a referent; only ``<eos>`` is located (the referent's box).

    Returns the grounded prompts and (scene index, expression id) per row.
    """
    captions, scenes, origin = [], [], []
    for i, scene in enumerate(data.scenes):
        for e in scene.expressions:
            if e.referent is not None:
                captions.append(Caption(e.id, where_prompt(e.text)))
                scenes.append(scene)
                origin.append((i, e.id))
    g = ground(tokenizer, captions, scenes, LENGTH)
    eos = eos_positions(g.mask)
    for row, (scene, (_, eid)) in enumerate(zip(scenes, origin)):
        referent = next(e.referent for e in scene.expressions if e.id == eid)
        g.boxes[row, eos[row]] = torch.as_tensor(scene.object(referent).box.array("cxcywh", "unit"), dtype=torch.float32)
        g.located[row, eos[row]] = True
    return g, origin


@torch.inference_mode()
def visual_prompts(model, data: LabData) -> torch.Tensor:
    model.eval()
    return model.connector(encoder_tokens(model, data))


@torch.inference_mode()
def text_hidden(model, prompts: torch.Tensor, g: GroundedText, scene_of: np.ndarray, batch_size: int = 256) -> torch.Tensor:
    """The frozen LM's hidden state at each text position, given each row's scene prompt."""
    out = []
    for s in range(0, len(g.ids), batch_size):
        rows = slice(s, s + batch_size)
        prefix = prompts[scene_of[rows]]
        out.append(model.lm.hidden(prefix, g.ids[rows], g.mask[rows])[:, prefix.shape[1] :])
    return torch.cat(out)


@dataclass
class Located:
    """Text rows with the LM's hidden states and their box targets."""

    grounded: GroundedText
    hidden: torch.Tensor
    scene_of: np.ndarray
    kind: np.ndarray
    """"caption" or "referring" per row."""

    @classmethod
    def build(cls, model, tokenizer, data: LabData, prompts: torch.Tensor, caption_kind: str = "coarse") -> Located:
        cap = ground(tokenizer, captions_for(data, caption_kind), data.scenes, LENGTH)
        ref, origin = referring_prompts(tokenizer, data)
        scene_of = np.concatenate([np.arange(len(data.scenes)), np.array([i for i, _ in origin], dtype=np.int64)])
        n = max(cap.ids.shape[1], ref.ids.shape[1])
        g = GroundedText(*(torch.cat([_pad(a, n), _pad(b, n)]) for a, b in zip((cap.ids, cap.mask, cap.boxes, cap.located), (ref.ids, ref.mask, ref.boxes, ref.located))))
        kind = np.array(["caption"] * len(cap.ids) + ["referring"] * len(ref.ids))
        return cls(g, text_hidden(model, prompts, g, scene_of), scene_of, kind)


def _pad(t: torch.Tensor, n: int) -> torch.Tensor:
    """Right-pad dim 1 of ``t`` to ``n`` with zeros (ids: 0 is <pad>)."""
    pad = torch.zeros((t.shape[0], n - t.shape[1], *t.shape[2:]), dtype=t.dtype)
    return torch.cat([t, pad], dim=1)


def train_location_head(located: Located, *, epochs: int = 15, seed: int = 0, lr: float = 2e-3, progress: bool = False) -> tuple[LocationHead, list[float]]:
    """Fit a `LocationHead` on cached hidden states (the model stays frozen): `train.pixel.train_head` on the grounded tokens."""
    g = located.grounded
    return train_head(located.hidden, g.boxes, g.located, epochs=epochs, batch_size=64, lr=lr, seed=seed, hidden_width=128, progress=progress)


def object_rows(data: LabData) -> tuple[np.ndarray, torch.Tensor, list]:
    """One row per object: its scene index, its unit cxcywh box, and the object."""
    scene_of, boxes, objects = [], [], []
    for i, scene in enumerate(data.scenes):
        for obj in scene.objects:
            scene_of.append(i)
            boxes.append(obj.box.array("cxcywh", "unit"))
            objects.append(obj)
    return np.array(scene_of, dtype=np.int64), torch.as_tensor(np.array(boxes), dtype=torch.float32), objects


def train_box_prompt(model, tokenizer, data: LabData, prompts: torch.Tensor, *, epochs: int = 8, seed: int = 0, progress: bool = False) -> tuple[BoxPrompt, list[float]]:
    """Fit a `BoxPrompt` so the frozen LM describes the object in the box (caption loss): `train.box_captions.fit_box_prompt`."""
    scene_of, boxes, objects = object_rows(data)
    ids, mask = encode_batch(tokenizer, [object_description(o) for o in objects], 16)
    model.lm.requires_grad_(False)
    return fit_box_prompt(prompts, scene_of, boxes, lambda prefix, index: caption_loss(model.lm, prefix, ids[index], mask[index]), epochs=epochs,
                          batch_size=64, lr=2e-3, seed=seed, progress=progress)
