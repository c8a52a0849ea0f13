"""LiMBeR: a linear map from each encoder into the frozen LM — captions and per-attribute scores vs blind."""

from __future__ import annotations

from spatialprobe.experiments.studies._base import STUDIES, Step, Study

CONTROLS = ["none", "blind", "model − blind"]
METRICS = ["CIDEr", "BLEU-4", "shape_precision", "colour_precision", "size_precision", "object_recall"]


def caption(directory, checkpoints: dict, data: str, seed: int, n_resamples: int) -> None:
    from spatialprobe.lab import evaluate

    evaluate.evaluate(checkpoints, data, directory / "results", seed=seed, n_resamples=n_resamples)


def steps(ctx, options: dict) -> list:
    from spatialprobe.results.outline import Outline

    return [Step(f"limber/lab{seed}", caption, {"checkpoints": {m: ctx.models[seed][m] for m in options["models"]}, "data": str(ctx.scenes),
                                                "seed": seed, "n_resamples": ctx.plan.bootstrap},
                 outline=(Outline.of(task="captioning", model=[f"lab:{m}" for m in options["models"]], site="connector.out", probe=None, protocol="lab",
                                     control=CONTROLS, pool=None, metrics=METRICS, seed=seed),))
            for seed in ctx.plan.lab_seeds]


def section(results, options: dict, scenes) -> list:
    from spatialprobe.report import Details, Figure, Table, Text, fmt
    from spatialprobe.report.figures import bars
    from spatialprobe.results.pooling import pooled_difference

    rows, per_seed, gains = [], [], {}
    for model in options["models"]:
        of = {c: results.of("limber", model=f"lab:{model}", control=c) for c in CONTROLS}
        for control in ("none", "blind"):
            if of[control]:
                rows.append([model, control, str(len(of[control]))] + [fmt(results.pooled(of[control], m)) for m in METRICS])
        if of["none"] and of["blind"]:
            diffs = {m: pooled_difference(of["none"], of["blind"], results.rows, m)[0] for m in METRICS}
            rows.append([model, "model − blind", str(len(of["none"]))] + [fmt(diffs[m]) for m in METRICS])
            gains[model] = {m.replace("_precision", "").replace("object_", ""): diffs[m] for m in METRICS[2:] if diffs[m] is not None}
        for r in sorted((r for c in CONTROLS for r in of[c]), key=lambda r: (results.lab_seed(r), CONTROLS.index(r.condition["control"]))):
            per_seed.append([model, r.condition["control"], str(results.lab_seed(r))] + [fmt(r.metrics.get(m)) for m in METRICS])
    blocks = [Text("Greedy captions of the test split through the frozen LM, per encoder behind a linear connector; the blind baseline "
                   "gives the LM another scene's visual prompt. Per-attribute precision says *what* transferred (categories = shape). "
                   "Seeds are pooled (each caption's score averaged over lab seeds, CIs over test scenes; model − blind paired)."),
              Table(["model", "control", "seeds"] + METRICS, rows)]
    if gains:
        blocks.append(Figure("limber_gains.png", bars({"gain over blind": gains}, "model − blind"),
                             "Per-attribute gain of each encoder's captions over the blind baseline (paired 95% CI, seeds pooled)."))
    return blocks + [Details("Per lab seed", [Table(["model", "control", "lab seed"] + METRICS, per_seed)])]


STUDIES.register("limber", Study("limber", "LiMBeR: what a linear map transfers", steps, section))
