"""LLaVA-NeXT's and LLaVA-OneVision's LM image rows (issue 20): HF's ``pack_image_features``, given features that
carry their own (frame, row, col), puts on every LM row the cell `Tiling.lm_layout` names."""

from __future__ import annotations

import torch

from tiny_hf import saved_config


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
