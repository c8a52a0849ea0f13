"""LLaVA-NeXT's anyres tiling (issue 20, frames): each image's frames are pixel-equal to HF's
LlavaNextImageProcessor (and LlavaOnevisionImageProcessor), and a box maps into every frame where HF's pixels put it."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from tiny_hf import noise_image, saved_config
from spatialprobe.geometry import Box
from spatialprobe.models.tiling import Tiling

PINPOINTS = [[32, 64], [64, 32], [64, 64], [96, 32], [32, 96]]
SIZES = [(90, 30), (30, 90), (50, 50), (64, 33), (17, 80), (200, 120)]


@pytest.fixture(scope="module", params=["llava-next", "llava-onevision"])
def processor(request, tmp_path_factory):
    """LLaVA-NeXT's processor (shortest-edge resize + crop per frame) or LLaVA-OneVision's (an exact resize per frame)."""
    if request.param == "llava-next":
        from transformers.models.llava_next.image_processing_pil_llava_next import LlavaNextImageProcessorPil

        proc = LlavaNextImageProcessorPil(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}, image_grid_pinpoints=PINPOINTS)
    else:
        from transformers.models.llava_onevision.image_processing_pil_llava_onevision import LlavaOnevisionImageProcessorPil

        proc = LlavaOnevisionImageProcessorPil(size={"height": 32, "width": 32}, image_grid_pinpoints=PINPOINTS)
    return proc, Tiling.from_hf(saved_config(proc, tmp_path_factory.mktemp(request.param)))


@pytest.mark.parametrize("size", SIZES)
def test_every_frame_is_the_pixels_hf_gives_that_frame(processor, size):
    proc, tiling = processor
    image = noise_image(size, sum(size))
    theirs = proc(images=[image], return_tensors="np")["pixel_values"][0]
    ours = tiling.pixels(image)
    assert ours.shape == theirs.shape and len(tiling.frames(size)) == len(ours)
    np.testing.assert_allclose(ours, theirs, atol=1e-5)


@pytest.mark.parametrize("size", SIZES)
def test_a_bright_box_lands_where_its_mapped_box_says_in_every_frame(processor, size):
    proc, tiling = processor
    w, h = size
    box = Box((0.3 * w, 0.2 * h, 0.55 * w, 0.7 * h), "xyxy", "pixel", size)
    canvas = np.zeros((h, w, 3), dtype=np.uint8)
    x0, y0, x1, y1 = (int(round(v)) for v in box.coords)
    canvas[y0:y1, x0:x1] = 255
    frames = proc(images=[Image.fromarray(canvas)], return_tensors="np")["pixel_values"][0]
    bright = frames.mean(axis=1) > frames.mean(axis=1).min() + 1.0  # the marker, per frame (H, W), whatever the normalisation
    seen = 0
    for frame, pixels, mapped in zip(tiling.frames(size), bright, tiling.boxes(box)):
        if mapped is None:
            assert not pixels.any(), f"{frame.kind}{frame.position}: the box maps outside, yet the frame shows it"
            continue
        seen += 1
        a, b, c, d = mapped.to("xyxy", "pixel").coords
        inner = pixels[int(np.ceil(b)) + 1 : int(d) - 1, int(np.ceil(a)) + 1 : int(c) - 1]
        outer = pixels.copy()
        outer[max(int(b) - 1, 0) : int(np.ceil(d)) + 1, max(int(a) - 1, 0) : int(np.ceil(c)) + 1] = False
        assert inner.size == 0 or inner.all(), f"{frame.kind}{frame.position}: the mapped box {mapped.coords} is not all bright"
        assert not outer.any(), f"{frame.kind}{frame.position}: bright pixels outside the mapped box {mapped.coords}"
    assert seen >= 2  # the base frame and at least one tile


def test_the_best_resolution_and_its_frames_follow_hf():
    from transformers.image_processing_utils import select_best_resolution

    tiling = Tiling(tuple(map(tuple, PINPOINTS)), 32, (32, 32), None)
    for w, h in SIZES + [(1, 300), (300, 1), (96, 96)]:
        assert tiling.best_resolution((w, h)) == select_best_resolution((h, w), PINPOINTS)[::-1]


@pytest.mark.parametrize("size", SIZES)
def test_each_patch_row_of_the_framed_layout_shows_the_image_region_its_box_names(processor, size):
    """The vision tower's rows of a tiled image, frame after frame: a patch whose image-frame box lies inside
    the bright marker is bright in HF's pixels of its frame, one whose box misses the marker is dark."""
    from spatialprobe.models.layout import TokenLayout

    proc, tiling = processor
    w, h = size
    canvas = np.zeros((h, w, 3), dtype=np.uint8)
    mx0, my0, mx1, my1 = int(0.15 * w), int(0.2 * h), int(0.7 * w), int(0.85 * h)
    canvas[my0:my1, mx0:mx1] = 255
    frames = proc(images=[Image.fromarray(canvas)], return_tensors="np")["pixel_values"][0].mean(axis=1)  # (F, 32, 32)
    layout = tiling.layout(size, patch=8)
    assert len(layout) == len(frames) * 17 and layout.frame_of_row[::17] == tuple(range(len(frames)))
    assert TokenLayout.from_json(layout.to_json()) == layout
    boxes = layout.patch_boxes([f.fmap for f in tiling.frames(size)])
    frame_of_patch = np.array(layout.frame_of_row)[layout.rows("patch")]
    low = frames.min()
    checked = {"inside": 0, "outside": 0}
    for (x0, y0, x1, y1), k, (r, c) in zip(boxes, frame_of_patch, layout.patch_cells):
        pixels = frames[k, r * 8 : (r + 1) * 8, c * 8 : (c + 1) * 8]
        if x0 >= mx0 + 1 and y0 >= my0 + 1 and x1 <= mx1 - 1 and y1 <= my1 - 1:
            assert (pixels > low + 1.0).all(), f"frame {k} patch {(r, c)}: its box {np.round([x0, y0, x1, y1], 1)} is inside the marker"
            checked["inside"] += 1
        elif x1 <= mx0 - 1 or y1 <= my0 - 1 or x0 >= mx1 + 1 or y0 >= my1 + 1:
            assert (pixels <= low + 1.0).all(), f"frame {k} patch {(r, c)}: its box misses the marker"
            checked["outside"] += 1
    assert checked["outside"] > 0 and checked["inside"] > 0
