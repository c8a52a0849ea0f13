"""Captioning evaluation of lab models on held-out scenes, against the blind baseline.

For each model: greedy captions from its visual prompt on the ``test`` split, scored with BLEU-4,
CIDEr and the per-attribute scores; the blind baseline is the same LM given the visual prompt of a
random *other* test scene. Each is a results record (with per-item predictions); a third record
holds the paired difference (model − blind) per metric with cluster-bootstrap CIs over scenes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from spatialprobe.lab.captioning import attribute_scores, generate
from spatialprobe.metrics.captions import caption_metrics
from spatialprobe.results.stats import item_differences, item_estimates
from spatialprobe.train.captions import derangement
from spatialprobe.lab.data import load
from spatialprobe.lab.trainer import encoder_tokens
from spatialprobe.models import toy
from spatialprobe.scenes.dataset import SceneDataset


def caption_items(model, tokenizer, data, prompts: torch.Tensor, vocabulary) -> dict[str, np.ndarray]:
    """Captions from ``prompts`` (one per scene of ``data``), scored against each scene."""
    texts = generate(model, prompts, tokenizer)
    refs = [[c.text for c in s.captions if c.kind == "coarse"] for s in data.scenes]
    metrics = caption_metrics(texts, refs)
    attrs = [attribute_scores(t, s, vocabulary) for t, s in zip(texts, data.scenes)]
    for key in attrs[0]:
        metrics[key] = np.array([a[key] for a in attrs])
    return {"texts": texts, **metrics}


def evaluate(checkpoints: dict[str, Path], data_dir: str, out: str | Path, *, split: str = "test", seed: int = 0, n_resamples: int = 1000) -> list:
    """Write caption records for every model (and its blind baseline) under ``out``; return them."""
    from spatialprobe.results.origin import provenance
    from spatialprobe.results.record import ResultRecord
    from spatialprobe.results.store import ResultStore

    dataset = SceneDataset(data_dir)
    data = load(dataset, split)
    vocabulary = dataset.metadata.get("vocabulary", {})
    ids = np.array([s.id for s in data.scenes])
    store, records = ResultStore(out), []
    for name, directory in checkpoints.items():
        model, tokenizer = toy.load(directory).eval(), toy.load_tokenizer(directory)
        with torch.inference_mode():
            prompts = model.connector(encoder_tokens(model, data))
        runs = {"none": caption_items(model, tokenizer, data, prompts, vocabulary),
                "blind": caption_items(model, tokenizer, data, prompts[derangement(len(ids), seed)], vocabulary)}
        connector, encoder = name.split("@")
        for control, res in runs.items():
            metrics = item_estimates(res, ids, [k for k in res if k != "texts"], n_resamples, seed)
            record = ResultRecord(
                task="captioning", model=f"lab:{name}", site="connector.out", probe=None, protocol="lab", seed=seed,
                condition={"connector": connector, "encoder": encoder, "control": control},
                metrics=metrics, config={"checkpoint": str(directory), "split": split}, provenance=provenance(seed=seed, dtype="float32"),
            )
            scored = [k for k in res if k != "texts"]
            preds = [{"scene": s, "item": "caption", "prediction": t, "target": [c.text for c in sc.captions if c.kind == "coarse"],
                      "scores": {k: float(res[k][i]) for k in scored}}
                     for i, (s, t, sc) in enumerate(zip(ids, res["texts"], data.scenes))]
            store.write(record, preds)
            records.append(record)
        diff = item_differences(runs["none"], runs["blind"], ids, ("BLEU-4", "CIDEr", "shape_precision", "colour_precision", "size_precision",
                                                                  "object_recall"), n_resamples, seed)
        record = ResultRecord(
            task="captioning", model=f"lab:{name}", site="connector.out", probe=None, protocol="lab", seed=seed,
            condition={"connector": connector, "encoder": encoder, "control": "model − blind"},
            metrics=diff, config={"checkpoint": str(directory), "split": split}, provenance=provenance(seed=seed, dtype="float32"),
        )
        store.write(record)
        records.append(record)
    return records
