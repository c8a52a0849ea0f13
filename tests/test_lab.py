"""The lab: losses, frozen parts, caching and determinism, checkpoints behind the model interface."""

import json

import numpy as np
import pytest
import torch

from spatialprobe.features.key import weights_fingerprint
from spatialprobe.lab.build import Lab, train_lab
from spatialprobe.lab.captioning import attribute_scores, named_objects
from spatialprobe.metrics.captions import caption_metrics
from spatialprobe.lab.config import LabConfig, LabConfigError
from spatialprobe.lab.data import load
from spatialprobe.lab.lm import caption_loss
from spatialprobe.lab.text import encode_batch, train_tokenizer
from spatialprobe.lab.trainer import CaptionLoss, encoder_tokens, train_connector
from spatialprobe.models import load_model, toy
from spatialprobe.models.toy.model import ToyConfig, ToyLM
from spatialprobe.scenes import SceneDataset
from spatialprobe.scenes.sources.synthetic import SyntheticConfig, build

TINY = {"width": 32, "depth": 2, "heads": 2, "stem": "conv", "lm_width": 32, "lm_depth": 1, "lm_heads": 2,
        "queries": 4, "connector_width": 32, "connector_depth": 1}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return build(SyntheticConfig(n=160, seed=8), tmp_path_factory.mktemp("lab") / "scenes", workers=1, progress=False)


def _config(data_dir, cache, **kw):
    return LabConfig(data=str(data_dir), cache=str(cache), model=TINY, encoder_epochs=1, lm_epochs=1, connector_epochs=1,
                     encoders=kw.pop("encoders", ["contrastive", "random"]),
                     connectors=kw.pop("connectors", [{"type": "qformer", "encoder": "contrastive"}, {"type": "perceiver", "encoder": "random"},
                                                       "qformer+spatial+location+query_location@contrastive"]), **kw)


@pytest.fixture(scope="module")
def trained(data_dir, tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    return train_lab(_config(data_dir, cache), progress=False), cache


def test_caption_loss_ignores_prefix_and_padding():
    torch.manual_seed(0)
    lm = ToyLM(ToyConfig(lm_width=16, lm_depth=1, lm_heads=2, vocab_size=12, max_length=20))
    prefix = torch.randn(2, 3, 16, requires_grad=True)
    ids = torch.tensor([[1, 5, 6, 2, 0, 0], [1, 7, 8, 9, 10, 2]])
    mask = (ids != 0).long()
    loss = caption_loss(lm, prefix, ids, mask)
    # by hand: logits at positions P-1+t predict token t+1, only where the target is real
    logits = lm(prefix, ids[:, :-1], mask[:, :-1])[:, 3:]
    valid = mask[:, 1:].bool()
    manual = torch.nn.functional.cross_entropy(logits[valid], ids[:, 1:][valid])
    torch.testing.assert_close(loss, manual)
    changed = ids.clone()
    changed[0, 4:] = 11  # padding content must not matter
    torch.testing.assert_close(caption_loss(lm, prefix, changed, mask), loss)


def test_connector_training_changes_only_the_connector(data_dir, tmp_path):
    lab = Lab(_config(data_dir, tmp_path), progress=False)
    tokenizer = train_tokenizer(lab.data.texts())
    model = toy.build(ToyConfig(**TINY, connector="qformer", vocab_size=len(tokenizer), max_length=112))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    ids, mask = encode_batch(tokenizer, lab.data.captions("coarse"), 48)
    train_connector(model, encoder_tokens(model, lab.data), [CaptionLoss(ids, mask)], epochs=1, seed=0, progress=False)
    for k, v in model.state_dict().items():
        if k.startswith("connector."):
            continue
        assert torch.equal(v, before[k]), f"{k} changed"
    assert any(not torch.equal(v, before[k]) for k, v in model.state_dict().items() if k.startswith("connector."))


def test_training_is_cached_and_deterministic(trained, data_dir, tmp_path):
    models, cache = trained
    again = train_lab(_config(data_dir, cache), progress=False)
    assert again.seconds == {} and set(again.checkpoints) == set(models.checkpoints)
    fresh = train_lab(_config(data_dir, tmp_path / "other"), progress=False)
    for name, directory in models.checkpoints.items():
        assert weights_fingerprint(toy.load(directory)) == weights_fingerprint(toy.load(fresh.checkpoints[name]))
        assert json.loads((directory / "curve.json").read_text())["loss_per_epoch"]


def test_lab_models_load_behind_the_model_interface(trained, data_dir):
    models, _ = trained
    data = SceneDataset(data_dir)
    scene = data.scenes("test")[0]
    for name, directory in models.checkpoints.items():
        adapter = load_model(f"toy:{directory}")
        assert adapter.tokenizer is not None
        out = adapter.extract([data.image(scene)], ["vision.out", "connector.out", "lm.out"], texts=["a small red circle."])
        m = adapter.model
        with torch.inference_mode():
            pixels = adapter.preprocess([data.image(scene)])
            torch.testing.assert_close(out["connector.out"], m.connector(m.vision(pixels)))
        layout = adapter.layout("lm.out", adapter.make_batch(pixels, ["a small red circle."]))
        assert out["lm.out"].shape[1] == len(layout) and layout.roles.count("text") == 5
        role = "latent" if name.startswith("perceiver") else "query"
        assert adapter.layout("connector.out").roles == (role,) * 4


def test_save_and_load_give_identical_outputs(trained):
    models, _ = trained
    directory = next(iter(models.checkpoints.values()))
    a, b = toy.load(directory).eval(), toy.load(directory).eval()
    x = torch.randn(2, 3, 64, 64)
    torch.testing.assert_close(a(x), b(x), rtol=0, atol=0)


def test_caption_scores():
    from spatialprobe.scenes.sources.synthetic.config import VOCABULARY

    named = named_objects("a small red circle, a large blue square and a star.", VOCABULARY)
    assert named == [{"size": "small", "colour": "red", "shape": "circle"}, {"size": "large", "colour": "blue", "shape": "square"}, {"shape": "star"}]
    from spatialprobe.geometry import Box
    from spatialprobe.scenes import Scene, SceneObject

    scene = Scene("s", "i.png", 64, 64, objects=(
        SceneObject(1, Box.xyxy(0, 0, 9, 9, (64, 64)), "circle", {"colour": "red", "size": "small"}),
        SceneObject(2, Box.xyxy(20, 20, 40, 40, (64, 64)), "square", {"colour": "green", "size": "large"}),
    ))
    s = attribute_scores("a small red circle, a large blue square and a cross.", scene, VOCABULARY)
    assert s["shape_precision"] == pytest.approx(2 / 3)
    assert s["colour_precision"] == pytest.approx(1 / 2) and s["size_precision"] == 1.0
    assert s["object_recall"] == 1.0 and s["hallucination_rate"] == pytest.approx(1 / 3)
    m = caption_metrics(["a small red circle", "nothing at all"], [["a small red circle"], ["a big blue square"]])
    assert m["BLEU-4"][0] > 0.9 and m["CIDEr"][0] > m["CIDEr"][1]


def test_lab_config_errors(data_dir):
    with pytest.raises(LabConfigError, match=r"lab.connectors\[0\].type: expected one of linear, mlp, qformer, perceiver"):
        LabConfig(data=str(data_dir), connectors=[{"type": "transformer", "encoder": "random"}])
    with pytest.raises(LabConfigError, match="not in lab.encoders"):
        LabConfig(data=str(data_dir), encoders=["random"], connectors=[{"type": "linear", "encoder": "masked"}])
    with pytest.raises(LabConfigError, match="unknown objective"):
        LabConfig(data=str(data_dir), encoders=["supervised"])


def test_lab_data_uses_only_its_split(data_dir):
    data = load(SceneDataset(data_dir), "lab")
    assert {s.split for s in data.scenes} == {"lab"}
    assert np.asarray(data.images).dtype == np.uint8


def test_object_aware_connector_saves_its_heads_and_location_records(trained, data_dir, tmp_path):
    from spatialprobe.lab.locate import evaluate_location
    from spatialprobe.results.store import ResultStore

    models, _ = trained
    directory = models.checkpoints["qformer+spatial+location+query_location@contrastive"]
    assert (directory / "location_head.safetensors").exists() and (directory / "query_location_head.safetensors").exists()
    assert not (models.checkpoints["qformer+coarse@contrastive"] / "location_head.safetensors").exists()
    records = evaluate_location(directory, str(data_dir), tmp_path, epochs=1, n_resamples=50)
    tasks = {(r.task, r.condition["control"]) for r in records}
    assert tasks == {(t, c) for t, base in (("word_grounding", "category mean box"), ("referring_eos", "mean referent box"), ("box_captioning", "whole-image caption"))
                     for c in ("none", base, "head − baseline")}
    for r in records:  # a one-epoch LM may name no object, leaving box captioning's precisions undefined
        assert (r.metrics or r.task == "box_captioning") and all(e.low <= e.value <= e.high for e in r.metrics.values())
    captions = next(r for r in records if r.task == "box_captioning" and r.condition["control"] == "none")
    assert len(ResultStore(tmp_path).predictions(captions)) == sum(len(s.objects) for s in SceneDataset(data_dir).scenes("test"))
    words = next(r for r in records if r.task == "word_grounding" and r.condition["control"] == "none")
    preds = ResultStore(tmp_path).predictions(words)
    assert preds and {p["word"] for p in preds} <= {"a", "small", "large"} | {w for v in SceneDataset(data_dir).metadata["vocabulary"].values() for w in v}


def test_object_aware_objectives_see_the_datasets_seen_predicates(data_dir, tmp_path):
    seen = SceneDataset(data_dir).metadata["predicate_sets"]["seen"]
    assert Lab(_config(data_dir, tmp_path), progress=False).seen_predicates == seen
    assert Lab(_config(data_dir, tmp_path, seen_predicates=["near"]), progress=False).seen_predicates == ["near"]


def test_cached_greedy_decoding_equals_rerunning_the_sequence():
    from spatialprobe.models import toy

    model = toy.build(toy.PRESETS["tiny-qformer"], seed=1).eval()
    prefix, ids = torch.randn(5, 8, 64), torch.full((5, 1), 1)
    with torch.inference_mode():
        for _ in range(12):
            ids = torch.cat([ids, model.lm(prefix, ids)[:, -1].argmax(-1)[:, None]], 1)
        assert torch.equal(model.lm.greedy(prefix, torch.full((5,), 1), 12), ids[:, 1:])
