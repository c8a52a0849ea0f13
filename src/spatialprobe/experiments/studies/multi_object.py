"""2406.09067: object identity per encoder layer and token pool; primary vs secondary; M1/M2."""

from __future__ import annotations

from spatialprobe.experiments.studies._base import STUDIES, Study
from spatialprobe.experiments.studies._probing import probe_step, runs

POOLS = ["cls", "mean", "object_mean", "object_random", "random_patch", "top_norm"]
TASKS = [
    {"name": "object_identity", "pairing": "paired", "source": "primary", "target": "primary"},
    {"name": "object_identity", "pairing": "paired", "source": "secondary", "target": "secondary"},
    {"name": "object_identity", "pairing": "paired", "source": "secondary", "target": "primary"},
]


def steps(ctx, options: dict) -> list:
    return [
        probe_step(ctx, "multi_object", options["model"], seed, sites=options.get("sites", ["vision.layer.*"]), tasks=options.get("tasks", TASKS),
                   pools=options.get("pools", POOLS), probes=[options.get("probe", "perceptron")], controls=options.get("controls", []))
        for _, seed in runs(ctx, [options["model"]])
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
    panels = {}
    for r in sorted(records, key=lambda r: _layer(r.site)):
        opts = r.condition.get("options", {})
        if r.task != "object_identity" or results.seed_key(r) != first:
            continue
        panel = f"{opts.get('target')} from {opts.get('source')}'s tokens"
        panels.setdefault(panel, {}).setdefault(r.condition["pool"], []).append((r.site, r.metrics["accuracy"]))
    grid = {}
    for r in records:
        if r.task == "object_identity":
            opts = r.condition.get("options", {})
            key = (f"{opts.get('target')} from {opts.get('source')}", r.site, results.seeds(r))
            grid.setdefault(key, {})[r.condition["pool"]] = fmt(r.metrics["accuracy"])
    pools = list(dict.fromkeys(r.condition["pool"] for r in records))
    layers = Table(["task", "site", "seeds"] + pools, [[*k] + [v.get(p, "—") for p in pools] for k, v in sorted(grid.items(), key=lambda kv: (kv[0][0], _layer(kv[0][1]), kv[0][2]))])
    structure = [[r.site, r.condition["pool"], fmt(r.metrics.get("M1 (binding, A_ss)")), fmt(r.metrics.get("M2 (segregation, A_sp/A_pp)")),
                  results.seeds(r)]
                 for r in sorted(results.of("multi_object", task="object_identity.structure"), key=lambda r: (_layer(r.site), r.condition["pool"]))]
    return [
        Text("Object identity (shape) decoded per encoder layer from each token pool of the paired scenes; an object pool reads the "
             "source object's own patches (mask resized to the patch grid). Chance: 1/number of shapes."),
        Figure("multi_object_layers.png", curves(panels, "accuracy", xlabel="site"), "Accuracy per layer and token pool, with 95% CI bands (first seeds)."),
        layers,
        Table(["site", "pool", "M1 binding (A_ss)", "M2 segregation (A_sp/A_pp)", "seeds"], structure),
    ]


STUDIES.register("multi_object", Study("multi_object", "Multi-object representations (2406.09067)", steps, section, models=lambda o: [o["model"]],
                                      options=("model", "sites", "tasks", "pools", "probe", "controls"), any_model=True))
