"""Qwen2-VL / Qwen2.5-VL dynamic resolution (issue 20): each image's own grid as HF's processor makes
it, the flat patch sequence pixel-equal to HF's, and a bright patch found on the row the geometry
says — in the processor's merge-window order and in Qwen2.5-VL's window order."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from tiny_hf import noise_image, saved_config
from spatialprobe.models.dynamic import DynamicResize

SIZES = [(90, 30), (30, 90), (50, 50), (123, 77), (17, 80), (400, 260), (700, 120), (300, 900)]


@pytest.fixture(scope="module")
def processor(tmp_path_factory):
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    proc = Qwen2VLImageProcessorPil(size={"shortest_edge": 56 * 56, "longest_edge": 28 * 28 * 40}, patch_size=14, merge_size=2)
    return proc, DynamicResize.from_hf(saved_config(proc, tmp_path_factory.mktemp("qwen2-vl")))


@pytest.mark.parametrize("size", SIZES)
def test_the_grid_and_the_patch_sequence_are_hfs(processor, size):
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import smart_resize

    proc, dynamic = processor
    image = noise_image(size, sum(size))
    out = proc(images=[image], return_tensors="np")
    assert dynamic.resized(size)[::-1] == smart_resize(size[1], size[0], 28, 56 * 56, 28 * 28 * 40)
    assert list(out["image_grid_thw"][0]) == [1, *dynamic.grid(size)]
    np.testing.assert_allclose(dynamic.pixels(image), out["pixel_values"], atol=1e-5)


@pytest.mark.parametrize("size", SIZES)
def test_a_bright_patch_is_on_the_row_the_cells_say(processor, size):
    proc, dynamic = processor
    w, h = dynamic.resized(size)
    rows, cols = dynamic.grid(size)
    cells = dynamic.cells(size)
    rng = np.random.default_rng(1)
    for r, c in {(0, cols - 1), (rows - 1, 0), (rows // 2, cols // 3), (int(rng.integers(rows)), int(rng.integers(cols)))}:
        canvas = np.zeros((h, w, 3), dtype=np.uint8)
        canvas[r * 14 : (r + 1) * 14, c * 14 : (c + 1) * 14] = 255  # drawn on the resized frame: the resize is the identity
        flat = proc(images=[Image.fromarray(canvas)], return_tensors="np")["pixel_values"]
        assert tuple(cells[int(flat.mean(axis=1).argmax())]) == (r, c)
    assert sorted(map(tuple, cells)) == [(r, c) for r in range(rows) for c in range(cols)]  # a permutation of the grid


@pytest.mark.parametrize("size", SIZES)
def test_qwen25_blocks_see_the_units_in_hfs_window_order(processor, size):
    from transformers.vision_utils import get_vision_window_index

    _, dynamic = processor
    rows, cols = dynamic.grid(size)
    index, _ = get_vision_window_index(torch.tensor([[1, rows, cols]]), spatial_merge_size=2, window_size=112, patch_size=14)
    np.testing.assert_array_equal(dynamic.window_order(size, 112), index.numpy())
    cells = dynamic.window_cells(size, 112)
    assert len(cells) == rows * cols and sorted(map(tuple, cells)) == [(r, c) for r in range(rows) for c in range(cols)]


@pytest.mark.parametrize("size", SIZES)
def test_the_layout_of_every_site_says_where_each_rows_patch_is(processor, size):
    from spatialprobe.models.layout import TokenLayout

    proc, dynamic = processor
    rows, cols = dynamic.grid(size)
    patches, windows, merged = (dynamic.layout(size, order) for order in ("patches", "windows", "merged"))
    assert patches.grid == windows.grid == (rows, cols) and merged.grid == (rows // 2, cols // 2) and len(merged) * 4 == len(patches)
    assert TokenLayout.from_json(windows.to_json()) == windows
    w, h = dynamic.resized(size)
    r, c = rows - 1, cols // 2
    canvas = np.zeros((h, w, 3), dtype=np.uint8)
    canvas[r * 14 : (r + 1) * 14, c * 14 : (c + 1) * 14] = 255
    row = int(proc(images=[Image.fromarray(canvas)], return_tensors="np")["pixel_values"].mean(axis=1).argmax())
    np.testing.assert_allclose(patches.patch_boxes(dynamic.resize_map((w, h)))[row], [c * 14, r * 14, (c + 1) * 14, (r + 1) * 14])
    np.testing.assert_allclose(merged.patch_boxes()[(r // 2) * (cols // 2) + c // 2], [c // 2 * 28, r // 2 * 28, (c // 2 + 1) * 28, (r // 2 + 1) * 28])
