"""Hook outputs of tiled and dynamic-resolution towers split back per image (issue 20): for tiny random
LLaVA-NeXT and Qwen2-VL / Qwen2.5-VL vision towers, each image's part of a batch equals that image run
alone — the batch-invariance test of the families issue, on models whose hooks see no batch dimension —
and LLaVA-NeXT's LM image rows hold the cells `Tiling.lm_layout` names."""

from __future__ import annotations

import pytest
import torch

from tiny_hf import noise_image, saved_config
from spatialprobe.models.capture import split_frames, split_patches

SIZES = [(90, 30), (50, 50), (30, 90)]


class Hooked:
    """The output of ``module`` in the last pass of ``run``."""

    def __init__(self, module):
        self.seen = []
        module.register_forward_hook(lambda m, i, o: self.seen.append((o[0] if isinstance(o, tuple) else o).detach().clone()))

    def __call__(self, forward):
        self.seen.clear()
        with torch.inference_mode():
            forward()
        return self.seen[-1]


def _llava_next(tmp_path, pinpoints, layers: int = 2):
    """A tiny random LLaVA-NeXT (32-pixel CLIP frames, 8-pixel patches), its image processor and its `Tiling`."""
    from transformers import LlavaNextConfig, LlavaNextForConditionalGeneration
    from transformers.models.llava_next.image_processing_pil_llava_next import LlavaNextImageProcessorPil

    from spatialprobe.models.tiling import Tiling

    proc = LlavaNextImageProcessorPil(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}, image_grid_pinpoints=pinpoints)
    cfg = LlavaNextConfig(vision_config=dict(model_type="clip_vision_model", hidden_size=32, intermediate_size=64, num_hidden_layers=layers, num_attention_heads=4,
                                             image_size=32, patch_size=8),
                          text_config=dict(model_type="llama", hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=4,
                                           num_key_value_heads=4, vocab_size=64),
                          image_grid_pinpoints=pinpoints, image_token_index=3)
    torch.manual_seed(0)
    return proc, Tiling.from_hf(saved_config(proc, tmp_path)), LlavaNextForConditionalGeneration(cfg).eval()


def test_llava_next_frames_split_per_image_equal_each_image_alone(tmp_path):
    proc, tiling, model = _llava_next(tmp_path, [[32, 64], [64, 32], [64, 64]])
    hooked = Hooked(model.model.vision_tower.encoder.layers[-1])

    def tower(batch):
        inputs = proc(images=batch, return_tensors="pt")
        return hooked(lambda: model.model.get_image_features(pixel_values=inputs["pixel_values"], image_sizes=inputs["image_sizes"]))

    images = [noise_image(size, i) for i, size in enumerate(SIZES)]
    frames = [len(tiling.frames(im.size)) for im in images]
    together = split_frames(tower(images), frames)
    assert frames == [3, 5, 3] and [len(t) for t in together] == [f * 17 for f in frames]
    for part, image, n in zip(together, images, frames):
        torch.testing.assert_close(part, split_frames(tower([image]), [n])[0], atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="frames in the output"):
        split_frames(torch.zeros(8, 17, 32), frames)


@pytest.mark.parametrize("version", ["2", "2.5"])
def test_qwen_patch_sequences_split_per_image_equal_each_image_alone(tmp_path, version):
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    from spatialprobe.models.dynamic import DynamicResize

    proc = Qwen2VLImageProcessorPil(size={"shortest_edge": 56 * 56, "longest_edge": 28 * 28 * 40}, patch_size=14, merge_size=2)
    dynamic = DynamicResize.from_hf(saved_config(proc, tmp_path))
    torch.manual_seed(0)
    if version == "2":
        from transformers.models.qwen2_vl.configuration_qwen2_vl import Qwen2VLVisionConfig
        from transformers.models.qwen2_vl.modeling_qwen2_vl import Qwen2VisionTransformerPretrainedModel

        tower = Qwen2VisionTransformerPretrainedModel(Qwen2VLVisionConfig(depth=2, embed_dim=32, hidden_size=48, num_heads=4, mlp_ratio=2)).eval()
    else:
        from transformers.models.qwen2_5_vl.configuration_qwen2_5_vl import Qwen2_5_VLVisionConfig
        from transformers.models.qwen2_5_vl.modeling_qwen2_5_vl import Qwen2_5_VisionTransformerPretrainedModel

        tower = Qwen2_5_VisionTransformerPretrainedModel(Qwen2_5_VLVisionConfig(depth=2, hidden_size=32, intermediate_size=64, num_heads=4, out_hidden_size=48,
                                                                                window_size=56, fullatt_block_indexes=[1])).eval()
    block, merger = Hooked(tower.blocks[0]), Hooked(tower.merger)
    images = [noise_image(size, i) for i, size in enumerate(SIZES)]

    def run(batch):
        inputs = proc(images=batch, return_tensors="pt")
        rows = block(lambda: tower(inputs["pixel_values"], grid_thw=inputs["image_grid_thw"]))
        return inputs["image_grid_thw"], rows, merger.seen[-1]

    grid, rows, merged = run(images)
    assert [list(g[1:]) for g in grid.tolist()] == [list(dynamic.grid(im.size)) for im in images]
    for k, image in enumerate(images):
        alone_grid, alone_rows, alone_merged = run([image])
        torch.testing.assert_close(split_patches(rows, grid)[k], alone_rows, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(split_patches(merged, grid, merge=2)[k], alone_merged, atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="rows in the output"):
        split_patches(rows[1:], grid)


def test_llava_next_lm_rows_are_the_cells_the_lm_layout_names(tmp_path):
    """HF's pack_image_features on features that carry their own (frame, row, col): every LM image row holds the
    cell `Tiling.lm_layout` says — base patches, then the unpadded tile grid row by row with a newline after each."""
    _, tiling, model = _llava_next(tmp_path, [[32, 64], [64, 32], [64, 64], [96, 32], [32, 96]], layers=1)
    for size in [(90, 30), (30, 90), (50, 50), (64, 33), (17, 80), (200, 120), (33, 64)]:
        frames = len(tiling.frames(size))
        codes = torch.tensor([[k, r, c] for k in range(frames) for r in range(4) for c in range(4)], dtype=torch.float32).view(frames, 16, 3)
        packed, lengths = model.model.pack_image_features([codes], torch.tensor([[size[1], size[0]]]), "default", torch.tensor([-1.0, -1.0, -1.0]))
        layout = tiling.lm_layout(size, patch=8)
        cells = iter(layout.patch_cells)
        expected = [[-1, -1, -1] if role == "newline" else [frame, *next(cells)] for role, frame in zip(layout.roles, layout.frame_of_row)]
        packed = torch.cat(packed) if isinstance(packed, (list, tuple)) else packed
        assert lengths.tolist() == [len(layout)] and packed.tolist() == expected, size


def test_onevision_lm_rows_follow_its_anyres_max_shrinking(tmp_path):
    """LLaVA-OneVision packs as LLaVA-NeXT until the unpadded tile grid outgrows ``anyres_max_<n>``; then HF shrinks it
    bilinearly, and the layout's rows there are ``image`` rows (no single cell), in HF's count, newlines where HF puts them."""
    from transformers import LlavaOnevisionConfig, LlavaOnevisionForConditionalGeneration
    from transformers.models.llava_onevision.image_processing_pil_llava_onevision import LlavaOnevisionImageProcessorPil

    from spatialprobe.models.tiling import Tiling

    pinpoints = [[32, 64], [64, 32], [64, 64], [96, 32], [32, 96]]
    tiling = Tiling.from_hf(saved_config(LlavaOnevisionImageProcessorPil(size={"height": 32, "width": 32}, image_grid_pinpoints=pinpoints), tmp_path))
    cfg = LlavaOnevisionConfig(vision_config=dict(model_type="siglip_vision_model", hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=4,
                                                  image_size=32, patch_size=8),
                               text_config=dict(model_type="qwen2", hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=4,
                                                num_key_value_heads=4, vocab_size=64), image_grid_pinpoints=pinpoints, image_token_index=3)
    model = LlavaOnevisionForConditionalGeneration(cfg).eval()
    newline = torch.tensor([-1.0, -1.0, -1.0])
    shrunk = 0
    for size in [(90, 30), (30, 90), (50, 50), (64, 33), (200, 120)]:
        for most in (9, 1):
            frames = len(tiling.frames(size))
            codes = torch.tensor([[k, r, c] for k in range(frames) for r in range(4) for c in range(4)], dtype=torch.float32).view(frames, 16, 3)
            packed, _ = model.model.pack_image_features([codes], torch.tensor([[size[1], size[0]]]), newline, vision_aspect_ratio=f"anyres_max_{most}")
            packed = torch.cat(packed) if isinstance(packed, (list, tuple)) else packed
            layout = tiling.lm_layout(size, patch=8, max_tiles=most)
            assert len(layout) == len(packed), (size, most)
            is_newline = (packed == newline).all(dim=1).tolist()
            assert [role == "newline" for role in layout.roles] == is_newline, (size, most)
            cells = iter(layout.patch_cells)
            for role, frame, row in zip(layout.roles, layout.frame_of_row, packed.tolist()):
                if role == "patch":
                    assert row == [frame, *next(cells)], (size, most)
            shrunk += layout.roles.count("image") > 0
    assert shrunk >= 3  # anyres_max_1 shrank the tile grid of most sizes
