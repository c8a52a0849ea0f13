"""Location-conditioned captioning on a frozen VLM (PixelLLM's third task): a box becomes soft prompt
tokens after the image's visual prompt, and the frozen LM describes what is in the box.

Only the `BoxPrompt` learns, with the caption loss on the region phrase's tokens (Visual Genome's
region descriptions, RefCOCO's expressions: every expression with a referent). The visual prompt is
the model's own ``connector.out`` rows, computed once per image. Scored with CIDEr (and METEOR where
Java is present) against the region's phrase, next to the same captioner given **another region's
box of the same image** — if the box does not steer the caption, the two score the same.
"""

from __future__ import annotations

import numpy as np
import torch

from spatialprobe.train.lm import caption_loss, language_model, tokenize
from spatialprobe.train.location import BoxPrompt
from spatialprobe.train.loop import train

CONTROL = "another region's box"


def regions(scenes) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(scene index, unit cxcywh box, phrase) of every expression with a referent."""
    scene_of, boxes, phrases = [], [], []
    for i, scene in enumerate(scenes):
        for e in scene.expressions:
            if e.referent is not None:
                scene_of.append(i)
                boxes.append(scene.object(e.referent).box.array("cxcywh", "unit"))
                phrases.append(e.text)
    return np.array(scene_of, dtype=np.int64), np.array(boxes, dtype=np.float32).reshape(-1, 4), phrases


@torch.inference_mode()
def visual_prompts(adapter, pairs: list, batch_size: int = 8) -> torch.Tensor:
    """Each (dataset, scene)'s visual prompt as the LM reads it: the ``connector.out`` rows (S, Q, d_lm)."""
    out = []
    for start in range(0, len(pairs), batch_size):
        pixels = adapter.preprocess([dataset.image(scene) for dataset, scene in pairs[start : start + batch_size]])
        out.append(adapter.forward_sites(adapter.make_batch(pixels), ["connector.out"])["connector.out"].float().cpu())
    return torch.cat(out)


def fit_box_prompt(prompts: torch.Tensor, scene_of: np.ndarray, boxes: torch.Tensor, loss, *, tokens: int = 2, epochs: int = 8, batch_size: int = 16,
                   lr: float = 2e-3, seed: int = 0, device="cpu", checkpoints=None, every: int = 50, progress: bool = False) -> tuple[BoxPrompt, list[float]]:
    """Fit a `BoxPrompt` after each row's visual prompt (``prompts[scene_of]``) minimising ``loss(prefix, index)`` — the
    caption loss of the row's phrase through a frozen LM (a real VLM's, `train_box_prompt`; the lab's)."""
    torch.manual_seed(seed)
    box_prompt = BoxPrompt(prompts.shape[-1], tokens).to(device)

    def step(index: np.ndarray) -> torch.Tensor:
        return loss(box_prompt(prompts[scene_of[index]].to(device), boxes[index]), index)

    curve = train(list(box_prompt.parameters()), len(scene_of), step, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, desc="box prompt",
                  progress=progress, checkpoints=checkpoints, every=every)
    return box_prompt.eval(), curve


def train_box_prompt(adapter, prompts: torch.Tensor, scene_of: np.ndarray, boxes: np.ndarray, phrases: list[str], *, tokens: int = 2, epochs: int = 8,
                     batch_size: int = 16, lr: float = 2e-3, seed: int = 0, checkpoints=None, every: int = 50,
                     progress: bool = False) -> tuple[BoxPrompt, list[float]]:
    """Fit a `BoxPrompt` so the VLM's frozen LM says each region's phrase after its image's prompt and box tokens."""
    lm = language_model(adapter)
    ids, mask = (t.to(adapter.device) for t in tokenize(adapter.tokenizer, phrases, 24))
    return fit_box_prompt(prompts, scene_of, torch.as_tensor(boxes, device=adapter.device), lambda prefix, index: caption_loss(lm, prefix, ids[index], mask[index]),
                          tokens=tokens, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, device=adapter.device, checkpoints=checkpoints,
                          every=every, progress=progress)


def other_boxes(scene_of: np.ndarray, seed: int) -> np.ndarray:
    """For each region, another region of the same image (-1 where the image has only one)."""
    rng = np.random.default_rng(seed)
    out = np.full(len(scene_of), -1)
    for scene in np.unique(scene_of):
        rows = np.flatnonzero(scene_of == scene)
        if len(rows) > 1:
            order = rng.permutation(len(rows))
            out[rows[order]] = rows[np.roll(order, 1)]
    return out


def box_caption_records(adapter, box_prompt: BoxPrompt, prompts: torch.Tensor, scenes, scene_of: np.ndarray, boxes: np.ndarray, phrases: list[str], *,
                        seed: int = 0, n_resamples: int = 1000, meteor: bool | None = None, config: dict | None = None, dtype: str = "float32",
                        out=None) -> list:
    """Captions from each test region's box and from another region's box of the same image: records ``none``,
    the control, and the paired ``head − baseline`` (CIDEr, BLEU-4, METEOR where Java is present)."""
    from spatialprobe.metrics.captions import caption_metrics, meteor_available
    from spatialprobe.results.origin import provenance
    from spatialprobe.results.record import ResultRecord
    from spatialprobe.results.stats import item_differences, item_estimates
    from spatialprobe.train.captions import generate

    meteor = meteor_available() if meteor is None else meteor
    keep = np.flatnonzero(other_boxes(scene_of, seed) >= 0)
    swap = other_boxes(scene_of, seed)[keep]
    lm, device = language_model(adapter), adapter.device
    lm_dtype = lm.get_input_embeddings().weight.dtype
    box_tensor = torch.as_tensor(boxes, device=device)
    references = [[phrases[i]] for i in keep]
    ids = np.array([scenes[scene_of[i]].id for i in keep])
    texts, scores = {}, {}
    for control, chosen in (("none", keep), (CONTROL, swap)):
        with torch.inference_mode():
            prefix = box_prompt(prompts[scene_of[keep]].to(device), box_tensor[chosen]).to(lm_dtype)
        texts[control] = generate(lm, adapter.tokenizer, prefix)
        scores[control] = caption_metrics(texts[control], references, meteor=meteor)
    keys = list(scores["none"])
    records = []
    for control in ("none", CONTROL, "head − baseline"):
        metrics = (item_differences(scores["none"], scores[CONTROL], ids, keys, n_resamples, seed) if control == "head − baseline"
                   else item_estimates(scores[control], ids, keys, n_resamples, seed))
        r = ResultRecord(task="box_captioning", model=adapter.name, site="connector.out", probe="box_prompt", protocol="pixel", seed=seed,
                         condition={"control": control}, metrics=metrics, config={**(config or {}), "baseline": CONTROL},
                         provenance=provenance(seed=seed, dtype=dtype))
        predictions = None if control == "head − baseline" else [
            {"scene": ids[k], "item": f"region{i}", "prediction": texts[control][k], "target": phrases[i], "box": boxes[(keep if control == "none" else swap)[k]].round(4).tolist(),
             "scores": {m: float(v[k]) for m, v in scores[control].items()}} for k, i in enumerate(keep)]
        records.append(r)
        if out is not None:
            out.write(r, predictions)
    return records
