"""A probing step: one `ProbeConfig` on one model — a lab connector of one lab seed, or any model spec."""

from __future__ import annotations

import hashlib
import re

from spatialprobe.experiments.studies._base import Step

SPEC_SCHEMES = ("hf", "toy")


def is_spec(model: str) -> bool:
    """``hf:…`` / ``toy:…``: a model the run loads as given (not one the lab trains)."""
    return model.partition(":")[0] in SPEC_SCHEMES


def record_model(model: str) -> str:
    """The ``model`` field of its records: the spec itself, or ``lab:<connector>``."""
    return model if is_spec(model) else f"lab:{model.removeprefix('lab:')}"


def _slug(spec: str) -> str:
    """A step-id component for a spec: readable, one path level, unique (``hf-blip2-opt-2.7b-3f2a19``)."""
    tail = re.sub(r"[^\w.+@-]+", "-", spec.rstrip("/").rsplit("/", 1)[-1].partition("?")[0]).strip("-")
    return f"{spec.partition(':')[0]}-{tail}-{hashlib.sha256(spec.encode()).hexdigest()[:6]}"


def run_probe(directory, config: dict) -> None:
    from spatialprobe.probing.protocol import run

    run({**config, "out": str(directory)}, progress=False)


def dataset(ctx, study: str, options: dict, task: str | None = None):
    """The dataset a probing study reads: its ``data`` option names one of the plan's datasets (or a
    mapping task → name); a plan with one dataset needs no option."""
    from spatialprobe.experiments.plan import PlanError
    from spatialprobe.registry import nearest

    chosen = options.get("data")
    if isinstance(chosen, dict):
        chosen = chosen.get(task)
    names = [n for n in ctx.datasets if n]
    if chosen is None:
        if len(ctx.datasets) == 1:
            return next(iter(ctx.datasets.values()))
        raise PlanError(f"studies.{study}.data: the plan names datasets {', '.join(names)}: say which one"
                        + (f" {task} reads" if task else " this study reads") + " (data: NAME, or data: {task: NAME})")
    if chosen not in names:
        near = nearest(str(chosen), names)
        raise PlanError(f"studies.{study}.data: {chosen!r} is not one of the plan's datasets" + (f"; did you mean {near!r}?" if near else "")
                        + (f" (it names {', '.join(names)})" if names else " (the plan gives one unnamed dataset: leave data out)"))
    return ctx.datasets[chosen]


def probe_step(ctx, study: str, model: str, seed: int | None, *, data, weight: float = 1.0, **config) -> Step:
    """Probe ``model`` on ``data`` (`dataset`): a lab connector of lab seed ``seed`` (records name
    ``lab:<connector>``, the step the seed), or a model spec (``seed`` None; records and step name the spec)."""
    from spatialprobe.probing.config import ProbeConfig
    from spatialprobe.probing.outline import outline

    if is_spec(model):
        spec, step_id = model, f"{study}/{_slug(model)}"
    else:
        name = model.removeprefix("lab:")
        spec, step_id = f"toy:{ctx.models[seed][name]}", f"{study}/{name}/lab{seed}"
    config = {"model": spec, "name": record_model(model), "data": str(data), "seeds": ctx.plan.probe_seeds,
              "bootstrap": ctx.plan.bootstrap, "controls": [], **config}
    config.update({k: getattr(ctx.plan, k) for k, default in (("device", "cpu"), ("dtype", "float32")) if getattr(ctx.plan, k) != default})
    # a spec's weights and a dataset directory are not content-keyed: such a step is never reused from the step cache
    reusable = not is_spec(model) and ctx.plan.data is None
    return Step(step_id, run_probe, {"config": config}, weight, tuple(outline(ProbeConfig.from_dict(config))), reusable)


def runs(ctx, models: list[str]) -> list[tuple[str, int | None]]:
    """(model, lab seed) pairs: each lab connector at every lab seed (seed-major), then each spec once."""
    return [(m, seed) for seed in ctx.plan.lab_seeds for m in models if not is_spec(m)] + [(m, None) for m in models if is_spec(m)]
