"""The model interface, proven on the toy model and on tiny Hugging Face CLIP and BLIP-2."""

import numpy as np
import pytest
import torch

from spatialprobe.models import ModelLoadError, UnknownSiteError, load_model
from spatialprobe.models.capture import hook_count

from tiny_hf import save_blip2, save_clip


@pytest.fixture(scope="module")
def hf_dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("hf")
    return {
        "clip": save_clip(root / "clip"),
        "clip-full": save_clip(root / "clip-full", full=True),
        "blip2": save_blip2(root / "blip2"),
    }


@pytest.fixture(scope="module", params=["toy:tiny-qformer", "toy:tiny-linear", "clip", "clip-full", "blip2"])
def adapter(request, hf_dirs):
    spec = request.param if request.param.startswith("toy:") else f"hf:{hf_dirs[request.param]}"
    return load_model(spec)


def _images(n=2, size=(48, 40), seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8) for _ in range(n)]


def _hf_hidden_states(adapter, pixels):
    """The model's own output_hidden_states, for parity."""
    model = adapter.model
    if adapter.card.family == "blip2":
        out = model.get_image_features(pixel_values=pixels, output_hidden_states=True)
        return out.hidden_states
    return model(pixel_values=pixels, output_hidden_states=True).hidden_states


def test_every_vision_layer_equals_the_models_own_hidden_states(adapter):
    if adapter.card.family == "toy":
        pytest.skip("the toy model has no output_hidden_states; covered by the layer-by-layer test")
    pixels = adapter.preprocess(_images())
    layers = [s for s in adapter.sites() if s.startswith("vision.layer.")]
    ours = adapter.forward_sites(adapter.make_batch(pixels), ["vision.embed", *layers])
    theirs = _hf_hidden_states(adapter, pixels)
    assert len(theirs) == len(layers) + 1
    torch.testing.assert_close(ours["vision.embed"], theirs[0])
    for i, site in enumerate(layers):
        torch.testing.assert_close(ours[site], theirs[i + 1])


def test_toy_sites_follow_the_forward_pass_layer_by_layer(adapter):
    if adapter.card.family != "toy":
        pytest.skip("toy only")
    m = adapter.model
    pixels = adapter.preprocess(_images())
    ours = adapter.forward_sites(adapter.make_batch(pixels), adapter.sites())
    with torch.inference_mode():
        x = m.vision.embed(pixels)
        torch.testing.assert_close(ours["vision.embed"], x)
        for i, block in enumerate(m.vision.blocks):
            x = block(x)
            torch.testing.assert_close(ours[f"vision.layer.{i}"], x)
        torch.testing.assert_close(ours["vision.out"], m.vision.norm(x))
        torch.testing.assert_close(ours["connector.in"], m.vision.norm(x))
        torch.testing.assert_close(ours["connector.out"], m.connector(m.vision.norm(x)))


def test_blip2_connector_sites_equal_qformer_and_projected_outputs(hf_dirs):
    adapter = load_model(f"hf:{hf_dirs['blip2']}")
    pixels = adapter.preprocess(_images())
    ours = adapter.forward_sites(adapter.make_batch(pixels), ["vision.out", "connector.in", "connector.hidden", "connector.out"])
    with torch.inference_mode():
        feats = adapter.model.get_image_features(pixel_values=pixels)
    torch.testing.assert_close(ours["connector.hidden"], feats.qformer_outputs.last_hidden_state)
    torch.testing.assert_close(ours["connector.out"], feats.pooler_output)
    torch.testing.assert_close(ours["connector.in"], ours["vision.out"])
    torch.testing.assert_close(ours["vision.out"], feats.last_hidden_state)


def test_clip_vision_out_is_the_final_norm_on_every_token(hf_dirs):
    adapter = load_model(f"hf:{hf_dirs['clip']}")
    pixels = adapter.preprocess(_images())
    out = adapter.forward_sites(adapter.make_batch(pixels), ["vision.out"])["vision.out"]
    with torch.inference_mode():
        pooled = adapter.model(pixel_values=pixels).pooler_output
    torch.testing.assert_close(out[:, 0], pooled)


def test_layouts_match_the_patch_grid_and_the_tensors(adapter):
    batch = adapter.make_batch(adapter.preprocess(_images()))
    tensors = adapter.forward_sites(batch, adapter.sites())
    rows, cols, w, h = adapter.geometry
    for site, tensor in tensors.items():
        layout = adapter.layout(site, batch)
        assert len(layout) == tensor.shape[1], site
        if site.startswith("vision."):
            assert layout.roles[0] == "cls" and len(layout.rows("patch")) == rows * cols
            boxes = layout.patch_boxes()
            assert boxes[0].tolist() == [0, 0, w / cols, h / rows]
            assert boxes[-1].tolist() == [w - w / cols, h - h / rows, w, h]


def test_attention_maps_have_query_rows_that_sum_to_one(adapter):
    if "connector.attn" not in adapter.sites():
        pytest.skip(f"{adapter.name} has no cross-attention")
    batch = adapter.make_batch(adapter.preprocess(_images()))
    attn = adapter.forward_sites(batch, ["connector.attn"])["connector.attn"]
    layout = adapter.layout("connector.attn")
    assert attn.shape == (2, len(layout), len(layout.columns))
    torch.testing.assert_close(attn.sum(-1), torch.ones(attn.shape[:2]))


def test_hooks_are_removed_even_when_the_forward_pass_fails(adapter):
    before = hook_count(adapter.model)
    bad = torch.zeros(2, 5, 7, 7)  # wrong channels: the model raises mid-forward
    with pytest.raises(Exception):
        adapter.forward_sites(adapter.make_batch(bad), adapter.sites())
    assert hook_count(adapter.model) == before
    adapter.forward_sites(adapter.make_batch(adapter.preprocess(_images())), adapter.sites()[:2])
    assert hook_count(adapter.model) == before


def test_the_forward_pass_stops_after_the_deepest_requested_site(adapter):
    calls = []
    last = adapter.model.get_submodule(
        {"toy": "lm.norm", "blip2": "language_projection"}.get(adapter.card.family, "encoder.layers.2")
    )
    handle = last.register_forward_hook(lambda *a: calls.append(1))
    try:
        adapter.forward_sites(adapter.make_batch(adapter.preprocess(_images())), ["vision.layer.0"])
    finally:
        handle.remove()
    assert calls == []


def test_unknown_sites_answer_with_the_list(adapter):
    with pytest.raises(UnknownSiteError, match="its sites: vision.embed, vision.layer.0"):
        adapter.forward_sites(adapter.make_batch(adapter.preprocess(_images())), ["connector.banana"])


def test_lm_sites_read_image_and_text_positions(hf_dirs):
    adapter = load_model(f"hf:{hf_dirs['blip2']}")
    batch = adapter.make_batch(adapter.preprocess(_images()), ["the red circle", "a blue square is left of the circle"])
    out = adapter.forward_sites(batch, ["lm.layer.0", "lm.out"])
    layout = adapter.layout("lm.out", batch, sample=0)
    assert out["lm.out"].shape[1] == len(layout)
    assert layout.roles[:6] == ("image",) * 6
    assert layout.roles.count("text") == 3 and layout.roles.count("pad") == 5
    assert [w for w in layout.word_of_row if w >= 0] == [0, 1, 2]
    with torch.inference_mode():
        ref = adapter.model(
            pixel_values=batch.pixel_values, input_ids=batch.input_ids, attention_mask=batch.attention_mask, output_hidden_states=True
        )
    torch.testing.assert_close(out["lm.layer.0"], ref.language_model_outputs.hidden_states[1])
    layers = [s for s in adapter.sites() if s.startswith("lm.layer.")]
    every = adapter.forward_sites(batch, layers)
    hidden = ref.language_model_outputs.hidden_states
    for j, site in enumerate(layers[:-1]):
        torch.testing.assert_close(every[site], hidden[j + 1])
    torch.testing.assert_close(out["lm.out"], hidden[-1])  # HF's last hidden state is after the final norm: lm.out, not the last block
    assert not torch.allclose(every[layers[-1]], hidden[-1])


def test_toy_lm_positions_follow_the_prefix():
    adapter = load_model("toy:tiny-qformer")
    batch = adapter.make_batch(adapter.preprocess(_images()))
    batch.input_ids = torch.tensor([[1, 2, 3], [4, 5, 0]])
    batch.attention_mask = torch.tensor([[1, 1, 1], [1, 1, 0]])
    out = adapter.forward_sites(batch, ["lm.out"])["lm.out"]
    layout = adapter.layout("lm.out", batch, sample=1)
    assert out.shape == (2, 8 + 3, 64) and len(layout) == 11
    assert layout.roles[-1] == "pad" and layout.roles[:8] == ("image",) * 8


def test_load_errors_are_clear(tmp_path):
    with pytest.raises(ModelLoadError, match="expected hf:<hub id or local dir> or toy:"):
        load_model("Salesforce/blip2-opt-2.7b")
    with pytest.raises(ModelLoadError, match="cannot find 'nobody/nothing'.*Download it first.*local directory"):
        load_model("hf:nobody/nothing")
    with pytest.raises(ModelLoadError, match="presets: tiny-linear"):
        load_model("toy:huge")


def test_only_safetensors_weights_load(tmp_path, hf_dirs):
    import shutil

    from spatialprobe.models import toy

    d = tmp_path / "pickled"
    shutil.copytree(hf_dirs["clip"], d)
    (d / "model.safetensors").unlink()
    torch.save({}, d / "pytorch_model.bin")  # a pickle-format checkpoint must be refused
    with pytest.raises(ModelLoadError, match="safetensors"):
        load_model(f"hf:{d}")
    t = tmp_path / "toy"
    toy.save(toy.build(toy.PRESETS["tiny-linear"]), t)
    (t / "model.safetensors").rename(t / "model.bin")
    with pytest.raises(FileNotFoundError, match="pickle-based formats are refused"):
        load_model(f"toy:{t}")


def test_toy_checkpoints_round_trip(tmp_path):
    from spatialprobe.models import toy

    model = toy.build(toy.PRESETS["tiny-qformer"], seed=3)
    toy.save(model, tmp_path / "m")
    a, b = load_model(f"toy:{tmp_path / 'm'}"), toy.build(toy.PRESETS["tiny-qformer"], seed=3)
    for (ka, va), (kb, vb) in zip(a.model.state_dict().items(), b.state_dict().items()):
        assert ka == kb and torch.equal(va, vb)
