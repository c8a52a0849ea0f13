"""`Adapter`: any model behind one interface — its sites, their token layouts, its preprocessing.

Callers never branch on the model family: a card (data) says where each site is; the adapter
resolves it against the loaded model, hooks it for one pass, and reports layouts.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import torch
from torch import nn

from spatialprobe.models import capture as cap
from spatialprobe.models.card import Card, Derived, Tap
from spatialprobe.models.layout import TokenLayout
from spatialprobe.models.preprocess import Preprocess, image_size
from spatialprobe.models.sites import expand, sort_key, split


class GeometryError(ValueError):
    """A model whose patch grid cannot be known from its preprocessing (raised at load)."""


@dataclass
class Batch:
    """What one forward pass gets: pixels and, for LM sites, the text token ids."""

    pixel_values: torch.Tensor
    input_ids: torch.Tensor | None = None
    attention_mask: torch.Tensor | None = None
    prompt_length: int = 0
    """Rows of the LM sequence that hold the visual prompt (they come first)."""
    words: list[list[int]] = field(default_factory=list)
    """Per sample: the word index of each text token (-1 for special tokens)."""
    extra: dict[str, torch.Tensor] = field(default_factory=dict)
    """Further model inputs a family needs (InstructBLIP's ``qformer_input_ids``), built by its card."""
    sizes: list[tuple[int, int]] = field(default_factory=list)
    """Per sample, the image's (W, H): a per-image model's layouts depend on it."""
    prompt_lengths: list[int] = field(default_factory=list)
    """Per sample, the visual prompt's rows, where they differ between images (per-image models)."""


@dataclass
class Pixels:
    """A batch of images as the model takes them: the pixel tensor, the inputs that describe it (LLaVA-NeXT's
    ``image_sizes``, Qwen2-VL's ``image_grid_thw``) and each image's (W, H)."""

    values: torch.Tensor
    extra: dict[str, torch.Tensor]
    sizes: list[tuple[int, int]]


class Adapter:
    """A loaded model with its card: ``sites()``, ``layout(site)``, ``extract(images, sites)``."""

    def __init__(
        self,
        name: str,
        model: nn.Module,
        card: Card,
        preprocess: Preprocess,
        tokenizer: Any = None,
        info: dict | None = None,
        options: dict[str, str] | None = None,
        resources: dict | None = None,
    ):
        self.name, self.model, self.card, self.preprocess, self.tokenizer = name, model.eval(), card, preprocess, tokenizer
        self.info = info or {}
        self.options, self.resources = dict(options or {}), dict(resources or {})
        first = next(model.parameters())
        self.dtype, self.device = first.dtype, first.device
        self.prefix = tuple(card.prefix(model) if callable(card.prefix) else card.prefix)
        self.per_image = bool(getattr(preprocess, "per_image", False))
        """Each image has its own frames or grid, so its own layouts (tiled and dynamic-resolution models)."""
        if self.per_image and card.image_layout is None:
            raise GeometryError(f"{name}: its preprocessing gives every image its own frames, and the {card.family} card has no per-image layouts")
        self.geometry = None if self.per_image else self._geometry()
        self._sites = self._available_sites()

    # --- what the model has -------------------------------------------------------------------
    def _available_sites(self) -> list[str]:
        out = []
        for template, tap in self.card.sites.items():
            path = tap.module
            if "{i}" in template:
                out += [template.replace("{i}", str(i)) for i in range(cap.count(self.model, path))]
            elif cap.exists(self.model, path):
                out.append(template)
        return sorted(out, key=sort_key)

    def sites(self) -> list[str]:
        """Every site this model has, in data-flow order."""
        return list(self._sites)

    def _geometry(self) -> tuple[int, int, int, int]:
        """(grid rows, grid cols, input width, input height): the preprocessed input over the patch size."""
        size, patch = self.preprocess.fixed_size(), self.card.patch_size(self.model)
        if size is None:
            raise GeometryError(f"{self.name}: its preprocessing gives every image its own size ({self.preprocess.describe()}); "
                                "one grid per model needs a resize to a fixed size, a crop or a pad")
        w, h = size
        if w % patch or h % patch:
            raise GeometryError(f"{self.name}: the {w}×{h} input is not a whole number of {patch}-pixel patches")
        return h // patch, w // patch, w, h

    def _template(self, site: str) -> tuple[str, Tap | Derived, int | None]:
        stem, index = split(site)
        template = f"{stem}.{{i}}" if index is not None else stem
        return template, self.card.sites[template], index

    def layout(self, site: str, batch: Batch | None = None, sample: int = 0, size: tuple[int, int] | None = None) -> TokenLayout:
        """The token layout of a site (LM sites need the batch, for the text rows of ``sample``); a per-image
        model's layouts are those of one image: of ``size`` (W, H), or of the batch's ``sample``."""
        rule = self.layout_rule(site)
        stem, _ = split(site)
        if self.per_image:
            return self._image_layout(site, rule, batch, sample, size)
        rows, cols, w, h = self.geometry
        vision = TokenLayout.vision(self.prefix, (rows, cols), (w, h))
        if rule == "vision":
            return vision
        if rule == "patches":
            return TokenLayout.vision((), (rows, cols), (w, h))
        if rule == "query+latents":  # attention over the image rows *and* the latents themselves (Kosmos-2, Perceivers)
            n, inputs = self._query_count(), self.layout(self._connector_input_site())
            return TokenLayout.queries(n, "query", replace(inputs, roles=inputs.roles + ("latent",) * n))
        if rule in ("query", "latent"):
            n = self._query_count()
            columns = self.layout(self._connector_input_site()) if stem == "connector.attn" else None
            return TokenLayout.queries(n, rule, columns)
        if rule == "lm":
            return self._lm_layout(self._image_rows(), batch, sample)
        raise ValueError(f"unknown layout rule {rule!r} for {site}")

    def _lm_layout(self, image: TokenLayout, batch: Batch | None, sample: int) -> TokenLayout:
        """The visual prompt's rows, then (given a batch with ids) the text rows of ``sample``."""
        if batch is None or batch.input_ids is None:
            return replace(image, word_of_row=(-1,) * len(image))
        prompt = batch.prompt_lengths[sample] if batch.prompt_lengths else batch.prompt_length
        ids = batch.input_ids[sample].tolist()
        mask = batch.attention_mask[sample].tolist() if batch.attention_mask is not None else [1] * len(ids)
        if self.per_image:  # each image's own rows: its padding is not kept
            ids, mask = ids[: sum(mask)], mask[: sum(mask)]
        text = len(ids) - (prompt if self.card.prompt == "placeholders" else 0)
        if len(image) != prompt:
            image = TokenLayout(("image",) * prompt)
        roles = list(image.roles) + ["text" if m else "pad" for m in mask[len(ids) - text :]]
        words = list(batch.words[sample]) if batch.words else []
        words = [-1] * prompt + words + [-1] * (text - len(words))
        frames = image.frame_of_row + (-1,) * text if image.frame_of_row else ()
        return replace(image, roles=tuple(roles), word_of_row=tuple(words), frame_of_row=frames)

    def layout_rule(self, site: str) -> str:
        """The card's layout rule of a site (sites with one rule share their layouts)."""
        if site not in self._sites:
            expand(site, self._sites, self.name)  # raises with the list of sites
        rule = self.card.layouts[split(site)[0]]
        return rule(self.model) if callable(rule) else rule

    def _image_layout(self, site: str, rule: str, batch: Batch | None, sample: int, size: tuple[int, int] | None) -> TokenLayout:
        if size is None and batch is not None and batch.sizes:
            size = batch.sizes[sample]
        if size is None:
            raise ValueError(f"{self.name} gives every image its own layout: {site}'s needs the image size (size=(W, H), or a batch made by make_batch)")
        size = (int(size[0]), int(size[1]))
        if rule == "lm":
            return self._lm_layout(self.card.image_layout(self, "lm", size), batch, sample)
        return self.card.image_layout(self, rule, size)

    def _image_rows(self) -> TokenLayout:
        """The visual prompt as the LM reads it: where the connector keeps the patch grid (LLaVA,
        PaliGemma) its rows keep their cells, so object pools and location probes work on ``lm.*``."""
        if self.card.prompt == "cross":  # the image reaches the LM through cross-attention, as no rows
            return TokenLayout(())
        n = self._query_count()
        if "connector.out" in self._sites:
            out = self.layout("connector.out")
            if out.grid is not None and len(out) == n:
                return out
        return TokenLayout(("image",) * n)

    def _connector_input_site(self) -> str:
        return "connector.in" if "connector.in" in self._sites else "vision.out"

    def _query_count(self) -> int:
        """Rows of the visual prompt, read once from a forward pass of a seeded noise image (not a blank
        one: Idefics2 drops all-zero frames as padding)."""
        if "queries" not in self.info:
            generator = torch.Generator().manual_seed(0)
            pixels = torch.rand(1, 3, self.geometry[3], self.geometry[2], generator=generator)
            batch = Batch(pixel_values=pixels)
            if self.card.extra_inputs is not None:
                batch.extra = self.card.extra_inputs(self, batch, [""])
            out = self.forward_sites(batch, ["connector.out"])["connector.out"]
            self.info["queries"] = int(out.shape[1])
        return self.info["queries"]

    # --- running it ---------------------------------------------------------------------------
    def pixels(self, images) -> Pixels:
        """Images (PIL or HWC arrays) → the model's pixel inputs (`Pixels`)."""
        sizes = [image_size(im) for im in images]
        if self.per_image:
            return Pixels(*self.preprocess.inputs(images), sizes)
        return Pixels(self.preprocess(images), {}, sizes)

    def make_batch(self, pixel_values: torch.Tensor | Pixels, texts: list[str] | None = None) -> Batch:
        """Pixels (+ texts, tokenised with the model's tokenizer) into a `Batch`.

        For an LM that reads the visual prompt in place of image placeholder tokens, the
        placeholders come first, then the text. A per-image model needs `Pixels` (`pixels(images)`).
        """
        pixels = pixel_values if isinstance(pixel_values, Pixels) else Pixels(pixel_values, {}, [])
        if self.per_image and not pixels.sizes:
            raise ValueError(f"{self.name} gives every image its own layout: make its batches from adapter.pixels(images)")
        batch = self._prompt_batch(pixels, texts)
        batch.extra = dict(pixels.extra)
        if self.card.extra_inputs is not None:
            batch.extra.update(self.card.extra_inputs(self, batch, texts))
        return batch

    def _prompt_batch(self, pixels: Pixels, texts: list[str] | None) -> Batch:
        batch = Batch(pixel_values=pixels.values, sizes=list(pixels.sizes))
        if self.per_image:
            return self._per_image_prompt(batch, texts)
        if texts is not None and self.tokenizer is None:
            raise ValueError(f"{self.name} has no tokenizer; pass token ids through Batch.input_ids")
        if self.card.prompt is None:
            return batch
        if texts is None and self.card.prompt in ("prepended", "cross"):
            batch.prompt_length = 0 if self.card.prompt == "cross" else self._query_count()
            return batch
        q = 0 if self.card.prompt == "cross" else self._query_count()
        placeholders = [self.card.image_token(self.model)] * q if self.card.prompt == "placeholders" else []
        rows, words = [], []
        for i in range(len(texts) if texts is not None else pixels.values.shape[0]):
            ids, word_ids = ([], []) if texts is None else self._tokenise(texts[i])
            rows.append(placeholders + ids)
            words.append(word_ids)
        self._pad_rows(batch, rows)
        batch.prompt_length = q
        batch.words = words
        return batch

    def _pad_rows(self, batch: Batch, rows: list[list[int]]) -> None:
        """Token id rows → the batch's ``input_ids`` and ``attention_mask``, padded on the right."""
        length = max(len(r) for r in rows)
        pad = getattr(self.tokenizer, "pad_token_id", None) or 0
        batch.input_ids = torch.tensor([r + [pad] * (length - len(r)) for r in rows])
        batch.attention_mask = torch.tensor([[1] * len(r) + [0] * (length - len(r)) for r in rows])

    def _per_image_prompt(self, batch: Batch, texts: list[str] | None) -> Batch:
        """Each image's own prompt tokens (as many as its LM image rows), then its text."""
        if self.card.prompt is None:
            return batch
        rows, words, lengths = [], [], []
        for i, size in enumerate(batch.sizes):
            prompt, rows_of = list(self.card.image_prompt(self, size)), len(self.card.image_layout(self, "lm", size))
            if len(prompt) != rows_of:
                raise RuntimeError(f"{self.name}: the prompt of a {size[0]}×{size[1]} image has {len(prompt)} tokens and its LM layout {rows_of} rows")
            ids, word_ids = ([], []) if texts is None else self._tokenise(texts[i])
            rows.append(list(prompt) + ids)
            words.append(word_ids)
            lengths.append(len(prompt))
        self._pad_rows(batch, rows)
        batch.prompt_lengths, batch.words = lengths, words
        return batch

    def _tokenise(self, text: str) -> tuple[list[int], list[int]]:
        enc = self.tokenizer(text, add_special_tokens=True)
        word_ids = enc.word_ids() if hasattr(enc, "word_ids") else [None] * len(enc["input_ids"])
        return list(enc["input_ids"]), [-1 if w is None else int(w) for w in word_ids]

    def forward_sites(self, batch: Batch, sites: list[str]) -> dict[str, torch.Tensor]:
        """Run one pass and return each requested site as a tensor (B, rows, dim) or (B, Q, K)."""
        if self.per_image:
            raise ValueError(f"{self.name} gives every image its own rows: read its sites with forward_images (one tensor per image)")
        return self._run(batch, expand(sites, self._sites, self.name))

    def forward_images(self, batch: Batch, sites: list[str]) -> dict[str, list[torch.Tensor]]:
        """Run one pass and return each requested site as one (rows_i, dim) tensor per image, its rows those of
        ``layout(site, batch, i)`` (hooks that stack frames or flatten the batch are split back per image)."""
        sites = expand(sites, self._sites, self.name)
        if not self.per_image:
            return {site: list(t) for site, t in self._run(batch, sites).items()}
        out = {}
        for site, x in self._run(batch, sites).items():
            counts = [len(self.layout(site, batch, i)) for i in range(len(batch.sizes))]
            packing = self.card.packing.get(split(site)[0], "batch")
            if callable(packing):  # the family's own unpacking into (Σ rows, d), each image's rows in turn
                x, packing = packing(self, x, batch), "flat"
            out[site] = _per_image(x, counts, packing, f"{self.name} {site}")
        return out

    def _run(self, batch: Batch, sites: list[str]) -> dict[str, torch.Tensor]:
        if self.card.prompt == "cross" and batch.input_ids is None and any(s.startswith("lm.") for s in sites):
            raise ValueError(f"{self.name} reads the image by cross-attention: its lm.* rows are text rows, so they need texts")
        needed: dict[str, tuple[nn.Module, Tap]] = {}
        derived: dict[str, tuple[str, nn.Module]] = {}
        for site in sites:
            _, tap, index = self._template(site)
            if isinstance(tap, Derived):
                source = self._last(tap.source) if "{last}" in tap.source else tap.source
                _, src_tap, src_index = self._template(source)
                derived[site] = (source, cap.resolve(self.model, tap.module, index))
                needed.setdefault(source, (cap.resolve(self.model, src_tap.module, src_index), src_tap))
            else:
                needed[site] = (cap.resolve(self.model, tap.module, index), tap)
        if any(split(site)[0] in self.card.needs_eager for site in sites):
            self._use_eager_attention()
        batch.pixel_values = batch.pixel_values.to(device=self.device, dtype=self.dtype)
        for name in ("input_ids", "attention_mask"):
            if getattr(batch, name) is not None:
                setattr(batch, name, getattr(batch, name).to(self.device))
        batch.extra = {k: v.to(self.device) for k, v in batch.extra.items()}
        with torch.inference_mode(), cap.capture(self.model, needed) as store:
            try:
                self.card.forward(self.model, batch)
            except cap.StopForward:
                pass
        missing = set(needed) - set(store)
        if missing:
            raise RuntimeError(f"{self.name}: the forward pass never reached {sorted(missing)}")
        with torch.inference_mode():
            for site, (source, module) in derived.items():
                store[site] = module(store[source])
        return {site: store[site] for site in sites}

    def _last(self, template: str) -> str:
        stem = template.replace(".{last}", "")
        return max((s for s in self._sites if s.startswith(stem + ".")), key=sort_key)

    def _use_eager_attention(self) -> None:
        if getattr(self.model, "config", None) is not None and hasattr(self.model, "set_attn_implementation"):
            if self.model.config._attn_implementation != "eager":
                self.model.set_attn_implementation("eager")
        else:
            for module in self.model.modules():
                if hasattr(module, "return_weights"):
                    module.return_weights = True

    def trainable(self):
        """The connector as the joint protocol trains it (a `models.trainable.Trainable`)."""
        if self.card.trainable is None:
            raise ValueError(f"{self.name}: the {self.card.family} card declares no trainable connector"
                             + (" (an image encoder has none)" if self.card.prompt is None else ""))
        return self.card.trainable(self)

    def extract(self, images, sites: list[str] | str, texts: list[str] | None = None) -> dict:
        """Images (PIL or arrays, + optional texts) → {site: tensor} (`forward_sites`), or for a per-image model
        {site: [tensor per image]} (`forward_images`)."""
        batch, sites = self.make_batch(self.pixels(images), texts), sites if isinstance(sites, list) else [sites]
        return self.forward_images(batch, sites) if self.per_image else self.forward_sites(batch, sites)


def _per_image(x: torch.Tensor, counts: list[int], packing: str, what: str) -> list[torch.Tensor]:
    """A hook's batch tensor as one (rows_i, dim) tensor per image, ``counts`` rows each (their layouts' lengths)."""
    if packing == "frames":
        x = x.reshape(-1, *x.shape[2:])
    if packing in ("frames", "flat"):
        if x.shape[0] != sum(counts):
            raise RuntimeError(f"{what}: {x.shape[0]} rows in the hook's output, {sum(counts)} in the images' layouts {counts}")
        return list(torch.split(x, counts))
    if x.shape[0] != len(counts) or x.shape[1] < max(counts):
        raise RuntimeError(f"{what}: a {tuple(x.shape)} output cannot hold {len(counts)} images of {counts} rows")
    return [x[i, :n] for i, n in enumerate(counts)]
