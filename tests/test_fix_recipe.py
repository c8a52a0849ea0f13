"""The object-aware fix on real connectors: spatial captions from boxes, only the connector (a copy)
learns, ``?connector=`` puts the trained one into the model, a connector of another model is refused,
and `spatialprobe train fix` killed with SIGKILL resumes to the same connector."""

from __future__ import annotations

import pytest
import torch

from dataset_fixtures import refcoco
from recipe_runs import cli, kill_during_training, same_weights
from tiny_hf import VLMS
from spatialprobe.cli.main import main


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("fix")
    return {"blip2": f"hf:{VLMS['blip2'](root / 'blip2')}", "llava": f"hf:{VLMS['llava'](root / 'llava')}",
            "refcoco": f"refcoco:{refcoco(root / 'refer')}", "features": str(root / "features")}


def test_spatial_captions_say_where_the_largest_objects_of_two_categories_are():
    from spatialprobe.geometry import Box
    from spatialprobe.scenes.record import Scene, SceneObject
    from spatialprobe.train.fix import predicate, spatial_captions

    frame = (100, 100)
    objects = (SceneObject(1, Box((5, 40, 35, 70), "xyxy", "pixel", frame), "dog"), SceneObject(2, Box((60, 40, 90, 70), "xyxy", "pixel", frame), "cat"),
               SceneObject(3, Box((62, 5, 70, 12), "xyxy", "pixel", frame), "cat"), SceneObject(4, Box((40, 45, 45, 50), "xyxy", "pixel", frame), None))
    scene = Scene("s", "s.jpg", 100, 100, objects=objects)
    assert spatial_captions(scene) == ["a dog is left of a cat", "a dog is below a cat"]
    assert predicate((0.5, 0.5, 0.1, 0.1), (0.55, 0.45, 0.1, 0.1)) is None  # closer than the margin: no coin-flip predicate


@pytest.mark.parametrize("family", ["blip2", "llava"])
def test_only_a_copy_of_the_connector_learns_and_connector_loads_it_into_the_model(inputs, family, tmp_path):
    from safetensors.torch import save_file

    from spatialprobe.features.key import weights_fingerprint
    from spatialprobe.models import ModelLoadError, load_model
    from spatialprobe.scenes import SceneDataset
    from spatialprobe.scenes.address import resolve
    from spatialprobe.train.fix import train_fix
    from spatialprobe.train.fix_recipe import fixed_spec

    adapter = load_model(inputs[family])
    before = weights_fingerprint(adapter.model)
    dataset = SceneDataset(resolve(inputs["refcoco"]))
    connector, curve, trained_on = train_fix(adapter, dataset, losses=("caption", "query_location"), epochs=1, batch_size=4, lr=1e-3, max_scenes=8)
    assert weights_fingerprint(adapter.model) == before and trained_on["spatial_captions"] > 0 and len(curve) == 1
    original = adapter.trainable().module.state_dict()
    trained = connector.state_dict()
    assert original.keys() == trained.keys() and any(not torch.equal(original[k], trained[k]) for k in original)
    path = tmp_path / "connector.safetensors"
    save_file({k: v.contiguous() for k, v in trained.items()}, str(path))
    fixed = load_model(fixed_spec(inputs[family], path))
    assert all(torch.equal(v, trained[k]) for k, v in fixed.trainable().module.state_dict().items())
    image = dataset.image(dataset.scenes("test")[0])
    assert not torch.equal(adapter.extract([image], "connector.out")["connector.out"], fixed.extract([image], "connector.out")["connector.out"])
    other = "llava" if family == "blip2" else "blip2"
    wrong = tmp_path / "other.safetensors"
    save_file({k: v.contiguous() for k, v in load_model(inputs[other]).trainable().module.state_dict().items()}, str(wrong))
    with pytest.raises(ModelLoadError, match="not a connector of this model"):
        load_model(fixed_spec(inputs[family], wrong))
    with pytest.raises(ModelLoadError, match="no such file"):
        load_model(fixed_spec(inputs[family], tmp_path / "missing.safetensors"))


def test_train_fix_killed_with_sigkill_resumes_to_the_same_connector(inputs, tmp_path):
    def args(out):
        return ["train", "fix", "--model", inputs["blip2"], "--data", inputs["refcoco"], "--features", inputs["features"], "--out", str(out),
                "--epochs", "6", "--batch-size", "2", "--every", "1", "--max-scenes", "12", "--threads", "1", "--quiet"]

    done = cli(args(tmp_path / "whole"))
    assert f"?connector={tmp_path / 'whole' / 'connector.safetensors'}" in done.stdout
    steps = kill_during_training(args(tmp_path / "killed"), tmp_path / "killed", 8)["optimiser_steps"]  # into the second of six epochs of 6 steps
    assert 8 <= steps < 36 and not (tmp_path / "killed" / "connector.safetensors").exists()
    cli(args(tmp_path / "killed"))
    assert same_weights(tmp_path / "whole" / "connector.safetensors", tmp_path / "killed" / "connector.safetensors")
    assert main(args(tmp_path / "killed") + ["--loss", "query_location"]) == 2  # other settings on a used folder
