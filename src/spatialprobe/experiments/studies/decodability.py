"""Encoder decodability, a positive control: is each attribute readable from an object's own tokens?

For every encoder (reached through one of its lab models), a linear probe reads each object's
category (shape) and each named attribute (colour) from the mean of its patch tokens (mask mapped
to the patch grid) at the chosen sites. An encoder that cannot tell shapes apart here cannot make
a claim about shapes downstream; the random encoder is the floor.
"""

from __future__ import annotations

from spatialprobe.experiments.studies._base import STUDIES, Study
from spatialprobe.experiments.studies._probing import dataset, probe_step, runs

ATTRIBUTES = ["category", "colour"]


def steps(ctx, options: dict) -> list:
    tasks = [{"name": "object_identity", "attribute": a} for a in options.get("attributes", ATTRIBUTES)]
    return [
        probe_step(ctx, "decodability", model, seed, sites=options.get("sites", ["vision.out"]), tasks=tasks, pools=[options.get("pool", "object_mean")],
                   probes=[options.get("probe", "ridge")], data=dataset(ctx, "decodability", options))
        for model, seed in runs(ctx, options["models"])
    ]


def encoder(model: str) -> str:
    """``linear+coarse@contrastive`` → ``contrastive``."""
    return model.removeprefix("lab:").rpartition("@")[2] or model


def section(results, options: dict, scenes) -> list:
    from spatialprobe.report import Details, Table, Text, fmt
    from spatialprobe.results.pooling import groups_of

    grouped, per_seed = {}, []
    for r in sorted(results.of("decodability", control="none"), key=lambda r: (r.model, r.condition.get("options", {}).get("attribute", ""), r.site)):
        attribute = r.condition.get("options", {}).get("attribute", "category")
        grouped.setdefault((encoder(r.model), attribute, r.site), []).append(r)
        per_seed.append([encoder(r.model), attribute, r.site, fmt(r.metrics["accuracy"]), results.seeds(r)])
    rows = []
    for (enc, attribute, site), records in grouped.items():
        sizes = groups_of(records, results.rows, "size")
        by_size = " · ".join(f"{v} {fmt(results.pooled(records, 'accuracy', group=('size', v)))}" for v in sizes)
        rows.append([enc, attribute, site, fmt(results.pooled(records, "accuracy")), by_size, str(len(records))])
    probes = sorted({r.probe for r in results.of("decodability")}) or [options.get("probe", "ridge")]
    attributes = sorted({row[1] for row in per_seed}) or options.get("attributes", ATTRIBUTES)
    return [Text(f"A {' / '.join(probes)} probe reads each object's {', '.join(attributes)} from the `{options.get('pool', 'object_mean')}` "
                 "pool of its own patch tokens: the encoder's side of every positive control (in the lab, category is the shape). "
                 "An untrained encoder (the lab's random one) is the floor; chance is 1 / the number of classes. Seeds pooled."),
            Table(["encoder", "attribute", "site", "accuracy [95% CI]", "by object size", "seeds"], rows),
            Details("Per seed", [Table(["encoder", "attribute", "site", "accuracy [95% CI]", "seeds"], per_seed)])]


STUDIES.register("decodability", Study("decodability", "Positive control: what each encoder's object tokens carry", steps, section,
                                      options=("models", "sites", "attributes", "pool", "probe", "data")))
