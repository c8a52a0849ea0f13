"""Execute a `Plan`: scenes → lab → every study's steps → claims → report, with caching and resume.

- Scenes are cached under ``$SPATIALPROBE_CACHE/scenes/<hash of their config>``, lab components
  in the lab cache, features in the feature store: a second run reuses them all.
- A run folder is ``<runs>/<name>-<timestamp>/``. Each step writes into ``steps/<id>.partial`` and
  is renamed to ``steps/<id>`` when it finishes; running the same plan (same fingerprint and scale)
  again continues the latest unfinished folder, skipping finished steps.
- A finished step is also kept under ``$SPATIALPROBE_CACHE/steps/<key>``, the key hashing the step's
  function and arguments (which name content-keyed scenes and lab checkpoints), the spatialprobe
  source, package versions and the torch thread count: a new run of an unchanged plan copies it
  instead of recomputing (``done.json`` says so). Delete that folder to recompute everything.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from spatialprobe.experiments.plan import Plan
from spatialprobe.scenes.files import cache_root


@dataclass
class RunContext:
    """What a study's steps may read: the plan, its datasets and the lab models of every lab seed."""

    plan: Plan
    directory: Path
    datasets: dict[str, Path | str]
    """Name → dataset (a directory or ``SOURCE:ROOT``); the one dataset of a plan with ``scenes`` or a
    single ``data`` is named ``""``."""
    models: dict[int, dict[str, Path]]
    progress: bool = True
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def scenes(self) -> Path | str:
        """The plan's only dataset, which the lab-training studies read (`resolve` refuses a lab with several)."""
        (scenes,) = self.datasets.values()
        return scenes


def scenes_for(plan: Plan, progress: bool = True) -> dict[str, Path | str]:
    """The plan's datasets as given (directories or ``SOURCE:ROOT``) by name, or its synthetic scenes,
    built once per config into the cache (see `RunContext.datasets`)."""
    from spatialprobe.features.key import content_key
    from spatialprobe.scenes.sources.synthetic import SyntheticConfig, build

    if plan.data is not None:
        return plan.datasets()

    cfg = SyntheticConfig(**plan.scenes)
    out = cache_root() / "scenes" / content_key(cfg.to_dict())
    if not (out / "dataset.json").exists():
        build(cfg, out, progress=progress)
    return {"": out}


def lab_models(plan: Plan, datasets: dict[str, Path], progress: bool = True, workers: int | None = None, threads: int = 1) -> dict[int, dict[str, Path]]:
    """Train (or reuse) the plan's lab for each lab seed (its study models were checked by `resolve`);
    nothing when no study names a lab connector."""
    from spatialprobe.experiments.resolve import uses_lab
    from spatialprobe.lab.build import train_lab
    from spatialprobe.lab.config import LabConfig

    if not uses_lab(plan):
        return {}
    (scenes,) = datasets.values()  # `resolve` refuses a lab with several datasets
    return {seed: train_lab(LabConfig.from_dict({**plan.lab, "data": str(scenes), "seed": seed}), progress=progress, workers=workers, threads=threads).checkpoints
            for seed in plan.lab_seeds}


def _unfinished(runs: Path, plan: Plan) -> Path | None:
    for directory in sorted(runs.glob(f"{plan.name}-*"), reverse=True):
        try:
            meta = json.loads((directory / "plan.json").read_text())
        except (OSError, ValueError):
            continue
        if meta.get("fingerprint") == plan.fingerprint() and not (directory / FINISHED).exists():
            return directory
    return None


FINISHED = "finished.json"
"""Written once every step has finished and the report is written: a run folder without it is continued."""


def run_directory(plan: Plan, runs: str | Path, resume: bool = True) -> tuple[Path, bool]:
    """The folder to run in: the latest unfinished one of this plan, else a new one. (path, resumed)"""
    runs = Path(runs)
    found = _unfinished(runs, plan) if resume else None
    if found is not None:
        return found, True
    directory = runs / f"{plan.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    while directory.exists():
        directory = directory.with_name(directory.name + "x")
    directory.mkdir(parents=True)
    (directory / "plan.json").write_text(json.dumps({"fingerprint": plan.fingerprint(), **plan.to_dict()}, indent=2, default=str) + "\n")
    return directory, False


def step_key(step) -> str:
    """What a step's results depend on beyond its content-keyed inputs (see the module docstring)."""
    import torch

    from spatialprobe.features.key import content_key
    from spatialprobe.results.origin import package_versions, source_fingerprint

    return content_key({"step": step.id, "fn": f"{step.fn.__module__}.{step.fn.__qualname__}", "kwargs": step.kwargs,
                        "source": source_fingerprint(), "packages": package_versions(), "threads": torch.get_num_threads()})


def _run_step(step, final: str) -> float:
    """Copy the step's cached result into ``final``, or run it into ``<final>.partial`` and rename it
    (then cache a copy); its seconds (0 when copied)."""
    final = Path(final)
    partial = final.with_name(final.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    key = step_key(step)
    cached = cache_root() / "steps" / key
    if step.reusable and (cached / "done.json").exists():
        shutil.copytree(cached, partial)
        done = json.loads((partial / "done.json").read_text())
        (partial / "done.json").write_text(json.dumps({"seconds": 0.0, "computed_seconds": done["seconds"], "reused": key}) + "\n")
        partial.rename(final)
        return 0.0
    partial.mkdir(parents=True)
    start = time.perf_counter()
    step.run(partial)
    seconds = time.perf_counter() - start
    (partial / "done.json").write_text(json.dumps({"seconds": seconds, "key": key}) + "\n")
    if not step.reusable:
        partial.rename(final)
        return seconds
    tmp = cached.with_name(f".{key}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(partial, tmp)
    try:
        tmp.rename(cached)
    except OSError:  # another run cached the same step meanwhile
        shutil.rmtree(tmp, ignore_errors=True)
    partial.rename(final)
    return seconds


def run_steps(ctx: RunContext, say=print, workers: int | None = None, threads: int = 1, executor: str = "local",
              executor_options: dict | None = None) -> None:
    """Every study's steps; finished steps are skipped, the others run side by side on ``executor``
    (`spatialprobe.executors`: the local worker pool, Ray or Slurm; each step is independent and
    writes only its own folder)."""
    from spatialprobe.executors import run
    from spatialprobe.experiments.studies import STUDIES
    from spatialprobe.workers import Job, default_workers

    steps = [s for name, options in ctx.plan.studies.items() for s in STUDIES.get(name).steps(ctx, options)]
    if (workers or default_workers()) > 1:
        steps = sorted(steps, key=lambda s: -s.weight)  # longest first packs the pool best; order does not change results
    (ctx.directory / "steps.json").write_text(json.dumps([s.id for s in steps], indent=1) + "\n")  # what a report checks it has
    todo = []
    for step in steps:
        final = ctx.directory / "steps" / step.id
        if final.exists():
            say(f"{step.id}: done earlier")
        else:
            todo.append(Job(_run_step, {"step": step, "final": str(final)}, step.id))
    finished = []

    def done(job, seconds):
        ctx.timings[job.name] = seconds
        finished.append(job.name)
        say(f"[{len(finished)}/{len(todo)}] {job.name}: " + (f"{seconds:.0f} s" if seconds else "cached"))

    if todo:
        say(f"{len(todo)} steps on {min(len(todo), workers or default_workers())} worker(s)" + (f" ({executor})" if executor != "local" else ""))
    run(todo, executor, workers, threads, done=done, waiting=lambda s: say(f"  … {len(finished)}/{len(todo)} steps done, the others still running ({s:.0f} s)"),
        options=executor_options, folder=ctx.directory / "executor")


def step_timings(directory: Path) -> dict[str, float]:
    """Seconds of every finished step of a run folder (also those of an earlier, interrupted session)."""
    return {str(p.parent.relative_to(directory / "steps")): json.loads(p.read_text())["seconds"] for p in sorted((directory / "steps").rglob("done.json"))}


def run_plan(plan: Plan, runs: str | Path = "runs", *, resume: bool = True, progress: bool = True, say=print, workers: int | None = None,
             threads: int = 1, executor: str = "local", executor_options: dict | None = None) -> Path:
    """Run ``plan`` end to end and write its report; returns the run folder. Independent lab stages
    run on ``workers`` local processes of ``threads`` torch threads (`spatialprobe.workers`), the
    steps on ``executor`` (`spatialprobe.executors`) with as many workers."""
    from spatialprobe.executors import check
    from spatialprobe.experiments.document import write_report
    from spatialprobe.experiments.resolve import resolve

    start = time.perf_counter()
    resolve(plan)  # every claim, study option and model against what the plan will produce, before any work
    check(executor, executor_options)
    directory, resumed = run_directory(plan, runs, resume)
    say(f"{'continuing' if resumed else 'run folder'}: {directory}")
    datasets = scenes_for(plan, progress)
    setup_s = time.perf_counter() - start
    models = lab_models(plan, datasets, progress, workers, threads)
    lab_s = time.perf_counter() - start - setup_s
    ctx = RunContext(plan, directory, datasets, models, progress)
    run_steps(ctx, say, workers, threads, executor, executor_options)
    timings = {"scenes": setup_s, "lab (this session)": lab_s, **step_timings(directory)}
    timings["total (this session)"] = time.perf_counter() - start
    (directory / "timings.json").write_text(json.dumps(timings, indent=2) + "\n")
    say(write_report(directory, plan, datasets, timings))
    (directory / FINISHED).write_text(json.dumps({"finished": time.strftime("%Y-%m-%dT%H:%M:%S"), "steps": len(step_timings(directory))}) + "\n")
    return directory
