"""`Preprocess`: a model's image preprocessing as pixels *and* geometry.

The same object turns images into the model's input tensor and maps boxes and masks from an
image's frame into the model's input frame and onto its patch grid, so the two can never disagree.
Steps, in the order Hugging Face image processors apply them: (LLaVA's pad to a square) → resize →
centre crop → rescale and normalise → pad (bottom/right, as ``do_pad`` does). `from_hf` reads a
``preprocessor_config.json`` only for processor types whose steps these are, and refuses the others
(tiling and dynamic-resolution processors) rather than guess.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from functools import lru_cache

from spatialprobe.geometry import Box, FrameMap, GridCoverage, mask_to_grid

class PreprocessError(ValueError):
    """A preprocessor config whose steps spatialprobe cannot reproduce exactly."""


PROCESSORS = ("CLIPImageProcessor", "BlipImageProcessor", "ViTImageProcessor", "BeitImageProcessor", "BitImageProcessor",
              "SiglipImageProcessor", "FlavaImageProcessor", "DeiTImageProcessor", "LlavaImageProcessor",
              "IdeficsImageProcessor")
"""Hugging Face image processors (and their ``…Pil`` / ``…Fast`` twins) made of the steps above."""
TILING = ("LlavaNextImageProcessor", "LlavaOnevisionImageProcessor", "Idefics2ImageProcessor", "Idefics3ImageProcessor",
          "SmolVLMImageProcessor", "Qwen2VLImageProcessor", "Qwen2_5_VLImageProcessor", "Siglip2ImageProcessor")
"""Processors that tile an image or give it its own resolution: one grid per model cannot describe them (the cards of
such families read them through `models.imaging.PerImage`)."""

RESAMPLE = {0: Image.NEAREST, 1: Image.LANCZOS, 2: Image.BILINEAR, 3: Image.BICUBIC, 4: Image.BOX, 5: Image.HAMMING}


def rgb(image) -> Image.Image:
    """A PIL image or an HWC uint8 array as an RGB PIL image."""
    return (image if isinstance(image, Image.Image) else Image.fromarray(np.asarray(image))).convert("RGB")


def image_size(image) -> tuple[int, int]:
    """(W, H) of a PIL image or an HWC array."""
    w, h = image.size if isinstance(image, Image.Image) else np.asarray(image).shape[1::-1]
    return int(w), int(h)


def processor_kind(cfg: dict) -> str:
    """The image processor class a ``preprocessor_config.json`` names, without its ``Fast`` / ``Pil`` suffix."""
    return str(cfg.get("image_processor_type", "")).removesuffix("Fast").removesuffix("Pil")


@dataclass(frozen=True)
class Preprocess:
    """Resize, crop, pad and normalise.

    ``resize``: ``("exact", (w, h))`` stretches to w×h; ``("shortest_edge", s)`` scales the short
    side to s keeping the aspect ratio (long side floored); ``None`` keeps the size. ``crop``: a
    centred (w, h) window or None. ``pad``: (w, h) canvas filled bottom/right with zeros after
    normalisation, or None.
    """

    resize: tuple | None = None
    crop: tuple[int, int] | None = None
    square: tuple[int, int, int] | None = None
    """Pad to a square first, the image centred on this RGB fill (``LlavaImageProcessor(do_pad=True)``)."""
    pad: tuple[int, int] | None = None
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)
    rescale: float = 1 / 255
    resample: int = 3

    def squared_size(self, size: tuple[int, int]) -> tuple[int, int]:
        return (max(size),) * 2 if self.square is not None else tuple(size)

    def resized_size(self, size: tuple[int, int]) -> tuple[int, int]:
        w, h = self.squared_size(size)
        if self.resize is None:
            return w, h
        kind, value = self.resize
        if kind == "exact":
            return int(value[0]), int(value[1])
        if kind == "shortest_edge":
            short, long = (w, h) if w <= h else (h, w)
            new_long = int(value * long / short)
            return (value, new_long) if w <= h else (new_long, value)
        raise ValueError(f"unknown resize rule {kind!r}; expected 'exact' or 'shortest_edge'")

    def frame_map(self, size: tuple[int, int]) -> FrameMap:
        """Image frame (W, H) → the model's input frame."""
        size = (int(size[0]), int(size[1]))
        square = self.squared_size(size)
        fmap = FrameMap.resize(square, self.resized_size(size))
        if self.square is not None:
            left, top = (square[0] - size[0]) // 2, (square[1] - size[1]) // 2
            fmap = FrameMap.pad(size, left, top, square[0] - size[0] - left, square[1] - size[1] - top).then(fmap)
        if self.crop is not None:
            fmap = fmap.then(FrameMap.center_crop(fmap.dst, tuple(self.crop)))
        if self.pad is not None:
            w, h = fmap.dst
            fmap = fmap.then(FrameMap.pad(fmap.dst, 0, 0, self.pad[0] - w, self.pad[1] - h))
        return fmap

    def input_size(self, size: tuple[int, int]) -> tuple[int, int]:
        return self.frame_map(size).dst

    def fixed_size(self) -> tuple[int, int] | None:
        """The input size every image gets, or None when it depends on the image (a resize that keeps the
        aspect ratio, with no crop or pad after it)."""
        if self.pad is not None:
            return tuple(self.pad)
        if self.crop is not None:
            return tuple(self.crop)
        if self.resize is not None and self.resize[0] == "exact":
            return tuple(self.resize[1])
        if self.resize is not None and self.square is not None:
            return (self.resize[1],) * 2
        return None

    def describe(self) -> str:
        steps = [f"pad to square ({self.square})"] if self.square is not None else []
        steps += [f"resize {self.resize[0]} {self.resize[1]}"] if self.resize else []
        steps += [f"crop {self.crop}"] if self.crop else []
        steps += [f"pad {self.pad}"] if self.pad else []
        return ", ".join(steps) or "no resize"

    def map_box(self, box: Box) -> Box:
        """A box of an image in the model's input frame (pixels, xyxy), clipped to it."""
        return box.mapped(self.frame_map(box.frame)).clipped()

    def mask_to_grid(self, mask: np.ndarray, grid, mode: str = "area") -> np.ndarray:
        """Coverage of each patch of the model's grid by an image-frame mask (see `geometry.mask_to_grid`)."""
        return mask_to_grid(mask, grid, self.frame_map((mask.shape[1], mask.shape[0])), mode)

    def grid_coverage(self, size: tuple[int, int], grid) -> GridCoverage:
        """A reusable `GridCoverage` for masks of images of ``size`` (cached per size and grid)."""
        return _coverage(self, tuple(size), tuple(grid) if not np.isscalar(grid) else grid)

    def pixels(self, image) -> np.ndarray:
        """One image (PIL or HWC uint8 array) → (3, H, W) float32 in the model frame."""
        im = rgb(image)
        if self.square is not None and im.size[0] != im.size[1]:
            side = max(im.size)
            canvas = Image.new("RGB", (side, side), tuple(self.square))
            canvas.paste(im, ((side - im.size[0]) // 2, (side - im.size[1]) // 2))
            im = canvas
        size = self.resized_size(im.size)
        if size != im.size:
            im = im.resize(size, resample=RESAMPLE[self.resample])
        x = np.asarray(im, dtype=np.float32).transpose(2, 0, 1)
        if self.crop is not None:
            cw, ch = self.crop
            left, top = (size[0] - cw) // 2, (size[1] - ch) // 2
            canvas = np.zeros((3, ch, cw), dtype=np.float32)
            src = x[:, max(top, 0) : top + ch, max(left, 0) : left + cw]
            canvas[:, max(-top, 0) : max(-top, 0) + src.shape[1], max(-left, 0) : max(-left, 0) + src.shape[2]] = src
            x = canvas
        x = x * np.float32(self.rescale)
        x = (x - np.array(self.mean, np.float32)[:, None, None]) / np.array(self.std, np.float32)[:, None, None]
        if self.pad is not None:
            out = np.zeros((3, self.pad[1], self.pad[0]), dtype=np.float32)
            out[:, : x.shape[1], : x.shape[2]] = x
            x = out
        return x

    def __call__(self, images):
        """A batch of images → a float32 torch tensor (B, 3, H, W); sizes must agree after preprocessing."""
        import torch

        arrays = [self.pixels(im) for im in images]
        shapes = {a.shape for a in arrays}
        if len(shapes) > 1:
            raise ValueError(f"images preprocess to different sizes {sorted(shapes)}; add a crop or pad")
        return torch.from_numpy(np.stack(arrays))

    @classmethod
    def from_hf(cls, cfg: dict) -> Preprocess:
        """From a Hugging Face ``preprocessor_config.json`` of a processor in `PROCESSORS`."""
        kind = processor_kind(cfg)
        if kind in TILING:
            raise PreprocessError(f"{kind} tiles the image or gives it its own resolution, and this family's card maps one frame per "
                                  "image (the tiled and dynamic-resolution families' own cards read it: llava_next, llava_onevision, "
                                  "qwen2_vl, qwen2_5_vl, idefics2, idefics3, smolvlm)")
        if kind and kind not in PROCESSORS:
            raise PreprocessError(f"image processor {kind!r}: its steps are not known to spatialprobe, so boxes could not be mapped "
                                  f"through it; supported: {', '.join(PROCESSORS)}")
        resize = None
        if cfg.get("do_resize", True):
            size = cfg.get("size", {})
            if isinstance(size, int):
                resize = ("exact", (size, size))
            elif isinstance(size, dict) and set(size) == {"shortest_edge"}:
                resize = ("shortest_edge", int(size["shortest_edge"]))
            elif isinstance(size, dict) and set(size) == {"height", "width"}:
                resize = ("exact", (int(size["width"]), int(size["height"])))
            else:
                raise PreprocessError(f"unsupported resize rule in preprocessor_config.json: size={size}")
        crop = None
        if cfg.get("do_center_crop", False):
            c = cfg["crop_size"]
            crop = (c, c) if isinstance(c, int) else (int(c["width"]), int(c["height"]))
        pad = square = None
        do_norm = cfg.get("do_normalize", True)
        mean = tuple(cfg.get("image_mean", (0.0,) * 3)) if do_norm else (0.0, 0.0, 0.0)
        if cfg.get("do_pad", False) and kind == "LlavaImageProcessor":
            square = tuple(int(x * 255) for x in cfg.get("image_mean") or (0.0,) * 3)
        elif cfg.get("do_pad", False) and cfg.get("pad_size"):
            p = cfg["pad_size"]
            pad = (int(p["width"]), int(p["height"]))
        return cls(
            resize=resize,
            crop=crop,
            pad=pad,
            square=square,
            mean=mean,
            std=tuple(cfg.get("image_std", (1.0,) * 3)) if do_norm else (1.0, 1.0, 1.0),
            rescale=float(cfg.get("rescale_factor", 1 / 255)) if cfg.get("do_rescale", True) else 1.0,
            resample=int(cfg.get("resample", 3)),
        )

    @classmethod
    def normalisation(cls, cfg: dict, resample: int | None = None) -> Preprocess:
        """Only the rescale and normalisation of a tiling or dynamic-resolution ``preprocessor_config.json`` (whose
        resizes, crops and padding a `models.imaging.PerImage` does); ``resample``: the processor's default filter."""
        extra = {} if resample is None else {"resample": cfg.get("resample", resample)}
        return cls.from_hf({**cfg, "image_processor_type": "CLIPImageProcessor", "do_resize": False, "do_center_crop": False, "do_pad": False, **extra})

    @classmethod
    def from_json(cls, d: dict) -> Preprocess:
        """Inverse of `to_json`."""
        resize = None
        if d["resize"]:
            kind, value = d["resize"]
            resize = (kind, tuple(value) if isinstance(value, list) else value)
        return cls(
            resize=resize,
            crop=tuple(d["crop"]) if d["crop"] else None,
            pad=tuple(d["pad"]) if d["pad"] else None,
            square=tuple(d["square"]) if d.get("square") else None,
            mean=tuple(d["mean"]),
            std=tuple(d["std"]),
            rescale=d["rescale"],
            resample=d["resample"],
        )

    def to_json(self) -> dict:
        return {
            "resize": list(self.resize) if self.resize else None,
            "crop": self.crop,
            "pad": self.pad,
            "mean": self.mean,
            "std": self.std,
            "rescale": self.rescale,
            "resample": self.resample,
            **({"square": list(self.square)} if self.square is not None else {}),  # absent otherwise: earlier keys stay valid
        }


@lru_cache(maxsize=64)
def _coverage(pre: Preprocess, size: tuple[int, int], grid) -> GridCoverage:
    return GridCoverage(size, grid, pre.frame_map(size))
