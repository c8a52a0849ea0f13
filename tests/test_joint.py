"""The joint protocol: what learns in each condition, same rows, test rows never seen."""

import numpy as np
import pytest
import torch

from spatialprobe.features import FeatureStore, extract
from spatialprobe.models import load_model, toy
from spatialprobe.probing.joint import CONDITIONS, JointSettings, split_data, train_condition
from spatialprobe.registry import PROBES, TASKS
from spatialprobe.scenes import SceneDataset
from spatialprobe.scenes.sources.synthetic import SyntheticConfig, build

SETTINGS = JointSettings(max_epochs=3, min_epochs=1, patience=2, batch_size=16)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("joint")
    data = SceneDataset(build(SyntheticConfig(n=120, seed=2), root / "scenes", workers=1, progress=False))
    model_dir = toy.save(toy.build(toy.PRESETS["tiny-qformer"], seed=4), root / "model")
    store = FeatureStore(extract(load_model(f"toy:{model_dir}"), data, ["connector.in"], root=root / "st", progress=False).directory)
    items = TASKS.get("region_cell").build(data.scenes(), store, {})
    return model_dir, store, items


def _run(setup, condition, targets=None, test_rows_poison=False):
    model_dir, store, items = setup
    probe = PROBES.get("attention_pool")("classification", seed=0)
    data = split_data(store, items, "connector.in", probe, "classification", None, items.target if targets is None else targets)
    if test_rows_poison:
        data["test"].tokens = data["test"].tokens * 1e6
        data["test"].targets = (data["test"].targets + 1) % 16
    model = toy.load(model_dir)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    result = train_condition(model, condition, probe, "classification", data, 0, SETTINGS)
    return model, before, result


@pytest.mark.parametrize("condition", ["frozen", "joint", "upper reference", "capacity-matched frozen"])
def test_only_the_connector_and_the_probe_learn(setup, condition):
    model, before, result = _run(setup, condition)
    for k, v in model.state_dict().items():
        changed = not torch.equal(v, before[k])
        if k.startswith("connector.") and condition == "joint":
            continue
        assert not changed, f"{condition}: {k} changed"
    if condition == "joint":
        assert any(not torch.equal(v, before[k]) for k, v in model.state_dict().items() if k.startswith("connector."))
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


def test_conditions_are_named():
    assert CONDITIONS[:2] == ("frozen", "joint") and "capacity-matched frozen" in CONDITIONS
    assert np.isfinite(SETTINGS.lr)


def test_the_protocol_writes_every_condition_and_the_paired_gap(setup, tmp_path):
    from spatialprobe.probing import run

    model_dir, store, _ = setup
    records = run({"model": f"toy:{model_dir}", "data": str(model_dir.parent / "scenes"), "store": str(store.dir.parent),
                   "out": str(tmp_path / "run"), "sites": ["connector.in"], "tasks": ["region_cell"], "pools": ["all"],
                   "probes": ["conditioned"], "controls": [], "protocols": ["joint"], "bootstrap": 100, "min_train": 10,
                   "joint": {"max_epochs": 2, "min_epochs": 1, "patience": 1, "batch_size": 16}}, progress=False)
    assert all(r.condition["control"] != "none" for r in records)  # protocols: [joint] runs no plain frozen sweep
    joint = [r for r in records if r.condition["control"] in CONDITIONS + ("joint − frozen",)]
    assert {r.condition["control"] for r in joint} == set(CONDITIONS) | {"joint − frozen"}
    gap = next(r for r in joint if r.condition["control"] == "joint − frozen")
    assert gap.metrics["accuracy"].low <= gap.metrics["accuracy"].value <= gap.metrics["accuracy"].high
    assert all(r.config["chosen"]["trained_parameters"] > 0 for r in joint if r is not gap)
