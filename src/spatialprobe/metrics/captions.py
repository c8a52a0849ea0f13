"""Caption metrics: per-caption BLEU-4 and CIDEr (pycocoevalcap, tokenised in Python, so Java is not
needed), and which of an image's object categories a caption names — precision and recall of
category mentions, words lemmatised (simplemma) and matched with a synonym table — LiMBeR's
"which categories transferred" measure.
"""

from __future__ import annotations

import re

import numpy as np

_TOKEN = re.compile(r"[a-z]+|[.,]")

SYNONYMS = {
    "person": ("man", "woman", "people", "boy", "girl", "child", "kid", "player", "guy", "lady", "person"),
    "tv": ("television", "tv"), "couch": ("sofa", "couch"), "motorcycle": ("motorbike", "motorcycle"), "airplane": ("plane", "jet", "airplane"),
    "cell phone": ("phone", "cellphone", "cell phone"), "dining table": ("table", "dining table"), "bicycle": ("bike", "bicycle"),
    "laptop": ("laptop", "computer"), "potted plant": ("plant", "potted plant"), "hot dog": ("hot dog", "hotdog"), "donut": ("donut", "doughnut"),
}
"""Category → the words a caption may name it by (COCO's categories; any other category is named by itself)."""


def words(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


def meteor_available() -> bool:
    """Whether METEOR can run: pycocoevalcap's METEOR is a Java program."""
    import shutil

    return shutil.which("java") is not None


def caption_metrics(generated: list[str], references: list[list[str]], meteor: bool = False) -> dict[str, np.ndarray]:
    """Per-caption BLEU-4 and CIDEr (and METEOR with ``meteor``: it needs Java, `meteor_available`)."""
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider

    gts = {i: [" ".join(words(r)) for r in refs] for i, refs in enumerate(references)}
    res = {i: [" ".join(words(g)) or "empty"] for i, g in enumerate(generated)}
    _, bleu = Bleu(4).compute_score(gts, res, verbose=0)
    _, cider = Cider().compute_score(gts, res)
    out = {"BLEU-4": np.asarray(bleu[3], dtype=np.float64), "CIDEr": np.asarray(cider, dtype=np.float64)}
    if meteor:
        from pycocoevalcap.meteor.meteor import Meteor

        if not meteor_available():
            raise RuntimeError("METEOR needs Java (pycocoevalcap runs meteor-1.5.jar): install a JRE or leave METEOR out")
        _, scores = Meteor().compute_score(gts, res)
        out["METEOR"] = np.asarray(scores, dtype=np.float64)
    return out


def _lemmas(text: str) -> str:
    import simplemma

    return " " + " ".join(simplemma.lemmatize(w, lang="en") for w in words(text) if w not in ".,") + " "


def named_categories(text: str, categories) -> set[str]:
    """The categories among ``categories`` a caption names (by a lemma of their name or a synonym)."""
    lemmas = _lemmas(text)
    return {c for c in categories if any(_lemmas(name) in lemmas for name in SYNONYMS.get(c, (c,)))}


def category_scores(text: str, truth: set[str], categories) -> dict[str, float]:
    """Precision of the categories a caption names against the image's ``truth``, and recall of ``truth`` (NaN = undefined)."""
    named = named_categories(text, categories)
    hits = len(named & set(truth))
    return {"category_precision": hits / len(named) if named else float("nan"), "category_recall": hits / len(truth) if truth else float("nan")}
