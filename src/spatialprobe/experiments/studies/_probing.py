"""A probing step: one `ProbeConfig` on one lab model of one lab seed."""

from __future__ import annotations

from spatialprobe.experiments.studies._base import Step


def run_probe(directory, config: dict) -> None:
    from spatialprobe.probing.protocol import run

    run({**config, "out": str(directory)}, progress=False)


def probe_step(ctx, study: str, model: str, seed: int, weight: float = 1.0, **config) -> Step:
    """Probe lab model ``model`` (of lab seed ``seed``); records name the model, the step names the seed."""
    from spatialprobe.probing.config import ProbeConfig
    from spatialprobe.probing.outline import outline

    config = {"model": f"toy:{ctx.models[seed][model]}", "name": f"lab:{model}", "data": str(ctx.scenes), "seeds": ctx.plan.probe_seeds,
              "bootstrap": ctx.plan.bootstrap, "controls": [], **config}
    return Step(f"{study}/{model}/lab{seed}", run_probe, {"config": config}, weight, tuple(outline(ProbeConfig.from_dict(config))))
