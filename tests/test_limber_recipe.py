"""`spatialprobe train limber` on a tiny CLIP → tiny GPT-2 over COCO-schema files: records with the blind
and random-encoder controls, a folder that resumes (after kill -9, to the same map) and refuses other
settings without --force, and the limber study's plan step on model specs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from dataset_fixtures import paired_coco
from tiny_hf import save_encoder, save_gpt2
from spatialprobe.cli.main import main


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("recipe")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SPATIALPROBE_CACHE", str(root / "cache"))  # converted datasets and default stores stay in the test's folder
        yield _saved(root)


def _saved(root) -> dict:
    return {"encoder": f"hf:{save_encoder(root / 'clip', 'clip')}", "lm": f"hf:{save_gpt2(root / 'gpt2')}",
            "data": f"coco:{paired_coco(root / 'coco', n=24)}", "features": str(root / "features")}


def _args(inputs, out, *extra) -> list[str]:
    return ["train", "limber", "--encoder", inputs["encoder"], "--lm", inputs["lm"], "--data", inputs["data"], "--features", inputs["features"],
            "--out", str(out), "--batch-size", "4", "--max-scenes", "12", "--bootstrap", "50", "--threads", "1", "--quiet", *extra]


def _map(path):
    from safetensors.torch import load_file

    return load_file(str(path))


def test_the_recipe_writes_the_map_and_its_controls_and_resumes_in_place(inputs, tmp_path, capsys):
    from spatialprobe.results.store import ResultStore
    from spatialprobe.train.limber import LinearMap

    out = tmp_path / "run"
    assert main(_args(inputs, out)) == 0
    records = ResultStore(out / "results").records()
    by = {(r.model, r.condition["control"]) for r in records}
    spec = inputs["encoder"]
    assert by == {(spec, "none"), (spec, "blind"), (spec, "model − blind"), (spec, "model − random encoder"),
                  (f"{spec} (random init)", "none"), (f"{spec} (random init)", "blind"), (f"{spec} (random init)", "model − blind")}
    assert all(r.protocol == "limber" and r.probe == "limber:pooled" and r.config["lm"] == inputs["lm"] for r in records)
    mapping = LinearMap.load(out / "map.safetensors")
    random_map = LinearMap.load(out / "random-encoder" / "map.safetensors")
    assert not torch.equal(mapping.linear.weight, random_map.linear.weight)
    stamp = (out / "map.safetensors").stat().st_mtime_ns
    assert main(_args(inputs, out)) == 0  # the same settings: the finished maps are reused
    assert (out / "map.safetensors").stat().st_mtime_ns == stamp
    capsys.readouterr()
    assert main(_args(inputs, out, "--lr", "0.01")) == 2
    assert "other settings (lr)" in capsys.readouterr().err and (out / "map.safetensors").stat().st_mtime_ns == stamp
    assert main(_args(inputs, out, "--lr", "0.01", "--no-random-encoder", "--force")) == 0
    assert json.loads((out / "recipe.json").read_text())["settings"]["lr"] == 0.01 and not (out / "random-encoder").exists()
    assert main(_args(inputs, tmp_path / "bad", "--variant", "tokens", "--dtype", "float8")) == 2


def test_a_recipe_killed_with_sigkill_resumes_to_the_map_of_an_uninterrupted_run(inputs, tmp_path):
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    extra = ("--epochs", "8", "--batch-size", "2", "--every", "1", "--no-random-encoder")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "spatialprobe.cli.main"]
    subprocess.run(command + _args(inputs, whole, *extra), env=env, check=True, capture_output=True, timeout=600)
    process = subprocess.Popen(command + _args(inputs, killed, *extra), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    state, deadline = killed / "checkpoints" / "checkpoint.json", time.time() + 300
    while time.time() < deadline:  # into the second epoch of 6 optimiser steps each
        if state.exists() and json.loads(state.read_text())["state"]["optimiser_steps"] >= 8:
            break
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait()
    steps = json.loads(state.read_text())["state"]["optimiser_steps"]
    assert 8 <= steps < 48 and not (killed / "map.safetensors").exists()
    subprocess.run(command + _args(inputs, killed, *extra), env=env, check=True, capture_output=True, timeout=600)
    a, b = _map(whole / "map.safetensors"), _map(killed / "map.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_the_limber_study_runs_the_recipe_on_model_specs_and_checks_the_lm_first(inputs, tmp_path):
    import yaml

    from spatialprobe.experiments.plan import Plan, PlanError
    from spatialprobe.experiments.resolve import resolve

    plan = {"name": "limber-hf", "data": inputs["data"], "bootstrap": 50,
            "models": {"clip": inputs["encoder"]},
            "studies": {"limber": {"models": ["clip"], "lm": inputs["lm"], "epochs": 1, "batch_size": 4, "max_scenes": 12}},
            "claims": [{"study": "limber", "statement": "the trained encoder's map captions better than the random encoder's", "metric": "CIDEr",
                        "margin": 0.1, "a": {"task": "captioning", "model": "clip", "control": "none"},
                        "b": {"task": "captioning", "model": f"{inputs['encoder']} (random init)", "control": "none"}}]}
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump(plan))
    assert main(["run", str(path), "--runs", str(tmp_path / "runs"), "--quiet"]) == 0
    (run,) = (tmp_path / "runs").iterdir()
    records = [json.loads(line) for line in (run / "results.jsonl").read_text().splitlines()]
    assert {(r["model"], r["condition"]["control"]) for r in records} >= {(inputs["encoder"], "model − random encoder")}
    assert json.loads((run / "claims.json").read_text())[0]["verdict"] in {"reproduced", "not reproduced", "inconclusive", "undecidable"}
    report = (run / "report.md").read_text()
    assert "LiMBeR's map from each encoder" in report and "model − random encoder" in report
    bad = {**plan, "studies": {"limber": {**plan["studies"]["limber"], "lm": inputs["encoder"]}}}
    path.write_text(yaml.safe_dump(bad))
    with pytest.raises(PlanError, match="not a causal LM"):
        resolve(Plan.from_yaml(path))
