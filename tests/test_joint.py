"""The joint protocol: what learns in each condition, same rows, test rows never seen."""

import pytest
import torch

from spatialprobe.features import FeatureStore, extract
from spatialprobe.models import load_model, toy
from spatialprobe.probing.joint import CONDITIONS, split_inputs, train_condition
from spatialprobe.probing.training import Recipe
from spatialprobe.registry import PROBES, TASKS
from spatialprobe.scenes import SceneDataset
from spatialprobe.scenes.sources.synthetic import SyntheticConfig, build

RECIPE = Recipe(epochs=3, batch_size=16)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("joint")
    data = SceneDataset(build(SyntheticConfig(n=120, seed=2), root / "scenes", workers=1, progress=False))
    model_dir = toy.save(toy.build(toy.PRESETS["tiny-qformer"], seed=4), root / "model")
    store = FeatureStore(extract(load_model(f"toy:{model_dir}"), data, ["connector.in"], root=root / "st", progress=False).directory)
    items = TASKS.get("region_cell").build(data.scenes(), store, {})
    return model_dir, store, items


def _run(setup, condition, test_rows_poison=False):
    model_dir, store, items = setup
    probe = PROBES.get("attention_pool")("classification", seed=0)
    data = split_inputs(store, items, "connector.in", None)
    targets = {s: items.target[items.split == s] for s in ("probe_train", "probe_val", "test")}
    if test_rows_poison:
        data["test"].visual = data["test"].visual * 1e6
        targets["test"] = (targets["test"] + 1) % 16
    adapter = load_model(f"toy:{model_dir}")
    model = adapter.model
    before = {k: v.clone() for k, v in model.state_dict().items()}
    result = train_condition(adapter.trainable(), condition, probe, "classification", data, targets, 0, RECIPE)
    return model, before, result


@pytest.mark.parametrize("condition", ["frozen", "joint", "joint from random", "upper reference", "capacity-matched frozen"])
def test_only_the_connector_and_the_probe_learn(setup, condition):
    model, before, result = _run(setup, condition)
    for k, v in model.state_dict().items():  # the loaded model is never changed: a joint run trains a copy of its connector
        assert torch.equal(v, before[k]), f"{condition}: {k} changed"
    if condition == "joint":
        trained = result.connector.state_dict()
        assert any(not torch.equal(v, before[f"connector.{k}"]) for k, v in trained.items() if f"connector.{k}" in before)
    if condition == "frozen":  # a copy of the pretrained connector, unchanged
        assert all(torch.equal(v, model.connector.state_dict()[k]) for k, v in result.connector.state_dict().items())
    assert result.trained_parameters > 0 and result.info["curve"]


def test_frozen_and_joint_train_on_the_same_rows_with_the_same_head(setup):
    _, _, frozen = _run(setup, "frozen")
    _, _, joint = _run(setup, "joint")
    n_head = sum(p.numel() for p in frozen.head.parameters())
    assert sum(p.numel() for p in joint.head.parameters()) == n_head
    n_connector = sum(p.numel() for p in joint.connector.parameters())
    assert joint.trained_parameters == n_head + n_connector and frozen.trained_parameters == n_head
    assert len(frozen.prediction) == len(joint.prediction) == int((setup[2].split == "test").sum())


def test_joint_never_sees_test_rows(setup):
    _, _, clean = _run(setup, "joint")
    _, _, poisoned = _run(setup, "joint", test_rows_poison=True)
    for a, b in zip(clean.connector.state_dict().values(), poisoned.connector.state_dict().values()):
        assert torch.equal(a, b)
    for a, b in zip(clean.head.state_dict().values(), poisoned.head.state_dict().values()):
        assert torch.equal(a, b)
    assert clean.info == poisoned.info


def test_the_protocol_writes_every_condition_and_the_paired_gap(setup, tmp_path):
    from spatialprobe.probing import run

    model_dir, store, _ = setup
    records = run({"model": f"toy:{model_dir}", "data": str(model_dir.parent / "scenes"), "store": str(store.dir.parent),
                   "out": str(tmp_path / "run"), "sites": ["connector.in"], "tasks": ["region_cell"], "pools": ["all"],
                   "probes": ["conditioned"], "controls": [], "protocols": ["joint"], "bootstrap": 100, "min_train": 10,
                   "joint": {"epochs": 2, "batch_size": 16}}, progress=False)
    assert all(r.condition["control"] != "none" for r in records)  # protocols: [joint] runs no plain frozen sweep
    joint = [r for r in records if r.condition["control"] in CONDITIONS + ("joint − frozen",)]
    # region_cell's text names the object type that control labels are keyed to: no control task there
    assert {r.condition["control"] for r in joint} == set(CONDITIONS) - {"control task"} | {"joint − frozen"}
    gap = next(r for r in joint if r.condition["control"] == "joint − frozen")
    assert gap.metrics["accuracy"].low <= gap.metrics["accuracy"].value <= gap.metrics["accuracy"].high
    assert all(r.config["chosen"]["trained_parameters"] > 0 for r in joint if r is not gap)
