"""Every Hugging Face family with a card, as a tiny random model saved with save_pretrained: parity with
the model's own outputs, layouts that fit the tensors, and boxes that land where the family's own
image processor puts the pixels."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from spatialprobe.models import load_model
from tiny_hf import ENCODERS, save_encoder


@pytest.fixture(scope="session")
def encoder_dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("encoders")
    return {name: save_encoder(root / name, name) for name in ENCODERS}


@pytest.fixture(scope="module", params=ENCODERS)
def encoder(request, encoder_dirs):
    return request.param, load_model(f"hf:{encoder_dirs[request.param]}")


def _images(n=3, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 255, (h, w, 3), dtype=np.uint8) for w, h in [(48, 40), (64, 30), (37, 53)][:n]]


def _own_outputs(adapter, pixels):
    model = adapter.model
    with torch.inference_mode():
        return model(pixel_values=pixels, output_hidden_states=True)


def test_every_vision_site_equals_the_models_own_outputs(encoder):
    name, adapter = encoder
    pixels = adapter.preprocess(_images())
    ours = adapter.forward_sites(adapter.make_batch(pixels), adapter.sites())
    theirs = _own_outputs(adapter, pixels)
    layers = [s for s in adapter.sites() if s.startswith("vision.layer.")]
    assert len(layers) == 2 and len(theirs.hidden_states) == 3
    torch.testing.assert_close(ours["vision.embed"], theirs.hidden_states[0], atol=1e-4, rtol=1e-4)
    for i, site in enumerate(layers):
        torch.testing.assert_close(ours[site], theirs.hidden_states[i + 1], atol=1e-4, rtol=1e-4)
    expected = theirs.last_hidden_state
    if name == "clip":  # CLIP's last_hidden_state precedes post_layernorm, which HF applies to the pooled CLS only
        with torch.inference_mode():
            expected = next(m for n, m in adapter.model.named_modules() if n.endswith("post_layernorm"))(expected)
    torch.testing.assert_close(ours["vision.out"], expected, atol=1e-4, rtol=1e-4)


def test_layouts_fit_the_tensors_with_the_families_prefix(encoder):
    name, adapter = encoder
    prefix = {"siglip": (), "dinov2-registers": ("cls",) + ("register",) * 4}.get(name, ("cls",))
    assert adapter.prefix == prefix and adapter.geometry == (4, 4, 32, 32)  # the 32-pixel input, not config.image_size (56 for DINOv2)
    tensors = adapter.forward_sites(adapter.make_batch(adapter.preprocess(_images())), adapter.sites())
    for site, tensor in tensors.items():
        layout = adapter.layout(site)
        assert len(layout) == tensor.shape[1] and layout.roles[: len(prefix)] == prefix and len(layout.rows("patch")) == 16, site



def _marker(width=96, height=64, box=(20, 10, 44, 30)):
    image = np.zeros((height, width, 3), np.uint8)
    image[box[1] : box[3], box[0] : box[2]] = 255
    return image, box


def _bright_extent(pixels: np.ndarray) -> list[float]:
    """xyxy of the pixels brighter than the processed black (the box, as the processor placed it)."""
    lum = pixels.mean(axis=0)
    ys, xs = np.nonzero(lum > (lum.min() + lum.max()) / 2)
    return [float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)]


def _hf_processor(directory):
    import json

    import transformers

    kind = json.loads((directory / "preprocessor_config.json").read_text())["image_processor_type"]
    cls = getattr(transformers, kind + "Pil", None) or getattr(transformers, kind)
    return cls.from_pretrained(directory)


def _check_marker(preprocess, processor):
    from spatialprobe.geometry import Box

    image, box = _marker()
    theirs = processor(images=[image], return_tensors="np")
    theirs = np.asarray(theirs["pixel_values"] if hasattr(theirs, "keys") else theirs)[0]  # IDEFICS returns the array itself
    ours = preprocess.pixels(image)
    assert ours.shape == theirs.shape and np.abs(ours - theirs).max() < 0.05  # pixel parity (resampling rounding only)
    mapped = preprocess.map_box(Box(box, "xyxy", "pixel", (image.shape[1], image.shape[0]))).to("xyxy", "pixel").coords
    assert np.allclose(_bright_extent(theirs), mapped, atol=1.0), (_bright_extent(theirs), mapped)


@pytest.mark.parametrize("name", ENCODERS)
def test_a_box_lands_where_the_familys_own_processor_puts_it(name, encoder_dirs):
    _check_marker(load_model(f"hf:{encoder_dirs[name]}").preprocess, _hf_processor(encoder_dirs[name]))


@pytest.mark.parametrize("name", ["blip2", "llava", "paligemma", "kosmos-2", "idefics"])
def test_a_box_lands_where_a_vlms_own_processor_puts_it(name, vlm_dirs):
    _check_marker(load_model(f"hf:{vlm_dirs[name]}").preprocess, _hf_processor(vlm_dirs[name]))


def test_llava_pad_to_square_is_mapped_as_hf_pads(tmp_path):
    """LlavaImageProcessor(do_pad=True) pads to a square (centred, mean colour) before resizing."""
    from transformers.models.llava.image_processing_pil_llava import LlavaImageProcessorPil

    from spatialprobe.models.preprocess import Preprocess

    processor = LlavaImageProcessorPil(do_pad=True, size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    processor.save_pretrained(tmp_path)
    import json

    preprocess = Preprocess.from_hf(json.loads((tmp_path / "preprocessor_config.json").read_text()))
    assert preprocess.square is not None and preprocess.fixed_size() == (32, 32)
    _check_marker(preprocess, processor)


def test_blip_loads_the_checkpoints_own_class(encoder_dirs):
    adapter = load_model(f"hf:{encoder_dirs['blip-itm']}")
    assert adapter.info["class"] == "BlipForImageTextRetrieval" and adapter.info["family"] == "blip"


def test_processors_that_tile_or_are_unknown_are_refused_at_load(tmp_path, encoder_dirs):
    import json
    import shutil

    from spatialprobe.models import ModelLoadError

    d = tmp_path / "idefics2-like"
    shutil.copytree(encoder_dirs["vit"], d)
    cfg = json.loads((d / "preprocessor_config.json").read_text())
    (d / "preprocessor_config.json").write_text(json.dumps({**cfg, "image_processor_type": "Idefics2ImageProcessor", "size": {"longest_edge": 64, "shortest_edge": 32}}))
    with pytest.raises(ModelLoadError, match="Idefics2ImageProcessor tiles the image .* own cards read it: .*idefics2"):
        load_model(f"hf:{d}")
    (d / "preprocessor_config.json").write_text(json.dumps({**cfg, "image_processor_type": "FancyImageProcessor"}))
    with pytest.raises(ModelLoadError, match="image processor 'FancyImageProcessor': its steps are not known"):
        load_model(f"hf:{d}")
    (d / "preprocessor_config.json").write_text(json.dumps({**cfg, "size": {"shortest_edge": 32}}))  # no crop: every image its own grid
    with pytest.raises(ModelLoadError, match="gives every image its own size"):
        load_model(f"hf:{d}")


@pytest.fixture(scope="session")
def vlm_dirs(tmp_path_factory):
    from tiny_hf import VLMS

    root = tmp_path_factory.mktemp("vlms")
    return {name: save(root / name) for name, save in VLMS.items()}


OPTIONS = {"instructblip": "?instruction=describe the image"}


@pytest.fixture(scope="module", params=["blip2", "blip2-t5", "instructblip", "llava", "llava-pad", "paligemma", "kosmos-2", "idefics"])
def vlm(request, vlm_dirs):
    return request.param, load_model(f"hf:{vlm_dirs[request.param]}{OPTIONS.get(request.param, '')}")


TEXTS = ["the red circle", "a blue square is left of the circle", "where is the square"]


def _tower(adapter):
    model = adapter.model
    if hasattr(model, "vision_model"):
        return model.vision_model
    return model.model.vision_model if hasattr(model.model, "vision_model") else model.model.vision_tower


def _own_forward(name, model, batch):
    """The model's own forward pass with every hidden state, called as its documentation shows."""
    pixels, kwargs = batch.pixel_values, dict(batch.extra)
    if name == "paligemma":
        kwargs["token_type_ids"] = torch.zeros_like(batch.input_ids)
    if name == "blip2-t5":
        kwargs["decoder_input_ids"] = torch.zeros_like(batch.input_ids[:, :1])
    if name == "idefics":  # one image per sample, seen by every text row
        pixels, kwargs["image_attention_mask"] = pixels[:, None], batch.attention_mask[..., None]
    return model(pixel_values=pixels, input_ids=batch.input_ids, attention_mask=batch.attention_mask, output_hidden_states=True, **kwargs)


def test_vlm_sites_equal_the_models_own_outputs(vlm):
    name, adapter = vlm
    batch = adapter.make_batch(adapter.preprocess(_images()), TEXTS)
    ours = adapter.forward_sites(batch, adapter.sites())
    model = adapter.model
    with torch.inference_mode():
        tower = _tower(adapter)(pixel_values=batch.pixel_values, output_hidden_states=True)
        feats = None if name in ("kosmos-2", "idefics") else model.get_image_features(pixel_values=batch.pixel_values, **batch.extra)
        full = _own_forward(name, model, batch)
    states = tower.hidden_states
    if states is None:  # IDEFICS's tower ignores output_hidden_states: its blocks, run by hand
        with torch.inference_mode():
            h, states = _tower(adapter).pre_layrnorm(_tower(adapter).embeddings(batch.pixel_values)), []
            for layer in _tower(adapter).encoder.layers:
                states.append(h)
                h = layer(h, None)
            states.append(h)
    vision = [s for s in adapter.sites() if s.startswith("vision.layer.")]
    for i, site in enumerate(vision):
        torch.testing.assert_close(ours[site], states[i + 1], atol=1e-4, rtol=1e-4)
    if feats is not None:
        projected = feats.pooler_output  # LLaVA: one tensor per image
    else:
        projected = full.image_hidden_states[:, 0] if name == "idefics" else full.image_embeds
    projected = torch.stack(list(projected)) if isinstance(projected, (list, tuple)) else projected
    torch.testing.assert_close(ours["connector.out"], projected.reshape(ours["connector.out"].shape), atol=1e-4, rtol=1e-4)
    hidden = full.language_model_outputs.encoder_hidden_states if name == "blip2-t5" else (
        full.language_model_outputs.hidden_states if hasattr(full, "language_model_outputs") else full.hidden_states)
    if "connector.attn" in ours:  # eager attention: rows sum to 1 over every column the layout names
        attn = ours["connector.attn"]
        torch.testing.assert_close(attn.sum(-1), torch.ones(attn.shape[:2]), atol=1e-5, rtol=1e-5)
        assert attn.shape[-1] == len(adapter.layout("connector.attn").columns)
    if name == "kosmos-2":  # vision.out derived through post_layernorm; the latents attend to image rows + themselves
        from transformers import Kosmos2Model

        with torch.inference_mode():
            tower_out = _tower(adapter).model.post_layernorm(tower.last_hidden_state)
            own = Kosmos2Model.get_image_features(model, pixel_values=batch.pixel_values).projection_attentions
        torch.testing.assert_close(ours["vision.out"], tower_out, atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(ours["connector.attn"], own.mean(1), atol=1e-5, rtol=1e-5)
        assert adapter.layout("connector.attn").columns.roles.count("latent") == attn.shape[1]
    if name == "idefics":  # the recomputed Perceiver attention, applied to the values, gives the block's own output
        from spatialprobe.models.families.idefics import _perceiver_attention

        attn = model.model.perceiver_resampler.blocks[-1][0]
        seen = {}
        handle = attn.register_forward_pre_hook(lambda m, args: seen.update(args=args))
        try:
            with torch.inference_mode():
                model.model.perceiver_resampler(ours["connector.in"])
                context, latents = seen["args"]
                weights = _perceiver_attention(attn, seen["args"], {})
                values = attn.v_proj(torch.cat([attn.context_layer_norm(context), attn.latents_layer_norm(latents)], dim=-2))
                values = values.reshape(*values.shape[:2], attn.n_heads, attn.head_dim).transpose(1, 2)
                rebuilt = attn.output_proj((weights @ values).transpose(1, 2).flatten(-2))
                torch.testing.assert_close(rebuilt, attn(context, latents), atol=1e-5, rtol=1e-5)
        finally:
            handle.remove()
        torch.testing.assert_close(ours["connector.attn"], weights.mean(1), atol=1e-5, rtol=1e-5)
    lm = [s for s in adapter.sites() if s.startswith("lm.layer.")]
    assert len(lm) == 2, adapter.sites()
    torch.testing.assert_close(ours[lm[0]], hidden[1], atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(ours["lm.out"], hidden[-1], atol=1e-4, rtol=1e-4)


def test_vlm_layouts_fit_the_tensors(vlm):
    name, adapter = vlm
    batch = adapter.make_batch(adapter.preprocess(_images()), TEXTS)
    tensors = adapter.forward_sites(batch, adapter.sites())
    for site, tensor in tensors.items():
        for sample in range(3):
            assert len(adapter.layout(site, batch, sample)) == tensor.shape[1], site
    if name.startswith("llava"):
        assert adapter.layout("connector.in").roles == ("patch",) * 16  # the CLS row dropped (vision_feature_select_strategy default)
    image = adapter.layout("connector.out")
    lm = adapter.layout("lm.layer.0", batch, 0)
    if adapter.card.prompt == "cross":  # IDEFICS: text rows only, and they read the image
        assert set(lm.roles) <= {"text", "pad"}
        other = adapter.make_batch(adapter.preprocess(_images(3, seed=1)), TEXTS)
        assert not torch.allclose(adapter.forward_sites(other, ["lm.out"])["lm.out"], tensors["lm.out"], atol=1e-4)
    elif image.grid is not None:  # LLaVA, PaliGemma: the LM's image rows keep their patch cells
        assert lm.roles[: len(image)] == image.roles and lm.patch_cells == image.patch_cells and lm.grid == image.grid
    else:  # a resampler's queries have no cell
        assert set(lm.roles[: len(image)]) == {"image"} and lm.grid is None


def test_a_scenes_features_do_not_depend_on_its_batch(vlm):
    """Alone, or in a batch with other images and longer prompts (padding, position ids, masks)."""
    name, adapter = vlm
    images = _images(3)
    sites = ["vision.out", "connector.out", "lm.layer.0", "lm.out"]
    alone = adapter.forward_sites(adapter.make_batch(adapter.preprocess(images[:1]), TEXTS[:1]), sites)
    batch = adapter.make_batch(adapter.preprocess(images[:1] + images[1:] * 4), TEXTS[:1] + TEXTS[1:] * 4)
    together = adapter.forward_sites(batch, sites)
    for site in sites:
        n = alone[site].shape[1]
        torch.testing.assert_close(together[site][:1, :n], alone[site], atol=1e-4, rtol=1e-4, msg=lambda m: f"{name} {site}: {m}")
    assert together["lm.out"].shape[1] > alone["lm.out"].shape[1]  # the batch was padded


@pytest.fixture(scope="session")
def small_scenes(tmp_path_factory):
    from spatialprobe.scenes.sources.synthetic import SyntheticConfig, build

    out = tmp_path_factory.mktemp("families-data") / "scenes"
    build(SyntheticConfig(n=160, seed=5), out, workers=1, progress=False)
    return out


@pytest.mark.parametrize("name", ENCODERS + ("blip2", "blip2-t5", "instructblip", "llava", "paligemma", "kosmos-2", "idefics"))
def test_extraction_probes_and_token_pools_run_on_every_family(name, encoder_dirs, vlm_dirs, small_scenes, tmp_path):
    from spatialprobe.probing import run

    directory = encoder_dirs.get(name) or vlm_dirs[name]
    sites = ["vision.out"] + (["connector.out"] if name in vlm_dirs else [])
    base = {"model": f"hf:{directory}{OPTIONS.get(name, '')}", "data": str(small_scenes), "store": str(tmp_path / "st"), "probes": ["logistic"],
            "controls": [], "bootstrap": 100, "min_train": 10}
    where = run({**base, "out": str(tmp_path / "where"), "sites": sites, "tasks": ["region_cell"], "pools": ["mean"]}, progress=False)
    what = run({**base, "out": str(tmp_path / "what"), "sites": ["vision.out"], "tasks": ["object_identity"], "pools": ["object_mean"]},
               progress=False)
    on_lm = []
    if name in ("llava", "paligemma"):  # the LM's image rows are patches: object pools read them too
        on_lm = run({**base, "out": str(tmp_path / "lm"), "sites": ["lm.layer.1"], "tasks": ["object_identity"], "pools": ["object_mean"]},
                    progress=False)
        assert {(r.task, r.site) for r in on_lm} == {("object_identity", "lm.layer.1")}
    done = {(r.task, r.site, r.condition["pool"]) for r in where + what + on_lm}
    assert {("region_cell", s, "mean") for s in sites} | {("object_identity", "vision.out", "object_mean")} <= done
    assert all(r.metrics[next(iter(r.metrics))].n > 0 for r in where + what)


def test_instructblips_instruction_is_a_visible_choice_that_enters_the_store_key(vlm_dirs, small_scenes):
    from spatialprobe.features.extraction import ExtractionError, plan
    from spatialprobe.models import ModelLoadError
    from spatialprobe.scenes.dataset import SceneDataset

    d = vlm_dirs["instructblip"]
    with pytest.raises(ModelLoadError, match=r"needs \?instruction=… .*empty \(off-distribution\)"):
        load_model(f"hf:{d}")
    with pytest.raises(ModelLoadError, match="has no option 'instructon'; did you mean 'instruction'"):
        load_model(f"hf:{d}?instructon=describe")
    data = SceneDataset(small_scenes)
    keys = {}
    for choice in ("describe the image", "where is the square", ""):
        adapter = load_model(f"hf:{d}?instruction={choice}")
        keys[choice] = plan(adapter, data, ["connector.out"], split=None, limit=4, batch_size=4, shard_size=8)[0].key
    assert len(set(keys.values())) == 3
    with pytest.raises(ExtractionError, match="instruction=@text reads each item's text, and this pass has none"):
        plan(load_model(f"hf:{d}?instruction=@text"), data, ["connector.out"], split=None, limit=4, batch_size=4, shard_size=8)
    adapter = load_model(f"hf:{d}?instruction=@text")  # with text (the Python API), each item's own instruction
    per_item = adapter.extract(_images(2), "connector.out", texts=["the red circle", "where is the square"])["connector.out"]
    fixed = load_model(f"hf:{d}?instruction=where is the square").extract(_images(2), "connector.out", texts=["x", "x"])["connector.out"]
    torch.testing.assert_close(per_item[1], fixed[1], atol=1e-5, rtol=1e-5)
    assert not torch.allclose(per_item[0], fixed[0], atol=1e-3)


def test_a_cross_attention_lm_has_no_image_rows_to_store(vlm_dirs, small_scenes):
    from spatialprobe.features.extraction import ExtractionError, plan
    from spatialprobe.scenes.dataset import SceneDataset

    adapter = load_model(f"hf:{vlm_dirs['idefics']}")
    with pytest.raises(ExtractionError, match="reads the image by cross-attention.*lm.layer.0 are text rows"):
        plan(adapter, SceneDataset(small_scenes), ["lm.layer.0"], split=None, limit=4, batch_size=4, shard_size=8)
    with pytest.raises(ValueError, match="its lm.\\* rows are text rows, so they need texts"):
        adapter.extract(_images(1), ["lm.out"])


def test_the_support_matrix_claims_only_what_these_tests_check(tmp_path):
    import importlib.util
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "scripts" / "support_matrix.py"
    proc = subprocess.run([sys.executable, str(script), "--check"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    spec = importlib.util.spec_from_file_location("support_matrix", script)
    matrix = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(matrix)
    doc = tmp_path / "models.md"
    doc.write_text("| llava | `X` | verified | verified | verified | verified | verified | — | |\n")
    covered = {"llava": {"parity": ["t"], "layouts": ["t"], "box geometry": ["t"], "batch invariance": ["t"]}, "vit": {"parity": ["t"]}}
    assert matrix.check(covered, doc) == ["vit: tested but missing from models.md",
                                          "llava: models.md says extract + probe + pools is verified, and no test in test_families.py covers it"]


@pytest.mark.parametrize("name", ["clip", "dinov2-registers", "blip2-t5", "instructblip", "llava", "paligemma", "kosmos-2", "idefics"])
def test_models_sites_lists_every_site_of_each_family(name, encoder_dirs, vlm_dirs, capsys):
    from spatialprobe.cli.main import main

    directory = encoder_dirs.get(name) or vlm_dirs[name]
    assert main(["models", "sites", f"hf:{directory}{OPTIONS.get(name, '')}"]) == 0
    out = capsys.readouterr().out
    assert "patch grid 4×4" in out and "vision.layer.1" in out
    assert ("lm.out" in out) == (name in vlm_dirs)


def test_the_trainable_connector_is_the_models_own_connector(vlm):
    """What the joint protocol trains maps the stored connector.in to connector.out exactly; its
    re-initialised copy is different; the loaded model is never touched."""
    name, adapter = vlm
    trainable = adapter.trainable()
    tensors = adapter.forward_sites(adapter.make_batch(adapter.preprocess(_images())), ["connector.in", "connector.out"])
    with torch.no_grad():
        torch.testing.assert_close(trainable.copy()(tensors["connector.in"]), tensors["connector.out"], atol=1e-5, rtol=1e-5)
        fresh = trainable.reinitialised(0)
        changed = sum(p.numel() for p, q in zip(fresh.parameters(), trainable.module.parameters()) if not torch.equal(p, q))
        assert changed >= 0.9 * trainable.parameter_count
        width = tensors["connector.out"].shape[-1]
        assert trainable.capacity_matched(0, width)(tensors["connector.out"]).shape == tensors["connector.out"].shape


@pytest.mark.parametrize("name", ["blip2", "instructblip", "llava", "paligemma", "kosmos-2", "idefics"])
def test_joint_training_changes_a_copy_of_the_connector_only(name, vlm_dirs, small_scenes, tmp_path):
    from spatialprobe.features import FeatureStore, extract
    from spatialprobe.probing.joint import split_inputs, train_condition
    from spatialprobe.probing.training import Recipe
    from spatialprobe.registry import PROBES, TASKS
    from spatialprobe.scenes import SceneDataset

    adapter = load_model(f"hf:{vlm_dirs[name]}{OPTIONS.get(name, '')}")
    data = SceneDataset(small_scenes)
    store = FeatureStore(extract(adapter, data, ["connector.in"], root=tmp_path / "st", progress=False).directory)
    items = TASKS.get("region_cell").build(data.scenes(), store, {})
    inputs = split_inputs(store, items, "connector.in", None)
    targets = {s: items.target[items.split == s] for s in ("probe_train", "probe_val", "test")}
    before = {k: v.clone() for k, v in adapter.model.state_dict().items()}
    trainable = adapter.trainable()
    result = train_condition(trainable, "joint", PROBES.get("attention_pool")("classification", seed=0), "classification", inputs, targets, 0,
                             Recipe(epochs=2, batch_size=16))
    assert all(torch.equal(v, before[k]) for k, v in adapter.model.state_dict().items())  # encoder, connector and LM bit-identical
    moved = [k for (k, v), w in zip(result.connector.state_dict().items(), trainable.module.state_dict().values()) if not torch.equal(v, w)]
    assert moved and result.trained_parameters > trainable.parameter_count and len(result.prediction) == len(targets["test"])


def test_the_joint_protocol_runs_every_condition_on_a_hugging_face_qformer(vlm_dirs, encoder_dirs, small_scenes, tmp_path):
    from spatialprobe.names import JOINT_CONDITIONS
    from spatialprobe.probing import ProbingError, run

    base = {"model": f"hf:{vlm_dirs['blip2']}", "data": str(small_scenes), "store": str(tmp_path / "st"), "out": str(tmp_path / "run"),
            "sites": ["connector.in"], "tasks": ["region_cell"], "pools": ["all"], "probes": ["attention_pool"], "controls": [],
            "protocols": ["joint"], "bootstrap": 100, "min_train": 10, "joint": {"epochs": 2, "batch_size": 16}}
    records = run(base, progress=False)
    conditions = {r.condition["control"] for r in records}
    assert conditions == set(JOINT_CONDITIONS) - {"control task"} | {"joint − frozen"}
    assert all(r.config["chosen"]["trained_parameters"] > 0 for r in records if r.condition["control"] != "joint − frozen")
    stores = sorted((tmp_path / "st").iterdir())
    with pytest.raises(ProbingError, match="add it to config.sites"):
        run({**base, "sites": ["connector.out"], "out": str(tmp_path / "r2")}, progress=False)
    with pytest.raises(ProbingError, match="protocols: joint — .*declares no trainable connector \\(an image encoder has none\\)"):
        run({**base, "model": f"hf:{encoder_dirs['vit']}", "sites": ["vision.out"], "out": str(tmp_path / "r3")}, progress=False)
    assert sorted((tmp_path / "st").iterdir()) == stores  # both refused before extracting anything


def test_a_plan_runs_studies_and_claims_on_hugging_face_models_and_a_dataset(vlm_dirs, encoder_dirs, small_scenes, tmp_path, monkeypatch):
    """No lab, no synthetic-scene section: models by spec, data by directory; the report has its claims table."""
    import json

    from spatialprobe.experiments.plan import Plan, PlanError
    from spatialprobe.experiments.runner import run_plan

    monkeypatch.setenv("SPATIALPROBE_CACHE", str(tmp_path / "cache"))
    blip2, vit = f"hf:{vlm_dirs['blip2']}", f"hf:{encoder_dirs['vit']}"
    plan = {"name": "hf-plan", "data": str(small_scenes), "probe_seeds": [0], "bootstrap": 100,
            "studies": {"decodability": {"models": [vit], "attributes": ["category"]},
                        "lost_in_space": {"models": [blip2], "tasks": ["region_cell"], "text": "bow",
                                          "joint": {"conditions": ["frozen", "joint", "upper reference", "blind"], "epochs": 2, "batch_size": 16}}},
            "claims": [{"study": "lost_in_space", "statement": "joint beats frozen on region_cell",
                        "a": {"task": "region_cell", "model": blip2, "control": "joint"}, "b": {"task": "region_cell", "model": blip2, "control": "frozen"},
                        "metric": "accuracy", "margin": 0.05,
                        "control": {"what": "upper reference vs blind", "a": {"task": "region_cell", "model": blip2, "control": "upper reference"},
                                    "floor": {"task": "region_cell", "model": blip2, "control": "blind"}}}]}
    run = run_plan(Plan.from_dict(plan), tmp_path / "runs", progress=False, say=lambda *_: None)
    claims = json.loads((run / "claims.json").read_text())
    assert len(claims) == 1 and claims[0]["verdict"] in ("reproduced", "not reproduced", "inconclusive", "undecidable")
    md = (run / "report.md").read_text()
    assert "no lab" in md and "Positive control" in md and "joint" in md
    assert not (tmp_path / "cache" / "steps").exists()  # a checkpoint path and a dataset folder are not content-keyed: no step reuse
    for edit, message in (({"studies": {"limber": {"models": [vit]}}}, "studies.limber.lm: missing"),
                          ({"studies": {"decodability": {"models": ["qformer+coarse@contrastive"]}}}, "lab: missing"),
                          ({"scenes": {"n": 10}}, "give exactly one")):
        with pytest.raises(PlanError, match=message):
            from spatialprobe.experiments.resolve import resolve

            resolve(Plan.from_dict({**plan, "claims": [], **edit}))
