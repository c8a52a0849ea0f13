"""The fix recipe end to end (`spatialprobe train fix`, the ``fix`` study's spec steps): the connector's
input rows extracted once, the connector fine-tuned with spatial captions and / or the set-matched
location loss, its weights saved; the fixed model is ``<spec>?connector=<folder>/connector.safetensors``.

Folder (`train.recipe`): ``recipe.json``, ``connector.safetensors``, ``training.json`` (loss curve,
what it trained on), ``checkpoints/``.
"""

from __future__ import annotations

import json
from pathlib import Path


def fix_settings(model: str, data: str, *, losses: tuple[str, ...] = ("caption",), epochs: int = 2, batch_size: int = 8, lr: float = 1e-4,
                 seed: int = 0, split: str = "probe_train", max_scenes: int | None = None, dtype: str = "float32") -> dict:
    """Every setting that decides the fixed connector, checked."""
    from spatialprobe.train.fix import LOSSES
    from spatialprobe.train.recipe import RecipeError, check_settings

    unknown = [name for name in losses if name not in LOSSES]
    if unknown or not losses:
        raise RecipeError(f"losses: {list(unknown) or 'none'}; valid: {', '.join(LOSSES)}")
    check_settings(dtype, epochs=epochs, batch_size=batch_size)
    return {"model": model, "data": str(data), "losses": list(losses), "epochs": epochs, "batch_size": batch_size, "lr": lr, "seed": seed,
            "split": split, "max_scenes": max_scenes, "dtype": dtype}


def fixed_spec(spec: str, connector: str | Path) -> str:
    """``spec`` with its connector replaced by the file's."""
    from spatialprobe.models.loading import CONNECTOR

    return f"{spec}{'&' if '?' in spec else '?'}{CONNECTOR}={Path(connector).resolve()}"


def run_fix(out: str | Path, settings: dict, *, device: str = "cpu", features: str | Path | None = None, force: bool = False, every: int = 50,
            progress: bool = False) -> str:
    """Run the recipe of ``settings`` (`fix_settings`) into ``out``; returns the fixed model's spec."""
    from spatialprobe.features import FeatureStore, extract
    from spatialprobe.features.key import dataset_fingerprint, weights_fingerprint
    from spatialprobe.models import load_model
    from spatialprobe.scenes import SceneDataset
    from spatialprobe.scenes.address import resolve
    from spatialprobe.train.fix import train_fix
    from spatialprobe.train.recipe import recipe_folder, save_weights

    s = settings
    dataset = SceneDataset(resolve(s["data"]))
    adapter = load_model(s["model"], dtype=s["dtype"], device=device)
    inputs = {"data": dataset_fingerprint(dataset.root), "model": weights_fingerprint(adapter.model)}
    with recipe_folder(out, "fix", {**s, "inputs": inputs}, force) as folder:
        path = folder / "connector.safetensors"
        if not path.exists():
            store = FeatureStore(extract(adapter, dataset, ["connector.in"], root=features, split=[s["split"]], progress=progress).directory)
            connector, curve, trained_on = train_fix(adapter, dataset, losses=tuple(s["losses"]), split=s["split"], epochs=s["epochs"],
                                                     batch_size=s["batch_size"], lr=s["lr"], seed=s["seed"], store=store,
                                                     checkpoints=folder / "checkpoints", every=every, max_scenes=s["max_scenes"], progress=progress)
            (folder / "training.json").write_text(json.dumps({"curve": curve, **trained_on}, indent=1))
            save_weights(connector, path)
    return fixed_spec(s["model"], Path(out) / "connector.safetensors")
