"""`Study` and `Step`: what a study contributes to a run, and the unit of caching and resume."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from spatialprobe.registry import STUDIES


@dataclass(frozen=True)
class Step:
    id: str
    """Unique within a run, a relative path: ``lost_in_space/qformer+coarse@contrastive/lab0``."""
    fn: Callable[..., None]
    """``fn(directory, **kwargs)`` writes its results records under ``<directory>/results``; a
    module-level function, so a worker process can run it."""
    kwargs: dict = field(default_factory=dict)
    weight: float = 1.0
    """Roughly how long it runs relative to others: heavier steps start first on the worker pool."""
    outline: tuple = ()
    """The records it will write (`spatialprobe.results.outline.Outline`): a plan's claims are
    resolved against them before any work starts."""
    reusable: bool = True
    """Whether a finished copy may be reused across runs (`runner` step cache): only when every input
    is content-keyed (lab checkpoints, synthetic scenes), not a checkpoint path or a dataset folder."""

    def run(self, directory: Path) -> None:
        self.fn(directory, **self.kwargs)


def training_folder(directory: Path) -> Path:
    """Where a step that trains keeps its recipe folder: beside the step's own (which a restarted step starts
    afresh), so a killed training resumes; the report never reads it (`names.TRAINING`)."""
    from spatialprobe.names import TRAINING

    return directory.with_name(directory.name.removesuffix(".partial") + TRAINING)


def train_recipe(directory: Path, recipe: str, settings: dict, device: str) -> None:
    """A step that runs a training recipe (``module:function``, e.g. ``spatialprobe.train.limber_recipe:run_limber``)
    in its training folder (a killed run resumes its training there) and copies the recipe's records into the step."""
    import importlib
    import shutil

    module, _, name = recipe.partition(":")
    work = training_folder(directory)
    getattr(importlib.import_module(module), name)(work, settings, device=device)
    shutil.copytree(work / "results", directory / "results")


@dataclass(frozen=True)
class Study:
    name: str
    title: str
    steps: Callable
    """``steps(ctx, options) -> list[Step]``."""
    section: Callable
    """``section(results, options, scenes) -> list of report blocks`` (`spatialprobe.report`)."""
    options: tuple[str, ...] = ("models",)
    """The option names it reads: any other is refused when the plan is parsed."""
    model_options: tuple[str, ...] = ("models",)
    """The options that name models (a list, or one name): where a plan's ``models`` aliases are replaced by their specs."""

    def models(self, options: dict) -> list[str]:
        """Every model its options name, in order, each once."""
        named = []
        for key in self.model_options:
            value = options.get(key, [])
            named += [value] if isinstance(value, str) else list(value)
        return list(dict.fromkeys(named))
