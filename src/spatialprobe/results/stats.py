"""Confidence intervals by cluster bootstrap: items of one scene are resampled together.

Every estimate is built from per-scene sums and counts of per-item values, so the bootstrap
resamples scenes (clusters), never single items, and any number of metrics measured on the same
scenes resample jointly — which makes differences and ratios *paired*. The resampling itself is
`scipy.stats.bootstrap` over the cluster index (BCa by default).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats as sstats

DEFAULT_RESAMPLES = 2000


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its confidence interval."""

    value: float
    low: float
    high: float
    n: int
    """Items behind the estimate."""
    clusters: int
    """Scenes (independent units) behind the estimate."""
    confidence: float = 0.95
    method: str = "cluster-bootstrap-BCa"

    def to_json(self) -> dict:
        return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in asdict(self).items()}

    @classmethod
    def from_json(cls, d: dict) -> Estimate:
        return cls(**d)

    def excludes(self, value: float = 0.0) -> bool:
        """Whether the interval lies entirely on one side of ``value``."""
        return self.low > value or self.high < value

    def __str__(self) -> str:
        return f"{self.value:.3f} [{self.low:.3f}, {self.high:.3f}]"


def _cluster_sums(values: np.ndarray, clusters: np.ndarray, index: dict) -> tuple[np.ndarray, np.ndarray]:
    codes = np.fromiter((index[c] for c in clusters), dtype=np.int64, count=len(clusters))
    sums = np.bincount(codes, weights=values, minlength=len(index))
    counts = np.bincount(codes, minlength=len(index)).astype(np.float64)
    return sums, counts


def bootstrap(
    metrics: Mapping[str, tuple[np.ndarray, np.ndarray]],
    combine: Callable[[dict[str, np.ndarray]], np.ndarray] | None = None,
    *,
    n_resamples: int = DEFAULT_RESAMPLES,
    confidence: float = 0.95,
    seed: int = 0,
    method: str = "BCa",
) -> Estimate:
    """CI of ``combine(means)`` where each metric's mean is over its items.

    ``metrics`` maps a name to (per-item values, per-item cluster ids). ``combine`` receives a dict
    of per-metric means (arrays over resamples) and returns the statistic; by default the single
    metric's mean. Clusters are the union over metrics, resampled jointly.
    """
    if not metrics:
        raise ValueError("nothing to bootstrap")
    names = list(metrics)
    arrays = {}
    for name in names:
        values, clusters = (np.asarray(x) for x in metrics[name])
        if values.shape != clusters.shape or values.ndim != 1:
            raise ValueError(f"{name}: values {values.shape} and clusters {clusters.shape} must be equal 1-D shapes")
        if values.size == 0:
            raise ValueError(f"{name}: no items")
        if not np.all(np.isfinite(values.astype(np.float64))):
            raise ValueError(f"{name}: values contain NaN or Inf")
        arrays[name] = (values.astype(np.float64), clusters)
    all_clusters = sorted({c for _, cl in arrays.values() for c in cl.tolist()})
    if len(all_clusters) < 2:
        raise ValueError(f"need at least 2 clusters (scenes) for an interval, got {len(all_clusters)}")
    index = {c: i for i, c in enumerate(all_clusters)}
    columns = []
    for name in names:
        columns.extend(_cluster_sums(*arrays[name], index))
    if combine is None:
        if len(names) != 1:
            raise ValueError("several metrics need a `combine` function")
        combine = lambda means: means[names[0]]  # noqa: E731

    def statistic(*cols, axis=-1):
        means = {}
        for i, name in enumerate(names):
            s, n = cols[2 * i].sum(axis=axis), cols[2 * i + 1].sum(axis=axis)
            with np.errstate(invalid="ignore", divide="ignore"):
                means[name] = s / n
        return combine(means)

    value = float(statistic(*columns))
    n_items = int(sum(len(v) for v, _ in arrays.values()))
    if not np.isfinite(value):
        raise ValueError("the statistic is not finite on the full data")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = sstats.bootstrap(
            tuple(columns),
            statistic,
            paired=True,
            vectorized=True,
            n_resamples=n_resamples,
            confidence_level=confidence,
            method=method,
            random_state=np.random.default_rng(seed),
        )
    low, high = float(res.confidence_interval.low), float(res.confidence_interval.high)
    used = f"cluster-bootstrap-{method}"
    dist = res.bootstrap_distribution[np.isfinite(res.bootstrap_distribution)]
    if dist.size and np.ptp(dist) <= 1e-12 * max(1.0, abs(value)):  # constant up to rounding: a point
        low = high = value
    elif not (np.isfinite(low) and np.isfinite(high)):  # e.g. BCa undefined: fall back to percentiles
        tail = (1 - confidence) / 2 * 100
        low, high = (float(v) for v in np.percentile(dist, [tail, 100 - tail]))
        used = "cluster-bootstrap-percentile"
    return Estimate(value, min(low, value), max(high, value), n_items, len(all_clusters), confidence, used)


def cluster_bootstrap(values, clusters, **kwargs) -> Estimate:
    """CI of the mean of per-item ``values``, resampling whole clusters (scenes)."""
    return bootstrap({"x": (values, clusters)}, **kwargs)


def paired_difference(a, b, clusters, clusters_b=None, **kwargs) -> Estimate:
    """CI of mean(a) − mean(b) for two conditions measured on the same scenes (paired resampling)."""
    clusters_b = clusters if clusters_b is None else clusters_b
    return bootstrap({"a": (a, clusters), "b": (b, clusters_b)}, lambda m: m["a"] - m["b"], **kwargs)


def item_estimates(scores: dict[str, np.ndarray], ids: np.ndarray, keys, n_resamples: int, seed: int) -> dict:
    """Cluster-bootstrap CIs of each per-item score in ``keys`` over the items' clusters ``ids`` (NaN: undefined for that item, left out)."""
    out = {}
    for key in keys:
        ok = ~np.isnan(scores[key])
        if ok.sum() >= 2 and len(np.unique(ids[ok])) >= 2:
            out[key] = cluster_bootstrap(scores[key][ok], ids[ok], n_resamples=n_resamples, seed=seed)
    return out


def item_differences(a: dict[str, np.ndarray], b: dict[str, np.ndarray], ids: np.ndarray, keys, n_resamples: int, seed: int) -> dict:
    """Paired a − b differences per score in ``keys``, over the items where both are defined."""
    out = {}
    for key in keys:
        ok = ~(np.isnan(a[key]) | np.isnan(b[key]))
        if ok.sum() >= 2:
            out[key] = paired_difference(a[key][ok], b[key][ok], ids[ok], n_resamples=n_resamples, seed=seed)
    return out
