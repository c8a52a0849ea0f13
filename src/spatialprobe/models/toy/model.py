"""A small but complete V&L model in pure PyTorch: ViT → connector (linear | Q-Former) → causal LM.

Module names mirror the sites (``vision.embed``, ``vision.blocks.{i}``, ``vision.norm``,
``connector``, ``lm.blocks.{j}``, ``lm.norm``) so its card is a direct map. The lab trains it.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from spatialprobe.names import CONNECTORS
STEMS = ("patch", "conv")


@dataclass(frozen=True)
class ToyConfig:
    image_size: int = 64
    patch_size: int = 8
    stem: str = "patch"
    """``patch``: one strided convolution (plain ViT); ``conv``: three stride-2 3×3 convolutions and
    one stride-1 3×3 convolution, each with batch norm (patch 8; a 31-px receptive field per token),
    which lets a small ViT learn shapes at this scale."""
    width: int = 128
    depth: int = 4
    heads: int = 4
    connector: str = "qformer"
    queries: int = 16
    connector_width: int = 128
    connector_depth: int = 2
    position_in_kv: bool = False
    """Add the 2-D position code to the resampler's cross-attention keys and values (Qwen-VL style)."""
    lm_width: int = 128
    lm_depth: int = 2
    lm_heads: int = 4
    vocab_size: int = 64
    max_length: int = 96

    def __post_init__(self) -> None:
        if self.connector not in CONNECTORS:
            raise ValueError(f"unknown connector {self.connector!r}; expected one of {CONNECTORS}")
        if self.stem not in STEMS or (self.stem == "conv" and self.patch_size != 8):
            raise ValueError(f"stem {self.stem!r}: expected one of {STEMS} (conv needs patch_size 8)")
        if self.image_size % self.patch_size:
            raise ValueError(f"image_size {self.image_size} is not a multiple of patch_size {self.patch_size}")

    @property
    def grid(self) -> int:
        return self.image_size // self.patch_size

    def to_json(self) -> dict:
        return asdict(self)


def sincos_2d(grid: int, dim: int) -> torch.Tensor:
    """Fixed 2-D sine-cosine position code, (grid*grid, dim), row-major."""
    quarter = dim // 4
    freqs = 1.0 / (10000 ** (torch.arange(quarter, dtype=torch.float32) / quarter))
    ys, xs = torch.meshgrid(torch.arange(grid, dtype=torch.float32), torch.arange(grid, dtype=torch.float32), indexing="ij")
    parts = []
    for coord in (xs.flatten(), ys.flatten()):
        angles = coord[:, None] * freqs[None, :]
        parts += [angles.sin(), angles.cos()]
    code = torch.cat(parts, dim=1)
    return F.pad(code, (0, dim - code.shape[1]))


class Attention(nn.Module):
    """Multi-head attention returning (output, weights); weights only when ``return_weights``."""

    def __init__(self, dim: int, heads: int, context_dim: int | None = None):
        super().__init__()
        self.heads = heads
        self.q = nn.Linear(dim, dim)
        self.k = nn.Linear(context_dim or dim, dim)
        self.v = nn.Linear(context_dim or dim, dim)
        self.out = nn.Linear(dim, dim)
        self.return_weights = False

    def forward(self, x, context=None, causal: bool = False, key_mask=None):
        context = x if context is None else context
        b, n, d = x.shape
        h = self.heads

        def heads(t):
            return t.view(b, t.shape[1], h, d // h).transpose(1, 2)

        q, k, v = heads(self.q(x)), heads(self.k(context)), heads(self.v(context))
        mask = None
        if key_mask is not None:
            mask = key_mask[:, None, None, :].bool()
        if causal:
            tri = torch.ones(n, context.shape[1], dtype=torch.bool, device=x.device).tril(context.shape[1] - n)
            mask = tri if mask is None else mask & tri
        if self.return_weights:
            scores = q @ k.transpose(-1, -2) / math.sqrt(d // h)
            if mask is not None:
                scores = scores.masked_fill(~mask, float("-inf"))
            weights = scores.softmax(-1)
            out = weights @ v
        else:
            weights = None
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return self.out(out.transpose(1, 2).reshape(b, n, d)), weights


class Block(nn.Module):
    """Pre-norm transformer block."""

    def __init__(self, dim: int, heads: int, causal: bool = False):
        super().__init__()
        self.causal = causal
        self.norm1, self.attn = nn.LayerNorm(dim), Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))

    def forward(self, x, key_mask=None):
        x = x + self.attn(self.norm1(x), causal=self.causal, key_mask=key_mask)[0]
        return x + self.mlp(self.norm2(x))


class PatchEmbed(nn.Module):
    """Patchify, prepend CLS, add the fixed position code: the input to the first block."""

    def __init__(self, cfg: ToyConfig):
        super().__init__()
        if cfg.stem == "conv":
            layers, channels = [], [3, cfg.width // 4, cfg.width // 2, cfg.width]
            for c_in, c_out in zip(channels, channels[1:]):
                layers += [nn.Conv2d(c_in, c_out, 3, 2, 1), nn.BatchNorm2d(c_out), nn.GELU()]
            layers += [nn.Conv2d(cfg.width, cfg.width, 3, 1, 1), nn.BatchNorm2d(cfg.width), nn.GELU()]
            self.proj = nn.Sequential(*layers, nn.Conv2d(cfg.width, cfg.width, 1))
        else:
            self.proj = nn.Conv2d(3, cfg.width, cfg.patch_size, cfg.patch_size)
        self.cls = nn.Parameter(torch.zeros(1, 1, cfg.width))
        self.register_buffer("pos", sincos_2d(cfg.grid, cfg.width), persistent=False)

    def forward(self, pixels):
        x = self.proj(pixels).flatten(2).transpose(1, 2) + self.pos
        return torch.cat([self.cls.expand(x.shape[0], -1, -1), x], dim=1)


class VisionEncoder(nn.Module):
    def __init__(self, cfg: ToyConfig):
        super().__init__()
        self.embed = PatchEmbed(cfg)
        self.blocks = nn.ModuleList(Block(cfg.width, cfg.heads) for _ in range(cfg.depth))
        self.norm = nn.LayerNorm(cfg.width)

    def forward(self, pixels):
        x = self.embed(pixels)
        for block in self.blocks:
            x = block(x)
        return self.norm(x)


class LinearConnector(nn.Module):
    """LiMBeR: one projection per visual token into the LM's embedding space."""

    def __init__(self, cfg: ToyConfig):
        super().__init__()
        self.proj = nn.Linear(cfg.width, cfg.lm_width)

    def forward(self, tokens):
        return self.proj(tokens)


class MLPConnector(nn.Module):
    """LLaVA: a 2-layer GELU MLP per visual token."""

    def __init__(self, cfg: ToyConfig):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(cfg.width, cfg.lm_width), nn.GELU())
        self.proj = nn.Linear(cfg.lm_width, cfg.lm_width)

    def forward(self, tokens):
        return self.proj(self.mlp(tokens))


class QFormerLayer(nn.Module):
    def __init__(self, dim: int, heads: int, context_dim: int):
        super().__init__()
        self.norm1, self.self_attn = nn.LayerNorm(dim), Attention(dim, heads)
        self.norm2, self.cross_attn = nn.LayerNorm(dim), Attention(dim, heads, context_dim)
        self.norm3 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))

    def forward(self, q, context):
        q = q + self.self_attn(self.norm1(q))[0]
        q = q + self.cross_attn(self.norm2(q), context)[0]
        return q + self.mlp(self.norm3(q))


class QFormerConnector(nn.Module):
    """BLIP-2 style: learned queries with self- and cross-attention over the encoder tokens."""

    def __init__(self, cfg: ToyConfig):
        super().__init__()
        self.position_in_kv = cfg.position_in_kv
        self.queries = nn.Parameter(torch.randn(1, cfg.queries, cfg.connector_width) * 0.02)
        self.layers = nn.ModuleList(
            QFormerLayer(cfg.connector_width, cfg.heads, cfg.width) for _ in range(cfg.connector_depth)
        )
        self.norm = nn.LayerNorm(cfg.connector_width)
        self.proj = nn.Linear(cfg.connector_width, cfg.lm_width)
        pos = torch.cat([torch.zeros(1, cfg.width), sincos_2d(cfg.grid, cfg.width)])  # CLS has no position
        self.register_buffer("pos", pos, persistent=False)

    def forward(self, tokens):
        context = tokens + self.pos if self.position_in_kv else tokens
        q = self.queries.expand(tokens.shape[0], -1, -1)
        for layer in self.layers:
            q = layer(q, context)
        return self.proj(self.norm(q))


class PerceiverLayer(nn.Module):
    """IDEFICS-style resampler block: latents attend to [latents; tokens], then an MLP."""

    def __init__(self, dim: int, heads: int, context_dim: int):
        super().__init__()
        self.context = nn.Linear(context_dim, dim)
        self.norm1, self.attn = nn.LayerNorm(dim), Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))

    def forward(self, q, context):
        h = self.norm1(q)
        q = q + self.attn(h, torch.cat([h, self.context(context)], dim=1))[0]
        return q + self.mlp(self.norm2(q))


class PerceiverConnector(QFormerConnector):
    """Latents (the queries) through Perceiver blocks; same position option and projection."""

    def __init__(self, cfg: ToyConfig):
        super().__init__(cfg)
        self.layers = nn.ModuleList(
            PerceiverLayer(cfg.connector_width, cfg.heads, cfg.width) for _ in range(cfg.connector_depth)
        )


class ToyLM(nn.Module):
    """A tiny causal LM that reads a soft prefix (the visual prompt) before its text."""

    def __init__(self, cfg: ToyConfig):
        super().__init__()
        self.embed = nn.Embedding(cfg.vocab_size, cfg.lm_width)
        self.pos = nn.Parameter(torch.zeros(1, cfg.max_length, cfg.lm_width))
        self.blocks = nn.ModuleList(Block(cfg.lm_width, cfg.lm_heads, causal=True) for _ in range(cfg.lm_depth))
        self.norm = nn.LayerNorm(cfg.lm_width)
        self.head = nn.Linear(cfg.lm_width, cfg.vocab_size, bias=False)

    def forward(self, prefix, input_ids=None, attention_mask=None):
        """Logits over [prefix; text] positions."""
        return self.head(self.hidden(prefix, input_ids, attention_mask))

    @torch.inference_mode()
    def greedy(self, prefix: torch.Tensor, first: torch.Tensor, steps: int, stop: int | None = None) -> torch.Tensor:
        """Greedy decoding with a key/value cache: ``first`` (B,) token ids after the prefix, then up to
        ``steps`` argmax tokens (B, ≤ steps); equal to re-running `forward` on the growing sequence."""
        x = torch.cat([prefix, self.embed(first)[:, None]], dim=1)
        if x.shape[1] + steps - 1 > self.pos.shape[1]:
            raise ValueError(f"sequence of {x.shape[1] + steps - 1} exceeds max_length {self.pos.shape[1]}")
        cache = []

        def run(x, start):
            x = x + self.pos[:, start : start + x.shape[1]]
            for i, block in enumerate(self.blocks):
                attn, h = block.attn, block.norm1(x)
                b, n, d = h.shape
                q, k, v = (t.view(b, n, attn.heads, d // attn.heads).transpose(1, 2) for t in (attn.q(h), attn.k(h), attn.v(h)))
                if i < len(cache):
                    k, v = torch.cat([cache[i][0], k], 2), torch.cat([cache[i][1], v], 2)
                    cache[i] = (k, v)
                else:
                    cache.append((k, v))
                mask = torch.ones(n, k.shape[2], dtype=torch.bool).tril(k.shape[2] - n)
                out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
                x = x + attn.out(out.transpose(1, 2).reshape(b, n, d))
                x = x + block.mlp(block.norm2(x))
            return self.head(self.norm(x[:, -1]))

        tokens, logits, done = [], run(x, 0), torch.zeros(len(first), dtype=torch.bool)
        for t in range(steps):
            nxt = logits.argmax(-1)
            tokens.append(nxt)
            if stop is not None:
                done |= nxt == stop
            if done.all() or t == steps - 1:
                break
            logits = run(self.embed(nxt)[:, None], x.shape[1] + t)
        return torch.stack(tokens, 1)

    def hidden(self, prefix, input_ids=None, attention_mask=None):
        """The final (normalised) hidden state of every [prefix; text] position."""
        parts = [prefix] + ([self.embed(input_ids)] if input_ids is not None else [])
        x = torch.cat(parts, dim=1)
        if x.shape[1] > self.pos.shape[1]:
            raise ValueError(f"sequence of {x.shape[1]} exceeds max_length {self.pos.shape[1]}")
        x = x + self.pos[:, : x.shape[1]]
        key_mask = None
        if attention_mask is not None:
            ones = torch.ones(prefix.shape[:2], dtype=attention_mask.dtype, device=x.device)
            key_mask = torch.cat([ones, attention_mask], dim=1)
        for block in self.blocks:
            x = block(x, key_mask=key_mask)
        return self.norm(x)


class ToyVLM(nn.Module):
    def __init__(self, cfg: ToyConfig):
        super().__init__()
        self.config = cfg
        self.vision = VisionEncoder(cfg)
        self.connector = {"linear": LinearConnector, "mlp": MLPConnector, "qformer": QFormerConnector, "perceiver": PerceiverConnector}[cfg.connector](cfg)
        self.lm = ToyLM(cfg)

    def forward(self, pixel_values, input_ids=None, attention_mask=None):
        """Logits over [visual prompt; text] positions."""
        return self.lm(self.connector(self.vision(pixel_values)), input_ids, attention_mask)
