"""Token-level location targets: the box of the object each caption token names (PixelLLM).

A caption is tokenised exactly as `text.encode_batch` does it (``<bos>`` words ``<eos>``, padded
on the right); each token inherits the grounding of the caption word whose character span holds
it. The target of the token at input position t is read at position t.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from spatialprobe.scenes.record import Caption, Scene


@dataclass
class GroundedText:
    ids: torch.Tensor
    """(N, L) token ids: <bos> tokens <eos> <pad>…"""
    mask: torch.Tensor
    """(N, L) attention mask."""
    boxes: torch.Tensor
    """(N, L, 4) unit (cx, cy, w, h) of the object each token names; zeros where none."""
    located: torch.Tensor
    """(N, L) bool: the token names an object with a box."""


def word_box(word, scene: Scene) -> np.ndarray | None:
    """The unit cxcywh box a caption word is grounded to, or None."""
    if word.object is not None:
        return scene.object(word.object).box.array("cxcywh", "unit")
    if word.box is not None:
        return word.box.array("cxcywh", "unit")
    return None


def ground(tokenizer, captions: list[Caption], scenes: list[Scene], max_length: int) -> GroundedText:
    """Ids, mask and per-token box targets of each caption (of the scene beside it)."""
    rows, targets = [], []
    for caption, scene in zip(captions, scenes):
        enc = tokenizer(caption.text, add_special_tokens=False, return_offsets_mapping=True)
        ids, offsets = enc["input_ids"][: max_length - 2], enc["offset_mapping"][: max_length - 2]
        boxes = []
        for start, _ in offsets:
            word = next((w for w in caption.words if w.start <= start < w.end), None)
            boxes.append(None if word is None else word_box(word, scene))
        rows.append([tokenizer.bos_token_id] + ids + [tokenizer.eos_token_id])
        targets.append([None] + boxes + [None])
    n = max(len(r) for r in rows)
    out = GroundedText(
        ids=torch.full((len(rows), n), tokenizer.pad_token_id, dtype=torch.long),
        mask=torch.zeros((len(rows), n), dtype=torch.long),
        boxes=torch.zeros((len(rows), n, 4)),
        located=torch.zeros((len(rows), n), dtype=torch.bool),
    )
    for i, (row, boxes) in enumerate(zip(rows, targets)):
        out.ids[i, : len(row)] = torch.tensor(row)
        out.mask[i, : len(row)] = 1
        for t, box in enumerate(boxes):
            if box is not None:
                out.boxes[i, t] = torch.as_tensor(box, dtype=torch.float32)
                out.located[i, t] = True
    return out
