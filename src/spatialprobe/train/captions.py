"""Captions generated from a trained LiMBeR map, scored against each image and against blind.

Per test image: greedy captions from the map's prompt through the frozen LM, BLEU-4 and CIDEr
against the image's reference captions, and precision / recall of the object categories they name
(`metrics.captions`). The **blind** control captions each image from another image's prompt (a
derangement): what the LM says without this image's features. The random-encoder control is the
same evaluation of a map trained on ``load_model(spec, random_init=True)``. Records (task
``captioning``, controls ``none`` / ``blind`` / ``model − blind``) carry cluster-bootstrap CIs over
images and each caption as a per-item prediction.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from spatialprobe.results.stats import item_differences, item_estimates
from spatialprobe.train.encoder_tokens import EncoderTokens
from spatialprobe.train.limber import CAPTION_KINDS
from spatialprobe.train.recipe import RecipeError

METRICS = ("BLEU-4", "CIDEr", "category_precision", "category_recall")


@torch.inference_mode()
def generate(lm, tokenizer, prompts: torch.Tensor, max_new: int = 24, batch_size: int = 32) -> list[str]:
    """Greedy captions continuing each visual prompt (B, rows, d_lm), up to ``max_new`` tokens or <eos>."""
    out = []
    for start in range(0, len(prompts), batch_size):
        prompt = prompts[start : start + batch_size]
        ids = lm.generate(inputs_embeds=prompt, attention_mask=torch.ones(prompt.shape[:2], dtype=torch.long, device=prompt.device),
                          max_new_tokens=max_new, do_sample=False, pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id)
        out += [t.strip() for t in tokenizer.batch_decode(ids, skip_special_tokens=True)]
    return out


def derangement(n: int, seed: int) -> np.ndarray:
    """A permutation with no fixed point: each image gets another image's prompt."""
    order = np.random.default_rng(seed).permutation(n)
    out = np.empty(n, dtype=np.int64)
    out[order] = np.roll(order, 1)
    return out


@dataclass
class Captioned:
    """A map's greedy captions of test images, per control, with each caption's scores."""

    ids: np.ndarray
    references: list[list[str]]
    texts: dict[str, list[str]]
    scores: dict[str, dict[str, np.ndarray]]
    config: dict


def caption_test(mapping, encoder, lm, tokenizer, dataset, *, split: str = "test", site: str = "vision.out", store=None, seed: int = 0,
                 max_scenes: int | None = None) -> Captioned:
    """Caption ``split`` from each image's own prompt (``none``) and from another image's (``blind``), and score every caption."""
    from spatialprobe.metrics.captions import caption_metrics, category_scores

    scenes = dataset.scenes(split)[:max_scenes]
    if len(scenes) < 2:
        raise RecipeError(f"{split}: {len(scenes)} scenes; the blind control needs at least 2")
    tokens = EncoderTokens(encoder, dataset, scenes, site, store)
    device = next(mapping.parameters()).device
    dtype = lm.get_input_embeddings().weight.dtype
    with torch.inference_mode():
        prompts = torch.cat([mapping(tokens(np.arange(i, min(i + 32, len(scenes)))).to(device)).to(dtype) for i in range(0, len(scenes), 32)])
    categories = sorted({o.category for s in dataset.scenes() for o in s.objects if o.category})
    references = [[c.text for c in s.captions if c.kind in CAPTION_KINDS] for s in scenes]
    texts, scores = {}, {}
    for control, order in (("none", np.arange(len(scenes))), ("blind", derangement(len(scenes), seed))):
        texts[control] = generate(lm, tokenizer, prompts[torch.as_tensor(order)])
        metrics = caption_metrics(texts[control], references)
        per = [category_scores(t, {o.category for o in s.objects if o.category}, categories) for t, s in zip(texts[control], scenes)]
        metrics.update({k: np.array([p[k] for p in per]) for k in ("category_precision", "category_recall")})
        scores[control] = metrics
    config = {"mapping": {"variant": mapping.variant, "prefix": mapping.prefix}, "split": split, "site": site, "data": str(dataset.root)}
    return Captioned(np.array([s.id for s in scenes]), references, texts, scores, config)


def caption_records(captioned: Captioned, *, name: str, probe: str, seed: int = 0, n_resamples: int = 1000, dtype: str = "float32",
                    versus: dict[str, Captioned] | None = None, out=None) -> list:
    """Records ``none`` / ``blind`` / ``model − blind`` of ``captioned`` (and ``model − <control>`` per ``versus``
    entry: the same images captioned by a control map), written to ``out`` (a `ResultStore`) if given."""
    from spatialprobe.results.origin import provenance
    from spatialprobe.results.record import ResultRecord

    ids, records = captioned.ids, []

    def record(control: str, metrics: dict, predictions=None):
        r = ResultRecord(task="captioning", model=name, site=captioned.config["site"], probe=probe, protocol="limber", seed=seed,
                         condition={"control": control}, metrics=metrics, config=captioned.config, provenance=provenance(seed=seed, dtype=dtype))
        records.append(r)
        if out is not None:
            out.write(r, predictions)

    for control, metrics in captioned.scores.items():
        record(control, item_estimates(metrics, ids, METRICS, n_resamples, seed),
               [{"scene": s, "item": "caption", "prediction": t, "target": refs, "scores": {k: float(metrics[k][i]) for k in METRICS}}
                for i, (s, t, refs) in enumerate(zip(ids, captioned.texts[control], captioned.references))])
    record("model − blind", item_differences(captioned.scores["none"], captioned.scores["blind"], ids, METRICS, n_resamples, seed))
    for control, other in (versus or {}).items():
        if not np.array_equal(other.ids, ids):
            raise ValueError(f"the {control} control captioned other images")
        record(f"model − {control}", item_differences(captioned.scores["none"], other.scores["none"], ids, METRICS, n_resamples, seed))
    return records


def evaluate_limber(mapping, encoder, lm, tokenizer, dataset, *, name: str, split: str = "test", site: str = "vision.out", store=None, seed: int = 0,
                    n_resamples: int = 1000, max_scenes: int | None = None, out=None) -> list:
    """Caption records of ``mapping`` (named ``name``) and its blind control on ``split`` (`caption_test`, `caption_records`)."""
    captioned = caption_test(mapping, encoder, lm, tokenizer, dataset, split=split, site=site, store=store, seed=seed, max_scenes=max_scenes)
    return caption_records(captioned, name=name, probe=f"limber:{mapping.variant}", seed=seed, n_resamples=n_resamples, out=out)
