"""A training recipe's output folder: its settings in ``recipe.json``, resumable in place, replaced only with ``force``.

A recipe (LiMBeR, the PixelLLM head, the object-aware fix) writes everything under one folder:
``recipe.json`` (the settings that decide its numbers), its trained weights, ``checkpoints/`` and
``results/``. Run it again with the same settings and it resumes — finished pieces are reused, an
interrupted training continues from its last checkpoint. Other settings on a used folder are
refused; with ``force`` the new run works in a hidden sibling and replaces the folder only once it
is complete, so nothing already written is lost to a run that fails.
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
