"""The fix: object-aware connectors, probed as Lost in Space probed the originals.

Lab connectors: Lost in Space's protocol on the lab's object-aware connectors (seen and unseen
predicates apart). Model specs (``hf:…`` with a trainable connector): the model's own connector
fine-tuned with spatial captions and / or the set-matched location loss (`train.fix_recipe`,
encoder and LM frozen), then the frozen probes of each task read at ``connector.out`` of the fixed
model (records named ``<spec> + fix``) next to the original (records named ``<spec>``, which also
read ``connector.in``: the encoder's decodability, the positive control) — the experiment Lost in
Space called for.
"""

from spatialprobe.experiments.studies import lost_in_space
from spatialprobe.experiments.studies._base import STUDIES, Step, Study, training_folder

FIXED = " + fix"
"""The suffix of the fixed model's record name (a claim selects ``<alias> + fix``)."""
RECIPE = ("losses", "epochs", "batch_size", "lr", "max_scenes", "data")
"""The ``fix:`` options of the recipe on model specs (``data``: the plan dataset it trains on; default the referring_box one)."""


def fix_and_probe(directory, settings: dict, probes: list[dict], device: str) -> None:
    """Train the connector (resumable, beside the step), then run each frozen probe config on the fixed model."""
    from spatialprobe.probing.protocol import run
    from spatialprobe.train.fix_recipe import run_fix

    fixed = run_fix(training_folder(directory), settings, device=device)
    for config in probes:
        folder = config["task_folder"]
        run({**{k: v for k, v in config.items() if k != "task_folder"}, "model": fixed, "out": str(directory / folder)}, progress=False)


def _spec_steps(ctx, options: dict, specs: list[str]) -> list:
    from spatialprobe.experiments.studies._probing import _slug, dataset, probe_step
    from spatialprobe.probing.config import ProbeConfig
    from spatialprobe.probing.outline import outline
    from spatialprobe.train.fix_recipe import fix_settings

    if not specs:
        return []
    recipe = dict(options.get("fix") or {})
    unknown = sorted(set(recipe) - set(RECIPE))
    if unknown:
        from spatialprobe.experiments.plan import PlanError

        raise PlanError(f"studies.fix.fix: unknown option(s) {unknown}; valid: {', '.join(RECIPE)}")
    train_data = dataset(ctx, "fix", {"data": recipe.pop("data")}) if "data" in recipe else dataset(ctx, "fix", options, "referring_box")
    if "losses" in recipe:
        recipe["losses"] = tuple(recipe["losses"])
    steps = []
    for spec in specs:
        probes = []
        for task in options.get("tasks", lost_in_space.TASKS):
            common = dict(tasks=[task], pools=["all"], probes=[lost_in_space.probe_of(options, task)], neural=options.get("neural", {}),
                          text=options.get("text", "minilm"), controls=["blind"], data=dataset(ctx, "fix", options, task))
            steps.append(probe_step(ctx, f"fix/{task}", spec, None, sites=["connector.in", "connector.out"], weight=2.0, **common))
            fixed = {**steps[-1].kwargs["config"], "name": f"{spec}{FIXED}", "sites": ["connector.out"], "task_folder": task}
            probes.append(fixed)
        settings = fix_settings(spec, str(train_data), seed=ctx.plan.probe_seeds[0], dtype=ctx.plan.dtype, **recipe)
        produced = tuple(o for config in probes for o in outline(ProbeConfig.from_dict({k: v for k, v in config.items() if k != "task_folder"})))
        steps.append(Step(f"fix/{_slug(spec)}-fixed", fix_and_probe, {"settings": settings, "probes": probes, "device": ctx.plan.device},
                          weight=6.0, outline=produced, reusable=False))
    return steps


def steps(ctx, options: dict) -> list:
    from spatialprobe.experiments.studies._probing import is_spec

    specs = [m for m in options["models"] if is_spec(m)]
    lab = {**options, "models": [m for m in options["models"] if not is_spec(m)]}
    return (lost_in_space.steps(ctx, lab, study="fix") if lab["models"] or lab.get("references") else []) + _spec_steps(ctx, options, specs)


def _spec_section(results, specs: list[str]) -> list:
    from spatialprobe.report import Table, Text, fmt, headline

    rows = []
    for spec in specs:
        for model in (spec, f"{spec}{FIXED}"):
            for r in sorted(results.of("fix", model=model), key=lambda r: (r.task, r.site, r.condition.get("control", ""), r.seed)):
                metric = headline(r)
                rows.append([model, r.task, r.site, r.condition.get("control", "none"), str(r.seed), f"{metric} {fmt(r.metrics.get(metric))}"])
    if not rows:
        return []
    return [Text("Each model's own connector fine-tuned with spatial captions built from the training boxes (and / or the set-matched "
                 "location loss), encoder and LM frozen (`spatialprobe train fix`); then the same frozen probe at `connector.out` of the "
                 "fixed model (`+ fix`) and of the original. The probe at `connector.in` (the encoder's tokens, identical for both) is the "
                 "positive control, blind (another image's tokens) the floor."),
            Table(["model", "task", "site", "condition", "probe seed", "metric [95% CI]"], rows)]


def section(results, options: dict, scenes) -> list:
    from spatialprobe.experiments.studies._probing import is_spec
    from spatialprobe.report import Text

    specs = [m for m in options["models"] if is_spec(m)]
    lab = {**options, "models": [m for m in options["models"] if not is_spec(m)]}
    blocks = []
    if lab["models"]:
        blocks = [Text("The object-aware objectives saw only the dataset's *seen* predicates (`relation` reports seen and unseen apart); "
                       "compare each model with the coarse-caption connector of the Lost in Space section.")]
        blocks += lost_in_space.section(results, lab, scenes, study="fix")
    return blocks + _spec_section(results, specs)


STUDIES.register("fix", Study("fix", "The fix: object-aware connectors", steps, section, options=(*lost_in_space.OPTIONS, "fix"),
                                  model_options=("models", "references")))
