import json

import pytest

from spatialprobe.cli.main import main
from spatialprobe.results import Estimate, ResultRecord, ResultStore, provenance, rows, to_markdown


def _record(seed=0, value=0.5):
    return ResultRecord(
        task="region_cell",
        model="toy:test",
        site="connector.out",
        probe="ridge",
        protocol="frozen",
        seed=seed,
        condition={"pool": "all"},
        metrics={"accuracy": Estimate(value, value - 0.1, value + 0.1, 100, 50)},
        config={"grid": 4},
        provenance=provenance(seed=seed, dtype="float32"),
    )


def test_records_and_predictions_round_trip(tmp_path):
    store = ResultStore(tmp_path)
    record = _record()
    store.write(record, [{"scene": "s1", "item": "e0", "prediction": 3, "target": 3, "score": 1.0}])
    (loaded,) = store.records()
    assert loaded == record
    assert store.predictions(loaded)[0]["prediction"] == 3
    assert loaded.provenance["packages"]["spatialprobe"]
    assert {"git", "seed", "threads", "dtype"} <= set(loaded.provenance)


def test_ids_depend_on_identity_not_numbers():
    assert _record(value=0.5).id == _record(value=0.9).id
    assert _record(seed=0).id != _record(seed=1).id


def test_prediction_rows_must_say_what_they_are(tmp_path):
    with pytest.raises(ValueError, match="row 0 lacks"):
        ResultStore(tmp_path).write(_record(), [{"scene": "s1", "prediction": 1}])
    assert list(tmp_path.iterdir()) == []


def test_collect_writes_csv_and_markdown(tmp_path, capsys):
    store = ResultStore(tmp_path)
    store.write(_record(seed=0))
    store.write(_record(seed=1, value=0.7))
    table = rows(store.records())
    assert len(table) == 2 and table[0]["condition.pool"] == "all"
    assert "0.700 [0.600, 0.800]" in to_markdown(table)
    assert main(["results", "collect", str(tmp_path)]) == 0
    csv = (tmp_path / "summary.csv").read_text().splitlines()
    assert csv[0].startswith("task,model,site,probe,protocol,seed,condition.pool,metric,value")
    assert len(csv) == 3


def test_collect_reports_a_broken_record(tmp_path, capsys):
    (tmp_path / "bad.json").write_text(json.dumps({"task": "x"}))
    assert main(["results", "collect", str(tmp_path)]) == 2
    assert "bad.json: not a results record" in capsys.readouterr().err


def test_pooled_tables_average_seeds_per_item_and_pair_over_scenes():
    from spatialprobe.results.pooling import groups_of, item_scores, pooled, pooled_difference

    def rows_of(record):
        return record

    def seed(values, kind="attribute"):  # one record: item i of scene i // 2
        return [{"scene": f"s{i // 2}", "item": f"e{i}", "scores": {"acc": v}, "groups": {"kind": kind if i % 2 else "relational"}} for i, v in enumerate(values)]

    a = [seed([1, 0, 1, 1]), seed([0, 0, 1, 1])]
    b = [seed([0, 0, 0, float("nan")])]
    assert item_scores(a, rows_of, "acc")[("s0", "e0")] == ("s0", 0.5)
    assert item_scores(a, rows_of, "acc", ("kind", "attribute")).keys() == {("s0", "e1"), ("s1", "e3")}
    assert groups_of(a, rows_of, "kind") == ["attribute", "relational"]
    assert pooled(a, rows_of, "acc").value == pytest.approx((0.5 + 0 + 1 + 1) / 4)
    assert pooled(a[:1], rows_of, "acc", group=("kind", "attribute")).value == pytest.approx(0.5)
    diff, n = pooled_difference(a, b, rows_of, "acc")
    assert n == 3 and diff.value == pytest.approx((0.5 + 0 + 1) / 3 - 0)  # the item b did not score is left out of both sides
    assert pooled_difference(a, [seed([1])], rows_of, "acc") == (None, 1)  # one scene cannot be resampled
    assert pooled([seed([1, 1])], rows_of, "acc") is None


def test_collect_takes_probe_outputs_and_run_folders_and_never_overwrites(tmp_path, capsys):
    ResultStore(tmp_path / "probe" / "results").write(_record(seed=0))
    for step in ("a/lab0", "b/lab0"):
        ResultStore(tmp_path / "run" / "steps" / step / "results").write(_record(seed=1))
    ResultStore(tmp_path / "run" / "steps" / "c/lab0.partial" / "results").write(_record(seed=2))  # unfinished: not collected
    assert main(["results", "collect", str(tmp_path / "probe")]) == 0
    assert len((tmp_path / "probe" / "summary.csv").read_text().splitlines()) == 2
    assert main(["results", "collect", str(tmp_path / "run")]) == 0
    assert "2 results folder(s)" in capsys.readouterr().out
    before = (tmp_path / "run" / "summary.csv").read_text()
    assert main(["results", "collect", str(tmp_path / "run")]) == 2
    assert "pass --force" in capsys.readouterr().err and (tmp_path / "run" / "summary.csv").read_text() == before
    assert main(["results", "collect", str(tmp_path / "run"), "--force"]) == 0
    assert main(["results", "collect", str(tmp_path / "empty")]) == 2
