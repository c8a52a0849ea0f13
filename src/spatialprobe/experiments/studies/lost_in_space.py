"""Lost in Space: a probe on the frozen connector vs the same probe trained jointly with it, with references."""

from __future__ import annotations

from spatialprobe.experiments.studies._base import STUDIES, Study
from spatialprobe.experiments.studies._probing import dataset, probe_step, record_model, runs

TASKS = ["referring_box", "region_cell", "relation"]
PROBES = {"relation": "relational"}
"""Each task's probe unless the options say otherwise: relation needs one that binds two objects."""
ORDER = ["frozen", "joint", "joint − frozen", "upper reference", "capacity-matched frozen", "joint from random", "blind", "control task"]
EXAMPLES = 8
OPTIONS = ("models", "tasks", "references", "reference_tasks", "joint", "probe", "probes", "neural", "text", "data")


def probe_of(options: dict, task: str) -> str:
    """``probes: {task: probe}`` overrides, else ``probe`` (default attention_pool), else the task's default."""
    return (options.get("probes") or {}).get(task) or PROBES.get(task) or options.get("probe", "attention_pool")


def joint_of(options: dict, task: str) -> dict:
    """The joint protocol's options for ``task``: ``joint.conditions`` is a list, or a mapping task → list."""
    joint = dict(options.get("joint") or {})
    if isinstance(joint.get("conditions"), dict):
        per_task = joint.pop("conditions")
        if task in per_task:
            joint["conditions"] = per_task[task]
    return joint


def steps(ctx, options: dict, study: str = "lost_in_space") -> list:
    """Per lab seed, model and task: the joint protocol (the configured conditions), read at the visual
    prompt; and the frozen probe on each ``references`` model (a connector that keeps location, e.g.
    the linear one: its output should read as well as the upper reference) for ``reference_tasks``."""
    return [
        probe_step(ctx, f"{study}/{task}", model, seed, sites=["connector.in", "connector.out"], tasks=[task], pools=["all"],
                   probes=[probe_of(options, task)], protocols=["joint"], joint=joint_of(options, task), neural=options.get("neural", {}),
                   text=options.get("text", "minilm"), weight=4.0 if "joint" in joint_of(options, task).get("conditions", ["joint"]) else 2.0,
                   data=dataset(ctx, study, options, task))
        for model, seed in runs(ctx, options["models"])
        for task in options.get("tasks", TASKS)
    ] + [
        probe_step(ctx, f"{study}/{task}", model, seed, sites=["connector.out"], tasks=[task], pools=["all"], probes=[probe_of(options, task)],
                   neural=options.get("neural", {}), text=options.get("text", "minilm"), data=dataset(ctx, study, options, task))
        for model, seed in runs(ctx, options.get("references", []))
        for task in options.get("reference_tasks", ["referring_box"])
    ]


BREAKDOWNS = {"referring_box": ["kind", "size", "n_objects"], "region_cell": ["kind", "size", "n_objects"], "relation": ["predicate_set", "n_objects"]}
"""Per task, the item groups the report breaks each condition down by."""


def _groups(results, study: str, models: list[str]) -> dict:
    """(model, task, condition) → its records over every lab and probe seed (paired differences excluded)."""
    out = {}
    for model in models:
        for r in results.of(study, model=record_model(model)):
            condition = r.condition["control"]
            if condition != "joint − frozen":  # a reference connector's plain frozen probe reads as "frozen"
                out.setdefault((model, r.task, "frozen" if condition == "none" else condition), []).append(r)
    return dict(sorted(out.items(), key=lambda kv: (kv[0][0], kv[0][1], ORDER.index(kv[0][2]))))


def _epochs(records) -> str:
    runs = [r.config.get("chosen", {}) for r in records]
    return " · ".join(f"{c['best_epoch']}/{len(c['curve'])}" for c in runs if c.get("curve"))


def _table(results, study: str, models: list[str]):
    """One row per model × task × condition, seeds pooled (per-item mean over seeds, CI over test scenes)."""
    from spatialprobe.report import Table, fmt, headline

    rows = []
    for (model, task, condition), records in _groups(results, study, models).items():
        metric = headline(records[0])
        trained = records[0].config.get("chosen", {}).get("trained_parameters", "")
        rows.append([model, task, condition, f"{metric} {fmt(results.pooled(records, metric))}", str(trained), _epochs(records), str(len(records))])
    return Table(["model", "task", "condition", "metric [95% CI], seeds pooled", "trained params", "best/ran epochs per seed", "seeds"], rows)


def _breakdowns(results, study: str, models: list[str]) -> list:
    """Each condition's headline metric by expression kind, object size, object count (relation: seen/unseen predicates)."""
    from spatialprobe.report import Table, fmt, headline
    from spatialprobe.results.pooling import groups_of

    tables = []
    by_task = {}
    for key, records in _groups(results, study, models).items():
        by_task.setdefault(key[1], []).append((key, records))
    for task, entries in by_task.items():
        names = BREAKDOWNS.get(task, [])
        columns = [(g, v) for g in names for v in groups_of([r for _, rs in entries for r in rs], results.rows, g)]
        if not columns:
            continue
        rows = [[model, condition] + [fmt(results.pooled(records, headline(records[0]), group=c)) for c in columns] for (model, _, condition), records in entries]
        tables.append(Table(["model", f"{task}: condition"] + [f"{g}={v}" for g, v in columns], rows))
    return tables


def _per_seed(results, study: str, models: list[str]):
    from spatialprobe.report import Table, fmt, headline

    rows = []
    for (model, task, condition), records in _groups(results, study, models).items():
        for r in sorted(records, key=results.seed_key):
            metric = headline(r)
            rows.append([model, task, condition, f"{metric} {fmt(r.metrics[metric])}", _epochs([r]), results.seeds(r)])
    for model in models:
        for r in results.of(study, model=record_model(model), control="joint − frozen"):
            metric = next(iter(r.metrics))
            rows.append([model, r.task, "joint − frozen", f"{metric} {fmt(r.metrics[metric])}", "", results.seeds(r)])
    return Table(["model", "task", "condition", "metric [95% CI]", "best/ran epochs", "seeds"], rows)


def _bars(results, study: str, models: list[str]):
    from spatialprobe.report import Figure, headline
    from spatialprobe.report.figures import bars

    panels = {}
    first = min(results.seed_key(r) for r in results.of(study))
    for r in results.of(study):
        model = r.model.removeprefix("lab:")
        if model not in models or r.condition["control"] == "joint − frozen" or results.seed_key(r) != first:
            continue
        metric = headline(r)
        condition = "frozen" if r.condition["control"] == "none" else r.condition["control"]
        panels.setdefault(f"{r.task} ({metric})", {}).setdefault(model, {}).setdefault(condition, r.metrics[metric])
    for series in panels.values():
        for model, values in series.items():
            series[model] = {c: values[c] for c in ORDER if c in values}
    return Figure(f"{study}_conditions.png", bars(panels, "score"),
                  "Each condition's headline metric with its 95% CI (first lab and probe seed); the upper reference reads the connector's input.")


def _examples(results, study: str, model: str):
    """Test scenes with the referent's true box and the frozen and joint probes' boxes."""
    from spatialprobe.report import Figure
    from spatialprobe.report.figures import scenes_with_boxes
    from spatialprobe.scenes import SceneDataset
    from spatialprobe.scenes.address import resolve

    picks = {c: results.of(study, model=record_model(model), task="referring_box", control=c) for c in ("frozen", "joint")}
    if not all(picks.values()):
        return None
    rows = {c: {(row["scene"], row["item"]): row for row in results.rows(recs[0])} for c, recs in picks.items()}
    dataset = SceneDataset(resolve(picks["frozen"][0].config["data"]))  # the dataset the records were measured on
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
    from spatialprobe.report import Details, Text

    models = options["models"] + options.get("references", [])

    blocks = [Text("Every condition trains the same probe head on the same items with the same recipe — a fixed budget of epochs, "
                   "the best epoch on probe_val kept — and differs only in what learns and what the probe reads (see docs/probing.md). "
                   "The **upper reference** (the probe on the connector's input, the encoder tokens it sees) is the positive control: "
                   "location is certainly there. **Blind** (another scene's tokens) is the floor. Seeds are pooled: each test item's score "
                   "is averaged over seeds, the CI is over test scenes. There is no control task here: the expression names the object "
                   "type the control labels are keyed to, so a probe learns them from the text alone."),
              _table(results, study, models), *_breakdowns(results, study, models), _bars(results, study, models),
              Details("Per seed, with each run's paired joint − frozen difference", [_per_seed(results, study, models)])]
    example = _examples(results, study, models[0])
    return blocks + ([example] if example else [])


STUDIES.register("lost_in_space", Study("lost_in_space", "Lost in Space: frozen vs joint", steps, section, options=OPTIONS,
                                        model_options=("models", "references")))
