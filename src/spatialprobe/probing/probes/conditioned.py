"""The text-conditioned probe: the expression's or statement's word tokens cross-attend to their
scene's visual tokens in a small transformer (self-attention over words, cross-attention to the
visual tokens with their row-index embeddings, MLP; 2 layers), then the words are mean-pooled into
the head. Inputs: ``{"tokens": (S, T, d), "scene_of": (n,), "text": (n, L) word ids, 0 = padding}``
(see `probing.text.word_ids`)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from spatialprobe.probing.probes._attention import SceneAttention, Tokens, mlp_head
from spatialprobe.probing.probes._neural import NeuralProbe, require_tokens
from spatialprobe.registry import PROBES


class _Layer(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.n1, self.self_attn = nn.LayerNorm(dim), nn.MultiheadAttention(dim, heads, batch_first=True)
        self.n2, self.cross = nn.LayerNorm(dim), SceneAttention(dim, heads)
        self.n3 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))

    def forward(self, words, pad, visual, scene_of):
        h = self.n1(words)
        words = words + self.self_attn(h, h, h, key_padding_mask=pad, need_weights=False)[0]
        words = words + self.cross(self.n2(words), visual, scene_of)
        return words + self.mlp(self.n3(words))


class _Conditioned(nn.Module):
    def __init__(self, shape: dict, depth: int = 2, heads: int = 4):
        super().__init__()
        width = shape["width"]
        self.vocab = shape["vocab"]
        self.visual = Tokens(shape["tokens"], shape["dim"], width)
        self.words = nn.Embedding(shape["vocab"], width, padding_idx=0)
        self.position = nn.Parameter(torch.zeros(1, shape["length"], width))
        self.layers = nn.ModuleList(_Layer(width, heads) for _ in range(depth))
        self.head = mlp_head(width, width, shape["n_out"])

    def forward(self, tokens, ids, scene_of):
        ids = ids[:, : self.position.shape[1]].clamp(max=self.vocab - 1)
        visual = self.visual(tokens)
        pad = ids == 0
        words = self.words(ids) + self.position[:, : ids.shape[1]]
        for layer in self.layers:
            words = layer(words, pad, visual, scene_of)
        keep = (~pad).float()[..., None]
        return self.head((words * keep).sum(1) / keep.sum(1).clamp(min=1))


class Conditioned(NeuralProbe):
    name = "conditioned"
    wants_tokens = True
    wants_word_ids = True

    def shape_of(self, X, n_out: int) -> dict:
        require_tokens(X, self.name)
        ids = np.asarray(X["text"])
        return {"tokens": X["tokens"].shape[1], "dim": X["tokens"].shape[2], "vocab": int(ids.max()) + 2, "length": ids.shape[1], "width": 64, "n_out": n_out}

    def network(self, shape: dict) -> nn.Module:
        return _Conditioned(shape)


PROBES.register("conditioned", Conditioned)
