"""LiMBeR: a linear map from each encoder into the frozen LM — captions and per-attribute scores vs blind."""

from __future__ import annotations

from spatialprobe.experiments.studies._base import STUDIES, Step, Study

CONTROLS = ["none", "blind", "model − blind"]
METRICS = ["CIDEr", "BLEU-4", "shape_precision", "colour_precision", "size_precision", "object_recall"]


def caption(directory, checkpoints: dict, data: str, seed: int, n_resamples: int) -> None:
    from spatialprobe.lab import evaluate

    evaluate.evaluate(checkpoints, data, directory / "results", seed=seed, n_resamples=n_resamples)


def steps(ctx, options: dict) -> list:
    return [Step(f"limber/lab{seed}", caption, {"checkpoints": {m: ctx.models[seed][m] for m in options["models"]}, "data": str(ctx.scenes),
                                                "seed": seed, "n_resamples": ctx.plan.bootstrap})
            for seed in ctx.plan.lab_seeds]


def section(results, options: dict, scenes) -> list:
    from spatialprobe.report import Figure, Table, Text, fmt
    from spatialprobe.report.figures import bars

    rows, gains = [], {}
    for model in options["models"]:
        for r in sorted(results.of("limber", model=f"lab:{model}"), key=lambda r: (results.lab_seed(r), CONTROLS.index(r.condition["control"]))):
            control = r.condition["control"]
            rows.append([model, control, str(results.lab_seed(r))] + [fmt(r.metrics.get(m)) for m in METRICS])
            if control == "model − blind" and results.lab_seed(r) == min(results.lab_seed(x) for x in results.of("limber")):
                for m in METRICS[2:]:
                    if m in r.metrics:
                        gains.setdefault(model, {})[m.replace("_precision", "").replace("object_", "")] = r.metrics[m]
    blocks = [Text("Greedy captions of the test split through the frozen LM, per encoder behind a linear connector; the blind baseline "
                   "gives the LM another scene's visual prompt. Per-attribute precision says *what* transferred (categories = shape)."),
              Table(["model", "control", "lab seed"] + METRICS, rows)]
    if gains:
        blocks.append(Figure("limber_gains.png", bars({"gain over blind": gains}, "model − blind"),
                             "Per-attribute gain of each encoder's captions over the blind baseline (paired 95% CI)."))
    return blocks


STUDIES.register("limber", Study("limber", "LiMBeR: what a linear map transfers", steps, section))
