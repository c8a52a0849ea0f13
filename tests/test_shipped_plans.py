"""The real-model plans in configs/ run end to end on tiny random HF models and the dataset fixtures
(numbers meaningless, paths real): each checkpoint and dataset swapped in with --model / --data, each
run ending in a report with its claims table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dataset_fixtures import paired_coco, refcoco, vsr
from tiny_hf import VLMS, save_encoder
from spatialprobe.cli.main import main

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
VERDICTS = {"reproduced", "not reproduced", "inconclusive", "undecidable"}


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SPATIALPROBE_CACHE", str(tmp_path / "cache"))


def _run(tmp_path, plan: str, models: dict, data: dict) -> Path:
    args = ["run", str(CONFIGS / plan), "--quick", "--quiet", "--workers", "1", "--runs", str(tmp_path / "runs")]
    args += [a for alias, spec in models.items() for a in ("--model", f"{alias}={spec}")]
    args += [a for name, address in data.items() for a in ("--data", f"{name}={address}")]
    assert main(args) == 0
    (run,) = (tmp_path / "runs").iterdir()
    return run


def _claims_reported(run: Path, n: int) -> list[dict]:
    claims = json.loads((run / "claims.json").read_text())
    assert len(claims) == n and all(c["verdict"] in VERDICTS for c in claims), [c["verdict"] for c in claims]
    report = (run / "report.md").read_text()
    assert "Headline: pre-registered claims" in report and all(c["statement"] in report for c in claims)
    return claims


def _records(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "results.jsonl").read_text().splitlines()]


def test_lost_in_space_plan_trains_a_real_qformer_jointly(tmp_path):
    models = {"blip2": VLMS["blip2"](tmp_path / "blip2"), "instructblip": VLMS["instructblip"](tmp_path / "instructblip"),
              "idefics": VLMS["idefics"](tmp_path / "idefics")}
    specs = {"blip2": f"hf:{models['blip2']}", "instructblip": f"hf:{models['instructblip']}?instruction=describe the image",
             "idefics": f"hf:{models['idefics']}"}
    vsr_root = vsr(tmp_path / "vsr", n=30)
    data = {"refcoco": f"refcoco:{refcoco(tmp_path / 'refer')}", "vsr": f"vsr:{vsr_root}?instances=[\"{vsr_root / 'instances_train2017.json'}\"]"}
    run = _run(tmp_path, "lost-in-space.yaml", specs, data)
    claims = _claims_reported(run, 6)
    assert {c["a"]["model"] for c in claims} == set(specs.values())  # the aliases reached the claims
    records = _records(run)
    joint = [r for r in records if r["model"] == specs["blip2"] and r["condition"]["control"] == "joint"]
    assert {r["task"] for r in joint} == {"referring_box", "region_cell", "relation"}
    assert all(r["config"]["chosen"]["trained_parameters"] > 0 for r in joint)  # the Q-Former's own weights trained
    assert {r["config"]["data"] for r in records if r["task"] == "relation"} == {data["vsr"]}  # each task read its dataset
    plan = json.loads((run / "plan.json").read_text())
    assert plan["models"] == specs and plan["data"] == data  # the overrides are the run's resolved plan


def test_multi_object_plan_runs_five_encoders_on_the_paired_and_global_sets(tmp_path):
    specs = {alias: f"hf:{save_encoder(tmp_path / name, name)}" for alias, name in
             (("vit", "vit"), ("clip", "clip"), ("blip", "blip-itm"), ("flava", "flava"), ("dinov2", "dinov2"))}
    root = paired_coco(tmp_path / "coco")
    run = _run(tmp_path, "multi-object.yaml", specs, {"paired": f"coco:{root}?task_set=paired-0&val_fraction=0.2",
                                                       "global": f"coco:{root}?task_set=global&val_fraction=0.2"})
    _claims_reported(run, 4)
    records = _records(run)
    assert {r["model"] for r in records} == set(specs.values())
    globals_ = [r for r in records if r["task"] == "object_identity" and not r["condition"].get("options", {}).get("source")]
    assert globals_ and {r["condition"]["control"] for r in globals_} == {"none", "random_init"}
    assert "M1 binding" in (run / "report.md").read_text()


def test_pipeline_flow_plan_reads_every_stage_of_two_vlms(tmp_path):
    specs = {"blip2": f"hf:{VLMS['blip2'](tmp_path / 'blip2')}", "llava": f"hf:{VLMS['llava'](tmp_path / 'llava')}"}
    run = _run(tmp_path, "pipeline-flow.yaml", specs, {"refcoco": f"refcoco:{refcoco(tmp_path / 'refer')}"})
    _claims_reported(run, 2)
    sites = {(r["model"], r["site"]) for r in _records(run) if r["condition"]["control"] == "none"}
    assert sites == {(spec, site) for spec in specs.values() for site in ("vision.out", "connector.in", "connector.out", "lm.out")}


def _plan(name: str, **kwargs):
    from spatialprobe.experiments.plan import Plan

    return Plan.from_yaml(CONFIGS / name, "quick", **kwargs)


def test_a_shipped_plan_names_every_checkpoint_and_dataset_once_and_the_shortcuts_replace_them():
    plan = _plan("pipeline-flow.yaml", models=["llava=hf:/ckpt/llava"], data=["refcoco:/data/refer"])
    assert plan.studies["flow"]["models"] == ["hf:Salesforce/blip2-opt-2.7b", "hf:/ckpt/llava"]
    assert {c.a["model"] for c in plan.claims} == {"hf:Salesforce/blip2-opt-2.7b", "hf:/ckpt/llava"}  # claims follow the alias
    assert plan.data == {"refcoco": "refcoco:/data/refer"}  # the only dataset, by default
    assert _plan("pipeline-flow.yaml").fingerprint() != plan.fingerprint()


@pytest.mark.parametrize("kwargs, message", [
    ({"models": ["hf:/x"]}, "--model hf:/x: the plan has 2 models names \\(blip2, llava\\); give --model NAME=SPEC"),
    ({"models": ["blip=hf:/x"]}, "no models name 'blip'; did you mean 'blip2'\\?"),
    ({"data": ["refcco=refcoco:/x"]}, "no data name 'refcco'; did you mean 'refcoco'\\?"),
    ({"overrides": [("models.llava", "llava")]}, "models.llava: expected a model spec"),
])
def test_a_bad_shortcut_is_refused_when_the_plan_is_read(kwargs, message):
    from spatialprobe.experiments.plan import PlanError

    with pytest.raises(PlanError, match=message):
        _plan("pipeline-flow.yaml", **kwargs)


def test_every_model_site_and_dataset_is_checked_before_any_work(tmp_path):
    """Structure-only loads (no weights read): a missing site, a model without a trainable connector, a
    missing dataset folder or an unknown dataset name is a PlanError from `resolve`, before a run folder exists."""
    from spatialprobe.experiments.plan import PlanError
    from spatialprobe.experiments.resolve import resolve

    blip2, clip = f"hf:{VLMS['blip2'](tmp_path / 'blip2')}", f"hf:{save_encoder(tmp_path / 'clip', 'clip')}"
    data = [f"refcoco=refcoco:{refcoco(tmp_path / 'refer')}"]
    resolve(_plan("pipeline-flow.yaml", models=[f"blip2={blip2}", f"llava={blip2}"], data=data))  # fine
    cases = [
        (_plan("pipeline-flow.yaml", models=[f"blip2={blip2}", f"llava={clip}"], data=data), "flow/hf-clip-.*has no site 'connector.in'; its sites: vision.embed"),
        (_plan("lost-in-space.yaml", models=[f"blip2={blip2}", f"instructblip={blip2}", f"idefics={clip}"],
               data=data + [f"vsr=vsr:{tmp_path / 'refer'}"]), "protocols: joint — .*clip: the clip card declares no trainable connector"),
        (_plan("pipeline-flow.yaml", models=[f"blip2={blip2}", f"llava={blip2}"], data=[f"refcoco=refcoco:{tmp_path / 'nowhere'}"]),
         "data.refcoco: .*the dataset folder .*nowhere does not exist"),
        (_plan("pipeline-flow.yaml", models=[f"blip2={blip2}", f"llava={blip2}"], data=[f"refcoco=refcocoo:{tmp_path}"]),
         "unknown source 'refcocoo'; did you mean 'refcoco'\\?"),
        (_plan("pipeline-flow.yaml", models=[f"blip2={blip2}", "llava=hf:/no/such/dir"], data=data), "the directory /no/such/dir does not exist"),
        (_plan("pipeline-flow.yaml", models=[f"blip2={blip2}", f"llava={blip2}"], data=data, overrides=[("studies.flow.data", "coco")]),
         "studies.flow.data: 'coco' is not one of the plan's datasets; did you mean 'refcoco'\\? \\(it names refcoco\\)"),
    ]
    for plan, message in cases:
        with pytest.raises(PlanError, match=message):
            resolve(plan)


def test_device_and_dtype_reach_every_probing_step_and_its_records(tmp_path, monkeypatch):
    """--dtype bfloat16: the steps' configs, the stores' keys and the records' provenance say so;
    an unavailable device or an unknown dtype is refused before any work."""
    from spatialprobe.experiments.plan import PlanError
    from spatialprobe.experiments.resolve import planned_steps, resolve

    monkeypatch.setenv("SPATIALPROBE_CACHE", str(tmp_path / "cache"))
    specs = {"blip2": f"hf:{VLMS['blip2'](tmp_path / 'blip2')}", "llava": f"hf:{VLMS['llava'](tmp_path / 'llava')}"}
    data = [f"refcoco=refcoco:{refcoco(tmp_path / 'refer')}"]
    models = [f"{a}={s}" for a, s in specs.items()]
    plan = _plan("pipeline-flow.yaml", models=models, data=data, overrides=[("dtype", "bfloat16")])
    assert {s.kwargs["config"]["dtype"] for s in planned_steps(plan)} == {"bfloat16"}
    args = ["run", str(CONFIGS / "pipeline-flow.yaml"), "--quick", "--quiet", "--workers", "1", "--runs", str(tmp_path / "runs"), "--dtype", "bfloat16"]
    assert main(args + [a for m in models for a in ("--model", m)] + [a for d in data for a in ("--data", d)]) == 0
    (folder,) = (tmp_path / "runs").iterdir()
    records = _records(folder)
    assert records and {r["provenance"]["dtype"] for r in records} == {"bfloat16"} and {r["provenance"]["device"] for r in records} == {"cpu"}
    for overrides, message in (([("device", "cuda:7")], "device: device 'cuda:7': not available"), ([("dtype", "float8")], "dtype: 'float8'; valid")):
        with pytest.raises(PlanError, match=message):
            resolve(_plan("pipeline-flow.yaml", models=models, data=data, overrides=overrides))


def test_fix_plan_fine_tunes_each_qformer_and_probes_it_next_to_the_original(tmp_path):
    models = {"blip2": VLMS["blip2"](tmp_path / "blip2"), "instructblip": VLMS["instructblip"](tmp_path / "instructblip")}
    specs = {"blip2": f"hf:{models['blip2']}", "instructblip": f"hf:{models['instructblip']}?instruction=describe the image"}
    vsr_root = vsr(tmp_path / "vsr", n=30)
    data = {"refcoco": f"refcoco:{refcoco(tmp_path / 'refer')}", "vsr": f"vsr:{vsr_root}?instances=[\"{vsr_root / 'instances_train2017.json'}\"]"}
    run = _run(tmp_path, "fix.yaml", specs, data)
    claims = _claims_reported(run, 4)
    assert {c["a"]["model"] for c in claims} == {f"{s} + fix" for s in specs.values()}  # "<alias> + fix" reached the claims
    records = _records(run)
    fixed = {(r["model"], r["task"], r["site"]) for r in records if r["model"].endswith(" + fix")}
    assert fixed == {(f"{s} + fix", t, "connector.out") for s in specs.values() for t in ("referring_box", "region_cell", "relation")}
    assert len(records) == len({(r["model"], r["task"], r["site"], r["condition"]["control"], r["seed"], r["probe"]) for r in records})  # no record twice
    fixed_spec = next(r["config"]["model"] for r in records if r["model"] == f"{specs['blip2']} + fix")
    assert "?connector=" in fixed_spec and fixed_spec.endswith("connector.safetensors")
