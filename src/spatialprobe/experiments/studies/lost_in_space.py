"""Lost in Space: a probe on the frozen connector vs the same probe trained jointly with it, with references."""

from __future__ import annotations

from spatialprobe.experiments.studies._base import STUDIES, Study
from spatialprobe.experiments.studies._probing import probe_step

TASKS = ["referring_box", "region_cell", "relation"]
PROBES = {"relation": "relational"}
"""Each task's probe unless the options say otherwise: relation needs one that binds two objects."""
ORDER = ["frozen", "joint", "joint − frozen", "upper reference", "capacity-matched frozen", "joint from random", "blind", "control task"]
EXAMPLES = 8


def probe_of(options: dict, task: str) -> str:
    """``probes: {task: probe}`` overrides, else ``probe`` (default attention_pool), else the task's default."""
    return (options.get("probes") or {}).get(task) or PROBES.get(task) or options.get("probe", "attention_pool")


def steps(ctx, options: dict, study: str = "lost_in_space") -> list:
    """Per lab seed, model and task: the joint protocol (the configured conditions), read at the visual prompt."""
    return [
        probe_step(ctx, f"{study}/{task}", model, seed, sites=["connector.in", "connector.out"], tasks=[task], pools=["all"],
                   probes=[probe_of(options, task)], protocols=["joint"], joint=options.get("joint", {}), neural=options.get("neural", {}),
                   text=options.get("text", "minilm"))
        for seed in ctx.plan.lab_seeds
        for model in options["models"]
        for task in options.get("tasks", TASKS)
    ]


def _table(results, study: str, models: list[str]):
    from spatialprobe.report import Table, fmt, headline

    rows = []
    for model in models:
        for r in sorted(results.of(study, model=f"lab:{model}"), key=lambda r: (r.task, ORDER.index(r.condition["control"]), results.lab_seed(r), r.seed)):
            metric = headline(r)
            chosen = r.config.get("chosen", {})
            epochs = f"{chosen['best_epoch']}/{len(chosen['curve'])}" if chosen.get("curve") else ""
            split = " · ".join(f"{k.split('=')[1].rstrip(']')} {fmt(v)}" for k, v in r.metrics.items() if "[predicate_set=" in k)
            rows.append([model, r.task, r.condition["control"], f"{metric} {fmt(r.metrics[metric])}", str(chosen.get("trained_parameters", "")), epochs,
                         split, f"lab {results.lab_seed(r)} / probe {r.seed}"])
    return Table(["model", "task", "condition", "metric [95% CI]", "trained params", "best/ran epochs", "seen · unseen predicates", "seeds"], rows)


def _bars(results, study: str, models: list[str]):
    from spatialprobe.report import Figure, headline
    from spatialprobe.report.figures import bars

    panels = {}
    first = min((results.lab_seed(r), r.seed) for r in results.of(study))
    for r in results.of(study):
        model = r.model.removeprefix("lab:")
        if model not in models or r.condition["control"] == "joint − frozen" or (results.lab_seed(r), r.seed) != first:
            continue
        metric = headline(r)
        panels.setdefault(f"{r.task} ({metric})", {}).setdefault(model, {}).setdefault(r.condition["control"], r.metrics[metric])
    for series in panels.values():
        for model, values in series.items():
            series[model] = {c: values[c] for c in ORDER if c in values}
    return Figure(f"{study}_conditions.png", bars(panels, "score"),
                  "Each condition's headline metric with its 95% CI (first lab and probe seed); the upper reference reads the connector's input.")


def _examples(results, study: str, model: str, scenes):
    """Test scenes with the referent's true box and the frozen and joint probes' boxes."""
    from spatialprobe.report import Figure
    from spatialprobe.report.figures import scenes_with_boxes
    from spatialprobe.scenes import SceneDataset

    picks = {c: results.of(study, model=f"lab:{model}", task="referring_box", control=c) for c in ("frozen", "joint")}
    if not all(picks.values()):
        return None
    rows = {c: {(row["scene"], row["item"]): row for row in results.rows(recs[0])} for c, recs in picks.items()}
    dataset = SceneDataset(scenes)
    by_id = {s.id: s for s in dataset.scenes("test")}
    panels = []
    for key in list(rows["frozen"])[:EXAMPLES]:
        scene = by_id[key[0]]
        text = next((e.text for e in scene.expressions if e.id == key[1]), key[1])
        truth = rows["frozen"][key]["target"]
        panels.append((dataset.image(scene), text, [(truth, "#2ca02c", "true"), (rows["frozen"][key]["prediction"], "#d62728", "frozen"),
                                                     (rows["joint"].get(key, {}).get("prediction", truth), "#1f77b4", "joint")]))
    return Figure(f"{study}_examples.png", scenes_with_boxes(panels), f"referring_box on {model}: true (green), frozen probe (red), joint (blue).")


def section(results, options: dict, scenes, study: str = "lost_in_space") -> list:
    from spatialprobe.report import Text

    models = options["models"]
    blocks = [Text("Every condition trains the same probe head on the same rows with the same loop and early-stopping rule; "
                   "they differ only in what learns and what the probe reads (see docs/probing.md). `joint − frozen` is a paired "
                   "cluster-bootstrap difference over the same test scenes. `control task` is scored on the control labels "
                   "(a random label per object type): high means the probe can tell object types apart, not where they are. "
                   "Every condition trains for the same fixed budget of epochs; the best epoch on probe_val is kept."),
              _table(results, study, models), _bars(results, study, models)]
    example = _examples(results, study, models[0], scenes)
    return blocks + ([example] if example else [])


STUDIES.register("lost_in_space", Study("lost_in_space", "Lost in Space: frozen vs joint", steps, section))
