"""An already loaded module with ad-hoc sites: parity, layouts, extraction into a store, clear errors."""

import numpy as np
import pytest
import torch
from torch import nn

from spatialprobe.models import wrap


class TinyViT(nn.Module):
    """A plain PyTorch ViT (no Hugging Face): patch conv, CLS, two blocks, a final norm."""

    def __init__(self, width=16, patch=8, size=32):
        super().__init__()
        self.patch = nn.Conv2d(3, width, patch, patch)
        self.cls = nn.Parameter(torch.randn(1, 1, width))
        self.pos = nn.Parameter(torch.randn(1, 1 + (size // patch) ** 2, width))
        self.blocks = nn.ModuleList(nn.TransformerEncoderLayer(width, 2, 32, batch_first=True, dropout=0.0) for _ in range(2))
        self.norm = nn.LayerNorm(width)

    def forward(self, pixels):
        x = self.patch(pixels).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls.expand(len(x), -1, -1), x], 1) + self.pos
        hidden = []
        for block in self.blocks:
            x = block(x)
            hidden.append(x)
        return self.norm(x), hidden


@pytest.fixture
def adapter():
    torch.manual_seed(0)
    return wrap(TinyViT().eval(), {"vision.layer.{i}": "blocks.{i}", "vision.out": "norm"}, input_size=32, patch_size=8, mean=(0.5,) * 3, std=(0.5,) * 3)


def _images():
    rng = np.random.default_rng(0)
    return [rng.integers(0, 255, (40, 48, 3), dtype=np.uint8), rng.integers(0, 255, (30, 64, 3), dtype=np.uint8)]


def test_wrapped_sites_equal_the_modules_own_outputs(adapter):
    assert adapter.sites() == ["vision.layer.0", "vision.layer.1", "vision.out"] and adapter.geometry == (4, 4, 32, 32)
    pixels = adapter.preprocess(_images())
    ours = adapter.forward_sites(adapter.make_batch(pixels), adapter.sites())
    with torch.inference_mode():
        out, hidden = adapter.model(pixels)
    for i in range(2):
        torch.testing.assert_close(ours[f"vision.layer.{i}"], hidden[i])
    torch.testing.assert_close(ours["vision.out"], out)
    layout = adapter.layout("vision.out")
    assert layout.roles[0] == "cls" and len(layout.rows("patch")) == 16 == ours["vision.out"].shape[1] - 1


def test_a_wrapped_module_extracts_into_a_store_and_probes(adapter, tmp_path):
    from spatialprobe.features import FeatureStore, extract
    from spatialprobe.features.pools import pool
    from spatialprobe.scenes import SceneDataset
    from spatialprobe.scenes.sources.synthetic import SyntheticConfig, build

    data = SceneDataset(build(SyntheticConfig(n=40, seed=1), tmp_path / "scenes", workers=1, progress=False))
    store = FeatureStore(extract(adapter, data, ["vision.out"], root=tmp_path / "st", progress=False).directory)
    assert store.rows == 40 and pool(store, "vision.out", "object_mean").shape[1] == 16


def test_wrap_names_what_is_wrong():
    model = TinyViT()
    with pytest.raises(ValueError, match="the model has no module 'block.0'.*"):
        wrap(model, {"vision.layer.{i}": "block.{i}"}, input_size=32, patch_size=8)
    with pytest.raises(ValueError, match=r"sites \['lm.out'\] are not vision sites"):
        wrap(model, {"lm.out": "norm"}, input_size=32, patch_size=8)
