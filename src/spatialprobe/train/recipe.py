"""A training recipe's output folder: its settings in ``recipe.json``, resumable in place, replaced only with ``force``.

A recipe (LiMBeR, the PixelLLM head, the object-aware fix) writes everything under one folder:
``recipe.json`` (the settings that decide its numbers), its trained weights, ``checkpoints/`` and
``results/``. Run it again with the same settings and it resumes — finished pieces are reused, an
interrupted training continues from its last checkpoint. Other settings on a used folder are
refused; with ``force`` the new run works in a hidden sibling and replaces the folder only once it
is complete, so nothing already written is lost to a run that fails. Trained weights and other
tensors go through `save_tensors` / `save_weights` (safetensors, written atomically, JSON metadata).
"""

from __future__ import annotations

import json
import os
import shutil
from contextlib import contextmanager
from pathlib import Path

SETTINGS = "recipe.json"


class RecipeError(ValueError):
    """A recipe's bad setting, data it cannot train on, or a folder that holds another run: shown as a user error."""


def check_settings(dtype: str, **positive) -> None:
    """The checks every recipe's settings share: a known dtype, and positive integers where counts are asked for."""
    from spatialprobe.names import DTYPES

    if dtype not in DTYPES:
        raise RecipeError(f"dtype {dtype!r}; valid: {', '.join(DTYPES)}")
    for name, value in positive.items():
        if not isinstance(value, int) or value < 1:
            raise RecipeError(f"{name} must be a positive integer, got {value!r}")


@contextmanager
def recipe_folder(out: str | Path, recipe: str, settings: dict, force: bool = False):
    """Yield the folder to work in: ``out`` itself (new, or the same settings: resume), or, with
    ``force`` over other settings, a sibling that replaces ``out`` when the block completes."""
    out = Path(out)
    wanted = {"recipe": recipe, "settings": settings}
    held = _settings(out)
    if held is None and out.exists() and any(out.iterdir()):
        raise RecipeError(f"{out}: not empty and not a recipe folder; choose another --out")
    if held is None or held == wanted:
        out.mkdir(parents=True, exist_ok=True)
        _write(out, wanted)
        yield out
        return
    if not force:
        differ = sorted(k for k in set(held.get("settings", {})) | set(settings) if held.get("settings", {}).get(k) != settings.get(k))
        what = f"a {held.get('recipe')} run" if held.get("recipe") != recipe else f"a {recipe} run with other settings ({', '.join(differ)})"
        raise RecipeError(f"{out}: holds {what}; pass --force to replace it once the new run completes, or choose another --out")
    work = out.with_name(f".{out.name}.replacing")
    if _settings(work) != wanted:
        shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True, exist_ok=True)
    _write(work, wanted)
    yield work
    old = out.with_name(f".{out.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    os.replace(out, old)
    os.replace(work, out)
    shutil.rmtree(old)


def _settings(folder: Path) -> dict | None:
    path = folder / SETTINGS
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except ValueError as err:
        raise RecipeError(f"{path}: unreadable ({err}); delete the folder to start over") from None


def _write(folder: Path, wanted: dict) -> None:
    tmp = folder / f".{SETTINGS}.tmp"
    tmp.write_text(json.dumps(wanted, indent=1, sort_keys=True))
    os.replace(tmp, folder / SETTINGS)


def save_weights(module, path: str | Path, metadata: dict | None = None) -> None:
    """A module's state in safetensors, atomically, with ``metadata`` (JSON-encoded values) in the file's header."""
    save_tensors(path, {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}, metadata)


def load_weights(module, path: str | Path) -> dict:
    """Load `save_weights`' file into ``module`` (strict; eval mode); returns its metadata."""
    tensors, metadata = load_tensors(path)
    module.load_state_dict(tensors)
    module.eval()
    return metadata


def save_tensors(path: str | Path, tensors: dict, metadata: dict | None = None) -> None:
    """Tensors in safetensors under a temporary name, then renamed; ``metadata`` values stored as JSON (no pickle)."""
    from safetensors.torch import save_file

    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    save_file(tensors, str(tmp), metadata={k: json.dumps(v) for k, v in (metadata or {}).items()})
    os.replace(tmp, path)


def load_tensors(path: str | Path) -> tuple[dict, dict]:
    """(tensors, metadata) of a `save_tensors` file."""
    from safetensors import safe_open

    with safe_open(str(path), "pt") as f:
        return {k: f.get_tensor(k) for k in f.keys()}, {k: json.loads(v) for k, v in (f.metadata() or {}).items()}


def metadata_of(path: str | Path) -> dict:
    """A `save_tensors` file's metadata, read from its header only."""
    from safetensors import safe_open

    with safe_open(str(path), "pt") as f:
        return {k: json.loads(v) for k, v in (f.metadata() or {}).items()}
