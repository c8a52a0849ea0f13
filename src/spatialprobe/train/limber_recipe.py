"""The LiMBeR recipe end to end: load, extract the encoder's tokens once, train the map, caption the
test split against the blind and random-encoder controls, write records (`spatialprobe train limber`,
the ``limber`` study's steps on model specs).

Folder (`train.recipe`): ``recipe.json``, ``map.safetensors``, ``random-encoder/map.safetensors``,
``checkpoints/`` and ``random-encoder/checkpoints/`` (resume points), ``results/`` (records).
"""

from __future__ import annotations

from pathlib import Path

CONTROLS = ("blind", "random_encoder")
RANDOM_ENCODER = "random encoder"
"""The ``model − random encoder`` record's name for the map trained on the re-initialised encoder."""


def limber_settings(encoder: str, lm: str, data: str, *, variant: str = "pooled", prefix: int = 4, site: str = "vision.out", epochs: int = 1,
                    batch_size: int = 16, accumulate: int = 1, lr: float = 1e-3, seed: int = 0, train_split: str = "probe_train",
                    test_split: str = "test", max_scenes: int | None = None, controls: tuple[str, ...] = CONTROLS, dtype: str = "float32",
                    n_resamples: int = 1000) -> dict:
    """Every setting that decides the recipe's numbers, checked (the folder's key; device and progress are not in it)."""
    from spatialprobe.train.limber import VARIANTS
    from spatialprobe.train.recipe import RecipeError, check_settings

    unknown = [c for c in controls if c not in CONTROLS]
    if unknown:
        raise RecipeError(f"controls: {unknown} unknown; valid: {', '.join(CONTROLS)}")
    if "blind" not in controls:
        raise RecipeError("controls: the blind control is always run (it is the caption floor); list it")
    if variant not in VARIANTS:
        raise RecipeError(f"variant {variant!r}; valid: {', '.join(VARIANTS)}")
    check_settings(dtype, prefix=prefix, epochs=epochs, batch_size=batch_size, accumulate=accumulate, n_resamples=n_resamples)
    return {"encoder": encoder, "lm": lm, "data": str(data), "variant": variant, "prefix": prefix, "site": site, "epochs": epochs,
            "batch_size": batch_size, "accumulate": accumulate, "lr": lr, "seed": seed, "train_split": train_split, "test_split": test_split,
            "max_scenes": max_scenes, "controls": list(controls), "dtype": dtype, "n_resamples": n_resamples}


def run_limber(out: str | Path, settings: dict, *, device: str = "cpu", use_store: bool = True, features: str | Path | None = None,
               force: bool = False, every: int = 50, progress: bool = False) -> list:
    """Run the recipe of ``settings`` (`limber_settings`) into ``out``; returns the records written.

    ``use_store``: the encoder's tokens from a feature store under ``features`` (extracted once), else the
    encoder at every step. ``every``: optimiser steps between checkpoints."""
    from spatialprobe.features import FeatureStore, extract
    from spatialprobe.features.key import dataset_fingerprint, weights_fingerprint
    from spatialprobe.models import load_model
    from spatialprobe.results.store import ResultStore
    from spatialprobe.scenes import SceneDataset
    from spatialprobe.scenes.address import resolve
    from spatialprobe.train.captions import caption_records, caption_test
    from spatialprobe.train.limber import load_causal_lm
    from spatialprobe.train.recipe import recipe_folder

    s = settings
    dataset = SceneDataset(resolve(s["data"]))
    lm, tokenizer = load_causal_lm(s["lm"], dtype=s["dtype"], device=device)
    encoders = {"model": load_model(s["encoder"], dtype=s["dtype"], device=device)}
    if "random_encoder" in s["controls"]:
        encoders[RANDOM_ENCODER] = load_model(s["encoder"], dtype=s["dtype"], device=device, random_init=True)
    inputs = {"data": dataset_fingerprint(dataset.root), "lm": weights_fingerprint(lm), "encoder": weights_fingerprint(encoders["model"].model)}
    with recipe_folder(out, "limber", {**s, "inputs": inputs}, force) as folder:  # other weights or data: another run, never resumed
        captioned = {}
        for control, encoder in encoders.items():
            random_init = control == RANDOM_ENCODER
            store = None
            if use_store:
                extracted = extract(encoder, dataset, [s["site"]], root=features, split=[s["train_split"], s["test_split"]], progress=progress)
                store = FeatureStore(extracted.directory)
            mapping, curve = _trained_map(folder / ("random-encoder" if random_init else ""), encoder, lm, tokenizer, dataset, store, s, device, every, progress)
            caption = caption_test(mapping, encoder, lm, tokenizer, dataset, split=s["test_split"], site=s["site"], store=store, seed=s["seed"],
                                   max_scenes=s["max_scenes"])
            caption.config.update(lm=s["lm"], epochs=s["epochs"], lr=s["lr"], batch_size=s["batch_size"] * s["accumulate"], curve=curve)
            captioned[control] = (encoder.name, caption)
        results = ResultStore(folder / "results")
        records = []
        for control, (name, caption) in captioned.items():
            versus = {RANDOM_ENCODER: captioned[RANDOM_ENCODER][1]} if control == "model" and RANDOM_ENCODER in captioned else None
            records += caption_records(caption, name=name, probe=f"limber:{s['variant']}", seed=s["seed"], n_resamples=s["n_resamples"],
                                       dtype=s["dtype"], versus=versus, out=results)
    return records


def _trained_map(folder: Path, encoder, lm, tokenizer, dataset, store, s: dict, device: str, every: int, progress: bool):
    """(map, loss curve): the folder's finished map, or one trained now (resuming from the folder's checkpoints)."""
    from spatialprobe.train.limber import LinearMap, train_limber
    from spatialprobe.train.recipe import metadata_of

    path = folder / "map.safetensors"
    if path.exists():
        return LinearMap.load(path).to(device), metadata_of(path)["curve"]
    folder.mkdir(parents=True, exist_ok=True)
    mapping, curve = train_limber(encoder, lm, tokenizer, dataset, site=s["site"], variant=s["variant"], prefix=s["prefix"], split=s["train_split"],
                                  epochs=s["epochs"], batch_size=s["batch_size"], accumulate=s["accumulate"], lr=s["lr"], seed=s["seed"],
                                  store=store, checkpoints=folder / "checkpoints", every=every, progress=progress, max_scenes=s["max_scenes"], device=device)
    mapping.save(path, {"encoder": encoder.name, "lm": s["lm"], "site": s["site"], "curve": curve})
    return mapping, curve
