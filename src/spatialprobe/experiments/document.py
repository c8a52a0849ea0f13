"""The report of a run folder: claims with verdicts, one section per study, timings.

Writes ``results.jsonl`` (every record), ``summary.csv``, ``claims.json``, ``report.md`` (figures
under ``figures/``) and a self-contained ``report.html``; returns the terminal headline.
"""

from __future__ import annotations

import json
import platform
from pathlib import Path

from spatialprobe.experiments.claims import Verdict, judge
from spatialprobe.experiments.plan import Plan
from spatialprobe.results.record import matches


def _control_cell(check) -> str:
    if check is None:
        return "—"
    from spatialprobe.report import fmt

    state = "passed" if check.passed else "FAILED"
    return f"{check.control.what or 'control vs floor'}: {fmt(check.value)} vs {fmt(check.floor)} ({state})"


def claims_table(verdicts):
    from spatialprobe.report import Table

    return Table(["study", "claim", "positive control", "a − b [95% CI]", "smallest effect", "verdict"],
                 [[v.claim.study, v.claim.statement, _control_cell(v.check), f"{v.claim.metric} {v.estimate}" if v.estimate else "—",
                   f"±{v.claim.margin:g}", f"{v.verdict} ({v.reason})"] for v in verdicts])


def headline_text(verdicts, directory: Path) -> str:
    width = max((len(v.claim.study) for v in verdicts), default=5)
    lines = [f"{v.claim.study:<{width}}  {v.verdict.upper():<15} {v.claim.metric} a − b = {v.estimate or '—'} (smallest effect ±{v.claim.margin:g})" for v in verdicts]
    return "\n".join(lines + [f"report: {directory / 'report.html'}"])


def _scale_note(plan: Plan) -> str:
    from spatialprobe.experiments.resolve import uses_lab

    notes = [f"Scale **{plan.scale}**" + (f" — {plan.label}" if plan.label else "") + "."]
    if not uses_lab(plan):
        notes.append(f"Probe seeds {plan.probe_seeds}; no lab: every model is named by its spec, and CIs cover test scenes and probe seeds, "
                     "not the variance of the models' own training.")
    elif len(plan.lab_seeds) == 1:
        notes.append(f"One lab seed ({plan.lab_seeds[0]}) × probe seeds {plan.probe_seeds}: CIs cover test scenes and probe seeds, "
                     "**not lab-seed variance** (run `--full` for three lab seeds).")
    else:
        notes.append(f"Lab seeds {plan.lab_seeds} × probe seeds {plan.probe_seeds}; claims average each item over all of them.")
    return " ".join(notes)


def missing_steps(directory: Path) -> list[str]:
    """The planned steps (``steps.json``, written when the steps start) without a finished folder."""
    planned = directory / "steps.json"
    if not planned.exists():
        return ["(no step has started)"]
    return [step for step in json.loads(planned.read_text()) if not (directory / "steps" / step / "done.json").exists()]


def _verdict(claim, results, plan: Plan, missing: list[str]):
    """The claim's verdict; in a partial run, a claim whose records are not there yet is *not evaluated*."""
    if missing and not all(any(matches(r, side) for r in results.records) for side in (claim.a, claim.b)):
        return Verdict(claim, "not evaluated", None, (0, 0), "its steps have not finished")
    return judge(claim, results.records, results.rows, n_resamples=plan.bootstrap)


def write_report(directory: str | Path, plan: Plan, datasets: dict[str, Path | str], timings: dict[str, float]) -> str:
    """``datasets``: name → dataset, as `runner.scenes_for` gives them."""
    from spatialprobe.experiments.studies import STUDIES
    from spatialprobe.report import Heading, RunResults, Table, Text, all_figures, to_html, to_markdown
    from spatialprobe.results.store import rows, to_csv

    directory = Path(directory)
    results = RunResults.load(directory)
    missing = missing_steps(directory)
    scenes = next(iter(datasets.values())) if len(datasets) == 1 else None
    verdicts = [_verdict(c, results, plan, missing) for c in plan.claims]
    blocks = [Heading(f"spatialprobe run: {plan.name}", 1)]
    if missing:
        blocks.append(Text(f"**PARTIAL REPORT: {len(missing)} of the plan's steps have not finished** ({', '.join(f'`{m}`' for m in missing)}); "
                           "claims that need them are *not evaluated*. Run the same command again to finish the run."))
    blocks += [Text(_scale_note(plan)),
              Text(f"Data: {', '.join((f'{name} ' if name else '') + f'`{path}`' for name, path in datasets.items())}. "
                   f"Machine: {platform.machine()}, {platform.system()}; per-step times at the end."),
              Heading("Headline: pre-registered claims"), claims_table(verdicts)]
    for name, options in plan.studies.items():
        study = STUDIES.get(name)
        blocks += [Heading(study.title)] + study.section(results, options, scenes)  # scenes: the only dataset, or None
        mine = [v for v in verdicts if v.claim.study == name]
        if mine:
            blocks.append(Text("**Verdict.** " + " ".join(v.sentence() for v in mine)))
    blocks += [Heading("Run time"), Table(["step", "seconds"], [[k, f"{v:.1f}"] for k, v in timings.items()])]
    total = timings.get("total (this session)")
    if total is not None and plan.budget_s:
        verdict = "within" if total <= plan.budget_s else "**over**"
        blocks.append(Text(f"This scale's budget is {plan.budget_s:.0f} s; this session took {total:.0f} s ({verdict} budget)."))

    (directory / "figures").mkdir(exist_ok=True)
    for b in all_figures(blocks):
        (directory / "figures" / b.name).write_bytes(b.png)
    with open(directory / "results.jsonl", "w") as fh:
        for r in results.records:
            fh.write(json.dumps({**r.to_json(), "step": results.step_of[r.id]}) + "\n")
    (directory / "summary.csv").write_text(to_csv(rows(results.records)))
    (directory / "claims.json").write_text(json.dumps([{**v.claim.to_dict(), "verdict": v.verdict, "reason": v.reason,
                                                        "estimate": v.estimate.to_json() if v.estimate else None,
                                                        "control": None if v.check is None else {"passed": v.check.passed, "reason": v.check.reason}}
                                                       for v in verdicts], indent=2) + "\n")
    (directory / "report.html").write_text(to_html(blocks, f"spatialprobe: {plan.name}"))
    (directory / "report.md").write_text(to_markdown(blocks))
    return headline_text(verdicts, directory)
