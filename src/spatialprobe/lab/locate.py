"""Evaluate PixelLLM's heads on a lab model, each against the baseline that knows no image.

| record (task) | metric | baseline |
|---|---|---|
| ``word_grounding`` | Acc@0.5, IoU, centre L1 of each grounded caption word's box | the mean training box of the same word (category-conditional) |
| ``referring_eos`` | Acc@0.5, IoU of the box read at ``<eos>`` of ``where is <expression>`` | the mean training referent box |
| ``box_captioning`` | per-attribute precision of a box-conditioned caption w.r.t. the boxed object | the model's whole-image caption, scored against the same object |

Each comes with a paired (head − baseline) difference; CIs are cluster bootstraps over test scenes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from spatialprobe.geometry import acc_at, convert, iou
from spatialprobe.lab.captioning import generate, named_objects
from spatialprobe.lab.data import load
from spatialprobe.lab.pixel import Located, object_description, object_rows, train_box_prompt, train_location_head, visual_prompts
from spatialprobe.metrics.points import center_l1
from spatialprobe.models import toy
from spatialprobe.scenes.dataset import SceneDataset

ATTRIBUTES = ("shape", "colour", "size")
BASELINES = {"word_grounding": "category mean box", "referring_eos": "mean referent box", "box_captioning": "whole-image caption"}
"""What each task's head is compared with (the baseline records' ``control``)."""


def box_scores(pred: np.ndarray, target: np.ndarray) -> dict[str, np.ndarray]:
    """Per box (unit cxcywh): Acc@0.5, IoU and the L1 distance of the centres."""
    ious = iou(convert(pred, "cxcywh", "xyxy"), convert(target, "cxcywh", "xyxy"))
    return {"ACC@0.5": acc_at(ious, 0.5), "IoU": ious, "center_L1": center_l1(pred, target)}


def object_precision(text: str, obj, vocabulary) -> dict[str, float]:
    """Per attribute: the share of objects named in ``text`` that agree with ``obj`` (NaN if none named)."""
    truth = {"shape": obj.category, **obj.attributes}
    named = named_objects(text, vocabulary)
    out = {}
    for attr in ATTRIBUTES:
        said = [n[attr] for n in named if attr in n]
        out[f"{attr}_precision"] = float(np.mean([s == truth.get(attr) for s in said])) if said else float("nan")
    return out


def _located_rows(located: Located, head, kind: str):
    """(predicted boxes, true boxes, token ids, scene index) of the located positions of ``kind`` rows."""
    rows = np.flatnonzero(located.kind == kind)
    g = located.grounded
    with torch.inference_mode():
        pred = head(located.hidden[rows])
    where = g.located[rows]
    r, t = where.nonzero(as_tuple=True)
    return pred[r, t].double().numpy(), g.boxes[rows][r, t].double().numpy(), g.ids[rows][r, t].numpy(), located.scene_of[rows][r.numpy()]


def _category_mean(train_boxes: np.ndarray, train_ids: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Per token id, the mean training box of that id (the overall mean for ids never seen)."""
    overall = train_boxes.mean(0)
    means = {i: train_boxes[train_ids == i].mean(0) for i in np.unique(train_ids)}
    return np.array([means.get(i, overall) for i in ids])


def evaluate_location(directory: str | Path, data_dir: str, out: str | Path, *, name: str | None = None, split: str = "test",
                      train_split: str = "lab", seed: int = 0, epochs: int = 15, n_resamples: int = 1000, box_epochs: int | None = 8,
                      progress: bool = False) -> list:
    """Train the location head and the box prompt on ``train_split``; write the three records (+ differences) for ``split``.

    ``box_epochs=None`` skips location-conditioned captioning (e.g. for a model that serves only as
    the head's positive control)."""
    from spatialprobe.results.origin import provenance
    from spatialprobe.results.record import ResultRecord
    from spatialprobe.results.stats import cluster_bootstrap, paired_difference
    from spatialprobe.results.store import ResultStore

    directory = Path(directory)
    name = name or directory.name
    dataset = SceneDataset(data_dir)
    vocabulary = dataset.metadata.get("vocabulary", {})
    model, tokenizer = toy.load(directory).eval(), toy.load_tokenizer(directory)
    train_data, test_data = load(dataset, train_split), load(dataset, split)
    train_prompts, test_prompts = visual_prompts(model, train_data), visual_prompts(model, test_data)
    train_loc = Located.build(model, tokenizer, train_data, train_prompts)
    test_loc = Located.build(model, tokenizer, test_data, test_prompts)
    head, head_curve = train_location_head(train_loc, epochs=epochs, seed=seed, progress=progress)
    ids = np.array([s.id for s in test_data.scenes])
    store, records = ResultStore(out), []

    def save(task, control, estimates, config, predictions=None, probe="location_head"):
        record = ResultRecord(task=task, model=f"lab:{name}", site="lm.out", probe=probe, protocol="lab", seed=seed,
                              condition={"control": control}, metrics=estimates, config={"checkpoint": str(directory), "split": split, **config},
                              provenance=provenance(seed=seed, dtype="float32"))
        store.write(record, predictions)
        records.append(record)

    def write(task, control, metrics, clusters, config, predictions=None, probe="location_head"):
        est = {k: cluster_bootstrap(v[~np.isnan(v)], clusters[~np.isnan(v)], n_resamples=n_resamples, seed=seed) for k, v in metrics.items() if (~np.isnan(v)).sum() >= 2}
        save(task, control, est, config, predictions, probe)

    def compare(task, ours, base, clusters, config, probe="location_head"):
        diff = {}
        for key in ours:
            ok = ~(np.isnan(ours[key]) | np.isnan(base[key]))
            if ok.sum() >= 2:
                diff[key] = paired_difference(ours[key][ok], base[key][ok], clusters[ok], n_resamples=n_resamples, seed=seed)
        save(task, "head − baseline", diff, config, probe=probe)

    # (a) word grounding and (b) referring localisation, one head
    for task, kind in (("word_grounding", "caption"), ("referring_eos", "referring")):
        pred, true, token, scene = _located_rows(test_loc, head, kind)
        _, train_true, train_token, _ = _located_rows(train_loc, head, kind)
        base = _category_mean(train_true, train_token, token) if kind == "caption" else np.repeat(train_true.mean(0, keepdims=True), len(true), 0)
        ours, theirs = box_scores(pred, true), box_scores(base, true)
        clusters = ids[scene]
        config = {"curve": head_curve, "baseline": BASELINES[task]}
        words = tokenizer.convert_ids_to_tokens(token.tolist())
        def rows(boxes, scores):
            return [{"scene": clusters[i], "item": f"{kind}{i}", "word": words[i], "prediction": boxes[i].round(4).tolist(), "target": true[i].round(4).tolist(),
                     "scores": {k: float(v[i]) for k, v in scores.items()}} for i in range(len(boxes))]

        write(task, "none", ours, clusters, config, rows(pred, ours))
        write(task, config["baseline"], theirs, clusters, config, rows(base, theirs))
        compare(task, ours, theirs, clusters, config)

    if box_epochs is None:
        return records
    # (c) location-conditioned captioning vs the whole-image caption
    box_prompt, prompt_curve = train_box_prompt(model, tokenizer, train_data, train_prompts, epochs=box_epochs, seed=seed, progress=progress)
    scene_of, boxes, objects = object_rows(test_data)
    with torch.inference_mode():
        conditioned = generate(model, box_prompt(test_prompts[scene_of], boxes), tokenizer)
    whole = generate(model, test_prompts, tokenizer)
    ours = {k: np.array([object_precision(t, o, vocabulary)[k] for t, o in zip(conditioned, objects)]) for k in (f"{a}_precision" for a in ATTRIBUTES)}
    theirs = {k: np.array([object_precision(whole[s], o, vocabulary)[k] for s, o in zip(scene_of, objects)]) for k in ours}
    clusters = ids[scene_of]
    config = {"curve": prompt_curve, "baseline": BASELINES["box_captioning"]}
    def rows(texts, scores):
        return [{"scene": clusters[i], "item": f"object{i}", "prediction": texts[i], "box": boxes[i].numpy().round(4).tolist(), "target": object_description(o),
                 "scores": {k: float(v[i]) for k, v in scores.items()}} for i, o in enumerate(objects)]

    write("box_captioning", "none", ours, clusters, config, rows(conditioned, ours), probe="box_prompt")
    write("box_captioning", "whole-image caption", theirs, clusters, config, rows([whole[s] for s in scene_of], theirs), probe="box_prompt")
    compare("box_captioning", ours, theirs, clusters, config, probe="box_prompt")
    return records
