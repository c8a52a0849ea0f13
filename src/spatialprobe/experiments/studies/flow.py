"""Pipeline flow: one probe of fixed size read at every site, encoder layers → connector → LM layers.

What it measures is *accessibility to this probe*: decodability can rise along the pipeline,
information cannot.
"""

from __future__ import annotations

from spatialprobe.experiments.studies._base import STUDIES, Study
from spatialprobe.experiments.studies._probing import dataset, probe_step, runs

SITES = ["vision.layer.*", "connector.out", "lm.layer.*"]
STAGES = ("vision", "connector", "lm")


def steps(ctx, options: dict) -> list:
    return [
        probe_step(ctx, "flow", model, seed, sites=options.get("sites", SITES), tasks=[options.get("task", "region_cell")],
                   pools=[options.get("pool", "all")], probes=[options.get("probe", "attention_pool")], neural=options.get("neural", {}),
                   controls=options.get("controls", []), data=dataset(ctx, "flow", options))
        for model, seed in runs(ctx, options["models"])
    ]


def pipeline_order(site: str) -> tuple:
    stage, _, rest = site.partition(".")
    index = rest.rpartition(".")[2]
    return (STAGES.index(stage) if stage in STAGES else len(STAGES), int(index) if index.isdigit() else 10**6, site)


def section(results, options: dict, scenes) -> list:
    from spatialprobe.report import Figure, Table, Text, fmt, headline
    from spatialprobe.report.figures import curves

    records = sorted(results.of("flow", control="none"), key=lambda r: pipeline_order(r.site))
    if not records:
        return [Text("No records.")]
    first = min(results.seed_key(r) for r in records)
    series, rows = {}, []
    for r in records:
        metric = headline(r)
        rows.append([r.model.removeprefix("lab:"), r.site, f"{metric} {fmt(r.metrics[metric])}", results.seeds(r)])
        if results.seed_key(r) == first:
            series.setdefault(r.model.removeprefix("lab:"), []).append((r.site, r.metrics[metric]))
    task = records[0].task
    return [
        Text(f"One `{records[0].probe}` probe (fixed size) on `{task}`, read at every site from the encoder's layers through the connector "
             "into the LM. This is **accessibility to this probe**: decodability can rise along the pipeline, information cannot."),
        Figure("flow.png", curves({f"{task}: accessibility to this probe": series}, "score", xlabel="site (pipeline order)"),
               "The same probe at every site, one curve per connector, with 95% CI bands (first seeds)."),
        Table(["model", "site", "metric [95% CI]", "seeds"], rows),
    ]


STUDIES.register("flow", Study("flow", "Pipeline flow", steps, section, options=("models", "sites", "task", "probe", "pool", "neural", "controls", "data")))
