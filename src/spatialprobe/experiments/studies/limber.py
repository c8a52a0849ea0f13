"""LiMBeR: a linear map from each encoder into the frozen LM — captions and per-attribute scores vs blind.

Lab connectors caption through the lab's LM; model specs (``hf:…`` encoders) run the recipe of
`spatialprobe.train.limber_recipe` into the study's ``lm``: the map, captions against blind and a
random-init copy of the encoder, each step's training resumable (its folder beside the step's)."""

from __future__ import annotations

from spatialprobe.experiments.studies._base import STUDIES, Step, Study, train_recipe

CONTROLS = ["none", "blind", "model − blind"]
METRICS = ["CIDEr", "BLEU-4", "shape_precision", "colour_precision", "size_precision", "object_recall"]
RECIPE = ("lm", "variant", "prefix", "site", "epochs", "batch_size", "accumulate", "lr", "max_scenes", "controls")
"""The options of the recipe on model specs (`limber_settings`'s names)."""


def caption(directory, checkpoints: dict, data: str, seed: int, n_resamples: int) -> None:
    from spatialprobe.lab import evaluate

    evaluate.evaluate(checkpoints, data, directory / "results", seed=seed, n_resamples=n_resamples)


def _spec_steps(ctx, options: dict, specs: list[str]) -> list:
    from spatialprobe.experiments.plan import PlanError
    from spatialprobe.experiments.studies._probing import _slug, dataset
    from spatialprobe.results.outline import Outline
    from spatialprobe.train.captions import METRICS as CAPTION_METRICS
    from spatialprobe.train.limber_recipe import CONTROLS as RECIPE_CONTROLS
    from spatialprobe.train.limber_recipe import RANDOM_ENCODER, limber_settings

    if not specs:
        return []
    if "lm" not in options:
        raise PlanError(f"studies.limber.lm: missing — the causal LM (hf:…) the maps from {', '.join(specs)} feed")
    recipe = {k: options[k] for k in RECIPE if k in options and k != "lm"}
    recipe["controls"] = tuple(recipe.get("controls", RECIPE_CONTROLS))
    out = []
    for spec in specs:
        settings = limber_settings(spec, options["lm"], str(dataset(ctx, "limber", options)), **recipe, seed=ctx.plan.probe_seeds[0],
                                   dtype=ctx.plan.dtype, n_resamples=ctx.plan.bootstrap)
        probe, site = f"limber:{settings['variant']}", settings["site"]
        outline = [Outline.of(task="captioning", model=spec, site=site, probe=probe, protocol="limber", pool=None, metrics=list(CAPTION_METRICS),
                              control=CONTROLS + [f"model − {RANDOM_ENCODER}"] * ("random_encoder" in settings["controls"]), seed=settings["seed"])]
        if "random_encoder" in settings["controls"]:
            outline.append(Outline.of(task="captioning", model=f"{spec} (random init)", site=site, probe=probe, protocol="limber", pool=None,
                                      metrics=list(CAPTION_METRICS), control=CONTROLS, seed=settings["seed"]))
        out.append(Step(f"limber/{_slug(spec)}", train_recipe,
                        {"recipe": "spatialprobe.train.limber_recipe:run_limber", "settings": settings, "device": ctx.plan.device}, weight=4.0, outline=tuple(outline),
                        reusable=False))
    return out


def steps(ctx, options: dict) -> list:
    from spatialprobe.experiments.studies._probing import is_spec
    from spatialprobe.results.outline import Outline

    specs = [m for m in options["models"] if is_spec(m)]
    lab = [m for m in options["models"] if not is_spec(m)]
    return ([] if not lab else [Step(f"limber/lab{seed}", caption, {"checkpoints": {m: ctx.models[seed][m] for m in lab}, "data": str(ctx.scenes),
                                                "seed": seed, "n_resamples": ctx.plan.bootstrap},
                 outline=(Outline.of(task="captioning", model=[f"lab:{m}" for m in lab], site="connector.out", probe=None, protocol="lab",
                                     control=CONTROLS, pool=None, metrics=METRICS, seed=seed),))
            for seed in ctx.plan.lab_seeds]) + _spec_steps(ctx, options, specs)


def _spec_section(results, specs: list[str]) -> list:
    """Each recipe run's records: the map, its controls and the paired differences, with CIs."""
    from spatialprobe.report import Table, Text, fmt
    from spatialprobe.train.captions import METRICS as CAPTION_METRICS

    rows = []
    for spec in specs:
        for model in (spec, f"{spec} (random init)"):
            for r in sorted(results.of("limber", model=model), key=lambda r: r.condition["control"]):
                rows.append([model, r.probe, r.condition["control"]] + [fmt(r.metrics.get(m)) for m in CAPTION_METRICS])
    if not rows:
        return []
    return [Text("LiMBeR's map from each encoder into the frozen LM (`spatialprobe train limber`): greedy test captions scored against the "
                 "references (BLEU-4, CIDEr) and by the COCO categories they name against the image's instances; the blind control captions "
                 "each image from another image's prompt, the random encoder is the same recipe on a re-initialised copy. CIs over images; "
                 "differences paired."),
            Table(["model", "map", "control"] + list(CAPTION_METRICS), rows)]


def section(results, options: dict, scenes) -> list:
    from spatialprobe.experiments.studies._probing import is_spec
    from spatialprobe.report import Details, Figure, Table, Text, fmt
    from spatialprobe.report.figures import bars
    from spatialprobe.results.pooling import pooled_difference

    specs = [m for m in options["models"] if is_spec(m)]
    lab = [m for m in options["models"] if not is_spec(m)]
    if not lab:
        return _spec_section(results, specs)
    rows, per_seed, gains = [], [], {}
    for model in lab:
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
    return blocks + [Details("Per lab seed", [Table(["model", "control", "lab seed"] + METRICS, per_seed)])] + _spec_section(results, specs)


STUDIES.register("limber", Study("limber", "LiMBeR: what a linear map transfers", steps, section, options=("models", "data", *RECIPE)))
