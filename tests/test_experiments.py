"""Experiment plans, pre-registered claims, and the demo's report end to end (quick scale)."""

import json
import re

import numpy as np
import pytest

from spatialprobe.experiments.claims import Claim, judge
from spatialprobe.experiments.plan import Plan, PlanError
from spatialprobe.results.record import ResultRecord
from spatialprobe.results.store import ResultStore

DEMO = {"name": "t", "scenes": {"n": 10}, "lab": {}, "studies": {"limber": {"models": ["linear+coarse@masked"]}}}


def _records(tmp_path, effect: float, n: int = 60, seed: int = 0, controls=(("joint", None), ("frozen", None)), name: str = ""):
    """Records with per-item scores: b is a coin flip, a adds ``effect`` (on the same items)."""
    rng = np.random.default_rng(seed)
    store = ResultStore(tmp_path / f"r{effect}{name}")
    b = rng.random(n) < 0.5
    a = np.clip(b + (rng.random(n) < abs(effect)) * np.sign(effect), 0, 1)
    out = []
    for (control, diagnostics), values in zip(controls, (a, b)):
        record = ResultRecord(task="referring_box", model="m", site="connector.out", probe="p", protocol="joint", seed=0,
                              condition={"control": control, "pool": "all"}, metrics={}, config={"diagnostics": diagnostics} if diagnostics else {}, provenance={})
        store.write(record, [{"scene": f"s{i // 2}", "item": f"e{i}", "prediction": 0, "target": 0, "scores": {"ACC@0.5": float(v)}} for i, v in enumerate(values)])
        out.append(record)
    return out, store


CLAIM = Claim("lost_in_space", "joint beats frozen", {"task": "referring_box", "control": "joint"}, {"task": "referring_box", "control": "frozen"}, "ACC@0.5", 0.05)


@pytest.mark.parametrize("effect, verdict", [(0.6, "reproduced"), (-0.6, "not reproduced"), (0.15, "inconclusive"), (0.0, "not reproduced")])
def test_claims_follow_their_decision_rule(tmp_path, effect, verdict):
    records, store = _records(tmp_path, effect)
    v = judge(CLAIM, records, store.predictions, n_resamples=300)
    assert v.verdict == verdict, v.sentence()
    assert v.estimate.clusters == 30 and v.records == (1, 1) and "60 items" in v.reason
    if verdict == "reproduced":
        assert v.estimate.low > CLAIM.margin
    if effect == 0.15:  # an effect whose CI straddles the smallest effect of interest decides nothing
        assert v.estimate.low < CLAIM.margin < v.estimate.high
    less = Claim(**{**CLAIM.to_dict(), "direction": "less"})
    flipped = {0.6: "not reproduced", -0.6: "reproduced"}.get(effect, verdict)
    assert judge(less, records, store.predictions, n_resamples=300).verdict == flipped


def test_a_small_significant_effect_is_not_an_effect_of_interest(tmp_path):
    records, store = _records(tmp_path, 0.0, n=4000)
    rows = store.predictions(records[1])
    store.write(records[0], [dict(r, scores={"ACC@0.5": r["scores"]["ACC@0.5"] + (0.02 if i % 2 else 0.0)}) for i, r in enumerate(rows)])
    v = judge(CLAIM, records, store.predictions, n_resamples=200)
    assert 0 < v.estimate.low and v.estimate.high < CLAIM.margin  # +0.01, CI excludes 0 …
    assert v.verdict == "not reproduced" and "inside ±0.05" in v.reason  # … but it is smaller than the effect of interest


def test_a_failed_positive_control_makes_a_claim_undecidable(tmp_path):
    from spatialprobe.experiments.claims import PositiveControl

    records, store = _records(tmp_path, 0.6)
    control = {"a": {"control": "upper reference"}, "floor": {"control": "blind"}}
    ok, ok_store = _records(tmp_path, 0.6, controls=(("upper reference", None), ("blind", None)), name="ok")
    weak, weak_store = _records(tmp_path, 0.02, controls=(("upper reference", None), ("blind", None)), name="weak")
    stuck, stuck_store = _records(tmp_path, 0.6, controls=(("upper reference", {"collapsed": "the mean-box basin"}), ("blind", None)), name="stuck")
    claim = Claim(**{**CLAIM.to_dict(), "control": PositiveControl(**control)})
    for extra, extra_store, verdict in ((ok, ok_store, "reproduced"), (weak, weak_store, "undecidable"), (stuck, stuck_store, "undecidable")):
        rows = {**{r.id: store for r in records}, **{r.id: extra_store for r in extra}}
        v = judge(claim, records + extra, lambda r: rows[r.id].predictions(r), n_resamples=200)
        assert v.verdict == verdict, v.sentence()
        assert v.check.passed == (verdict == "reproduced")
    assert "collapsed" in v.reason


def test_a_claim_that_matches_no_record_is_an_error_not_a_verdict(tmp_path):
    records, store = _records(tmp_path, 0.6)
    with pytest.raises(ValueError, match="no records match a"):
        judge(Claim(**{**CLAIM.to_dict(), "a": {"control": "joint", "model": "other"}}), records, store.predictions)


def test_plan_errors_name_the_file_and_field(tmp_path):
    with pytest.raises(PlanError, match=r"studies.lost: unknown study; valid: .*lost_in_space"):
        Plan.from_dict({**DEMO, "studies": {"lost": {}}})
    with pytest.raises(PlanError, match=r"p.yaml: colour: unknown field"):
        Plan.from_dict({**DEMO, "colour": 1}, source="p.yaml")
    with pytest.raises(PlanError, match=r"claims\[0\].study: 'pixel' is not among the plan's studies"):
        Plan.from_dict({**DEMO, "claims": [{**CLAIM.to_dict(), "study": "pixel"}]})
    with pytest.raises(PlanError, match=r"claims\[0\]: .*missing \['margin'\]"):
        Plan.from_dict({**DEMO, "claims": [{k: v for k, v in {**CLAIM.to_dict(), "study": "limber"}.items() if k != "margin"}]})
    with pytest.raises(PlanError, match=r"claims\[0\].direction"):
        Plan.from_dict({**DEMO, "claims": [{**CLAIM.to_dict(), "study": "limber", "direction": "up"}]})
    with pytest.raises(PlanError, match="lab.seed: set by the run"):
        Plan.from_dict({**DEMO, "lab": {"seed": 3}})
    with pytest.raises(PlanError, match="no scale 'huge'"):
        Plan.from_dict(DEMO, scale="huge")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed")
    with pytest.raises(PlanError, match="bad.yaml: not valid YAML"):
        Plan.from_yaml(bad)


def _demo_with(edit) -> dict:
    import yaml

    from spatialprobe.cli.demo import DEMO as demo_path

    d = yaml.safe_load(demo_path.read_text())
    edit(d)
    return d


def _claim(d, i, side, **change):
    d["claims"][i][side] = {**d["claims"][i][side], **change}


@pytest.mark.parametrize("edit, message", [
    (lambda d: d["claims"][0].update(metric="ACC@0.55"), "claims[0].metric: the records a selects have no metric 'ACC@0.55' (did you mean 'ACC@0.5'?)"),
    (lambda d: _claim(d, 0, "a", model="lab:qformer+coarse@contrastiv"), "claims[0].a: model: no step of the plan writes 'lab:qformer+coarse@contrastiv' (did you mean 'lab:qformer+coarse@contrastive'?)"),
    (lambda d: _claim(d, 1, "b", control="frozn"), "claims[1].b: control: no step of the plan writes 'frozn' (did you mean 'frozen'?)"),
    (lambda d: _claim(d, 0, "a", task="region_cell"), "claims[0].a: control: no step of the plan writes 'joint'"),  # not run at the default scale
    (lambda d: _claim(d, 3, "a", site="vision.out"), "claims[3].a: site: no step of the plan writes 'vision.out'"),
    (lambda d: d["claims"][3]["control"].update(metric="acuracy"), "claims[3].control.metric: the records control.a selects have no metric 'acuracy'"),
    (lambda d: _claim(d, 5, "a", options={"source": "tertiary"}), "claims[5].a: options: no step of the plan writes {'source': 'tertiary'}"),
    (lambda d: d["studies"]["lost_in_space"].update(refrences=["linear+coarse@contrastive"]), "studies.lost_in_space.refrences: unknown option; did you mean 'references'?"),
    (lambda d: d["studies"]["pixel"].update(models=["linear+coarse@contrastive", "qformer+location@contrastive"]),
     "studies.pixel.models: ['qformer+location@contrastive'] are not lab connectors"),
])
def test_a_plan_typo_is_an_error_before_any_work(edit, message, tmp_path, monkeypatch):
    """Issue 15.6: a misspelled claim metric or model showed as INCONCLUSIVE after a full run."""
    from spatialprobe.experiments.runner import run_plan
    from spatialprobe.lab import build

    monkeypatch.setattr(build, "train_lab", lambda *a, **k: pytest.fail("the lab started before the plan was checked"))
    with pytest.raises(PlanError) as err:
        run_plan(Plan.from_dict(_demo_with(edit)), tmp_path / "runs", progress=False, say=lambda *_: None)
    assert message in str(err.value)
    assert not (tmp_path / "runs").exists()


def test_every_record_of_a_run_lies_inside_its_steps_outline(quick_run):
    """The outlines a plan is checked against are what the steps really write (no false refusals)."""
    from spatialprobe.experiments.resolve import planned_steps

    _, run, _ = quick_run
    for step in planned_steps(Plan.from_run(run)):
        records = ResultStore(run / "steps" / step.id / "results").records()
        assert records and step.outline, step.id
        for r in records:
            selector = {"task": r.task, "model": r.model, "site": r.site, "probe": r.probe, "protocol": r.protocol, "seed": r.seed,
                        "control": r.condition.get("control"), "pool": r.condition.get("pool"), "options": r.condition.get("options", {})}
            metrics = {m.split("[")[0] for m in r.metrics}  # ``accuracy[size=small]``: one item group's
            assert any(o.mismatch(selector) is None and metrics <= o.metrics for o in step.outline), (step.id, selector, sorted(metrics))


def test_scales_merge_into_the_plan():
    from spatialprobe.cli.demo import DEMO as demo_path

    default, quick, full = (Plan.from_yaml(demo_path, s) for s in ("default", "quick", "full"))
    assert quick.scenes["n"] < default.scenes["n"] and quick.lab["model"]["width"] < 128 and quick.label.startswith("smoke test")
    assert quick.studies["lost_in_space"]["models"] == default.studies["lost_in_space"]["models"]  # merged, not replaced
    assert full.lab_seeds == [0, 1, 2] and default.lab_seeds == [0]
    assert len({default.fingerprint(), quick.fingerprint(), full.fingerprint()}) == 3


CI = re.compile(r"-?\d+\.\d{3} \[-?\d+\.\d{3}, -?\d+\.\d{3}\]")


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    """``spatialprobe demo --quick``, interrupted in its third step and run again."""
    import spatialprobe.lab.evaluate as evaluate_module
    from spatialprobe.cli.main import main

    root = tmp_path_factory.mktemp("demo")
    mp = pytest.MonkeyPatch()
    for var, sub in (("SPATIALPROBE_CACHE", "cache"), ("SPATIALPROBE_LAB", "lab"), ("SPATIALPROBE_STORE", "store")):
        mp.setenv(var, str(root / sub))

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    with mp.context() as m:
        m.setattr(evaluate_module, "evaluate", interrupted)
        assert main(["demo", "--quick", "--runs", str(root / "runs"), "--quiet", "--workers", "1"]) == 130  # Ctrl-C in the LiMBeR step
    (first,) = list((root / "runs").iterdir())
    finished = sorted(p.parent for p in (first / "steps").rglob("done.json"))
    assert {p.relative_to(first / "steps").parts[0] for p in finished} == {"decodability", "lost_in_space", "fix"}  # the steps before it
    assert not (first / "report.md").exists()
    assert main(["report", str(first)]) == 0  # a report of the unfinished run says so, and does not mark it finished
    partial = (first / "report.md").read_text()
    assert "PARTIAL REPORT" in partial and "`limber/lab0`" in partial and "not evaluated (its steps have not finished)" in partial
    assert not (first / "finished.json").exists()
    assert main(["demo", "--quick", "--runs", str(root / "runs"), "--quiet", "--workers", "1"]) == 0
    assert "PARTIAL" not in (first / "report.md").read_text() and (first / "finished.json").exists()
    yield root, first, finished  # the caches stay redirected while the module's tests run
    mp.undo()


def test_an_interrupted_demo_continues_where_it_stopped(quick_run):
    root, first, finished = quick_run
    assert list((root / "runs").iterdir()) == [first]  # continued, not restarted
    for step in finished:  # finished steps were not redone
        assert json.loads((step / "done.json").read_text())["seconds"] > 0
    assert not list(first.rglob("*.partial"))
    assert len(list((first / "steps").rglob("done.json"))) == 17


def test_the_quick_report_has_every_section_and_ci(quick_run):
    from spatialprobe.experiments.studies import STUDIES

    _, run, _ = quick_run
    md = (run / "report.md").read_text()
    html = (run / "report.html").read_text()
    plan = json.loads((run / "plan.json").read_text())
    assert "smoke test, not evidence" in md
    for name in plan["studies"]:
        assert f"## {STUDIES.get(name).title}" in md
    results_part = md.split("## Run time")[0]  # timings are measurements of this machine, not estimates
    for line in results_part.splitlines():
        if line.startswith("| ") and "[95% CI]" not in line:
            cells = line.strip("|").split(" | ")
            for cell in cells:
                for number in re.findall(r"(?<![\w\[.,@±-])-?\d+\.\d+(?![\w\]])", cell):  # a decimal not inside "value [low, high]" (± margins are set, not measured)
                    assert CI.search(cell), f"number {number} without a CI: {line}"
    figures = re.findall(r"!\[[^\]]*\]\(figures/([^)]+)\)", md)
    assert figures and all((run / "figures" / f).stat().st_size > 1000 for f in figures)
    assert html.count("data:image/png;base64,") == len(figures) and "<script" not in html


def test_report_numbers_equal_the_jsonl_and_verdicts_follow_the_rules(quick_run):
    from spatialprobe.report import fmt, headline
    from spatialprobe.results.record import ResultRecord
    from spatialprobe.results.stats import Estimate

    _, run, _ = quick_run
    md = (run / "report.md").read_text()
    for line in (run / "results.jsonl").read_text().splitlines():
        record = ResultRecord.from_json(json.loads(line))
        metric = headline(record)
        if metric:
            assert fmt(record.metrics[metric]) in md, (record.task, record.condition, metric)
    for claim in json.loads((run / "claims.json").read_text()):
        est = claim["estimate"] and Estimate.from_json(claim["estimate"])
        if est is None:
            assert claim["verdict"] == "inconclusive"
            continue
        if claim["control"] is not None and not claim["control"]["passed"]:
            assert claim["verdict"] == "undecidable"
        else:
            sign, m = (1 if claim["direction"] == "greater" else -1), claim["margin"]
            low, high = sorted((sign * est.low, sign * est.high))
            expected = "reproduced" if low > m else "not reproduced" if high < -m or (-m <= low and high <= m) else "inconclusive"
            assert claim["verdict"] == expected
        assert fmt(est) in md


def test_a_bad_plan_is_a_user_error(tmp_path, capsys):
    from spatialprobe.cli.main import main

    plan = tmp_path / "plan.yaml"
    plan.write_text("name: x\nscenes: {}\nlab: {}\nstudies: {lost: {}}\n")
    assert main(["run", str(plan)]) == 2
    assert f"{plan}: studies.lost: unknown study" in capsys.readouterr().err


def test_a_report_can_be_written_again_from_the_run_folder(quick_run):
    from spatialprobe.cli.main import main

    _, run, _ = quick_run
    claims = (run / "claims.json").read_text()
    assert main(["report", str(run)]) == 0
    assert (run / "claims.json").read_text() == claims


def test_per_task_joint_conditions_and_probes():
    from spatialprobe.experiments.studies.lost_in_space import joint_of, probe_of

    options = {"joint": {"epochs": 3, "conditions": {"relation": ["frozen", "blind"]}}, "probes": {"region_cell": "mlp"}}
    assert joint_of(options, "relation") == {"epochs": 3, "conditions": ["frozen", "blind"]}
    assert joint_of(options, "referring_box") == {"epochs": 3}  # the protocol's own default conditions
    assert joint_of({"joint": {"conditions": ["frozen"]}}, "relation") == {"conditions": ["frozen"]}
    assert [probe_of(options, t) for t in ("region_cell", "relation", "referring_box")] == ["mlp", "relational", "attention_pool"]


def test_parallel_workers_give_the_same_numbers_as_one_process(quick_run, tmp_path, monkeypatch):
    """Lab stages and steps on two worker processes: every record and verdict equals the sequential run's."""
    from spatialprobe.cli.main import main

    _, sequential, _ = quick_run
    for var, sub in (("SPATIALPROBE_CACHE", "cache"), ("SPATIALPROBE_LAB", "lab"), ("SPATIALPROBE_STORE", "store")):
        monkeypatch.setenv(var, str(tmp_path / sub))  # empty caches: the lab is trained on the workers too
    assert main(["demo", "--quick", "--runs", str(tmp_path / "runs"), "--quiet", "--workers", "2"]) == 0
    (parallel,) = list((tmp_path / "runs").iterdir())

    def numbers(run):
        records = [json.loads(line) for line in (run / "results.jsonl").read_text().splitlines()]
        return sorted((json.dumps([r["task"], r["model"], r["site"], r["probe"], r["condition"], r["seed"]]), json.dumps(r["metrics"], sort_keys=True)) for r in records)

    assert numbers(parallel) == numbers(sequential)
    drop = lambda claims: [{k: v for k, v in c.items() if k != "seconds"} for c in claims]  # noqa: E731
    assert drop(json.loads((parallel / "claims.json").read_text())) == drop(json.loads((sequential / "claims.json").read_text()))


def test_a_new_run_of_an_unchanged_plan_reuses_every_step_and_changed_code_does_not(quick_run, monkeypatch):
    import torch

    import spatialprobe.results.origin as origin
    from spatialprobe.cli.main import main
    from spatialprobe.experiments.runner import step_key
    from spatialprobe.experiments.studies._base import Step
    from spatialprobe.experiments.studies.pixel import locate

    root, first, _ = quick_run
    assert main(["demo", "--quick", "--runs", str(root / "again"), "--quiet", "--workers", "1", "--fresh"]) == 0
    (again,) = list((root / "again").iterdir())
    done = [json.loads(p.read_text()) for p in (again / "steps").rglob("done.json")]
    assert len(done) == 17 and all(d["seconds"] == 0.0 and d["computed_seconds"] > 0 for d in done)
    assert (again / "claims.json").read_text() == (first / "claims.json").read_text()
    assert (again / "results.jsonl").read_text() == (first / "results.jsonl").read_text()

    step = Step("pixel/m/lab0", locate, {"checkpoint": "/lab/model-abc", "epochs": 3})
    key = step_key(step)
    assert step_key(Step("pixel/m/lab0", locate, {"checkpoint": "/lab/model-abc", "epochs": 4})) != key
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(threads + 1)
        assert step_key(step) != key  # another thread count computes other bits
    finally:
        torch.set_num_threads(threads)
    monkeypatch.setattr(origin, "source_fingerprint", lambda: "edited")
    assert step_key(step) != key


def test_set_overrides_plan_fields_by_path_and_refuses_typos():
    from spatialprobe.cli.demo import DEMO as demo_path

    plan = Plan.from_yaml(demo_path, "quick", [("probe_seeds", [0, 1]), ("studies.lost_in_space.tasks", ["referring_box"]),
                                               ("scenes.n", 300), ("lab.lm_epochs", 1)])
    assert plan.probe_seeds == [0, 1] and plan.studies["lost_in_space"]["tasks"] == ["referring_box"] and plan.scenes["n"] == 300
    assert plan.lab["lm_epochs"] == 1 and plan.to_dict()["probe_seeds"] == [0, 1]  # in the resolved plan (plan.json)
    assert plan.fingerprint() != Plan.from_yaml(demo_path, "quick").fingerprint()
    for path, message in (("probe_seed", "no field 'probe_seed' at the top; did you mean 'probe_seeds'"),
                          ("studies.lost_in_space.taks", "no field 'taks' at studies.lost_in_space; did you mean 'tasks'"),
                          ("scenes.nn", "no field 'nn' at scenes"), ("probe_seeds.x", "probe_seeds is not a mapping"),
                          ("lab.seed", "no field 'seed' at lab")):
        with pytest.raises(PlanError, match=re.escape(message)):
            Plan.from_yaml(demo_path, "quick", [(path, 1)])
