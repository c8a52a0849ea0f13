"""Attention pooling over a site's tokens: a learned query — or, for text-conditioned tasks, one
made from the item's text features — attends over the tokens, each with a learned embedding of
its row index (rows are ordered: patch i, query i; without it a pooled probe cannot tell them
apart), then an MLP head. Inputs are ``{"tokens": (n, T, d), "text": (n, k) or None}``."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from spatialprobe.probing.probes._neural import NeuralProbe
from spatialprobe.registry import PROBES


class _Pool(nn.Module):
    def __init__(self, tokens: int, dim: int, text_dim: int, hidden: int, n_out: int, heads: int = 4):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.index = nn.Parameter(torch.randn(1, tokens, dim) * 0.5)
        self.query = nn.Parameter(torch.randn(1, 1, dim) * 0.02)
        self.text = nn.Linear(text_dim, dim) if text_dim else None
        self.attn = nn.MultiheadAttention(dim, heads if dim % heads == 0 else 1, batch_first=True)
        self.head = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, n_out))

    def forward(self, tokens, text=None):
        x = self.norm(tokens) + self.index
        q = self.query.expand(len(x), -1, -1)
        if self.text is not None:
            q = q + self.text(text)[:, None]
        pooled, _ = self.attn(q, x, x, need_weights=False)
        return self.head(pooled[:, 0])


class AttentionPool(NeuralProbe):
    name = "attention_pool"
    wants_tokens = True

    def shape_of(self, X, n_out: int) -> dict:
        t = X.get("text")
        return {"tokens": X["tokens"].shape[1], "dim": X["tokens"].shape[2], "text_dim": 0 if t is None else t.shape[1], "n_out": n_out}

    def network(self, shape: dict) -> nn.Module:
        return _Pool(shape["tokens"], shape["dim"], shape["text_dim"], self.hidden, shape["n_out"])

    def n_rows(self, X) -> int:
        return len(X["tokens"])

    def tensors_of(self, X, rows) -> tuple:
        tokens = torch.as_tensor(np.asarray(X["tokens"][rows], dtype=np.float32))
        text = None if X.get("text") is None else torch.as_tensor(np.asarray(X["text"][rows], dtype=np.float32))
        return (tokens, text)


PROBES.register("attention_pool", AttentionPool)
