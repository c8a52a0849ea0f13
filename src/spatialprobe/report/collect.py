"""Every results record of a run folder, with its per-item predictions, ready for tables and figures."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

HEADLINE = {"referring_box": "ACC@0.5", "region_cell": "accuracy", "relation": "accuracy", "object_identity": "accuracy",
            "word_grounding": "ACC@0.5", "referring_eos": "ACC@0.5", "box_captioning": "shape_precision", "captioning": "CIDEr"}


def fmt(est) -> str:
    """How every number appears in a report: value [low, high]."""
    return "—" if est is None else f"{est.value:.3f} [{est.low:.3f}, {est.high:.3f}]"


def headline(record) -> str | None:
    """The record's headline metric name (the task's, else its first plain metric)."""
    name = HEADLINE.get(record.task)
    if name in record.metrics:
        return name
    return next((k for k in record.metrics if "[" not in k), None)


@dataclass
class RunResults:
    records: list
    stores: dict
    """record id → the `ResultStore` holding it."""
    step_of: dict
    """record id → the id of the step that wrote it (``study/…/lab<seed>``)."""
    _rows: dict = field(default_factory=dict, repr=False)
    """record id → its parsed predictions: every table of a report reads them, each file is parsed once."""

    @classmethod
    def load(cls, directory: str | Path) -> RunResults:
        from spatialprobe.names import TRAINING
        from spatialprobe.results.store import ResultStore

        records, stores, step_of = [], {}, {}
        steps = Path(directory) / "steps"
        for results in sorted(steps.rglob("results")):
            if not results.is_dir() or any(p.name.endswith((".partial", TRAINING)) for p in results.parents):
                continue
            store = ResultStore(results)
            step = str(results.parent.relative_to(steps))
            for record in store.records():
                records.append(record)
                stores[record.id] = store
                step_of[record.id] = step
        return cls(records, stores, step_of)

    @classmethod
    def load_output(cls, directory: str | Path) -> RunResults:
        """The records of one `probe` output folder (``results/``), all of one step, ``probe``."""
        from spatialprobe.results.store import ResultStore

        store = ResultStore(Path(directory) / "results")
        records = list(store.records())
        return cls(records, {r.id: store for r in records}, {r.id: "probe" for r in records})

    def rows(self, record) -> list[dict]:
        if record.id not in self._rows:
            self._rows[record.id] = self.stores[record.id].predictions(record)
        return self._rows[record.id]

    def pooled(self, records, metric: str, group: tuple[str, str] | None = None, n_resamples: int = 1000):
        """``metric`` averaged per item over ``records`` (seeds), with a CI over test scenes (`results.pooling`)."""
        from spatialprobe.results.pooling import pooled

        return pooled(records, self.rows, metric, group=group, n_resamples=n_resamples)

    def seeds(self, record) -> str:
        """``lab 0 / probe 1``, or ``probe 1`` for a model the lab did not train."""
        lab = self.lab_seed(record)
        return f"probe {record.seed}" if lab is None else f"lab {lab} / probe {record.seed}"

    def seed_key(self, record) -> tuple[int, int]:
        """(lab seed, probe seed) for ordering; −1 stands for "no lab seed"."""
        lab = self.lab_seed(record)
        return (-1 if lab is None else lab, -1 if record.seed is None else record.seed)

    def of(self, study: str, **where) -> list:
        """Records of ``study`` whose fields (task, model, …) or condition entries equal ``where``."""
        from spatialprobe.results.record import matches

        return [r for r in self.records if self.step_of[r.id].split("/")[0] == study and matches(r, where)]

    def lab_seed(self, record) -> int | None:
        """The lab seed of the step that wrote ``record`` (``…/lab<seed>``), None for other models' steps."""
        head, sep, tail = self.step_of[record.id].rpartition("/lab")
        return int(tail) if sep and tail.isdigit() else None
