"""Idefics3 / SmolVLM image splitting (issue 20): each image's frames — the crops, then the global frame — are
pixel-equal to HF's image processor, and a box maps into every frame where HF's pixels put it."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from tiny_hf import noise_image, saved_config
from spatialprobe.models.splitting import Splitting

SIZES = [(90, 30), (30, 90), (50, 50), (20, 20), (64, 33), (200, 120), (17, 80)]


@pytest.fixture(scope="module", params=["idefics3", "smolvlm", "idefics3-no-split"])
def processor(request, tmp_path_factory):
    name = request.param.removesuffix("-no-split")
    module = __import__(f"transformers.models.{name}.image_processing_pil_{name}", fromlist=["_"])
    kind = getattr(module, {"idefics3": "Idefics3ImageProcessorPil", "smolvlm": "SmolVLMImageProcessorPil"}[name])
    proc = kind(size={"longest_edge": 64}, max_image_size={"longest_edge": 32}, do_image_splitting=not request.param.endswith("no-split"))
    return proc, Splitting.from_hf(saved_config(proc, tmp_path_factory.mktemp(request.param)))


def _theirs(proc, image):
    out = proc(images=[[image]], return_tensors="np", return_row_col_info=True)
    return out["pixel_values"][0], (out["rows"][0][0], out["cols"][0][0])


@pytest.mark.parametrize("size", SIZES)
def test_every_frame_is_the_pixels_hf_gives_that_frame(processor, size):
    proc, splitting = processor
    image = noise_image(size, sum(size))
    theirs, tiles = _theirs(proc, image)
    ours = splitting.pixels(image)
    assert ours.shape == theirs.shape and len(splitting.frame_maps(size)) == len(ours) and splitting.tiles(size) == tiles
    np.testing.assert_allclose(ours, theirs, atol=1e-5)


@pytest.mark.parametrize("size", SIZES)
def test_a_bright_box_lands_where_its_mapped_box_says_in_every_frame(processor, size):
    proc, splitting = processor
    w, h = size
    box = np.array([0.3 * w, 0.2 * h, 0.6 * w, 0.7 * h])
    canvas = np.zeros((h, w, 3), dtype=np.uint8)
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    canvas[y0:y1, x0:x1] = 255
    frames, _ = _theirs(proc, Image.fromarray(canvas))
    bright = frames.mean(axis=1) > frames.mean(axis=1).min() + 1.0
    box = np.array([x0, y0, x1, y1], float)
    for k, (fmap, pixels) in enumerate(zip(splitting.frame_maps(size), bright)):
        a, b, c, d = fmap.map_boxes(box[None])[0]
        inner = pixels[max(int(np.ceil(b)) + 1, 0) : int(d) - 1, max(int(np.ceil(a)) + 1, 0) : int(c) - 1]
        outer = pixels.copy()
        outer[max(int(b) - 2, 0) : max(int(np.ceil(d)) + 2, 0), max(int(a) - 2, 0) : max(int(np.ceil(c)) + 2, 0)] = False
        assert inner.size == 0 or inner.all(), f"frame {k}: the mapped box {(a, b, c, d)} is not all bright"
        assert not outer.any(), f"frame {k}: bright pixels outside the mapped box {(a, b, c, d)}"


def test_a_stored_splitting_reads_back_as_itself(processor):
    from spatialprobe.models.imaging import from_json

    _, splitting = processor
    assert from_json(splitting.to_json()) == splitting


@pytest.mark.parametrize("split", [True, False])
def test_idefics2_frames_and_masks_are_hfs(split, tmp_path):
    """Idefics2: the quadrants and the whole image, each resized on its own, padded to the batch's largest frame with
    its pixel mask — pixel- and mask-equal to ``Idefics2ImageProcessor`` on a batch of seven aspect ratios."""
    from transformers.models.idefics2.image_processing_pil_idefics2 import Idefics2ImageProcessorPil

    from spatialprobe.models.imaging import from_json
    from spatialprobe.models.quadrants import Quadrants

    proc = Idefics2ImageProcessorPil(size={"shortest_edge": 20, "longest_edge": 44}, do_image_splitting=split)
    quadrants = Quadrants.from_hf(saved_config(proc, tmp_path))
    images = [noise_image(size, sum(size)) for size in SIZES]
    theirs = proc(images=[[im] for im in images], return_tensors="np")
    pixels, extra = quadrants.inputs(images)
    np.testing.assert_allclose(pixels.numpy(), theirs["pixel_values"], atol=1e-5)
    assert (extra["pixel_attention_mask"].numpy() == theirs["pixel_attention_mask"].astype(bool)).all()
    assert [len(quadrants.frame_maps(im.size)) for im in images] == [5 if split else 1] * len(images)
    assert from_json(quadrants.to_json()) == quadrants
