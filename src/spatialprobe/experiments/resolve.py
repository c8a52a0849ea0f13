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

    aliases = f" or aliases in models: ({', '.join(plan.models)})" if plan.models else ""
    if uses_lab(plan) and not plan.lab:
        unknown = sorted({m for s, o in plan.studies.items() for m in STUDIES.get(s).models(o) if not is_spec(m)})
        raise PlanError(f"lab: missing — studies name {unknown}, which are not model specs (hf:…, toy:…){aliases}, "
                        "so they would be lab connectors and the plan needs a lab section")
    names = lab_names(plan) if uses_lab(plan) else []
    for study, options in plan.studies.items():
        models = STUDIES.get(study).models(options)
        missing = [m for m in models if not is_spec(m) and m.removeprefix("lab:") not in names]
        if missing:
            raise PlanError(f"studies.{study}.models: {missing} are not lab connectors{aliases}" + (f"; the lab trains {', '.join(names)}" if names else ""))
    datasets = plan.datasets() or {"": Path("<scenes>")}
    if names and len(datasets) > 1:
        raise PlanError(f"data: the lab trains on one dataset; this plan names {', '.join(datasets)}")
    ctx = RunContext(plan, Path("<run>"), datasets, {seed: {m: Path(f"<{m}>") for m in names} for seed in plan.lab_seeds}, progress=False)
    steps = []
    for study, options in plan.studies.items():
        try:
            steps += STUDIES.get(study).steps(ctx, options)
        except PlanError:
            raise
        except (ProbingError, ValueError, KeyError, TypeError) as err:
            raise PlanError(f"studies.{study}: {err}") from None
    return steps


def check_data(plan: Plan) -> None:
    """Every dataset the plan names exists: a scene directory, or a known source whose root exists."""
    from spatialprobe.registry import SOURCES, nearest
    from spatialprobe.scenes.address import parse

    for name, address in plan.datasets().items():
        where = f"data.{name}" if name else "data"
        if Path(address).expanduser().is_dir():
            if not (Path(address).expanduser() / "dataset.json").exists():
                raise PlanError(f"{where}: {address} is a folder but not a scene dataset (no dataset.json); "
                                "convert a real dataset with `spatialprobe data convert` or name it as SOURCE:ROOT")
            continue
        parsed = parse(address)
        if parsed is None:
            raise PlanError(f"{where}: {address}: no such scene directory, and not a SOURCE:ROOT address")
        source, root, _ = parsed
        if source not in SOURCES.names():
            near = nearest(source, SOURCES.names())
            raise PlanError(f"{where}: {address}: unknown source {source!r}" + (f"; did you mean {near!r}?" if near else "")
                            + f" (sources: {', '.join(SOURCES.names())})")
        if not root.is_dir():
            raise PlanError(f"{where}: {address}: the dataset folder {root} does not exist")


def check_models(steps: list) -> None:
    """Every model spec a step runs loads (structure only: no weights are read) and has the sites the
    step reads; the joint protocol's models declare a trainable connector."""
    from spatialprobe.experiments.studies._probing import is_spec
    from spatialprobe.models import ModelLoadError, UnknownSiteError
    from spatialprobe.models.loading import load_structure
    from spatialprobe.models.sites import expand

    from spatialprobe.train.limber import check_causal_lm

    loaded = {}
    for step in steps:
        config = step.kwargs.get("config") or _recipe_models(step.kwargs.get("settings", {}))
        if config.get("lm"):
            try:
                check_causal_lm(config["lm"])
            except ModelLoadError as err:
                raise PlanError(f"{step.id}: lm: {err}") from None
        spec = config.get("model")
        if not (isinstance(spec, str) and is_spec(spec)) or str(config.get("name", "")).startswith("lab:"):
            continue
        if spec not in loaded:
            try:
                loaded[spec] = load_structure(spec)
            except ModelLoadError as err:
                raise PlanError(f"{step.id}: {err}") from None
        adapter = loaded[spec]
        if "joint" in config.get("protocols", []) and adapter.card.trainable is None:
            raise PlanError(f"{step.id}: protocols: joint — {spec}: the {adapter.card.family} card declares no trainable connector")
        if config.get("trainable") and adapter.card.trainable is None:
            raise PlanError(f"{step.id}: {spec}: the {adapter.card.family} card declares no trainable connector to fine-tune")
        if adapter.per_image:
            _check_per_image(step, spec, adapter, config)
        try:
            expand(config.get("sites", []), adapter.sites(), spec)
        except UnknownSiteError as err:
            raise PlanError(f"{step.id}: {err}") from None


def _check_per_image(step, spec: str, adapter, config: dict) -> None:
    """A tiled or dynamic-resolution model gives each image its own rows: the training recipes (which read one row
    count per image) do not take it yet, and pools that would pad scenes are refused before any work."""
    from spatialprobe.features.pools import PER_SCENE

    if step.kwargs.get("settings") is not None:
        raise PlanError(f"{step.id}: {spec}: the {adapter.card.family} family gives each image its own rows, and the training recipes "
                        "read the same rows of every image (not built for tiled or dynamic-resolution models yet)")
    padded = [p for p in config.get("pools", []) if p not in PER_SCENE]
    if padded:
        raise PlanError(f"{step.id}: {spec} gives each image its own rows: pools {padded} would pad them; use {', '.join(PER_SCENE)}")


def _recipe_models(settings: dict) -> dict:
    """A training recipe's encoder, the site it reads and its LM, in the probe config's names."""
    return {"model": settings.get("encoder", settings.get("model")), "sites": [settings["site"]] if "site" in settings else [], "lm": settings.get("lm"),
            "trainable": "losses" in settings}  # the fix recipe fine-tunes the model's own connector


def resolve(plan: Plan) -> Produces:
    """Check the plan (see the module docstring); returns what its steps will write."""
    from spatialprobe.models.loading import ModelLoadError, check_device

    try:
        check_device(plan.device)
    except ModelLoadError as err:
        raise PlanError(f"device: {err}") from None
    steps = planned_steps(plan)
    check_data(plan)
    check_models(steps)
    produces = Produces([o for step in steps for o in step.outline])
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
