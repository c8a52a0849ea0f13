"""A results directory: ``<id>.json`` per record, ``<id>.predictions.jsonl`` beside it; CSV/Markdown tables."""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from spatialprobe.results.record import IDENTITY, ResultRecord

PREDICTION_FIELDS = ("scene", "item", "prediction", "target")


def _atomic_write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class _Records:
    def to_frame(self):
        """Every record's metrics as a pandas DataFrame (`to_frame`)."""
        return to_frame(self.records())


class ResultStore(_Records):
    """Records of one run (or many) in one directory."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def write(self, record: ResultRecord, predictions: Iterable[dict] | None = None) -> Path:
        """Write a record (and its per-item predictions) atomically; predictions first."""
        if predictions is not None:
            lines = []
            for i, row in enumerate(predictions):
                missing = [k for k in PREDICTION_FIELDS if k not in row]
                if missing:
                    raise ValueError(f"prediction row {i} lacks {missing}; each row needs {PREDICTION_FIELDS}")
                lines.append(json.dumps(row, separators=(",", ":"), default=_jsonable))
            _atomic_write(self.root / f"{record.id}.predictions.jsonl", "\n".join(lines) + "\n")
        path = self.root / f"{record.id}.json"
        _atomic_write(path, json.dumps(record.to_json(), indent=2, default=_jsonable) + "\n")
        return path

    def records(self) -> list[ResultRecord]:
        out = []
        for path in sorted(self.root.glob("*.json")):
            try:
                out.append(ResultRecord.from_json(json.loads(path.read_text())))
            except (json.JSONDecodeError, KeyError, TypeError) as err:
                raise ValueError(f"{path}: not a results record ({err})") from None
        return out

    def predictions(self, record: ResultRecord) -> list[dict]:
        path = self.root / f"{record.id}.predictions.jsonl"
        with open(path, encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]


class MemoryResults(_Records):
    """`ResultStore`'s interface in memory: the records of a notebook fit (`spatialprobe.fit_probe`)."""

    def __init__(self):
        self._records: list[ResultRecord] = []
        self._predictions: dict[str, list[dict]] = {}

    def write(self, record: ResultRecord, predictions: Iterable[dict] | None = None) -> None:
        if predictions is not None:
            self._predictions[record.id] = [json.loads(json.dumps(row, default=_jsonable)) for row in predictions]  # as a file would give them back
        self._records.append(record)

    def records(self) -> list[ResultRecord]:
        return list(self._records)

    def predictions(self, record: ResultRecord) -> list[dict]:
        return self._predictions[record.id]


def _jsonable(value):
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def rows(records: Iterable[ResultRecord]) -> list[dict]:
    """One flat row per (record, metric): identity columns, then value and CI."""
    out = []
    for r in records:
        ident = {k: getattr(r, k) for k in IDENTITY if k != "condition"}
        ident.update({f"condition.{k}": v for k, v in sorted(r.condition.items())})
        for name, est in r.metrics.items():
            out.append({**ident, "metric": name, "value": est.value, "low": est.low, "high": est.high, "n": est.n, "scenes": est.clusters})
    return out


def to_frame(records: Iterable[ResultRecord]):
    """`rows` as a pandas DataFrame (pandas is optional: ``pip install pandas``)."""
    try:
        import pandas
    except ImportError:
        raise ImportError("to_frame needs pandas (pip install pandas); `rows(records)` gives the same table as a list of dicts") from None
    return pandas.DataFrame(rows(records))


def to_csv(table: list[dict]) -> str:
    columns = list(dict.fromkeys(k for row in table for k in row))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(table)
    return buf.getvalue()


def to_markdown(table: list[dict], breakdowns: bool = False) -> str:
    """A Markdown table; value and CI are shown as ``v [lo, hi]``; empty columns are dropped.
    Breakdown rows (metric names like ``accuracy[size=small]``) only when asked."""
    if not breakdowns:
        table = [row for row in table if "[" not in row["metric"]]
    if not table:
        return "_no results_\n"
    skip = {"value", "low", "high"}
    columns = [c for c in dict.fromkeys(k for row in table for k in row) if c not in skip and any(row.get(c) is not None for row in table)]
    head = columns + ["value [95% CI]"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in table:
        cells = [str(row.get(c, "")) if row.get(c) is not None else "" for c in columns]
        cells.append(f"{row['value']:.3f} [{row['low']:.3f}, {row['high']:.3f}]")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
