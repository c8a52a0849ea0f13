"""Captions from a visual prompt, and what they got right.

BLEU-4 and CIDEr come from `metrics.captions` (pycocoevalcap, tokenised in Python). Because
BLEU/CIDEr cannot separate *what* transferred, each caption is also parsed into the objects it
names (size colour shape phrases) and matched to the scene's ground truth: per-attribute precision
(shape, colour, size of named objects that match a real one), recall of the scene's objects, and
the rate of hallucinated objects — the measure of LiMBeR's category-vs-property claim.
"""

from __future__ import annotations

import numpy as np
import torch

from spatialprobe.metrics.captions import words


@torch.inference_mode()
def generate(model, prompts: torch.Tensor, tokenizer, max_new: int = 30, batch_size: int = 128) -> list[str]:
    """Greedy decoding from each visual prompt, starting at <bos>, until <eos> (key/value cached)."""
    out = []
    for start in range(0, len(prompts), batch_size):
        prompt = prompts[start : start + batch_size]
        bos = torch.full((len(prompt),), tokenizer.bos_token_id)
        for row in model.lm.greedy(prompt, bos, max_new, stop=tokenizer.eos_token_id).tolist():
            toks = row[: row.index(tokenizer.eos_token_id)] if tokenizer.eos_token_id in row else row
            out.append(" ".join(tokenizer.convert_ids_to_tokens(toks)).replace(" ,", ",").replace(" .", "."))
    return out


def named_objects(text: str, vocabulary: dict[str, list[str]]) -> list[dict[str, str]]:
    """The objects a caption names: each shape word with the size / colour words just before it."""
    found, pending = [], {}
    for w in words(text):
        for attr in ("size", "colour"):
            if w in vocabulary.get(attr, ()):
                pending[attr] = w
        if w in vocabulary.get("shape", ()):
            found.append({**pending, "shape": w})
            pending = {}
        elif w not in vocabulary.get("size", ()) and w not in vocabulary.get("colour", ()):
            pending = {}
    return found


def attribute_scores(text: str, scene, vocabulary) -> dict[str, float]:
    """Per caption: precision of shape / colour / size, recall of objects, hallucination rate (NaN = undefined)."""
    truth = [{"shape": o.category, **o.attributes} for o in scene.objects]
    named = named_objects(text, vocabulary)
    left = list(range(len(truth)))
    hits = {"shape": [], "colour": [], "size": []}
    hallucinated, matched = 0, 0
    for obj in named:
        # the real object agreeing on most named attributes (shape first)
        scored = sorted(left, key=lambda j: -sum(truth[j].get(k) == v for k, v in obj.items()) - 2 * (truth[j]["shape"] == obj["shape"]))
        best = next((j for j in scored if truth[j]["shape"] == obj["shape"] or truth[j].get("colour") == obj.get("colour")), None)
        hits["shape"].append(any(t["shape"] == obj["shape"] for t in truth))
        if best is None:
            hallucinated += 1
            continue
        matched += 1
        left.remove(best)
        for attr in ("colour", "size"):
            if attr in obj:
                hits[attr].append(truth[best].get(attr) == obj[attr])
    nan = float("nan")
    return {
        "shape_precision": float(np.mean(hits["shape"])) if hits["shape"] else nan,
        "colour_precision": float(np.mean(hits["colour"])) if hits["colour"] else nan,
        "size_precision": float(np.mean(hits["size"])) if hits["size"] else nan,
        "object_recall": matched / len(truth) if truth else nan,
        "hallucination_rate": hallucinated / len(named) if named else nan,
    }
