"""PixelLLM's location head on a frozen VLM: an MLP on the LM's hidden states gives a box per token.

Two kinds of text, as PixelLLM trains on them (Peng et al., CVPR 2024):
  - **captions** whose words carry a location — Localized Narratives' trace boxes and points, COCO
    captions' mentioned objects: every token of such a word reads its word's box at its own row;
  - **referring prompts** ``where is <expression>`` (RefCOCO, Visual Genome phrases): the referent's
    box is read at the last token (``<eos>`` where the tokenizer has one).
The VLM runs once per (image, text) — the hidden states of the located rows are all the head needs —
and only the head learns (L1 on unit cx, cy, w, h), so training is cheap next to one forward pass
of the model. Rows are matched to characters through the tokenizer's offsets, and the adapter's own
token layout says which rows hold the text, so the alignment is the model's, never a guess.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from spatialprobe.train.location import LocationHead
from spatialprobe.train.loop import train
from spatialprobe.train.recipe import RecipeError, load_tensors, save_tensors

WHERE = "where is {}"
KINDS = ("caption", "referring")


@dataclass
class Text:
    """One text to run with its scene's image, and where it is located."""

    scene: int
    """Index into the scene list."""
    text: str
    kind: str
    spans: list[tuple[int, int, np.ndarray, np.ndarray, str]]
    """(start, end, unit cxcywh box, unit point, word) per located word; a referring prompt's one span is its last token."""


def texts(scenes, eos: str = "") -> list[Text]:
    """Every located caption and every referring prompt of ``scenes``."""
    out = []
    for i, scene in enumerate(scenes):
        for caption in scene.captions:
            spans = [span for word in caption.words if (span := _word_span(scene, caption, word)) is not None]
            if spans:
                out.append(Text(i, caption.text, "caption", spans))
        for e in scene.expressions:
            if e.referent is not None:
                box = scene.object(e.referent).box
                prompt = WHERE.format(e.text) + eos
                out.append(Text(i, prompt, "referring", [(-1, -1, box.array("cxcywh", "unit"), box.array("cxcywh", "unit")[:2], "<eos>")]))
    return out


def _word_span(scene, caption, word):
    obj = scene.object(word.object) if word.object is not None else None
    box = word.box or (obj.box if obj is not None else None)
    if box is None:
        return None
    unit = box.array("cxcywh", "unit")
    point = unit[:2]
    if obj is not None and "point" in obj.meta:  # a narration's trace point (pixels)
        point = np.asarray(obj.meta["point"], dtype=np.float64) / np.array([scene.width, scene.height])
    return word.start, word.end, unit, point, caption.text[word.start : word.end].lower()


@dataclass
class Located:
    """The located rows of a set of texts: the LM's hidden state and the row's target."""

    hidden: torch.Tensor
    boxes: np.ndarray
    points: np.ndarray
    words: np.ndarray
    scene_ids: np.ndarray
    kinds: np.ndarray

    def __len__(self) -> int:
        return len(self.boxes)

    def of(self, kind: str) -> np.ndarray:
        return np.flatnonzero(self.kinds == kind)

    @classmethod
    def concat(cls, parts: list[Located]) -> Located:
        return cls(torch.cat([p.hidden for p in parts]), *(np.concatenate([getattr(p, f) for p in parts]) for f in ("boxes", "points", "words", "scene_ids", "kinds")))

    def save(self, path) -> None:
        """Tensors in safetensors, the words, scenes and kinds as JSON in its metadata (no pickle)."""
        save_tensors(path, {"hidden": self.hidden.contiguous(), "boxes": torch.from_numpy(self.boxes.astype(np.float64)),
                            "points": torch.from_numpy(self.points.astype(np.float64))},
                     {f: getattr(self, f).tolist() for f in ("words", "scene_ids", "kinds")})

    @classmethod
    def load(cls, path) -> Located:
        t, meta = load_tensors(path)
        return cls(t["hidden"], t["boxes"].numpy(), t["points"].numpy(), *(np.array(meta[k]) for k in ("words", "scene_ids", "kinds")))


class AlignmentError(ValueError):
    """The tokenizer's offsets do not describe the rows the model saw."""


@torch.inference_mode()
def located_rows(adapter, dataset, scenes, *, site: str = "lm.out", batch_size: int = 8, progress: bool = False) -> Located:
    """Run the frozen VLM on every located text of ``scenes`` (`texts`) and keep the hidden states of the located rows."""
    from tqdm import tqdm

    tokenizer = adapter.tokenizer
    if tokenizer is None or not getattr(tokenizer, "is_fast", False):
        raise AlignmentError(f"{adapter.name}: the location head needs a fast tokenizer (its character offsets align words with rows)")
    items = texts(scenes, tokenizer.eos_token or "")
    hidden, boxes, points, words, scene_ids, kinds = [], [], [], [], [], []
    for start in tqdm(range(0, len(items), batch_size), desc="hidden states", disable=not progress, leave=False):
        chunk = items[start : start + batch_size]
        pixels = adapter.preprocess([dataset.image(scenes[t.scene]) for t in chunk])
        batch = adapter.make_batch(pixels, [t.text for t in chunk])
        out = adapter.forward_sites(batch, [site])[site].float().cpu()
        for i, item in enumerate(chunk):
            rows = _text_rows(adapter, site, batch, i)
            enc = tokenizer(item.text, add_special_tokens=True, return_offsets_mapping=True)
            if [int(batch.input_ids[i, r - _shift(adapter, batch)]) for r in rows] != list(enc["input_ids"]):
                raise AlignmentError(f"{adapter.name}: the text rows of {item.text!r} are not its tokens")
            for r, (a, b, box, point, word) in _located(rows, enc["offset_mapping"], item):
                hidden.append(out[i, r])
                boxes.append(box)
                points.append(point)
                words.append(word)
                scene_ids.append(scenes[item.scene].id)
                kinds.append(item.kind)
    if not hidden:
        raise RecipeError("no located words or referring expressions in these scenes (the head needs captions with located words or expressions with a referent)")
    return Located(torch.stack(hidden), np.array(boxes), np.array(points), np.array(words), np.array(scene_ids), np.array(kinds))


def _shift(adapter, batch) -> int:
    """Rows before ``input_ids[0]``: the visual prompt when the LM reads it before the text ids (not in them)."""
    return 0 if adapter.card.prompt == "placeholders" else batch.prompt_length


def _text_rows(adapter, site: str, batch, sample: int) -> list[int]:
    layout = adapter.layout(site, batch, sample)
    return [r for r, role in enumerate(layout.roles) if role == "text"]


def _located(rows: list[int], offsets, item: Text):
    """(row, span) per located token: every token overlapping a located word; a referring prompt's last token."""
    if item.kind == "referring":
        return [(rows[-1], item.spans[0])]
    out = []
    for row, (a, b) in zip(rows, offsets):
        if b <= a:
            continue  # a special token
        span = next((s for s in item.spans if a < s[1] and s[0] < b), None)
        if span is not None:
            out.append((row, span))
    return out


def train_head(hidden: torch.Tensor, boxes: torch.Tensor, located: torch.Tensor | None = None, *, epochs: int = 20, batch_size: int = 64,
               lr: float = 2e-3, seed: int = 0, hidden_width: int = 256, checkpoints=None, every: int = 50, progress: bool = False) -> tuple[LocationHead, list[float]]:
    """Fit a `LocationHead` (L1 on unit cxcywh) to ``boxes``: rows (N, d) → (N, 4), or sequences (N, T, d) → (N, T, 4)
    with the ``located`` (N, T) mask (`word_location_loss`: tokens that name nothing are left out); returns (head, loss per epoch)."""
    from spatialprobe.train.location import word_location_loss

    torch.manual_seed(seed)
    head = LocationHead(hidden.shape[-1], hidden=hidden_width)
    mask = torch.ones(boxes.shape[:-1], dtype=torch.bool) if located is None else located

    def step(index: np.ndarray) -> torch.Tensor:
        return word_location_loss(head(hidden[index]), boxes[index], mask[index])

    curve = train(list(head.parameters()), len(hidden), step, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, desc="location head",
                  progress=progress, checkpoints=checkpoints, every=every)
    return head.eval(), curve


def box_scores(pred: np.ndarray, boxes: np.ndarray, points: np.ndarray) -> dict[str, np.ndarray]:
    """Per row (unit cxcywh): Acc@0.5, IoU, the L1 of the centres, and PixelLLM's point L1 (predicted centre vs the row's point)."""
    from spatialprobe.geometry import acc_at, convert, iou
    from spatialprobe.metrics.points import center_l1, point_l1

    ious = iou(convert(pred, "cxcywh", "xyxy"), convert(boxes, "cxcywh", "xyxy"))
    return {"ACC@0.5": acc_at(ious, 0.5), "IoU": ious, "center_L1": center_l1(pred, boxes), "point_L1": point_l1(pred, points)}


def word_means(train_boxes: np.ndarray, train_words: np.ndarray, words: np.ndarray) -> np.ndarray:
    """Each row's baseline box: the mean training box of its word (the overall mean for a word never seen in training)."""
    overall = train_boxes.mean(0)
    means = {w: train_boxes[train_words == w].mean(0) for w in np.unique(train_words)}
    return np.array([means.get(w, overall) for w in words])


TASKS = {"caption": ("word_grounding", "word mean box"), "referring": ("referring_eos", "mean referent box")}
"""Per kind of text: the task its records name and the baseline (it knows no image) they are compared with."""
METRICS = ("ACC@0.5", "IoU", "center_L1", "point_L1")


def head_records(head, train: Located, test: Located, *, name: str, site: str, seed: int = 0, n_resamples: int = 1000, config: dict | None = None,
                 dtype: str = "float32", out=None) -> list:
    """Per kind present in ``test``: records ``none`` (the head), its baseline, and the paired ``head − baseline``,
    CIs by cluster bootstrap over test scenes; each located row a per-item prediction."""
    from spatialprobe.results.origin import provenance
    from spatialprobe.results.record import ResultRecord
    from spatialprobe.results.stats import item_differences, item_estimates

    with torch.inference_mode():
        pred = head(test.hidden)[..., :4].double().numpy()
    records = []

    def record(task, control, metrics, predictions=None):
        r = ResultRecord(task=task, model=name, site=site, probe="location_head", protocol="pixel", seed=seed, condition={"control": control},
                         metrics=metrics, config={**(config or {}), "baseline": TASKS[kind][1]}, provenance=provenance(seed=seed, dtype=dtype))
        records.append(r)
        if out is not None:
            out.write(r, predictions)

    for kind, (task, baseline_name) in TASKS.items():
        rows, seen = test.of(kind), train.of(kind)
        if len(rows) < 2 or not len(seen):
            continue
        base = word_means(train.boxes[seen], train.words[seen], test.words[rows])
        clusters = test.scene_ids[rows]
        ours, theirs = box_scores(pred[rows], test.boxes[rows], test.points[rows]), box_scores(base, test.boxes[rows], test.points[rows])
        for control, boxes, scores in (("none", pred[rows], ours), (baseline_name, base, theirs)):
            predictions = [{"scene": clusters[i], "item": f"{kind}{i}", "word": test.words[r], "prediction": boxes[i].round(4).tolist(),
                            "target": test.boxes[r].round(4).tolist(), "scores": {k: float(v[i]) for k, v in scores.items()}} for i, r in enumerate(rows)]
            record(task, control, item_estimates(scores, clusters, METRICS, n_resamples, seed), predictions)
        record(task, "head − baseline", item_differences(ours, theirs, clusters, METRICS, n_resamples, seed))
    return records
