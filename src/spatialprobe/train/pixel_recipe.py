"""The PixelLLM recipe end to end: a frozen VLM's LM hidden states at every located word and at the
``<eos>`` of every ``where is …`` prompt, the location head trained on them, word grounding and
referring localisation scored against image-free baselines; and a box prompt trained for
location-conditioned captions of every region phrase, scored against another region's box
(`spatialprobe train pixel`).

Folder (`train.recipe`): ``recipe.json``, ``rows-<split>.safetensors`` (the located rows: the VLM
runs once per text, and a resumed run reads them back), ``head.safetensors``, ``box_prompt.safetensors``,
``checkpoints/`` and ``box-checkpoints/``, ``results/``.
"""

from __future__ import annotations

from pathlib import Path


def pixel_settings(model: str, data: list[str], *, site: str = "lm.out", epochs: int = 20, batch_size: int = 64, lr: float = 2e-3, hidden: int = 256,
                   box_epochs: int = 8, meteor: bool | None = None, seed: int = 0, train_split: str = "probe_train", test_split: str = "test",
                   max_scenes: int | None = None, dtype: str = "float32", n_resamples: int = 1000) -> dict:
    """Every setting that decides the recipe's numbers, checked; ``meteor`` None: where Java is present."""
    from spatialprobe.metrics.captions import meteor_available
    from spatialprobe.train.recipe import RecipeError, check_settings

    if not data:
        raise RecipeError("data: name at least one dataset (captions with located words, or referring expressions)")
    check_settings(dtype, epochs=epochs, batch_size=batch_size, hidden=hidden, n_resamples=n_resamples)
    if not isinstance(box_epochs, int) or box_epochs < 0:
        raise RecipeError(f"box_epochs must be an integer ≥ 0 (0: no box-conditioned captions), got {box_epochs!r}")
    return {"model": model, "data": [str(d) for d in data], "site": site, "epochs": epochs, "batch_size": batch_size, "lr": lr, "hidden": hidden,
            "box_epochs": box_epochs, "meteor": meteor_available() if meteor is None else bool(meteor), "seed": seed, "train_split": train_split, "test_split": test_split, "max_scenes": max_scenes, "dtype": dtype, "n_resamples": n_resamples}


def run_pixel(out: str | Path, settings: dict, *, device: str = "cpu", force: bool = False, every: int = 50, progress: bool = False) -> list:
    """Run the recipe of ``settings`` (`pixel_settings`) into ``out``; returns the records written."""
    import torch

    from spatialprobe.features.key import dataset_fingerprint, weights_fingerprint
    from spatialprobe.models import load_model
    from spatialprobe.results.store import ResultStore
    from spatialprobe.scenes import SceneDataset
    from spatialprobe.scenes.address import resolve
    from spatialprobe.train.location import LocationHead
    from spatialprobe.train.pixel import Located, head_records, located_rows, train_head
    from spatialprobe.train.recipe import RecipeError, load_weights, recipe_folder, save_weights

    s = settings
    datasets = [SceneDataset(resolve(d)) for d in s["data"]]
    adapter = load_model(s["model"], dtype=s["dtype"], device=device)
    inputs = {"data": [dataset_fingerprint(d.root) for d in datasets], "model": weights_fingerprint(adapter.model)}
    with recipe_folder(out, "pixel", {**s, "inputs": inputs}, force) as folder:
        rows = {}
        for split in (s["train_split"], s["test_split"]):
            path = folder / f"rows-{split}.safetensors"
            if not path.exists():
                parts = [located_rows(adapter, d, d.scenes(split)[: s["max_scenes"]], site=s["site"], progress=progress) for d in datasets if d.scenes(split)]
                if not parts:
                    raise RecipeError(f"data: no {split} scenes in {', '.join(s['data'])}")
                Located.concat(parts).save(path)
            rows[split] = Located.load(path)
        path = folder / "head.safetensors"
        if path.exists():
            head = LocationHead(rows[s["train_split"]].hidden.shape[-1], hidden=s["hidden"])
            curve = load_weights(head, path)["curve"]
        else:
            train_rows = rows[s["train_split"]]
            head, curve = train_head(train_rows.hidden, torch.as_tensor(train_rows.boxes, dtype=torch.float32), epochs=s["epochs"],
                                     batch_size=s["batch_size"], lr=s["lr"], seed=s["seed"], hidden_width=s["hidden"], checkpoints=folder / "checkpoints", every=every, progress=progress)
            save_weights(head, path, {"curve": curve})
        config = {"data": s["data"], "split": s["test_split"], "epochs": s["epochs"], "lr": s["lr"], "curve": curve,
                  "train_rows": len(rows[s["train_split"]])}
        results = ResultStore(folder / "results")
        records = head_records(head, rows[s["train_split"]], rows[s["test_split"]], name=adapter.name, site=s["site"], seed=s["seed"],
                               n_resamples=s["n_resamples"], config=config, dtype=s["dtype"], out=results)
        if s["box_epochs"]:
            records += _box_captions(adapter, datasets, s, folder, results, every, progress)
        return records


def _box_captions(adapter, datasets, s: dict, folder: Path, results, every: int, progress: bool) -> list:
    """Train (or reuse) the box prompt on the train split's regions; records on the test split's (none when no dataset has regions)."""
    from spatialprobe.train.box_captions import box_caption_records, regions, train_box_prompt, visual_prompts
    from spatialprobe.train.location import BoxPrompt
    from spatialprobe.train.recipe import load_weights, save_weights

    split_regions = {}
    for split in (s["train_split"], s["test_split"]):
        pairs = [(d, scene) for d in datasets for scene in d.scenes(split)[: s["max_scenes"]] if any(e.referent is not None for e in scene.expressions)]
        scene_of, boxes, phrases = regions([scene for _, scene in pairs])
        split_regions[split] = (pairs, scene_of, boxes, phrases)
    (train_pairs, *train_regions), (test_pairs, *test_regions) = split_regions[s["train_split"]], split_regions[s["test_split"]]
    if not train_regions[2] or len(test_regions[2]) < 2:
        return []
    train_prompts = visual_prompts(adapter, train_pairs)
    path = folder / "box_prompt.safetensors"
    if path.exists():
        box_prompt = BoxPrompt(train_prompts.shape[-1])
        curve = load_weights(box_prompt, path)["curve"]
    else:
        box_prompt, curve = train_box_prompt(adapter, train_prompts, *train_regions, epochs=s["box_epochs"], seed=s["seed"],
                                             checkpoints=folder / "box-checkpoints", every=every, progress=progress)
        save_weights(box_prompt, path, {"curve": curve})
    config = {"data": s["data"], "split": s["test_split"], "box_epochs": s["box_epochs"], "curve": curve, "train_regions": len(train_regions[2])}
    return box_caption_records(adapter, box_prompt.to(adapter.device), visual_prompts(adapter, test_pairs), [scene for _, scene in test_pairs], *test_regions,
                               seed=s["seed"], n_resamples=s["n_resamples"], meteor=s["meteor"], config=config, dtype=s["dtype"], out=results)
