"""Attention pooling over a site's tokens: a learned query — plus, for text-conditioned tasks, an MLP
of the item's standardised text features — attends over its scene's tokens (each with a learned
row-index embedding), then an MLP head. Inputs: ``{"tokens": (S, T, d), "scene_of": (n,),
"text": (n, k) | None}``."""

from __future__ import annotations

from torch import nn

from spatialprobe.probing.probes._attention import SceneAttention, TextQueries, Tokens, mlp_head, text_statistics
from spatialprobe.probing.probes._neural import NeuralProbe, require_tokens
from spatialprobe.registry import PROBES


class _Pool(nn.Module):
    def __init__(self, shape: dict, hidden: int, heads: int = 4):
        super().__init__()
        dim = shape["dim"]
        self.tokens = Tokens(shape["tokens"], dim)
        self.queries = TextQueries(dim, shape["text_dim"], hidden, 1, shape["text_mean"], shape["text_std"])
        self.attn = SceneAttention(dim, heads)
        self.head = mlp_head(dim, hidden, shape["n_out"])

    def forward(self, tokens, text, scene_of):
        pooled = self.attn(self.queries(len(scene_of), text), self.tokens(tokens), scene_of)
        return self.head(pooled[:, 0])


class AttentionPool(NeuralProbe):
    name = "attention_pool"
    wants_tokens = True

    def shape_of(self, X, n_out: int) -> dict:
        require_tokens(X, self.name)
        return {"tokens": X["tokens"].shape[1], "dim": X["tokens"].shape[2], "n_out": n_out, **text_statistics(X.get("text"))}

    def network(self, shape: dict) -> nn.Module:
        return _Pool(shape, self.hidden)


PROBES.register("attention_pool", AttentionPool)
