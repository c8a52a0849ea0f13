"""A plan's steps on Ray (a local Ray with 2 CPUs) and on Slurm arrays through submitit's local
executor give the same records, predictions and claims as a sequential run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dataset_fixtures import refcoco
from tiny_hf import VLMS
from spatialprobe.cli.main import main

PLAN = Path(__file__).resolve().parents[1] / "configs" / "pipeline-flow.yaml"


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("inputs")
    return ["--model", f"blip2=hf:{VLMS['blip2'](root / 'blip2')}", "--model", f"llava=hf:{VLMS['llava'](root / 'llava')}",
            "--data", f"refcoco=refcoco:{refcoco(root / 'refer')}"]


def _run(tmp_path, inputs, name: str, *extra: str) -> Path:
    assert main(["run", str(PLAN), "--quick", "--quiet", "--runs", str(tmp_path / name), *inputs, *extra]) == 0
    (run,) = (tmp_path / name).iterdir()
    return run


def _outputs(run: Path) -> dict:
    """Every record without its provenance (host, time) and output folder, every prediction file, the claims."""
    out = {"claims": (run / "claims.json").read_text()}
    for path in sorted((run / "steps").rglob("results/*")):
        key = str(path.relative_to(run))
        if path.name.endswith(".predictions.jsonl"):
            out[key] = path.read_bytes()
        else:
            record = json.loads(path.read_text())
            record.pop("provenance"), record["config"].pop("out")
            out[key] = record
    return out


@pytest.mark.parametrize("executor", [["--executor", "ray", "--workers", "2"],
                                      ["--executor", "slurm", "--workers", "2", "--executor-option", "cluster=local", "--executor-option", "timeout_min=10"]],
                         ids=["ray", "slurm-local"])
def test_steps_on_another_executor_give_the_sequential_results(executor, inputs, tmp_path, monkeypatch):
    monkeypatch.setenv("SPATIALPROBE_CACHE", str(tmp_path / "cache"))
    sequential = _outputs(_run(tmp_path, inputs, "sequential", "--workers", "1"))
    elsewhere = _run(tmp_path, inputs, "elsewhere", *executor)
    assert len(sequential) > 10 and _outputs(elsewhere) == sequential
    if "slurm" in executor:
        assert list((elsewhere / "executor").glob("*_log.out"))  # submitit's job logs, in the run folder


def test_an_executor_option_it_does_not_take_is_refused_before_any_work(inputs, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SPATIALPROBE_CACHE", str(tmp_path / "cache"))
    base = ["run", str(PLAN), "--quick", "--quiet", "--runs", str(tmp_path / "runs"), *inputs]
    assert main(base + ["--executor", "slurm", "--executor-option", "cluster=local", "--executor-option", "slurm_partion=gpu"]) == 2
    assert main(base + ["--executor-option", "address=auto"]) == 2
    err = capsys.readouterr().err
    assert "--executor slurm:" in err and "slurm_partion" in err and "the local pool takes none" in err
    assert not (tmp_path / "runs").exists()
