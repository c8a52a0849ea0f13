"""The text-conditioned probe: the expression's or statement's word tokens cross-attend to the
visual tokens in a small transformer (self-attention over words, cross-attention to the visual
tokens with their row-index embeddings, MLP; 2 layers), then the words are mean-pooled into the
head. Inputs are ``{"tokens": (n, T, d), "text": (n, L) word ids, 0 = padding}`` (see
`probing.text.word_ids`)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from spatialprobe.probing.probes._neural import NeuralProbe
from spatialprobe.registry import PROBES


class _Layer(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.n1, self.self_attn = nn.LayerNorm(dim), nn.MultiheadAttention(dim, heads, batch_first=True)
        self.n2, self.cross = nn.LayerNorm(dim), nn.MultiheadAttention(dim, heads, batch_first=True)
        self.n3 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))

    def forward(self, words, pad, visual):
        h = self.n1(words)
        words = words + self.self_attn(h, h, h, key_padding_mask=pad, need_weights=False)[0]
        words = words + self.cross(self.n2(words), visual, visual, need_weights=False)[0]
        return words + self.mlp(self.n3(words))


class _Conditioned(nn.Module):
    def __init__(self, tokens: int, dim: int, vocab: int, length: int, width: int, n_out: int, depth: int = 2, heads: int = 4):
        super().__init__()
        self.visual = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, width))
        self.index = nn.Parameter(torch.randn(1, tokens, width) * 0.5)
        self.words = nn.Embedding(vocab, width, padding_idx=0)
        self.position = nn.Parameter(torch.zeros(1, length, width))
        self.layers = nn.ModuleList(_Layer(width, heads) for _ in range(depth))
        self.head = nn.Sequential(nn.LayerNorm(width), nn.Linear(width, width), nn.GELU(), nn.Linear(width, n_out))

    def forward(self, tokens, ids):
        visual = self.visual(tokens) + self.index
        pad = ids == 0
        words = self.words(ids) + self.position[:, : ids.shape[1]]
        for layer in self.layers:
            words = layer(words, pad, visual)
        keep = (~pad).float()[..., None]
        return self.head((words * keep).sum(1) / keep.sum(1).clamp(min=1))


class Conditioned(NeuralProbe):
    name = "conditioned"
    wants_tokens = True
    wants_word_ids = True

    def shape_of(self, X, n_out: int) -> dict:
        ids = np.asarray(X["text"])
        return {"tokens": X["tokens"].shape[1], "dim": X["tokens"].shape[2], "vocab": int(ids.max()) + 2,
                "length": ids.shape[1], "width": 64, "n_out": n_out}

    def network(self, shape: dict) -> nn.Module:
        return _Conditioned(shape["tokens"], shape["dim"], shape["vocab"], shape["length"], shape["width"], shape["n_out"])

    def n_rows(self, X) -> int:
        return len(X["tokens"])

    def tensors_of(self, X, rows) -> tuple:
        tokens = torch.as_tensor(np.asarray(X["tokens"][rows], dtype=np.float32))
        ids = torch.as_tensor(np.asarray(X["text"][rows], dtype=np.int64)).clamp(max=self.shape_["vocab"] - 1)
        return (tokens, ids)


PROBES.register("conditioned", Conditioned)
