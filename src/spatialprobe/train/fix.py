"""The object-aware fix on a real connector (the experiment Lost in Space called for): fine-tune a
VLM's own connector — BLIP-2's Q-Former, a Perceiver, LLaVA's projector — with captions that say
where things are, the encoder and the LM frozen.

Losses (any sum):
  - ``caption``: spatial captions built from each scene's boxes (``a dog is left of a cat``, for the
    largest objects of different categories, with a margin so no predicate is a coin flip), the
    caption cross-entropy through the frozen LM on caption tokens only;
  - ``query_location``: a `LocationHead` with objectness on the connector's output rows, rows matched
    one-to-one to the scene's objects (Hungarian, `set_location_loss`), boxes regressed.
The connector's input rows (``connector.in``: the frozen encoder's output) come from a feature store,
so the encoder runs once per image. The result is the connector's weights in safetensors; the
model with them is ``<spec>?connector=<file>`` everywhere a model spec goes.
"""

from __future__ import annotations

import numpy as np
import torch

from spatialprobe.train.connector import fit_connector
from spatialprobe.train.encoder_tokens import EncoderTokens
from spatialprobe.train.lm import caption_loss, language_model, tokenize
from spatialprobe.train.location import LocationHead, object_boxes, set_location_loss
from spatialprobe.train.recipe import RecipeError

LOSSES = ("caption", "query_location")
PREDICATES = ("left of", "right of", "above", "below")
MARGIN = 0.1
"""The smallest centre offset (unit image coordinates) a predicate is said for."""
MAX_OBJECTS = 16


def predicate(a, b) -> str | None:
    """Where box ``a`` is relative to ``b`` (unit cxcywh) along the axis of the larger offset, or None when that offset is under `MARGIN`."""
    dx, dy = a[0] - b[0], a[1] - b[1]
    if max(abs(dx), abs(dy)) < MARGIN:
        return None
    if abs(dx) >= abs(dy):
        return "left of" if dx < 0 else "right of"
    return "above" if dy < 0 else "below"


def spatial_captions(scene, per_scene: int = 3) -> list[str]:
    """Up to ``per_scene`` captions ``a <category> is <predicate> a <category>`` over pairs of the scene's largest
    objects of different categories (crowd regions and uncategorised regions left out)."""
    objects = sorted((o for o in scene.objects if o.category and not o.crowd), key=lambda o: -o.box.area)
    out = []
    for i, a in enumerate(objects):
        for b in objects[i + 1 :]:
            if a.category == b.category:
                continue
            said = predicate(a.box.array("cxcywh", "unit"), b.box.array("cxcywh", "unit"))
            if said is not None:
                out.append(f"a {a.category} is {said} a {b.category}")
            if len(out) == per_scene:
                return out
    return out


def train_fix(adapter, dataset, *, losses: tuple[str, ...] = ("caption",), split: str = "probe_train", epochs: int = 2, batch_size: int = 8,
              lr: float = 1e-4, seed: int = 0, store=None, checkpoints=None, every: int = 50,
              max_scenes: int | None = None, progress: bool = False) -> tuple[torch.nn.Module, list[float], dict]:
    """Fine-tune a copy of the adapter's connector; returns (the trained copy, the loss per epoch, what it trained on).

    ``store``: a `FeatureStore` with ``connector.in`` for these scenes (else the encoder runs at every step).
    The loaded model is never changed: save the copy's ``state_dict`` and load it with ``?connector=``.
    """
    unknown = [name for name in losses if name not in LOSSES]
    if unknown or not losses:
        raise ValueError(f"losses: {unknown or 'none'}; valid: {', '.join(LOSSES)}")
    scenes = dataset.scenes(split)[:max_scenes]
    lm = language_model(adapter)
    for module in (adapter.model, lm):
        module.eval()
        module.requires_grad_(False)
    torch.manual_seed(seed)  # the location head's initial weights
    connector = adapter.trainable().copy().to(adapter.device)
    tokens = EncoderTokens(adapter, dataset, scenes, "connector.in", store)
    items, texts = [], []  # one training item per (scene, spatial caption); scenes without one still teach location
    for i, scene in enumerate(scenes):
        said = spatial_captions(scene) if "caption" in losses else []
        items += [i] * max(1, len(said))
        texts += said or [""]
    if "caption" in losses and not any(texts):
        raise RecipeError(f"{split}: no scene has two objects of different categories far enough apart for a spatial caption")
    items = np.array(items)
    ids, mask = (t.to(adapter.device) for t in tokenize(adapter.tokenizer, texts, 24))
    has_caption = torch.as_tensor([bool(t) for t in texts], device=adapter.device)
    boxes, present = object_boxes(scenes, MAX_OBJECTS, largest_first=True)
    with torch.no_grad():
        width = connector(tokens(np.arange(1)).to(adapter.device)).shape[-1]
    terms, extra = [], []
    if "caption" in losses:
        def captions(index, rows, prompt):
            keep = has_caption[index]
            return caption_loss(lm, prompt[keep], ids[index][keep], mask[index][keep]) if keep.any() else prompt.sum() * 0
        terms.append(captions)
    if "query_location" in losses:
        head = LocationHead(width, objectness=True).to(adapter.device)
        extra = list(head.parameters())
        terms.append(lambda index, rows, prompt: set_location_loss(head(prompt.float()).cpu(), boxes[items[index]], present[items[index]]))
    curve = fit_connector(connector, len(items), lambda index: tokens(items[index]).to(adapter.device), terms, epochs=epochs, seed=seed,
                          batch_size=batch_size, lr=lr, extra_params=extra, desc="connector fix", checkpoints=checkpoints, every=every,
                          progress=progress)
    trained_on = {"items": len(items), "spatial_captions": sum(bool(t) for t in texts), "scenes": len(scenes), "losses": list(losses),
                  "trained_parameters": sum(p.numel() for p in connector.parameters())}
    return connector, curve, trained_on
