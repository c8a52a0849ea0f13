"""The frozen protocol's conditions, one object each: what the probe reads and learns in each.

``none`` is the probe itself; the controls change one thing each — the control task its labels
(Hewitt & Liang: selectivity = task − control), blind the scene its features come from, random
init the encoder. Every condition runs the same fit → estimates → record path (`protocol.Runner`);
the joint protocol's control task and blind conditions are these objects too (`JOINT`).
"""

from __future__ import annotations

from spatialprobe.probing import controls
from spatialprobe.probing.items import SPLITS, Items


class Condition:
    control = "none"
    """The record's ``control``."""

    def active(self, runner, task, items: Items) -> bool:
        return True

    def rows(self, items: Items, seed: int):
        """The store row each item's features come from (None: its own scene's)."""
        return None

    def store(self, runner):
        """The feature store it reads."""
        return runner.store

    def design(self, runner, plain: dict, site: str, pool: str, items: Items, text, basis, seed: int, tokens: bool) -> dict:
        """The probe's inputs per split (``plain``: the plain condition's, reused where nothing changes)."""
        rows, store = self.rows(items, seed), self.store(runner)
        if rows is None and store is runner.store:
            return plain
        return runner.design(store, site, pool, items, text, basis, seed, rows, tokens)

    def targets(self, items: Items, y: dict, test: Items, seed: int) -> tuple[dict, Items]:
        """The targets per split and the test items the probe is scored on."""
        return y, test

    def more_metrics(self, metrics: dict, scores: dict, plain_scores: dict, test: Items, n_resamples: int, seed: int) -> None:
        """Metrics that compare with the plain condition (added to ``metrics`` in place)."""


class ControlTask(Condition):
    control = "control_task"

    def active(self, runner, task, items) -> bool:
        return "control_task" in runner.config.controls and items.control_key is not None and not task.conditioned

    def targets(self, items, y, test, seed):
        c = controls.control_targets(items, seed)
        return {s: c[items.split == s] for s in SPLITS}, Items(**{**test.__dict__, "target": c[items.split == "test"]})

    def more_metrics(self, metrics, scores, plain_scores, test, n_resamples, seed) -> None:
        from spatialprobe.metrics import sign
        from spatialprobe.results.stats import paired_difference

        head = next(iter(plain_scores))
        s = sign(head)
        metrics["selectivity"] = paired_difference(s * plain_scores[head], s * scores[head], test.scene_id, n_resamples=n_resamples, seed=seed)


class Blind(Condition):
    control = "blind"

    def active(self, runner, task, items) -> bool:
        return "blind" in runner.config.controls and task.level != "object"

    def rows(self, items, seed):
        return controls.blind_rows(items, seed)


class RandomInit(Condition):
    control = "random_init"

    def active(self, runner, task, items) -> bool:
        return runner.random_store is not None

    def store(self, runner):
        return runner.random_store


PLAIN = Condition()
FROZEN = (PLAIN, ControlTask(), Blind(), RandomInit())
"""In the order their records are written: the probe, then each control."""
JOINT = {"control task": FROZEN[1], "blind": FROZEN[2]}
"""The joint protocol's conditions that change labels or features like these controls (the others read the plain items)."""

