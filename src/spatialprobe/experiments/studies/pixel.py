"""PixelLLM: a location head on the frozen LM's hidden states — word boxes, referring at <eos>, box captions.

Lab connectors run the lab's heads; model specs (``hf:…`` VLMs) run `spatialprobe.train.pixel_recipe`
on the plan's datasets named by ``data`` (one name or a list: narratives and RefCOCO mixed)."""

from __future__ import annotations

from spatialprobe.experiments.studies._base import STUDIES, Step, Study, train_recipe

METRICS = {"word_grounding": ["ACC@0.5", "IoU", "center_L1"], "referring_eos": ["ACC@0.5", "IoU", "center_L1"],
           "box_captioning": ["shape_precision", "colour_precision", "size_precision"]}
OVERLAYS = 4
CAPTION_METRICS = ("CIDEr", "BLEU-4", "METEOR")
"""The box captions' scores on model specs (METEOR where Java is present)."""


def locate(directory, checkpoint: str, data: str, name: str, seed: int, epochs: int, n_resamples: int, box_epochs: int | None) -> None:
    from spatialprobe.lab.locate import evaluate_location

    evaluate_location(checkpoint, data, directory / "results", name=name, seed=seed, epochs=epochs, n_resamples=n_resamples, box_epochs=box_epochs)


def _spec_steps(ctx, options: dict, specs: list[str]) -> list:
    from spatialprobe.experiments.studies._probing import _slug, dataset
    from spatialprobe.results.outline import Outline
    from spatialprobe.train.box_captions import CONTROL
    from spatialprobe.train.pixel import METRICS as HEAD_METRICS
    from spatialprobe.train.pixel import TASKS
    from spatialprobe.train.pixel_recipe import pixel_settings

    if not specs:
        return []
    names = options.get("data")
    data = [dataset(ctx, "pixel", {"data": n}) for n in names] if isinstance(names, list) else [dataset(ctx, "pixel", options)]
    out = []
    for spec in specs:
        settings = pixel_settings(spec, [str(d) for d in data], epochs=options.get("epochs", 20), box_epochs=options.get("box_epochs", 8),
                                  seed=ctx.plan.probe_seeds[0], dtype=ctx.plan.dtype, n_resamples=ctx.plan.bootstrap)
        outline = tuple(Outline.of(task=task, model=spec, site=settings["site"], probe="location_head", protocol="pixel", pool=None,
                                   control=["none", baseline, "head − baseline"], metrics=list(HEAD_METRICS), seed=settings["seed"])
                        for task, baseline in TASKS.values())
        if settings["box_epochs"]:
            outline += (Outline.of(task="box_captioning", model=spec, site="connector.out", probe="box_prompt", protocol="pixel", pool=None,
                                   control=["none", CONTROL, "head − baseline"], metrics=["CIDEr", "BLEU-4"] + ["METEOR"] * settings["meteor"],
                                   seed=settings["seed"]),)
        out.append(Step(f"pixel/{_slug(spec)}", train_recipe, {"recipe": "spatialprobe.train.pixel_recipe:run_pixel", "settings": settings, "device": ctx.plan.device},
                        weight=4.0, outline=outline, reusable=False))
    return out


def steps(ctx, options: dict) -> list:
    """Per lab seed and model: the location head (+ box captions, except for ``head_only`` models); per model spec, the recipe."""
    from spatialprobe.experiments.studies._probing import is_spec

    head_only = set(options.get("head_only", []))
    specs = [m for m in options["models"] if is_spec(m)]
    return _spec_steps(ctx, options, specs) + [Step(f"pixel/{model}/lab{seed}", locate, {"checkpoint": str(ctx.models[seed][model]), "data": str(ctx.scenes), "name": model, "seed": seed,
                                                       "epochs": options.get("epochs", 15), "n_resamples": ctx.plan.bootstrap,
                                                       "box_epochs": None if model in head_only else options.get("box_epochs", 8)},
                 outline=_outline(model, seed, model in head_only))
            for seed in ctx.plan.lab_seeds for model in options["models"] if not is_spec(model)]


def _outline(model: str, seed: int, head_only: bool) -> tuple:
    from spatialprobe.lab.locate import BASELINES
    from spatialprobe.results.outline import Outline

    tasks = [t for t in METRICS if not (head_only and t == "box_captioning")]
    return tuple(Outline.of(task=t, model=f"lab:{model}", site="lm.out", probe="box_prompt" if t == "box_captioning" else "location_head", protocol="lab",
                            control=["none", BASELINES[t], "head − baseline"], pool=None, metrics=METRICS[t], seed=seed) for t in tasks)


def _overlays(results, model: str, scenes):
    """Test scenes with the box the head gives each shape word of the caption."""
    from spatialprobe.report import Figure
    from spatialprobe.report.figures import PALETTE, scenes_with_boxes
    from spatialprobe.scenes import SceneDataset

    records = results.of("pixel", model=f"lab:{model}", task="word_grounding", control="none")
    if not records:
        return None
    dataset = SceneDataset(scenes)
    shapes = set(dataset.metadata.get("vocabulary", {}).get("shape", ()))
    by_scene = {}
    for row in results.rows(records[0]):
        if row["word"] in shapes:
            by_scene.setdefault(row["scene"], []).append(row)
    test = {s.id: s for s in dataset.scenes("test")}
    panels = []
    for scene_id, rows in list(by_scene.items())[:OVERLAYS]:
        scene = test[scene_id]
        caption = next((c.text for c in scene.captions if c.kind == "coarse"), "")
        boxes = [(row["prediction"], PALETTE[i % len(PALETTE)], row["word"]) for i, row in enumerate(rows)]
        panels.append((dataset.image(scene), caption, boxes))
    return Figure(f"pixel_words_{model}.png", scenes_with_boxes(panels, columns=OVERLAYS), f"Word grounding on {model}: the head's box for each shape word of the coarse caption.")


def _padded(rows: list[list[str]], width: int = 7) -> list[list[str]]:
    """Rows of different metric counts as one table's rows."""
    return [r + [""] * (width - len(r)) for r in rows]


def _spec_section(results, specs: list[str]) -> list:
    from spatialprobe.report import Table, Text, fmt
    from spatialprobe.train.pixel import METRICS as HEAD_METRICS

    rows = [[spec, r.task, r.condition["control"]] + [fmt(r.metrics.get(m)) for m in HEAD_METRICS]
            for spec in specs for r in sorted(results.of("pixel", model=spec), key=lambda r: (r.task, r.condition["control"])) if r.task != "box_captioning"]
    captions = [[spec, r.condition["control"]] + [fmt(r.metrics.get(m)) for m in CAPTION_METRICS]
                for spec in specs for r in results.of("pixel", model=spec, task="box_captioning")]
    if not rows:
        return []
    return [Text("PixelLLM's location head (an MLP) on each VLM's frozen LM hidden states (`spatialprobe train pixel`): every located caption "
                 "word's box (Localized Narratives traces, COCO mentions) and the referent's box at `<eos>` of `where is <expression>` "
                 "(ACC@0.5 is RefCOCO's P@0.5), against the word's mean training box and the mean referent box; CIs over test images, "
                 "head − baseline paired."),
            Table(["model", "task", "condition"] + list(HEAD_METRICS), rows)] + ([
            Text("Location-conditioned captions: a box prompt after the image's visual prompt, trained on region phrases (Visual Genome, "
                 "RefCOCO), scored against the region's phrase next to the same captioner given another region's box of the same image."),
            Table(["model", "condition"] + list(CAPTION_METRICS), captions)] if captions else [])


def section(results, options: dict, scenes) -> list:
    from spatialprobe.experiments.studies._probing import is_spec
    from spatialprobe.report import Details, Table, Text, fmt
    from spatialprobe.results.pooling import pooled_difference

    specs = [m for m in options["models"] if is_spec(m)]
    if len(specs) == len(options["models"]):
        return _spec_section(results, specs)
    rows, per_seed = [], []
    for model in (m for m in options["models"] if not is_spec(m)):
        by = {}
        for r in results.of("pixel", model=f"lab:{model}"):
            by.setdefault((r.task, r.condition["control"]), []).append(r)
            per_seed.append([model, r.task, r.condition["control"], str(results.lab_seed(r))] + [f"{m} {fmt(r.metrics[m])}" for m in METRICS.get(r.task, []) if m in r.metrics])
        for task in sorted({t for t, _ in by}):
            baseline = next((c for t, c in by if t == task and c not in ("none", "head − baseline")), None)
            for control in ("none", baseline):
                if control is not None:
                    rows.append([model, task, control, str(len(by[(task, control)]))] + [f"{m} {fmt(results.pooled(by[(task, control)], m))}" for m in METRICS.get(task, [])])
            if baseline is not None and (task, "none") in by:
                rows.append([model, task, "head − baseline", ""] + [f"{m} {fmt(pooled_difference(by[(task, 'none')], by[(task, baseline)], results.rows, m)[0])}"
                                                                  for m in METRICS.get(task, [])])
    blocks = [Text("A location head (MLP) on the frozen LM's hidden states, everything else frozen: (a) each grounded caption word's box, "
                   "(b) the referent's box read at `<eos>` of `where is <expression>`, (c) captions conditioned on a box prompt. "
                   "Baselines know no image: the word's mean training box, the mean referent box, the whole-image caption. The head on the "
                   "linear connector (which keeps location) is the head's positive control. Seeds pooled; head − baseline paired."),
              Table(["model", "task", "condition", "seeds", "metrics [95% CI]", "", ""], _padded(rows)),
              Details("Per lab seed", [Table(["model", "task", "condition", "lab seed", "metrics [95% CI]", "", ""], _padded(per_seed))])]
    overlay = _overlays(results, [m for m in options["models"] if not is_spec(m)][-1], scenes)
    return blocks + ([overlay] if overlay else []) + _spec_section(results, specs)


STUDIES.register("pixel", Study("pixel", "PixelLLM: a location for every word", steps, section, options=("models", "head_only", "epochs", "box_epochs", "data"),
                                      model_options=("models", "head_only")))
