"""`Preprocess`: a model's image preprocessing as pixels *and* geometry.

The same object turns images into the model's input tensor and maps boxes and masks from an
image's frame into the model's input frame and onto its patch grid, so the two can never disagree.
Steps, in the order Hugging Face image processors apply them: resize → centre crop → rescale and
normalise → pad (bottom/right, as ``do_pad`` does).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from functools import lru_cache

from spatialprobe.geometry import Box, FrameMap, GridCoverage, mask_to_grid

RESAMPLE = {0: Image.NEAREST, 1: Image.LANCZOS, 2: Image.BILINEAR, 3: Image.BICUBIC, 4: Image.BOX, 5: Image.HAMMING}


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
    pad: tuple[int, int] | None = None
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)
    rescale: float = 1 / 255
    resample: int = 3

    def resized_size(self, size: tuple[int, int]) -> tuple[int, int]:
        w, h = size
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
        fmap = FrameMap.resize(size, self.resized_size(size))
        if self.crop is not None:
            fmap = fmap.then(FrameMap.center_crop(fmap.dst, tuple(self.crop)))
        if self.pad is not None:
            w, h = fmap.dst
            fmap = fmap.then(FrameMap.pad(fmap.dst, 0, 0, self.pad[0] - w, self.pad[1] - h))
        return fmap

    def input_size(self, size: tuple[int, int]) -> tuple[int, int]:
        return self.frame_map(size).dst

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
        im = image if isinstance(image, Image.Image) else Image.fromarray(np.asarray(image))
        im = im.convert("RGB")
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
        """From a Hugging Face ``preprocessor_config.json`` (CLIP, BLIP, ViT, SigLIP, … processors)."""
        resize = None
        if cfg.get("do_resize", True):
            size = cfg.get("size", {})
            if isinstance(size, int):
                resize = ("exact", (size, size))
            elif "shortest_edge" in size and "longest_edge" not in size:
                resize = ("shortest_edge", int(size["shortest_edge"]))
            elif "height" in size and "width" in size:
                resize = ("exact", (int(size["width"]), int(size["height"])))
            else:
                raise ValueError(f"unsupported resize rule in preprocessor_config.json: size={size}")
        crop = None
        if cfg.get("do_center_crop", False):
            c = cfg["crop_size"]
            crop = (c, c) if isinstance(c, int) else (int(c["width"]), int(c["height"]))
        pad = None
        if cfg.get("do_pad", False) and cfg.get("pad_size"):
            p = cfg["pad_size"]
            pad = (int(p["width"]), int(p["height"]))
        do_norm = cfg.get("do_normalize", True)
        return cls(
            resize=resize,
            crop=crop,
            pad=pad,
            mean=tuple(cfg.get("image_mean", (0.0,) * 3)) if do_norm else (0.0, 0.0, 0.0),
            std=tuple(cfg.get("image_std", (1.0,) * 3)) if do_norm else (1.0, 1.0, 1.0),
            rescale=float(cfg.get("rescale_factor", 1 / 255)) if cfg.get("do_rescale", True) else 1.0,
            resample=int(cfg.get("resample", 3)),
        )

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
        }


@lru_cache(maxsize=64)
def _coverage(pre: Preprocess, size: tuple[int, int], grid) -> GridCoverage:
    return GridCoverage(size, grid, pre.frame_map(size))
