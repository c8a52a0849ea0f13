"""Pooling records over seeds: per test item, a metric averaged over every record that scored it.

Claims and report tables aggregate seeds the same way: each item's score is the mean over the
matching records (lab seeds × probe seeds), then the mean over items gets a cluster-bootstrap CI
over test scenes — so the interval covers scenes, and the seeds are averaged, not counted as data.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

import numpy as np


def item_scores(records, rows_of: Callable, metric: str, group: tuple[str, str] | None = None) -> dict[tuple, tuple[str, float]]:
    """(scene, item) → (scene, mean score over ``records``); ``group=(name, value)`` keeps the items of one breakdown group."""
    sums = defaultdict(list)
    for record in records:
        for row in rows_of(record):
            if group is not None and str((row.get("groups") or {}).get(group[0])) != group[1]:
                continue
            value = (row.get("scores") or {}).get(metric)
            if value is not None and value == value:  # NaN marks an item the metric does not score
                sums[(row["scene"], row["item"])].append(value)
    return {key: (key[0], sum(v) / len(v)) for key, v in sums.items()}


def pooled(records, rows_of: Callable, metric: str, *, group: tuple[str, str] | None = None, n_resamples: int = 1000, seed: int = 0):
    """The seed-averaged mean of ``metric`` with its CI, or None with fewer than two scenes scored."""
    from spatialprobe.results.stats import cluster_bootstrap

    scores = item_scores(records, rows_of, metric, group)
    if len({s for s, _ in scores.values()}) < 2:
        return None
    return cluster_bootstrap(np.array([v for _, v in scores.values()]), np.array([s for s, _ in scores.values()]), n_resamples=n_resamples, seed=seed)


def groups_of(records, rows_of: Callable, name: str) -> list[str]:
    """The values of breakdown group ``name`` among the records' items, sorted."""
    return sorted({str(row["groups"][name]) for r in records for row in rows_of(r) if name in (row.get("groups") or {})})


def pooled_difference(a, b, rows_of: Callable, metric: str, *, n_resamples: int = 1000, seed: int = 0):
    """a − b on the items both scored (each item seed-averaged per side), paired over test scenes;
    (estimate or None with fewer than two scenes, number of items)."""
    from spatialprobe.results.stats import paired_difference

    sa, sb = item_scores(a, rows_of, metric), item_scores(b, rows_of, metric)
    keys = sorted(set(sa) & set(sb))
    if len({sa[k][0] for k in keys}) < 2:
        return None, len(keys)
    clusters = np.array([sa[k][0] for k in keys])
    est = paired_difference(np.array([sa[k][1] for k in keys]), np.array([sb[k][1] for k in keys]), clusters, n_resamples=n_resamples, seed=seed)
    return est, len(keys)
