"""`spatialprobe train limber` on a tiny CLIP → tiny GPT-2 over COCO-schema files: records with the blind
and random-encoder controls, a folder that resumes (after kill -9, to the same map) and refuses other
settings without --force, and the limber study's plan step on model specs."""

from __future__ import annotations

import json

import pytest
import torch

from dataset_fixtures import paired_coco
from recipe_runs import cli, kill_during_training, same_weights
from tiny_hf import save_encoder, save_gpt2
from spatialprobe.cli.main import main


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("recipe")
    return {"encoder": f"hf:{save_encoder(root / 'clip', 'clip')}", "lm": f"hf:{save_gpt2(root / 'gpt2')}",
            "data": f"coco:{paired_coco(root / 'coco', n=24)}", "features": str(root / "features")}


def _args(inputs, out, *extra) -> list[str]:
    return ["train", "limber", "--encoder", inputs["encoder"], "--lm", inputs["lm"], "--data", inputs["data"], "--features", inputs["features"],
            "--out", str(out), "--batch-size", "4", "--max-scenes", "12", "--bootstrap", "50", "--threads", "1", "--quiet", *extra]


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
    cli(_args(inputs, whole, *extra))
    steps = kill_during_training(_args(inputs, killed, *extra), killed, 8)["optimiser_steps"]  # into the second epoch of 6 optimiser steps each
    assert 8 <= steps < 48 and not (killed / "map.safetensors").exists()
    cli(_args(inputs, killed, *extra))
    assert same_weights(whole / "map.safetensors", killed / "map.safetensors")


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
