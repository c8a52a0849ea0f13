"""The PixelLLM recipe end to end: a frozen VLM's LM hidden states at every located word and at the
``<eos>`` of every ``where is …`` prompt, the location head trained on them, word grounding and
referring localisation scored against image-free baselines (`spatialprobe train pixel`).

Folder (`train.recipe`): ``recipe.json``, ``rows-<split>.safetensors`` (the located rows: the VLM
runs once per text, and a resumed run reads them back), ``head.safetensors``, ``checkpoints/``,
``results/``.
"""

from __future__ import annotations

import json
from pathlib import Path


def pixel_settings(model: str, data: list[str], *, site: str = "lm.out", epochs: int = 20, batch_size: int = 64, lr: float = 2e-3, hidden: int = 256,
                   seed: int = 0, train_split: str = "probe_train", test_split: str = "test", max_scenes: int | None = None, dtype: str = "float32",
                   n_resamples: int = 1000) -> dict:
    """Every setting that decides the recipe's numbers, checked."""
    from spatialprobe.names import DTYPES
    from spatialprobe.train.recipe import RecipeError

    if not data:
        raise RecipeError("data: name at least one dataset (captions with located words, or referring expressions)")
    if dtype not in DTYPES:
        raise RecipeError(f"dtype {dtype!r}; valid: {', '.join(DTYPES)}")
    for name, value in (("epochs", epochs), ("batch_size", batch_size), ("hidden", hidden), ("n_resamples", n_resamples)):
        if not isinstance(value, int) or value < 1:
            raise RecipeError(f"{name} must be a positive integer, got {value!r}")
    return {"model": model, "data": [str(d) for d in data], "site": site, "epochs": epochs, "batch_size": batch_size, "lr": lr, "hidden": hidden,
            "seed": seed, "train_split": train_split, "test_split": test_split, "max_scenes": max_scenes, "dtype": dtype, "n_resamples": n_resamples}


def run_pixel(out: str | Path, settings: dict, *, device: str = "cpu", force: bool = False, every: int = 50, progress: bool = False) -> list:
    """Run the recipe of ``settings`` (`pixel_settings`) into ``out``; returns the records written."""
    from spatialprobe.features.key import dataset_fingerprint, weights_fingerprint
    from spatialprobe.models import load_model
    from spatialprobe.results.store import ResultStore
    from spatialprobe.scenes import SceneDataset
    from spatialprobe.scenes.address import resolve
    from spatialprobe.train.location import LocationHead
    from spatialprobe.train.pixel import Located, head_records, located_rows, train_head
    from spatialprobe.train.recipe import RecipeError, recipe_folder

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
            head, curve = _load_head(path, rows[s["train_split"]].hidden.shape[-1], s["hidden"], LocationHead)
        else:
            head, curve = train_head(rows[s["train_split"]], epochs=s["epochs"], batch_size=s["batch_size"], lr=s["lr"], seed=s["seed"], hidden=s["hidden"],
                                     checkpoints=folder / "checkpoints", every=every, progress=progress)
            _save_head(head, curve, path)
        config = {"data": s["data"], "split": s["test_split"], "epochs": s["epochs"], "lr": s["lr"], "curve": curve,
                  "train_rows": len(rows[s["train_split"]])}
        return head_records(head, rows[s["train_split"]], rows[s["test_split"]], name=adapter.name, site=s["site"], seed=s["seed"],
                            n_resamples=s["n_resamples"], config=config, dtype=s["dtype"], out=ResultStore(folder / "results"))


def _save_head(head, curve: list[float], path: Path) -> None:
    import os

    from safetensors.torch import save_file

    tmp = path.with_name(f".{path.name}.tmp")
    save_file({k: v.contiguous() for k, v in head.state_dict().items()}, str(tmp), metadata={"curve": json.dumps(curve)})
    os.replace(tmp, path)


def _load_head(path: Path, width: int, hidden: int, cls):
    from safetensors import safe_open

    head = cls(width, hidden=hidden)
    with safe_open(str(path), "pt") as f:
        head.load_state_dict({k: f.get_tensor(k) for k in f.keys()})
        curve = json.loads(f.metadata()["curve"])
    return head.eval(), curve
