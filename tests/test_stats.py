import numpy as np
import pytest

from spatialprobe.results import bootstrap, cluster_bootstrap, paired_difference


def test_a_constant_metric_has_a_zero_width_interval():
    est = cluster_bootstrap(np.ones(40), np.repeat(np.arange(20), 2))
    assert (est.value, est.low, est.high) == (1.0, 1.0, 1.0)


def test_clustered_data_gives_wider_intervals_than_independent_rows():
    rng = np.random.default_rng(0)
    clusters = np.repeat(np.arange(60), 10)
    values = rng.normal(size=60)[clusters] + 0.2 * rng.normal(size=600)
    clustered = cluster_bootstrap(values, clusters)
    naive = cluster_bootstrap(values, np.arange(600))
    assert clustered.high - clustered.low > 2 * (naive.high - naive.low)
    assert clustered.clusters == 60 and clustered.n == 600


def test_intervals_cover_the_true_mean_about_95_percent_of_the_time():
    rng = np.random.default_rng(1)
    hits = 0
    for rep in range(200):
        clusters = np.repeat(np.arange(40), 3)
        values = rng.normal(size=40)[clusters] + rng.normal(size=120)
        est = cluster_bootstrap(values, clusters, n_resamples=500, seed=rep)
        hits += est.low <= 0.0 <= est.high
    assert 0.88 <= hits / 200 <= 0.99


def test_paired_difference_of_a_constant_shift_is_exact_and_pairing_narrows():
    rng = np.random.default_rng(2)
    clusters = np.repeat(np.arange(50), 4)
    base = rng.normal(size=50)[clusters] + 0.1 * rng.normal(size=200)
    exact = paired_difference(base + 0.3, base, clusters)
    assert exact.low == exact.high == pytest.approx(0.3)
    noisy = base + 0.3 + 0.1 * rng.normal(size=200)
    paired = paired_difference(noisy, base, clusters)
    unpaired_a = cluster_bootstrap(noisy, clusters)
    assert paired.high - paired.low < 0.5 * (unpaired_a.high - unpaired_a.low)
    assert paired.excludes(0.0)


def test_ratio_of_two_metrics_on_different_items_of_the_same_scenes():
    clusters_a = np.repeat(np.arange(30), 2)
    clusters_b = np.repeat(np.arange(30), 3)
    est = bootstrap(
        {"a": (np.full(60, 0.6), clusters_a), "b": (np.full(90, 0.8), clusters_b)},
        lambda m: m["a"] / m["b"],
    )
    assert est.value == pytest.approx(0.75) and est.low == est.high == pytest.approx(0.75)


def test_bad_inputs():
    with pytest.raises(ValueError, match="at least 2 clusters"):
        cluster_bootstrap(np.array([1.0, 0.0]), np.array([0, 0]))
    with pytest.raises(ValueError, match="NaN"):
        cluster_bootstrap(np.array([1.0, np.nan]), np.array([0, 1]))
    with pytest.raises(ValueError, match="shapes"):
        cluster_bootstrap(np.ones(3), np.arange(2))
    with pytest.raises(ValueError, match="combine"):
        bootstrap({"a": (np.ones(2), np.arange(2)), "b": (np.ones(2), np.arange(2))})
