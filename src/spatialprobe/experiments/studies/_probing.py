"""A probing step: one `ProbeConfig` on one lab model of one lab seed."""

from __future__ import annotations

from spatialprobe.experiments.studies._base import Step


def probe_step(ctx, study: str, model: str, seed: int, **config) -> Step:
    """Probe lab model ``model`` (of lab seed ``seed``); records name the model, the step names the seed."""
    from spatialprobe.probing.protocol import run

    def go(directory):
        run({"model": f"toy:{ctx.models[seed][model]}", "name": f"lab:{model}", "data": str(ctx.scenes), "seeds": ctx.plan.probe_seeds,
             "bootstrap": ctx.plan.bootstrap, "out": str(directory), "controls": [], **config}, progress=ctx.progress)

    return Step(f"{study}/{model}/lab{seed}", go)
