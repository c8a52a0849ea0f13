"""2406.09067: object identity per encoder layer and token pool; primary vs secondary; M1/M2.

``data`` names the paired set (COCO ``task_set=paired-N``: one primary, one secondary object), or
maps ``paired`` and ``global`` to datasets: the global set (``task_set=global``, one object of 20
categories per image) is then probed for plain object identity with the same sites and pools."""

from __future__ import annotations

from spatialprobe.experiments.studies._base import STUDIES, Study
from spatialprobe.experiments.studies._probing import dataset, probe_step, runs

POOLS = ["cls", "mean", "object_mean", "object_random", "random_patch", "top_norm"]
TASKS = [
    {"name": "object_identity", "pairing": "paired", "source": "primary", "target": "primary"},
    {"name": "object_identity", "pairing": "paired", "source": "secondary", "target": "secondary"},
    {"name": "object_identity", "pairing": "paired", "source": "secondary", "target": "primary"},
]


def steps(ctx, options: dict) -> list:
    data = options.get("data")
    sets = ["paired", "global"] if isinstance(data, dict) and "global" in data else ["paired"]
    common = dict(sites=options.get("sites", ["vision.layer.*"]), pools=options.get("pools", POOLS), probes=[options.get("probe", "perceptron")],
                  controls=options.get("controls", []))
    return [
        probe_step(ctx, "multi_object" if task_set == "paired" else "multi_object/global", model, seed, **common,
                   tasks=options.get("tasks", TASKS) if task_set == "paired" else ["object_identity"], data=dataset(ctx, "multi_object", options, task_set))
        for model, seed in runs(ctx, options["models"]) for task_set in sets
    ]


def _layer(site: str) -> tuple:
    head, _, index = site.rpartition(".")
    return (head, int(index)) if index.isdigit() else (site, 10**6)


def section(results, options: dict, scenes) -> list:
    from spatialprobe.report import Figure, Table, Text, fmt
    from spatialprobe.report.figures import curves

    records = results.of("multi_object", control="none")
    if not records:
        return [Text("No records.")]
    first = min(results.seed_key(r) for r in records)
    several = len({r.model for r in records}) > 1
    panels = {}
    for r in sorted(records, key=lambda r: _layer(r.site)):
        opts = r.condition.get("options", {})
        if r.task != "object_identity" or results.seed_key(r) != first:
            continue
        panel = f"{opts.get('target')} from {opts.get('source')}'s tokens" if "source" in opts else "global set: the object's category"
        panel = f"{r.model.removeprefix('lab:')}: {panel}" if several else panel
        panels.setdefault(panel, {}).setdefault(r.condition["pool"], []).append((r.site, r.metrics["accuracy"]))
    grid = {}
    for r in records:
        if r.task == "object_identity":
            opts = r.condition.get("options", {})
            key = (f"{opts.get('target')} from {opts.get('source')}" if "source" in opts else "global set", r.model, r.site, results.seeds(r))
            grid.setdefault(key, {})[r.condition["pool"]] = fmt(r.metrics["accuracy"])
    pools = list(dict.fromkeys(r.condition["pool"] for r in records))
    layers = Table(["task", "model", "site", "seeds"] + pools,
                   [[*k] + [v.get(p, "—") for p in pools] for k, v in sorted(grid.items(), key=lambda kv: (kv[0][0], kv[0][1], _layer(kv[0][2]), kv[0][3]))])
    structure = [[r.model, r.site, r.condition["pool"], fmt(r.metrics.get("M1 (binding, A_ss)")), fmt(r.metrics.get("M2 (segregation, A_sp/A_pp)")),
                  results.seeds(r)]
                 for r in sorted(results.of("multi_object", task="object_identity.structure"), key=lambda r: (r.model, _layer(r.site), r.condition["pool"]))]
    return [
        Text("Object identity (the category) decoded per encoder layer from each token pool: in the paired scenes the primary and the "
             "secondary object apart, and — where the plan gives one — in the global set; an object pool reads the source object's own "
             "patches (mask resized to the patch grid). Chance: 1/number of categories."),
        Figure("multi_object_layers.png", curves(panels, "accuracy", xlabel="site"), "Accuracy per layer and token pool, with 95% CI bands (first seeds)."),
        layers,
        Table(["model", "site", "pool", "M1 binding (A_ss)", "M2 segregation (A_sp/A_pp)", "seeds"], structure),
    ]


STUDIES.register("multi_object", Study("multi_object", "Multi-object representations (2406.09067)", steps, section,
                                      options=("models", "sites", "tasks", "pools", "probe", "controls", "data")))
