"""Probing: task labels on hand-made scenes, metrics, probes, controls, protocol hygiene."""

import numpy as np
import pytest

from spatialprobe.features import FeatureStore, StoreError, extract
from spatialprobe.geometry import Box
from spatialprobe.models import load_model
from spatialprobe.probing import ProbeConfig, ProbingError, run
from spatialprobe.probing.config import ConfigError
from spatialprobe.probing.controls import blind_rows, control_targets
from spatialprobe.probing.design import check_pool
from spatialprobe.probing.protocol import fit_and_predict
from spatialprobe.probing.tasks._referring import box_metrics
from spatialprobe.registry import PROBES, TASKS
from spatialprobe.scenes import Caption, DatasetWriter, Expression, Mask, Relation, Scene, SceneDataset, SceneObject, Word
from spatialprobe.scenes.sources.synthetic import SyntheticConfig, build

F = (64, 64)


def _hand_scene(i: int, split: str, image: str) -> Scene:
    # a large red circle top-left, a small blue square bottom-right
    return Scene(
        id=f"h{i}", image=image, width=64, height=64, split=split, source="hand",
        objects=(
            SceneObject(1, Box.xyxy(0, 0, 20, 20, F), "circle", {"colour": "red", "size": "large"}, Mask("polygons", [[0, 0, 20, 0, 20, 20, 0, 20]])),
            SceneObject(2, Box.xyxy(40, 48, 52, 60, F), "square", {"colour": "blue", "size": "small"}, Mask("polygons", [[40, 48, 52, 48, 52, 60, 40, 60]])),
        ),
        expressions=(Expression("e0", "the red circle", 1), Expression("e1", "the blue square", 2)),
        relations=(Relation("r0", "the red circle is left of the blue square", "left of", True, 1, 2),
                   Relation("r1", "the blue square is left of the red circle", "left of", False, 2, 1)),
        captions=(Caption("c0", "a red circle", "coarse", (1,), (Word(0, 1, 1), Word(2, 5, 1), Word(6, 12, 1))),),
    )


@pytest.fixture(scope="module")
def hand(tmp_path_factory):
    root = tmp_path_factory.mktemp("hand")
    from PIL import Image

    Image.new("RGB", F, "gray").save(root / "img.png")
    out = root / "ds"
    with DatasetWriter(out) as w:
        for i, split in enumerate(["probe_train", "probe_val", "test", "test"]):
            w.add(_hand_scene(i, split, "img.png"))
        w.finish({"source": "hand", "image_root": ".."})  # one shared image beside the dataset
    data = SceneDataset(out)
    store = FeatureStore(extract(load_model("toy:tiny-qformer"), data, ["vision.layer.1", "connector.out"], root=root / "st", progress=False).directory)
    return data, store


def test_task_labels_on_hand_made_scenes(hand):
    data, store = hand
    scenes = data.scenes()
    cells = TASKS.get("region_cell").build(scenes, store, {"grid": 4})
    assert cells.target[:2].tolist() == [0, 14]  # centres (10, 10) → cell (0, 0); (46, 54) → row 3, col 2
    boxes = TASKS.get("referring_box").build(scenes, store, {})
    np.testing.assert_allclose(boxes.target[0], [10 / 64, 10 / 64, 20 / 64, 20 / 64])
    np.testing.assert_allclose(boxes.target[1], [46 / 64, 54 / 64, 12 / 64, 12 / 64])
    rel = TASKS.get("relation").build(scenes, store, {"predicate_sets": {"seen": ["left of"]}})
    assert rel.target[:2].tolist() == [1, 0] and rel.groups["predicate_set"][0] == "seen"
    presence = TASKS.get("presence").build(scenes, store, {})
    assert presence.classes == ["circle", "square"] and presence.target[0].tolist() == [1, 1]
    words = TASKS.get("word_location").build(scenes, store, {})
    assert len(words) == 12 and words.text[1] == "red | a red circle"
    np.testing.assert_allclose(words.target[0], boxes.target[0])
    ident = TASKS.get("object_identity").build(scenes, store, {})
    assert ident.target[:2].tolist() == [0, 1]  # circle, square
    paired = TASKS.get("object_identity").build(scenes, store, {"pairing": "paired", "source": "secondary", "target": "primary", "balance": False})
    assert set(paired.target) == {0}  # the primary (largest) is the circle
    objects = store.objects()
    assert objects["id"][paired.object_index[0]] == 2  # tokens come from the secondary (the square)


def test_box_metrics_against_hand_computed_values():
    class Fake:
        target = np.array([[0.5, 0.5, 0.2, 0.2], [0.5, 0.5, 0.2, 0.2]])

    pred = np.array([[0.5, 0.5, 0.2, 0.2], [0.55, 0.55, 0.2, 0.2]])
    m = box_metrics(pred, Fake)
    # shifted by half a side along both axes: intersection 0.15², union 2·0.04 − 0.0225
    assert m["IoU"].tolist() == pytest.approx([1.0, 0.0225 / (0.08 - 0.0225)])
    assert m["ACC@0.5"].tolist() == [1.0, 0.0] and m["Center_ACC"].tolist() == [1.0, 1.0]


def _planted(n, d, seed, classes=4):
    rng = np.random.default_rng(seed)
    means = rng.normal(scale=3, size=(classes, d))
    y = rng.integers(0, classes, n)
    return means[y] + rng.normal(size=(n, d)), y


def test_ridge_recovers_a_planted_signal_and_batches_layers():
    X, y = _planted(600, 30, 0)
    Xv, yv = _planted(200, 30, 1)
    Xv = Xv  # noqa: PLW0127
    rng = np.random.default_rng(0)
    noise = rng.normal(size=X.shape)
    ridge = PROBES.get("ridge")
    one = ridge("classification").fit(X, y, _planted(200, 30, 0)[0][:200], y[:200])
    assert one.score(X, y) > 0.95
    stack = np.stack([X, noise])
    both = ridge("classification").fit(stack, y, stack[:, :200], y[:200])
    np.testing.assert_allclose(both.coef_[0], ridge("classification").fit(X, y, X[:200], y[:200]).coef_[0])
    assert both.predict(stack).shape == (2, 600)
    w = rng.normal(size=30)
    reg = ridge("regression").fit(X, X @ w + 1.0, X[:100], X[:100] @ w + 1.0)
    assert reg.score(X, X @ w + 1.0) > 0.999


def test_ridge_dual_and_primal_agree():
    rng = np.random.default_rng(3)
    X, y = rng.normal(size=(40, 100)), rng.normal(size=40)  # more features than rows: dual
    Xv, yv = rng.normal(size=(20, 100)), rng.normal(size=20)
    ridge = PROBES.get("ridge")
    dual = ridge("regression", alphas=[1.0]).fit(X, y, Xv, yv)
    Xc, yc = X - X.mean(0), y - y.mean()
    lam = 1.0 * np.linalg.eigvalsh(Xc @ Xc.T).clip(0).mean()
    w = np.linalg.solve(Xc.T @ Xc + lam * np.eye(100), Xc.T @ yc)
    np.testing.assert_allclose(dual.coef_[0, :, 0].numpy(), w, atol=1e-8)


@pytest.mark.parametrize("name", ["ridge", "logistic", "perceptron"])
def test_no_probe_sees_test_rows(name):
    """Poison the test split's features and labels: weights and chosen λ do not change."""
    X, y = _planted(300, 12, 0)
    Xv, yv = _planted(100, 12, 1)
    Xt, yt = _planted(100, 12, 2)
    probe_cls = PROBES.get(name)
    clean, _ = fit_and_predict(probe_cls, "classification", 0, {"probe_train": X, "probe_val": Xv, "test": Xt}, {"probe_train": y, "probe_val": yv, "test": yt})
    poisoned, _ = fit_and_predict(probe_cls, "classification", 0, {"probe_train": X, "probe_val": Xv, "test": Xt * 1e6 + 7}, {"probe_train": y, "probe_val": yv, "test": (yt + 1) % 4})
    for k, v in clean.tensors().items():
        np.testing.assert_array_equal(v.numpy(), poisoned.tensors()[k].numpy())
    assert clean.config() == poisoned.config()


@pytest.mark.parametrize("name, kind", [("ridge", "classification"), ("ridge", "regression"), ("logistic", "multilabel"), ("perceptron", "classification")])
def test_save_load_gives_identical_predictions(name, kind, tmp_path):
    X, y = _planted(200, 8, 0)
    if kind == "regression":
        y = X[:, :2] * 2
    if kind == "multilabel":
        y = np.stack([y % 2, y // 2], axis=1).astype(float)
    probe = PROBES.get(name)(kind).fit(X, y, X[:50], y[:50])
    probe.save(tmp_path / "p")
    loaded = type(probe).load(tmp_path / "p")
    np.testing.assert_array_equal(probe.predict(X), loaded.predict(X))


def test_the_control_task_is_memorisable_and_not_readable_from_noise():
    from spatialprobe.probing.items import Items

    rng = np.random.default_rng(0)
    n = 900
    keys = [f"type{k}" for k in rng.integers(0, 30, n)]
    split = np.array(["probe_train"] * 500 + ["probe_val"] * 200 + ["test"] * 200)
    items = Items(scene_id=np.arange(n).astype(str), item_id=np.zeros(n).astype(str), split=split, scene_row=np.arange(n),
                  target=rng.integers(0, 4, n), control_key=keys)
    c = control_targets(items, seed=0)
    assert all(c[i] == c[j] for i in range(50) for j in range(50) if keys[i] == keys[j])
    one_hot = np.eye(30)[[int(k[4:]) for k in keys]]
    ridge = PROBES.get("ridge")
    fit = lambda X: fit_and_predict(ridge, "classification", 0, {s: X[split == s] for s in ("probe_train", "probe_val", "test")}, {s: c[split == s] for s in ("probe_train", "probe_val", "test")})[1]  # noqa: E731
    assert (fit(one_hot) == c[split == "test"]).mean() > 0.95  # a memorising probe learns the type → label map
    noise = rng.normal(size=(n, 30))
    assert (fit(noise) == c[split == "test"]).mean() < 0.45  # no access to the type: about chance (~1/4)


def test_baselines_and_task_metrics_are_the_names_plans_are_checked_against():
    """Each kind's ``baselines_named`` and each task's ``metric_names`` are what a plan's claims resolve against before a run."""
    from spatialprobe.probing import kinds
    from spatialprobe.probing.items import Items

    n = 12
    split = np.array(["probe_train"] * 8 + ["test"] * 4)
    for kind, target in (("classification", np.arange(n) % 3), ("multilabel", np.eye(3)[np.arange(n) % 3]), ("regression", np.full((n, 4), 0.5))):
        items = Items(scene_id=np.arange(n).astype(str), item_id=np.zeros(n).astype(str), split=split, scene_row=np.arange(n), target=target,
                      control_key=[f"c{i % 2}/x" for i in range(n)])
        assert tuple(kinds.of(kind).baselines(items.of("probe_train"), items.of("test"))) == kinds.of(kind).baselines_named
        for name in TASKS.names():
            task = TASKS.get(name)
            if task.kind == kind:
                test = items.of("test")
                assert tuple(task.metrics(test.target, test)) == task.metric_names, name


def test_blind_rows_never_keep_their_own_scene():
    from spatialprobe.probing.items import Items

    split = np.array(["test"] * 6 + ["probe_train"] * 4)
    items = Items(scene_id=np.arange(10).astype(str), item_id=np.zeros(10).astype(str), split=split, scene_row=np.arange(10), target=np.zeros(10))
    rows = blind_rows(items, seed=3)
    assert (rows != np.arange(10)).all()
    assert set(rows[:6]) == set(range(6)) and set(rows[6:]) == set(range(6, 10))


def test_bad_requests_are_refused_before_training(hand):
    data, store = hand
    with pytest.raises(ProbingError, match="positional embeddings alone would answer it"):
        check_pool(TASKS.get("referring_box"), "vision.layer.1", "object_mean", store)
    with pytest.raises(ProbingError, match="reads one object's tokens"):
        check_pool(TASKS.get("presence"), "vision.layer.1", "object_random", store)
    with pytest.raises(ProbingError, match="does not fit regression"):
        PROBES.get("perceptron")("regression")
    with pytest.raises(ProbingError, match="single class"):
        PROBES.get("ridge")("classification").fit(np.zeros((5, 2)), np.zeros(5), np.zeros((2, 2)), np.zeros(2))
    with pytest.raises(ProbingError, match="too few items per split"):
        run({"model": "toy:tiny-qformer", "data": str(data.root), "sites": ["connector.out"], "tasks": ["relation"], "store": str(store.dir.parent), "out": str(store.dir.parent / "r")}, progress=False)
    with pytest.raises(ConfigError, match=r"config.tasks\[0\]: unknown task 'where'; valid: object_identity"):
        ProbeConfig(model="toy:x", data="d", sites=["a"], tasks=["where"])
    with pytest.raises(ConfigError, match="config.pool: unknown field"):
        ProbeConfig.from_dict({"model": "toy:x", "data": "d", "sites": ["a"], "tasks": ["relation"], "pool": "mean"})


def test_a_full_run_writes_records_with_intervals_and_predictions(tmp_path):
    from spatialprobe.cli.main import main
    from spatialprobe.results import ResultStore

    data = build(SyntheticConfig(n=240, seed=5), tmp_path / "scenes", workers=1, progress=False)
    cfg = tmp_path / "probe.yaml"
    cfg.write_text(
        f"model: toy:tiny-qformer\ndata: {data}\nstore: {tmp_path / 'st'}\nout: {tmp_path / 'run'}\n"
        "sites: [vision.layer.1, connector.out]\ntasks: [region_cell, relation, object_identity, presence]\n"
        "pools: [mean]\nprobes: [ridge]\nseeds: [0, 1]\nbootstrap: 200\n"
    )
    assert main(["probe", str(cfg), "--quiet"]) == 0
    store = ResultStore(tmp_path / "run" / "results")
    records = store.records()
    controls = {r.condition["control"] for r in records}
    assert {"none", "control_task", "blind", "random_init", "baseline"} <= controls
    for r in records:
        for est in r.metrics.values():
            assert est.low <= est.value <= est.high
    main_record = next(r for r in records if r.task == "region_cell" and r.condition["control"] == "none")
    rows = store.predictions(main_record)
    assert len(rows) == main_record.metrics["accuracy"].n
    assert np.mean([row["prediction"] == row["target"] for row in rows]) == pytest.approx(main_record.metrics["accuracy"].value, abs=1e-6)
    assert [row["scores"]["accuracy"] for row in rows] == [float(row["prediction"] == row["target"]) for row in rows]
    assert "selectivity" in next(r for r in records if r.condition["control"] == "control_task").metrics
    assert (tmp_path / "run" / "summary.csv").exists() and (tmp_path / "run" / "config.json").exists()


def test_minilm_encodes_text_offline(tmp_path):
    from spatialprobe.probing.text import encode

    texts = ["the red circle is left of the blue square", "the blue square is right of the red circle", "a green star"]
    e = encode(texts, texts, "minilm", tmp_path)
    assert e.shape == (3, 384)
    assert float(e[0] @ e[1]) > float(e[0] @ e[2])
    assert list((tmp_path / "texts").glob("minilm-*.npy"))


def test_attention_pool_recovers_which_token_carries_the_signal():
    rng = np.random.default_rng(0)
    n, T, d = 1200, 16, 8
    tokens = rng.normal(size=(n, T, d)).astype(np.float32)
    y = rng.integers(0, 8, n)
    tokens[np.arange(n), y, 0] += 3.0  # the label is *where* the bump is: only the row-index embedding tells
    part = lambda a, b: {"tokens": tokens[a:b], "text": None}  # noqa: E731
    probe = PROBES.get("attention_pool")("classification", epochs=60).fit(part(0, 800), y[:800], part(800, 1000), y[800:1000])
    assert probe.score(part(1000, 1200), y[1000:]) > 0.6  # chance is 1/8
    curve = probe.config()["curve"]
    assert len(curve) >= 30 and probe.config()["best_epoch"] <= len(curve)


def test_mlp_box_head_and_early_stopping(tmp_path):
    rng = np.random.default_rng(1)
    boxes = rng.uniform(0.2, 0.8, (900, 4)).astype(np.float32)
    boxes[:, 2:] = 0.2
    X = np.concatenate([boxes, rng.normal(size=(900, 4))], 1)
    probe = PROBES.get("mlp")("regression", box=True).fit(X[:600], boxes[:600], X[600:750], boxes[600:750])
    assert np.abs(probe.predict(X[750:]) - boxes[750:]).mean() < 0.03
    probe.save(tmp_path / "m")
    np.testing.assert_array_equal(type(probe).load(tmp_path / "m").predict(X[750:]), probe.predict(X[750:]))


def test_the_conditioned_probe_reads_what_the_text_asks_for():
    rng = np.random.default_rng(0)
    n, T, d = 1500, 16, 8
    tokens = rng.normal(size=(n, T, d)).astype(np.float32)
    a, b = rng.integers(0, 8, n), rng.integers(0, 8, n)
    tokens[np.arange(n), a, 1] += 3.0  # a "red" bump among the first 8 rows
    tokens[np.arange(n), b + 8, 2] += 3.0  # a "blue" bump among the last 8
    asks = rng.integers(0, 2, n)  # the text names one colour: word id 2 or 3
    ids = (asks + 2)[:, None].astype(np.int64)
    y = np.where(asks == 0, a, b)
    part = lambda s, e: {"tokens": tokens[s:e], "text": ids[s:e]}  # noqa: E731
    probe = PROBES.get("conditioned")("classification").fit(part(0, 1000), y[:1000], part(1000, 1250), y[1000:1250])
    assert probe.score(part(1250, 1500), y[1250:]) > 0.5  # chance is 1/8; ignoring the text caps it near 1/2 of that


@pytest.mark.parametrize("name", ["mlp", "attention_pool", "conditioned"])
def test_neural_probes_never_see_test_rows(name):
    X, y = _planted(300, 12, 0)
    Xv, yv = _planted(100, 12, 1)
    Xt, yt = _planted(100, 12, 2)
    if name == "mlp":
        wrap = lambda a: a  # noqa: E731
    else:
        wrap = lambda a: {"tokens": a.reshape(len(a), 3, 4), "text": None if name == "attention_pool" else np.ones((len(a), 2), np.int64)}  # noqa: E731
    probe_cls = PROBES.get(name)
    data = lambda test: {"probe_train": wrap(X), "probe_val": wrap(Xv), "test": wrap(test)}  # noqa: E731
    clean, _ = fit_and_predict(probe_cls, "classification", 0, data(Xt), {"probe_train": y, "probe_val": yv, "test": yt})
    poisoned, _ = fit_and_predict(probe_cls, "classification", 0, data(Xt * 1e6), {"probe_train": y, "probe_val": yv, "test": (yt + 1) % 4})
    for k, v in clean.tensors().items():
        np.testing.assert_array_equal(v.numpy(), poisoned.tensors()[k].numpy())
    assert clean.config()["curve"] == poisoned.config()["curve"]


def test_neural_probes_run_through_the_protocol(tmp_path):
    data = build(SyntheticConfig(n=160, seed=6), tmp_path / "scenes", workers=1, progress=False)
    records = run({"model": "toy:tiny-qformer", "data": str(data), "store": str(tmp_path / "st"), "out": str(tmp_path / "run"),
                   "sites": ["connector.out"], "tasks": ["referring_box"], "pools": ["all"], "probes": ["mlp", "attention_pool", "conditioned"],
                   "controls": [], "bootstrap": 100, "min_train": 10}, progress=False)
    assert {r.probe for r in records} == {"mlp", "attention_pool", "conditioned"}
    for r in records:
        chosen = r.config["chosen"]
        assert chosen["box"] is True and chosen["curve"] and chosen["trained_parameters"] > 0


def test_an_existing_output_is_refused_and_force_replaces_it_only_when_complete(tmp_path, monkeypatch):
    from spatialprobe.probing import protocol

    data = build(SyntheticConfig(n=120, seed=7), tmp_path / "scenes", workers=1, progress=False)
    config = {"model": "toy:tiny-qformer", "data": str(data), "store": str(tmp_path / "st"), "out": str(tmp_path / "run"), "sites": ["connector.out"],
              "tasks": ["region_cell"], "probes": ["ridge"], "controls": [], "bootstrap": 100, "min_train": 10}
    run(config, progress=False)
    before = {p.name: p.read_bytes() for p in (tmp_path / "run" / "results").iterdir()}
    with pytest.raises(ProbingError, match="already exists; choose another out"):
        run({**config, "seeds": [1]}, progress=False)

    def crash(self):
        raise RuntimeError("killed mid-run")

    monkeypatch.setattr(protocol.Runner, "run", crash)
    with pytest.raises(RuntimeError):
        run({**config, "seeds": [1]}, progress=False, force=True)
    assert {p.name: p.read_bytes() for p in (tmp_path / "run" / "results").iterdir()} == before  # untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run", "scenes", "st"]  # no half-written sibling left
    monkeypatch.undo()
    records = run({**config, "seeds": [1]}, progress=False, force=True)
    assert {r.seed for r in records} == {1} and len(list((tmp_path / "run" / "results").glob("*.json"))) == len(records)  # one config per folder
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "mine.txt").write_text("keep")
    with pytest.raises(ProbingError, match="is not a probe output"):
        run({**config, "out": str(tmp_path / "notes")}, progress=False, force=True)
    store = next((tmp_path / "st").iterdir())
    array = np.load(store / "sites/connector.out/00000.npy", mmap_mode="r+")
    array[0, 0, 0] = np.nan  # same size, same header: only the checksums see it
    array.flush()
    with pytest.raises(StoreError, match="the store failed verification(.|\n)*store verify --repair"):
        run({**config, "out": str(tmp_path / "run2")}, progress=False)


def test_a_task_kind_is_its_name_with_its_behaviour(tmp_path):
    """One object per kind (`probing.kinds`): probes hold it, configs and saved probes hold the plain name."""
    import json

    from spatialprobe.probing import kinds

    c = kinds.of("classification")
    assert c == "classification" and json.dumps({"kind": c}) == '{"kind": "classification"}'
    classes = c.classes(np.array([3, 1, 3]))
    np.testing.assert_array_equal(c.labels(np.array([[0.2, 0.8], [0.9, 0.1]]), classes), [3, 1])
    assert c.least_squares_targets([1, 3], classes).tolist() == [[1, 0], [0, 1]] and c.sweep_targets([3, 7], classes).tolist() == [1, 2]
    with pytest.raises(ProbingError, match="single class"):
        c.classes(np.array([2, 2]))
    with pytest.raises(ProbingError, match="unknown task kind 'regresion'"):
        kinds.of("regresion")
    y = np.array([[0.1, 0.2], [0.5, 0.9], [0.3, 0.4]])
    assert kinds.of("regression").score(y, y) == 1.0 and kinds.of("regression").score(np.tile(y.mean(0), (3, 1)), y) == 0.0
    assert kinds.of("multilabel").labels(np.array([[0.6, 0.4]]), None).tolist() == [[1.0, 0.0]]
    probe = PROBES.get("ridge")("classification").fit(np.eye(4)[[0, 1, 2, 3] * 5], np.array([0, 1, 0, 1] * 5), np.eye(4)[[0, 1]], np.array([0, 1]))
    assert probe.kind is kinds.of("classification") and json.loads((probe.save(tmp_path / "p") / "probe.json").read_text())["kind"] == "classification"
    assert PROBES.get("ridge").load(tmp_path / "p").kind is kinds.of("classification")


def test_fit_probe_on_a_store_gives_the_records_of_a_probe_run_and_writes_nothing(tmp_path):
    """The notebook path (`spatialprobe.fit_probe`) is the protocol itself: same metrics and
    predictions as `run` on the same store, one site of several, in memory; the wrong dataset is refused."""
    import spatialprobe
    from spatialprobe.features import MemoryStore, list_stores
    from spatialprobe.results import ResultStore

    data = build(SyntheticConfig(n=160, seed=8), tmp_path / "scenes", workers=1, progress=False)
    config = {"model": "toy:tiny-qformer", "data": str(data), "store": str(tmp_path / "st"), "out": str(tmp_path / "run"), "sites": ["vision.out", "connector.out"],
              "tasks": ["region_cell"], "pools": ["mean"], "probes": ["ridge"], "controls": ["blind", "control_task", "baselines"], "bootstrap": 100, "min_train": 10}
    expected = [r for r in run(config, progress=False) if r.site in ("connector.out", None)]
    (entry,) = list_stores(tmp_path / "st")
    store = MemoryStore(FeatureStore(entry["dir"]))
    fitted = spatialprobe.fit_probe(store, data, "connector.out", "region_cell", controls=["blind", "control_task", "baselines"], bootstrap=100, min_train=10)
    got = fitted.records()
    assert [(r.probe, r.condition["control"]) for r in got] == [(r.probe, r.condition["control"]) for r in expected]
    for a, b in zip(got, expected):
        assert {k: v.to_json() for k, v in a.metrics.items()} == {k: v.to_json() for k, v in b.metrics.items()}
    assert fitted.predictions(got[-1]) == ResultStore(tmp_path / "run" / "results").predictions(expected[-1])
    assert set(fitted.to_frame()["condition.control"]) == {"none", "blind", "baseline"}  # no control task on a text-conditioned task
    other = build(SyntheticConfig(n=160, seed=9), tmp_path / "other", workers=1, progress=False)
    with pytest.raises(ProbingError, match="not the dataset this store was extracted from"):
        spatialprobe.fit_probe(store, other, "connector.out", "region_cell")
    with pytest.raises(ProbingError, match="the store has no site 'lm.out'; it has vision.out, connector.out"):
        spatialprobe.fit_probe(store, data, "lm.out", "region_cell")
