"""The report of a `spatialprobe probe` output folder (``config.json`` + ``results/``): any model, any data.

Per task, one row per (site, pool, probe, condition) with the headline metric averaged over seeds
(`results.pooling`: per item, then a CI over test scenes) and every control beside it; sites run in
data-flow order, and a figure of the headline over sites appears when a task was probed at several.
What is shown comes from the records present — no plan, no step ids, no task list.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

from spatialprobe.models.sites import sort_key
from spatialprobe.report.blocks import Figure, Heading, Table, Text, all_figures, to_html, to_markdown
from spatialprobe.report.collect import RunResults, fmt, headline

FLOORS = ("blind", "random_init", "control_task", "control task", "baselines")
"""Conditions drawn next to a task's probes in its figure."""


def is_probe_output(directory: Path) -> bool:
    return (directory / "config.json").is_file() and (directory / "results").is_dir()


def _site_order(site: str | None) -> tuple:
    """Data-flow order for site names; anything else after them."""
    try:
        return (0, *sort_key(site))
    except (ValueError, TypeError, AttributeError):
        return (1, 0, 0)


def _label(record) -> str:
    """What distinguishes a row within a task: condition and options beyond pool and control."""
    extra = {k: v for k, v in record.condition.items() if k not in ("pool", "control")}
    return ", ".join(f"{k}={json.dumps(v, sort_keys=True) if isinstance(v, (dict, list)) else v}" for k, v in sorted(extra.items()))


def _estimate(results: RunResults, records: list, metric: str, n_resamples: int):
    """Seed-averaged from the per-item scores, or the record's own estimate (gaps, structure measures: no items)."""
    if all((results.stores[r.id].root / f"{r.id}.predictions.jsonl").exists() for r in records):
        pooled = results.pooled(records, metric, n_resamples=n_resamples)
        if pooled is not None:
            return pooled
    return records[0].metrics.get(metric) if len(records) == 1 else None


def task_section(results: RunResults, task: str, n_resamples: int) -> list:
    records = [r for r in results.records if r.task == task]
    metric = headline(records[0])
    groups = defaultdict(list)
    for r in records:
        groups[(r.site, r.condition.get("pool"), r.probe, r.condition.get("control", "none"), r.protocol, _label(r))].append(r)
    keys = sorted(groups, key=lambda k: (_site_order(k[0]), str(k[1]), str(k[2]), k[3] != "none", str(k[3]), str(k[4]), k[5]))
    rows, curves = [], defaultdict(list)
    for key in keys:
        site, pool, probe, control, protocol, label = key
        group = groups[key]
        shown = metric if metric in group[0].metrics else next(iter(group[0].metrics))
        est = _estimate(results, group, shown, n_resamples)
        seeds = sorted({r.seed for r in group if r.seed is not None})
        rows.append([str(site), str(pool), str(probe), str(control), str(protocol), label or "—", ", ".join(map(str, seeds)) or "—", f"{shown} {fmt(est)}"])
        if est is not None and shown == metric and (control == "none" or control in FLOORS):
            curves[f"{probe} · {pool}" + ("" if control == "none" else f" · {control}") + (f" · {label}" if label else "")].append((str(site), est))
    blocks = [Heading(task), Table(["site", "pool", "probe", "condition", "protocol", "options", "seeds", "metric [95% CI]"], rows)]
    if len({s for points in curves.values() for s, _ in points}) >= 2:
        from spatialprobe.report.figures import curves as draw

        name = f"{task}-by-site.png"
        blocks.append(Figure(name, draw({metric: dict(curves)}, metric, xlabel="site (data flow)"),
                             f"{task}: {metric} by site, seed-averaged, with 95% CIs over test scenes; floors beside the probes"))
    return blocks


def write_probe_report(directory: str | Path) -> str:
    """Write ``report.md`` (figures under ``figures/``) and ``report.html``; returns the report's path."""
    directory = Path(directory)
    config = json.loads((directory / "config.json").read_text())
    results = RunResults.load_output(directory)
    if not results.records:
        raise ValueError(f"{directory}/results: no records to report")
    n_resamples = int(config.get("bootstrap", 1000))
    model, data = config.get("name") or config.get("model"), config.get("data")
    blocks = [Heading(f"spatialprobe probe: {model} on {data}", 1),
              Text(f"Model `{config.get('model')}`; data `{data}`; sites {', '.join(f'`{s}`' for s in config.get('sites', []))}; "
                   f"protocols {', '.join(config.get('protocols', ['frozen']))}; seeds {config.get('seeds')}; "
                   f"{len(results.records)} records. Each number is the headline metric averaged per test item over seeds, "
                   f"with a {n_resamples}-resample cluster-bootstrap 95% CI over test scenes.")]
    for task in dict.fromkeys(r.task for r in results.records):
        blocks += task_section(results, task, n_resamples)
    (directory / "figures").mkdir(exist_ok=True)
    for figure in all_figures(blocks):
        (directory / "figures" / figure.name).write_bytes(figure.png)
    (directory / "report.md").write_text(to_markdown(blocks))
    (directory / "report.html").write_text(to_html(blocks, f"spatialprobe probe: {model}"))
    return str(directory / "report.html")
