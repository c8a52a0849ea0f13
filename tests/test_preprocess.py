"""Preprocessing geometry: hand-computed cases, and parity with Hugging Face's own image processors."""

import numpy as np
import pytest

from spatialprobe.geometry import Box
from spatialprobe.models import Preprocess


def test_non_square_resize_maps_boxes_by_axis():
    pre = Preprocess(resize=("exact", (64, 64)))
    box = pre.map_box(Box.xyxy(10, 10, 50, 30, (200, 100)))
    assert box.frame == (64, 64)
    assert box.array().tolist() == pytest.approx([3.2, 6.4, 16.0, 19.2])


def test_shortest_edge_then_centre_crop():
    # 300×200 → short side 100 → 150×100 → centre crop 100×100 drops 25 px on the left and right
    pre = Preprocess(resize=("shortest_edge", 100), crop=(100, 100))
    fm = pre.frame_map((300, 200))
    assert fm.map_points(np.array([75, 0])).tolist() == [12.5, 0]
    box = pre.map_box(Box.xyxy(0, 0, 60, 200, (300, 200)))
    assert box.array().tolist() == [0, 0, 5, 100]  # clipped at the crop's left edge
    assert pre.input_size((300, 200)) == (100, 100)


def test_pad_to_a_canvas_keeps_the_top_left():
    pre = Preprocess(resize=("exact", (40, 20)), pad=(40, 40))
    fm = pre.frame_map((80, 40))
    assert fm.dst == (40, 40)
    coverage = pre.mask_to_grid(np.ones((40, 80), bool), 2)
    assert coverage.tolist() == [pytest.approx([1.0, 1.0]), [0.0, 0.0]]  # the bottom half is padding
    pixels = pre.pixels(np.full((40, 80, 3), 255, np.uint8))
    assert pixels.shape == (3, 40, 40) and pixels[:, 20:].max() == 0


def test_a_marker_lands_where_the_mapped_box_says():
    """Draw a white box, push the image through the pixels path, find it where the geometry says."""
    pre = Preprocess(resize=("shortest_edge", 48), crop=(40, 40))
    image = np.zeros((90, 60, 3), np.uint8)
    image[30:60, 20:50] = 255  # rows 30..60, cols 20..50
    box = pre.map_box(Box.xyxy(20, 30, 50, 60, (60, 90)))
    x = pre.pixels(image)[0]
    ys, xs = np.nonzero(x > 0.5)
    assert abs(xs.min() - box.array()[0]) <= 1 and abs(xs.max() + 1 - box.array()[2]) <= 1
    assert abs(ys.min() - box.array()[1]) <= 1 and abs(ys.max() + 1 - box.array()[3]) <= 1


@pytest.mark.parametrize(
    "make",
    [
        lambda: __import__("transformers.models.clip.image_processing_pil_clip", fromlist=["x"]).CLIPImageProcessorPil(
            size={"shortest_edge": 40}, crop_size={"height": 36, "width": 36}
        ),
        lambda: __import__("transformers.models.blip.image_processing_pil_blip", fromlist=["x"]).BlipImageProcessorPil(
            size={"height": 32, "width": 48}
        ),
    ],
)
@pytest.mark.parametrize("size", [(70, 50), (50, 81), (64, 64)])
def test_pixels_equal_the_hugging_face_processor(make, size):
    processor = make()
    pre = Preprocess.from_hf(processor.to_dict())
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    theirs = processor(images=[image], return_tensors="np")["pixel_values"][0]
    ours = pre.pixels(image)
    assert ours.shape == theirs.shape
    np.testing.assert_allclose(ours, theirs, atol=1e-5)
    assert pre.input_size(size) == (theirs.shape[2], theirs.shape[1])
