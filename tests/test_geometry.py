import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from spatialprobe.geometry import Box, FrameMap, acc_at, center_in_box, convert, giou, grid_cell, iou, mask_to_grid

FRAME = (640, 480)
coord = st.floats(0, 600, allow_nan=False, allow_infinity=False)


@st.composite
def boxes(draw, frame=FRAME):
    x0, y0 = draw(st.floats(0, frame[0] - 1)), draw(st.floats(0, frame[1] - 1))
    x1, y1 = draw(st.floats(x0, frame[0])), draw(st.floats(y0, frame[1]))
    return Box.xyxy(x0, y0, x1, y1, frame)


@settings(max_examples=200, deadline=None)
@given(boxes(), st.sampled_from(["xyxy", "xywh", "cxcywh"]), st.sampled_from(["pixel", "unit"]))
def test_every_conversion_round_trips(box, fmt, units):
    there = box.to(fmt, units)
    back = there.to("xyxy", "pixel")
    assert np.allclose(back.coords, box.coords, atol=1e-9)
    assert there.to(fmt, units) == there


@settings(max_examples=200, deadline=None)
@given(boxes(), boxes())
def test_iou_is_symmetric_and_bounded(a, b):
    assert iou(a, b) == pytest.approx(iou(b, a))
    assert 0.0 <= iou(a, b) <= 1.0
    assert -1.0 <= giou(a, b) <= iou(a, b) + 1e-12


@settings(max_examples=100, deadline=None)
@given(boxes())
def test_iou_of_a_box_with_itself_is_one(box):
    if box.width > 1e-6 and box.height > 1e-6:  # below that, float rounding makes the box empty
        assert iou(box, box) == pytest.approx(1.0)
        assert giou(box, box) == pytest.approx(1.0)
        assert iou(box.to("cxcywh", "unit"), box) == pytest.approx(1.0)


def test_hand_computed_overlaps():
    a = np.array([0, 0, 2, 2])
    b = np.array([1, 1, 3, 3])
    assert iou(a, b) == pytest.approx(1 / 7)
    # hull 3×3 = 9, union 7: GIoU = 1/7 − 2/9
    assert giou(a, b) == pytest.approx(1 / 7 - 2 / 9)
    assert giou(np.array([0, 0, 1, 1]), np.array([2, 0, 3, 1])) == pytest.approx(0 - 1 / 3)
    assert acc_at(np.array([0.49, 0.5, 0.9]), 0.5).tolist() == [0, 1, 1]
    assert center_in_box(np.array([[0, 0, 2, 2]]), np.array([[0.5, 0.5, 3, 3]])).tolist() == [1.0]
    assert center_in_box(np.array([[4, 4, 6, 6]]), np.array([[0.5, 0.5, 3, 3]])).tolist() == [0.0]


def test_convert_formats():
    xyxy = np.array([10.0, 20.0, 30.0, 60.0])
    assert convert(xyxy, "xyxy", "xywh").tolist() == [10, 20, 20, 40]
    assert convert(xyxy, "xyxy", "cxcywh").tolist() == [20, 40, 20, 40]
    assert convert(np.array([20, 40, 20, 40]), "cxcywh", "xyxy").tolist() == xyxy.tolist()


def test_box_rejects_bad_input():
    with pytest.raises(ValueError, match="format"):
        Box((0, 0, 1, 1), "yxyx", "pixel", FRAME)
    with pytest.raises(ValueError, match="units"):
        Box((0, 0, 1, 1), "xyxy", "permille", FRAME)
    with pytest.raises(ValueError, match="negative"):
        Box((5, 0, 1, 1), "xyxy", "pixel", FRAME)
    with pytest.raises(ValueError, match="finite"):
        Box((0, float("nan"), 1, 1), "xyxy", "pixel", FRAME)
    with pytest.raises(ValueError, match="frame"):
        Box((0, 0, 1, 1), "xyxy", "pixel", (0, 10))
    with pytest.raises(ValueError, match="different frames"):
        iou(Box.xyxy(0, 0, 1, 1, (10, 10)), Box.xyxy(0, 0, 1, 1, (20, 10)))


def test_permille_outputs_parse_into_the_frame():
    box = Box.from_permille([100, 250, 500, 1000], "xyxy", (200, 100))
    assert box.units == "unit"
    assert box.array().tolist() == [20, 25, 100, 100]


def test_inside_and_clip():
    box = Box.xyxy(-5, 10, 30, 50, (20, 40))
    assert not box.inside_frame()
    assert box.clipped().array().tolist() == [0, 10, 20, 40]


def test_frame_maps_compose_and_invert():
    resize = FrameMap.resize((640, 480), (320, 240))
    crop = FrameMap.center_crop((320, 240), (224, 224))
    both = resize.then(crop)
    assert both.map_points(np.array([320, 240])).tolist() == [112, 112]
    assert both.inverse().map_points(both.map_points(np.array([100.0, 50.0]))).tolist() == pytest.approx([100, 50])
    with pytest.raises(ValueError, match="compose"):
        crop.then(resize)


def test_box_through_a_centre_crop_pad_and_non_square_resize():
    # hand-computed: 100×50 image, resize to 200×200 (x×2, y×4), then centre-crop 100×100 (offset 50, 50)
    fm = FrameMap.resize((100, 50), (200, 200)).then(FrameMap.center_crop((200, 200), (100, 100)))
    box = Box.xyxy(30, 10, 60, 20, (100, 50)).mapped(fm)
    assert box.frame == (100, 100)
    assert box.array().tolist() == [10, -10, 70, 30]
    assert box.clipped().array().tolist() == [10, 0, 70, 30]
    # pad a 30×20 image to 40×40 (left 5, top 10)
    padded = Box.xyxy(0, 0, 30, 20, (30, 20)).mapped(FrameMap.pad((30, 20), 5, 10, 5, 10))
    assert padded.array().tolist() == [5, 10, 35, 30] and padded.frame == (40, 40)


def test_grid_cell():
    assert grid_cell((0, 0), 4, (64, 64)) == 0
    assert grid_cell((63.9, 0), 4, (64, 64)) == 3
    assert grid_cell((64, 64), 4, (64, 64)) == 15
    assert grid_cell((20, 40), (2, 4), (64, 64)) == 1 * 4 + 1
    assert grid_cell(Box.xyxy(40, 0, 60, 20, (64, 64)), 2) == 1
    with pytest.raises(ValueError, match="outside"):
        grid_cell((70, 1), 4, (64, 64))


def _supersampled_coverage(mask, fm, rows, cols, k=16):
    """Brute force: sample k×k points per output pixel-patch, map back, look up the mask."""
    dw, dh = fm.dst
    inv = fm.inverse()
    out = np.zeros((rows, cols))
    for r in range(rows):
        for c in range(cols):
            xs = (c + (np.arange(k * 4) + 0.5) / (k * 4)) * dw / cols
            ys = (r + (np.arange(k * 4) + 0.5) / (k * 4)) * dh / rows
            pts = np.stack(np.meshgrid(xs, ys), -1).reshape(-1, 2)
            src = inv.map_points(pts)
            ix, iy = np.floor(src[:, 0]).astype(int), np.floor(src[:, 1]).astype(int)
            ok = (ix >= 0) & (ix < mask.shape[1]) & (iy >= 0) & (iy < mask.shape[0])
            vals = np.zeros(len(pts))
            vals[ok] = mask[iy[ok], ix[ok]]
            out[r, c] = vals.mean()
    return out


@pytest.mark.parametrize(
    "fm",
    [
        FrameMap.identity((32, 24)),
        FrameMap.resize((32, 24), (56, 56)),
        FrameMap.resize((32, 24), (48, 36)).then(FrameMap.center_crop((48, 36), (28, 28))),
        FrameMap.pad((32, 24), 0, 4, 0, 4),
    ],
)
def test_mask_to_grid_area_matches_brute_force(fm):
    rng = np.random.default_rng(0)
    mask = rng.random((24, 32)) > 0.6
    exact = mask_to_grid(mask, (4, 7), fm)
    assert np.allclose(exact, _supersampled_coverage(mask, fm, 4, 7), atol=0.02)
    assert exact.min() >= 0 and exact.max() <= 1


def test_mask_to_grid_full_and_padding():
    full = np.ones((20, 20), bool)
    assert np.allclose(mask_to_grid(full, 4), 1.0)
    padded = mask_to_grid(full, (2, 1), FrameMap.pad((20, 20), 0, 0, 0, 20))
    assert padded[:, 0].tolist() == pytest.approx([1.0, 0.0])


def test_mask_to_grid_nearest_equals_pil_nearest_resize():
    rng = np.random.default_rng(1)
    mask = (rng.random((224, 224)) > 0.5).astype(np.uint8)
    ours = mask_to_grid(mask, 14, mode="nearest")
    pil = np.asarray(Image.fromarray(mask * 255).resize((14, 14), Image.NEAREST)) > 0
    assert (ours.astype(bool) == pil).all()
    with pytest.raises(ValueError, match="mode"):
        mask_to_grid(mask, 14, mode="bilinear")
