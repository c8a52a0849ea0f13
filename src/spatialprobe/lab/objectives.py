"""Connector objectives, as pluggable losses of the connector trainer.

| objective | loss |
|---|---|
| ``coarse`` | caption loss on coarse captions (objects, never positions) |
| ``spatial`` | caption loss on spatial captions, **seen predicates only** |
| ``location`` | PixelLLM: an MLP on the LM's hidden states regresses each grounded caption word's box (L1, weight 0.1) |
| ``query_location`` | an MLP on the connector's outputs: tokens matched one-to-one to objects regress their boxes |

``location`` rides on the captions of the caption objective (spatial when present, else coarse).
The object-aware objectives see only the ``seen`` predicates, so probes can report seen and
unseen predicates separately.
"""

from __future__ import annotations

import torch

from spatialprobe.lab.data import LabData
from spatialprobe.lab.grounding import ground
from spatialprobe.train.location import LocationHead, object_boxes, set_location_loss, word_location_loss
from spatialprobe.lab.trainer import CaptionLoss
from spatialprobe.names import CONNECTOR_OBJECTIVES as OBJECTIVES
from spatialprobe.scenes.record import Caption, Word

CAPTION_LENGTH = 48
MAX_OBJECTS = 8


def seen_caption(caption: Caption, seen: set[str]) -> Caption:
    """A spatial caption keeping only the clauses ("a X is P a Y") whose predicate is in ``seen``.

    Grounding is carried over word by word. With no seen clause left, the caption names its first
    object alone (as the synthetic source does for a one-object scene).
    """
    text = caption.text
    clauses, current = [], []
    for w in caption.words:
        if w.object is None and text[w.start : w.end] == "and":
            clauses.append(current)
            current = []
        else:
            current.append(w)
    clauses.append(current)

    def predicate(clause):
        return " ".join(text[w.start : w.end] for w in clause if w.object is None and text[w.start : w.end] != "is")

    kept = [c for c in clauses if predicate(c) in seen]
    if not kept:
        first = caption.words[0].object
        kept = [[w for w in clauses[0] if w.object == first]] if first is not None else [clauses[0][:0]]
    tokens = []
    for i, clause in enumerate(kept):
        tokens += ([("and", None, None)] if i else []) + [(text[w.start : w.end], w.object, w.box) for w in clause]
    out, words = "", []
    for token, obj, box in tokens:
        out += " " if out else ""
        words.append(Word(len(out), len(out) + len(token), obj, box))
        out += token
    mentions = tuple(dict.fromkeys(w.object for w in words if w.object is not None))
    return Caption(caption.id, out + ".", caption.kind, mentions, tuple(words))


class LocationLoss:
    """PixelLLM's location loss: ``head(LM hidden state at token t)`` regresses token t's box."""

    name = "location"

    def __init__(self, head: LocationHead, grounded, weight: float):
        self.head, self.grounded, self.weight = head, grounded, weight

    def __call__(self, ctx) -> torch.Tensor:
        g = self.grounded
        ids, mask = g.ids[ctx.index], g.mask[ctx.index]
        hidden = ctx.model.lm.hidden(ctx.prompt, ids, mask)[:, ctx.prompt.shape[1] :]
        return self.weight * word_location_loss(self.head(hidden), g.boxes[ctx.index], g.located[ctx.index])


class QueryLocationLoss:
    """Boxes from the connector's own output tokens, matched one-to-one to the scene's objects."""

    name = "query_location"

    def __init__(self, head: LocationHead, boxes: torch.Tensor, present: torch.Tensor, weight: float):
        self.head, self.boxes, self.present, self.weight = head, boxes, present, weight

    def __call__(self, ctx) -> torch.Tensor:
        return self.weight * set_location_loss(self.head(ctx.prompt), self.boxes[ctx.index], self.present[ctx.index])


def captions_for(data: LabData, kind: str, seen: set[str] | None = None) -> list[Caption]:
    """Each scene's caption of ``kind`` (empty if it has none); spatial captions cut to ``seen`` predicates when given."""
    out = []
    for scene in data.scenes:
        caption = next((c for c in scene.captions if c.kind == kind), Caption("none", ""))
        out.append(seen_caption(caption, seen) if seen is not None and kind == "spatial" and caption.words else caption)
    return out


def connector_losses(objectives: list[str], model, data: LabData, tokenizer, *, seen: set[str], location_weight: float = 0.1):
    """The losses for ``objectives`` and the trainable heads they add (name → module)."""
    unknown = [o for o in objectives if o not in OBJECTIVES]
    if unknown:
        raise ValueError(f"unknown connector objective(s) {unknown}; valid: {', '.join(OBJECTIVES)}")
    losses, heads = [], {}
    for kind in ("coarse", "spatial"):
        if kind in objectives:
            g = ground(tokenizer, captions_for(data, kind, seen), data.scenes, CAPTION_LENGTH)
            losses.append(CaptionLoss(g.ids, g.mask, name=kind))
    if "location" in objectives:
        kind = "spatial" if "spatial" in objectives else "coarse"
        heads["location"] = LocationHead(model.config.lm_width)
        losses.append(LocationLoss(heads["location"], ground(tokenizer, captions_for(data, kind, seen), data.scenes, CAPTION_LENGTH), location_weight))
    if "query_location" in objectives:
        heads["query_location"] = LocationHead(model.config.lm_width, objectness=True)
        losses.append(QueryLocationLoss(heads["query_location"], *object_boxes(data.scenes, MAX_OBJECTS), weight=1.0))
    return losses, heads
