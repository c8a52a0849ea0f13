"""Resolve a plan against what it will produce, before any work: every study's lab models exist,
every step's probe config is valid, and every claim's selectors and metrics name records some step
will write (`spatialprobe.results.outline`). A typo is a `PlanError` here, never a verdict."""

from __future__ import annotations

from pathlib import Path

from spatialprobe.experiments.plan import Plan, PlanError
from spatialprobe.results.outline import Produces


def lab_names(plan: Plan) -> list[str]:
    """The lab models the plan's lab trains (``qformer+coarse@contrastive``)."""
    from spatialprobe.lab.config import LabConfig, LabConfigError

    try:
        cfg = LabConfig.from_dict({**plan.lab, "data": "<scenes>"})
    except (LabConfigError, TypeError) as err:
        raise PlanError(str(err)) from None
    return [LabConfig.name(c) for c in cfg.connectors]


def uses_lab(plan: Plan) -> bool:
    """Whether some study names a lab connector (then the lab is trained)."""
    from spatialprobe.experiments.studies import STUDIES
    from spatialprobe.experiments.studies._probing import is_spec

    return any(not is_spec(m) for study, options in plan.studies.items() for m in STUDIES.get(study).models(options))


def planned_steps(plan: Plan) -> list:
    """Every study's steps, built on placeholder paths (nothing is read or trained)."""
    from spatialprobe.experiments.runner import RunContext
    from spatialprobe.experiments.studies import STUDIES
    from spatialprobe.experiments.studies._probing import is_spec
    from spatialprobe.probing.items import ProbingError

    if uses_lab(plan) and not plan.lab:
        raise PlanError("lab: missing — a study names lab connectors, so the plan needs a lab section (or name models by spec: hf:…, toy:…)")
    names = lab_names(plan) if uses_lab(plan) else []
    for study, options in plan.studies.items():
        models = STUDIES.get(study).models(options)
        specs = [m for m in models if is_spec(m)]
        if specs and not STUDIES.get(study).any_model:
            raise PlanError(f"studies.{study}.models: {specs}: this study trains the lab's components, so it takes lab connectors only")
        missing = [m for m in models if not is_spec(m) and m.removeprefix("lab:") not in names]
        if missing:
            raise PlanError(f"studies.{study}.models: {missing} are not lab connectors" + (f"; the lab trains {', '.join(names)}" if names else ""))
    ctx = RunContext(plan, Path("<run>"), Path("<scenes>"), {seed: {m: Path(f"<{m}>") for m in names} for seed in plan.lab_seeds}, progress=False)
    steps = []
    for study, options in plan.studies.items():
        try:
            steps += STUDIES.get(study).steps(ctx, options)
        except (ProbingError, ValueError, KeyError, TypeError) as err:
            raise PlanError(f"studies.{study}: {err}") from None
    return steps


def resolve(plan: Plan) -> Produces:
    """Check the plan (see the module docstring); returns what its steps will write."""
    produces = Produces([o for step in planned_steps(plan) for o in step.outline])
    for i, claim in enumerate(plan.claims):
        sides = [("a", claim.a, claim.metric), ("b", claim.b, claim.metric)]
        if claim.control is not None:
            metric = claim.control.metric or claim.metric
            sides += [("control.a", claim.control.a, metric), ("control.floor", claim.control.floor, metric)]
        for where, selector, metric in sides:
            admitted = produces.admitting(selector)
            if not admitted:
                raise PlanError(f"claims[{i}].{where}: {produces.explain(selector)}")
            metrics = sorted({m for o in admitted for m in o.metrics})
            if metric.split("[")[0] not in metrics:  # ``accuracy[size=small]``: a metric over one item group
                from spatialprobe.registry import nearest

                near = nearest(metric, metrics)
                raise PlanError(f"claims[{i}].{'control.metric' if where.startswith('control') and claim.control.metric else 'metric'}: "
                                f"the records {where} selects have no metric {metric!r}" + (f" (did you mean {near!r}?)" if near else "")
                                + f"; they have {', '.join(metrics)}")
    return produces
