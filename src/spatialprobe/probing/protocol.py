"""The frozen protocol: probes on stored features, every control beside every number.

`run(config)` extracts (or reuses) the stores it needs, builds each task's items, checks every
(task, site, pool, probe) combination before training anything, then fits each probe on
``probe_train`` (hyper-parameters on ``probe_val``) and scores it on ``test`` with cluster-bootstrap
CIs over test scenes. Each measurement is one results record with its per-item predictions.
"""

from __future__ import annotations

import os
import shutil
from collections import defaultdict
from pathlib import Path

import numpy as np
from tqdm import tqdm

from spatialprobe.metrics import sign as metric_sign
from spatialprobe.probing import kinds
from spatialprobe.probing.conditions import FROZEN, JOINT, PLAIN
from spatialprobe.probing.config import ProbeConfig
from spatialprobe.probing.design import check_pool, condition, text_basis, token_inputs, visual
from spatialprobe.probing.items import SPLITS, Items, ProbingError
from spatialprobe.probing.text import encode


def check_items(task, items: Items, min_train: int) -> None:
    """Too few rows or a single class: a clear error before any training."""
    counts = {s: int((items.split == s).sum()) for s in SPLITS}
    if counts["probe_train"] < min_train or counts["probe_val"] < 2:
        raise ProbingError(f"task {task.name}: too few items per split {counts} (need ≥ {min_train} in probe_train, ≥ 2 in probe_val)")
    if len(np.unique(items.scene_id[items.split == "test"])) < 2:
        raise ProbingError(f"task {task.name}: the test split needs at least 2 scenes for an interval")
    if task.kind == "classification" and len(np.unique(items.target[items.split == "probe_train"])) < 2:
        raise ProbingError(f"task {task.name}: the training labels have a single class")


def fit_and_predict(probe_cls, kind: str, seed: int, X: dict, y: dict[str, np.ndarray], **options):
    """Fit on train (hyper-parameters / early stopping on val) and predict test. Only train and
    val rows reach `fit`."""
    probe = probe_cls(kind, seed=seed, **options).fit(X["probe_train"], y["probe_train"], X["probe_val"], y["probe_val"])
    return probe, probe.predict(X["test"])


def estimates(task, pred, items: Items, n_resamples: int, seed: int):
    """Per-item metric values → Estimates (headline metric also broken down by each group)."""
    from spatialprobe.results.stats import cluster_bootstrap

    per_item = task.metrics(pred, items)
    out = {name: cluster_bootstrap(v, items.scene_id, n_resamples=n_resamples, seed=seed) for name, v in per_item.items()}
    headline = next(iter(per_item))
    for group, values in items.groups.items():
        for value in np.unique(values):
            mask = values == value
            if len(np.unique(items.scene_id[mask])) >= 2:
                out[f"{headline}[{group}={value}]"] = cluster_bootstrap(per_item[headline][mask], items.scene_id[mask], n_resamples=n_resamples, seed=seed)
    return out, per_item


def _prediction_rows(items: Items, pred, scores: dict[str, np.ndarray] | None = None) -> list[dict]:
    """One row per test item: prediction, target, (``scores``) its per-item metric values and its breakdown groups."""
    def plain(x):
        return x.tolist() if hasattr(x, "tolist") else x

    return [
        {"scene": s, "item": i, "prediction": plain(p), "target": plain(t), **({"scores": {k: float(v[n]) for k, v in scores.items()}} if scores else {}),
         **({"groups": {g: plain(values[n]) for g, values in items.groups.items()}} if items.groups else {})}
        for n, (s, i, p, t) in enumerate(zip(items.scene_id, items.item_id, pred, items.target))
    ]


class Runner:
    """State of one `run`: stores, items, text features, and the results it writes."""

    def __init__(self, config: ProbeConfig, progress: bool = True, force: bool = False, results=None):
        """``results``: where records go (default: a ``results/`` folder in a new output folder;
        `MemoryResults` for a notebook fit, which writes nothing)."""
        from spatialprobe.results.store import ResultStore

        self.config, self.progress = config, progress
        if results is None:
            self.final = Path(config.out)
            self.out = _output_folder(self.final, force)
            results = ResultStore(self.out / "results")
        self.results = results
        self.records = []

    def _store(self, adapter, dataset):
        from spatialprobe.features.extraction import extract
        from spatialprobe.features.reader import FeatureStore

        result = extract(adapter, dataset, self.config.sites, root=self.config.store, split=list(SPLITS), batch_size=self.config.batch_size,
                         progress=self.progress)
        return FeatureStore(result.directory)

    def prepare(self, store=None):
        """Load the model and extract (or reuse) its store — or read ``store``, already extracted
        (`fit_probe`: no model is loaded; the dataset must be the store's)."""
        from spatialprobe.models import load_model
        from spatialprobe.scenes import SceneDataset

        cfg = self.config
        self.dataset = SceneDataset(cfg.data)
        self.scenes = self.dataset.scenes()
        if store is not None:
            from spatialprobe.features.key import dataset_fingerprint

            if dataset_fingerprint(self.dataset.root) != store.manifest["components"]["dataset"]:
                raise ProbingError(f"{cfg.data}: not the dataset this store was extracted from (its dataset fingerprint differs)")
            self.adapter, self.store, self.random_store = None, store, None
            return self._build_tasks()
        self.adapter = load_model(cfg.model, dtype=cfg.dtype, device=cfg.device)
        if "joint" in cfg.protocols:  # before any extraction: the model must have a connector to train, read from connector.in
            from spatialprobe.models.sites import expand

            try:
                self.trainable = self.adapter.trainable()
            except ValueError as err:
                raise ProbingError(f"protocols: joint — {err}") from None
            if "connector.in" not in expand(cfg.sites, self.adapter.sites(), self.adapter.name):
                raise ProbingError("protocols: joint trains the connector from the stored connector.in; add it to config.sites")
        self.store = self._store(self.adapter, self.dataset)
        self.random_store = None
        if "random_init" in cfg.controls:
            self.random_store = self._store(load_model(cfg.model, random_init=True, dtype=cfg.dtype, device=cfg.device), self.dataset)
        self._build_tasks()

    def _build_tasks(self) -> None:
        from spatialprobe.models.sites import expand
        from spatialprobe.registry import PROBES, TASKS

        cfg = self.config
        self.sites = expand(cfg.sites, self.store.sites, "the store")  # a store given to fit_probe may hold more
        self.tasks = []
        meta = self.dataset.metadata
        for name, options in cfg.task_specs():
            task = TASKS.get(name)
            items = task.build(self.scenes, self.store, {"predicate_sets": meta.get("predicate_sets"), **options})
            check_items(task, items, cfg.min_train)
            for probe in cfg.probes:
                PROBES.get(probe)(task.kind)  # raises if the probe cannot fit this kind of task
            for site in self.sites:
                for pool_name in cfg.pools:
                    check_pool(task, site, pool_name, self.store)
            self.tasks.append((task, options, items))

    @staticmethod
    def _probe_text(probe_cls, items: Items, features):
        """What a probe reads of the items' text: word ids for the conditioned probe, else features."""
        from spatialprobe.probing.text import word_ids

        if items.text is None or not probe_cls.wants_word_ids:
            return features
        return word_ids(items.text, [t for t, s in zip(items.text, items.split) if s == "probe_train"])

    def _text(self, items: Items):
        if items.text is None:
            return None, None
        train_texts = [t for t, s in zip(items.text, items.split) if s == "probe_train"]
        weights = self.store.manifest["components"]["weights"]
        cache = None if self.store.dir is None else Path(self.store.dir).parent  # an in-memory store keeps no text cache
        t = encode(items.text, train_texts, self.config.text, cache, self.adapter, weights)
        basis = text_basis(t[items.split == "probe_train"]) if self.config.conditioning == "bilinear" else None
        return t, basis

    def design(self, store, site, pool_name, items, t, basis, seed, rows=None, tokens: bool = False):
        """Per split: flattened (and text-conditioned) features, or for token probes each scene's
        tokens once with the items pointing at them (`design.token_inputs`)."""
        if tokens:
            return token_inputs(store, site, pool_name, items, t, seed, rows)
        v = visual(store, site, pool_name, items, seed, rows)
        x = condition(v, t, self.config.conditioning, basis)
        return {s: x[items.split == s] for s in SPLITS}

    def _record(self, task: str, conditioned: bool, options, site, probe, pool_name, seed, control, metrics, items_test, pred, extra=None, protocol="frozen", scores=None):
        from spatialprobe.results.origin import provenance
        from spatialprobe.results.record import ResultRecord

        cond = {"pool": pool_name, "control": control, **({"options": options} if options else {})}
        if pred is not None:
            from spatialprobe.registry import TASKS

            extra = {**(extra or {}), "diagnostics": {"collapsed": kinds.of(TASKS.get(task).kind).collapse(pred, items_test.target)}}
        if conditioned:
            cond.update(text=self.config.text, conditioning=self.config.conditioning)
        record = ResultRecord(
            task=task,
            model=self.config.name or self.config.model,
            site=site,
            probe=probe,
            protocol=protocol,
            seed=seed,
            condition=cond,
            metrics=metrics,
            config={**self.config.to_dict(), **(extra or {})},
            provenance=provenance(seed=seed, dtype=str(self.store.manifest["components"]["dtype"]).removeprefix("torch."),
                                  device=self.config.device if self.adapter else None,  # fit_probe: the store's extraction, not this run
                                  store=self.store.manifest["key"], store_hash=self.store.manifest["store_hash"]),
        )
        self.results.write(record, None if pred is None else _prediction_rows(items_test, pred, scores))
        self.records.append(record)
        return record

    def run(self) -> list:
        from spatialprobe.registry import PROBES

        cfg = self.config
        self.bar = tqdm(total=self._fits(), desc="probe fits", unit="fit", disable=not self.progress, leave=False)
        for task, options, items in self.tasks if "frozen" in cfg.protocols else ():
            t_features, basis = self._text(items)
            test = items.of("test")
            y = {s: items.target[items.split == s] for s in SPLITS}
            if "baselines" in cfg.controls:
                for name, pred in kinds.of(task.kind).baselines(items.of("probe_train"), test).items():
                    metrics, scores = estimates(task, pred, test, cfg.bootstrap, 0)
                    self._record(task.name, task.conditioned, options, None, f"baseline:{name}", None, None, "baseline", metrics, test, pred, scores=scores)
            for seed in cfg.seeds:
                for pool_name in cfg.pools:
                    for probe_name in cfg.probes:
                        probe_cls = PROBES.get(probe_name)
                        tok = probe_cls.wants_tokens
                        opts = {"box": task.box, **cfg.neural} if probe_cls.joint_trainable else {}
                        t = self._probe_text(probe_cls, items, t_features)
                        for site in self.sites:
                            plain = self.design(self.store, site, pool_name, items, t, basis, seed, tokens=tok)
                            plain_scores = None
                            for control in (c for c in FROZEN if c.active(self, task, items)):
                                X = control.design(self, plain, site, pool_name, items, t, basis, seed, tok)
                                yc, testc = control.targets(items, y, test, seed)
                                probe, pred = fit_and_predict(probe_cls, task.kind, seed, X, yc, **opts)
                                metrics, scores = estimates(task, pred, testc, cfg.bootstrap, seed)
                                hyper = None
                                if plain_scores is None:  # the probe itself, first
                                    self.bar.update()
                                    plain_scores, hyper = scores, {"chosen": {k: v for k, v in probe.config().items() if k != "alphas"}}
                                else:
                                    control.more_metrics(metrics, scores, plain_scores, testc, cfg.bootstrap, seed)
                                self._record(task.name, task.conditioned, options, site, probe_name, pool_name, seed, control.control, metrics, testc,
                                             pred, hyper, scores=scores)
        if "joint" in cfg.protocols:
            for task, options, items in self.tasks:
                self._joint(task, options, items)
        self._structure()
        self.bar.close()
        return self.records

    def _fits(self) -> int:
        """How many probes the run trains (the main fit of each frozen design and each joint condition; controls ride along)."""
        from spatialprobe.registry import PROBES

        cfg = self.config
        frozen = len(self.tasks) * len(cfg.seeds) * len(cfg.pools) * len(cfg.probes) * len(self.sites) if "frozen" in cfg.protocols else 0
        trainable = sum(PROBES.get(p).joint_trainable for p in cfg.probes)
        joint_fits = sum(len(joint_plan(cfg, task)[0]) for task, _, _ in self.tasks) * trainable * len(cfg.seeds) if "joint" in cfg.protocols else 0
        return frozen + joint_fits

    def _joint(self, task, options, items: Items) -> None:
        """Lost in Space: frozen vs joint with the configured references, for each neural probe and seed."""
        from spatialprobe.probing import joint
        from spatialprobe.registry import PROBES
        from spatialprobe.results.stats import paired_difference

        cfg = self.config
        conditions, recipe = joint_plan(cfg, task)
        features, _ = self._text(items)
        test = items.of("test")
        y = {s: items.target[items.split == s] for s in SPLITS}
        trainable = self.trainable
        for probe_name in cfg.probes:
            probe_cls = PROBES.get(probe_name)
            if not probe_cls.joint_trainable:
                continue
            t = self._probe_text(probe_cls, items, features)
            for seed in cfg.seeds:
                heads = {}
                for name in conditions:
                    probe = probe_cls(task.kind, seed=seed, box=task.box, hidden=cfg.neural.get("hidden", 256), recipe=recipe)
                    control = JOINT.get(name, PLAIN)
                    targets, test_items = control.targets(items, y, test, seed)
                    data = joint.split_inputs(self.store, items, "connector.in", t, control.rows(items, seed))
                    trains_as = "frozen" if name in JOINT else name
                    result = joint.train_condition(trainable, trains_as, probe, task.kind, data, targets, seed, recipe)
                    self.bar.update()
                    metrics, per_item = estimates(task, result.prediction, test_items, cfg.bootstrap, seed)
                    heads[name] = per_item
                    site = "connector.in" if name == "upper reference" else "connector.out"
                    protocol = "joint" if name.startswith("joint") else "frozen"
                    extra = {"chosen": {**result.info, "trained_parameters": result.trained_parameters, "training": recipe.to_dict()}}
                    self._record(task.name, task.conditioned, options, site, probe_name, "all", seed, name, metrics, test_items, result.prediction, extra, protocol, per_item)
                if {"joint", "frozen"} <= set(heads):
                    head = next(iter(heads["frozen"]))
                    sign = metric_sign(head)
                    diff = paired_difference(sign * heads["joint"][head], sign * heads["frozen"][head], test.scene_id, n_resamples=cfg.bootstrap, seed=seed)
                    self._record(task.name, task.conditioned, options, "connector.out", probe_name, "all", seed, "joint − frozen", {head: diff}, None, None, None, "joint")

    def _structure(self) -> None:
        """M1 = A_ss and M2 = A_sp / A_pp from paired object_identity runs on the same scenes."""
        from spatialprobe.results.stats import bootstrap

        acc = defaultdict(dict)
        for r in self.records:
            opts = r.condition.get("options", {})
            if r.task != "object_identity" or r.condition["control"] != "none" or opts.get("pairing") != "paired":
                continue
            key = (r.site, r.probe, r.condition["pool"], r.seed)
            rows = self.results.predictions(r)
            values = np.array([float(row["prediction"] == row["target"]) for row in rows])
            acc[key][(opts.get("source", "primary")[0], opts.get("target", "primary")[0])] = (values, np.array([row["scene"] for row in rows]))
        for (site, probe, pool_name, seed), a in acc.items():
            if not {("s", "s"), ("s", "p"), ("p", "p")} <= set(a):
                continue
            m1, m2 = STRUCTURE_METRICS
            metrics = {
                m1: bootstrap({"ss": a[("s", "s")]}, n_resamples=self.config.bootstrap, seed=seed),
                m2: bootstrap(
                    {"sp": a[("s", "p")], "pp": a[("p", "p")]}, lambda m: m["sp"] / m["pp"], n_resamples=self.config.bootstrap, seed=seed
                ),
            }
            self._record("object_identity.structure", False, {}, site, probe, pool_name, seed, "none", metrics, None, None)


STRUCTURE_METRICS = ("M1 (binding, A_ss)", "M2 (segregation, A_sp/A_pp)")
"""2406.09067's binding and segregation measures (task ``object_identity.structure``)."""


def joint_plan(cfg: ProbeConfig, task) -> tuple[list[str], object]:
    """The joint protocol's conditions for ``task`` and its training recipe (the neural probes',
    with ``joint`` overrides)."""
    from spatialprobe.probing import joint
    from spatialprobe.probing.training import Recipe

    options = dict(cfg.joint)
    default = [c for c in joint.CONDITIONS if not (c == "control task" and task.conditioned)]
    conditions = list(options.pop("conditions", default))
    for name in conditions:
        if name not in joint.CONDITIONS:
            raise ProbingError(f"config.joint.conditions: unknown condition {name!r}; valid: {', '.join(joint.CONDITIONS)}")
        if name == "control task" and task.conditioned:
            raise ProbingError(f"config.joint.conditions: 'control task' on {task.name}: its text names the object type the control "
                               "labels are keyed to, so a probe learns them from the text alone; blind is the floor here")
    return conditions, Recipe.from_options({**{k: v for k, v in cfg.neural.items() if k != "hidden"}, **options}, "joint")


def run(config: ProbeConfig | dict | str | Path, progress: bool = True, force: bool = False) -> list:
    """Run a probing config (a `ProbeConfig`, a dict, or a YAML path); returns the results records.
    An existing ``out`` is refused unless ``force`` (then replaced once the new results are complete)."""
    if isinstance(config, (str, Path)):
        config = ProbeConfig.from_yaml(config)
    elif isinstance(config, dict):
        config = ProbeConfig.from_dict(config)
    runner = Runner(config, progress, force)
    try:
        runner.prepare()
        records = runner.run()
        _summarise(runner)
    except BaseException:
        if runner.out != runner.final:
            shutil.rmtree(runner.out, ignore_errors=True)  # the old output stays as it was
        raise
    if runner.out != runner.final:  # --force: the old output is replaced only now that the new one is complete
        old = runner.final.with_name(f".{runner.final.name}.old-{os.getpid()}")
        runner.final.rename(old)
        runner.out.rename(runner.final)
        shutil.rmtree(old)
    return records


def _output_folder(out: Path, force: bool) -> Path:
    """``out`` when it is new (or empty); with ``force`` and an existing probe output there, a sibling
    folder that replaces it at the end. Anything else is refused: a folder holds one config's results."""
    if not out.exists() or (out.is_dir() and not any(out.iterdir())):
        return out
    if not force:
        raise ProbingError(f"{out} already exists; choose another out (--out) or pass --force to replace it")
    if not (out / "config.json").exists() or not (out / "results").is_dir():
        raise ProbingError(f"{out} is not a probe output (no config.json and results/); --force replaces only what `probe` wrote")
    return out.with_name(f".{out.name}.new-{os.getpid()}")


def probe(model: str, data: str, sites, tasks, **options) -> list:
    """The Python API, equal to ``spatialprobe probe``: ``probe("toy:small-qformer", "data/shapes",
    ["vision.layer.*"], ["region_cell"], pools=["mean"], out="runs/x")``."""
    return run(ProbeConfig(model=model, data=str(data), sites=list(sites) if not isinstance(sites, str) else [sites], tasks=list(tasks), **options))


def fit_probe(store, data, site: str, task, probe: str = "ridge", *, pool: str = "mean", seeds=(0,), controls=(), text: str = "bow",
              bootstrap: int = 1000, min_train: int = 20, neural: dict | None = None) -> list:
    """Fit one probe on an already extracted store, in memory — the notebook path of `run`.

    ``store``: a `FeatureStore`, `MemoryStore` or store folder; ``data``: the scene dataset it was
    extracted from (checked by fingerprint); ``task``: a task name or ``{"name": …, options}``.
    Returns a `MemoryResults`: ``.records()`` (the probe's, then each control's: ``control_task``,
    ``blind``, ``baselines``), ``.predictions(record)`` per item, ``.to_frame()``. Nothing is
    written; ``random_init`` and the joint protocol need the model (use `run`)."""
    from spatialprobe.features.reader import FeatureStore
    from spatialprobe.results.store import MemoryResults

    store = store if isinstance(store, FeatureStore) else FeatureStore(store)
    if "random_init" in controls:
        raise ProbingError("fit_probe: the random_init control extracts a random-init copy of the model; use spatialprobe.probe / run")
    config = ProbeConfig(model=store.manifest["components"].get("model", "unknown"), data=str(data), sites=[site], tasks=[task], pools=[pool],
                         probes=[probe], seeds=list(seeds), controls=list(controls), text=text, bootstrap=bootstrap, min_train=min_train,
                         neural=dict(neural or {}), out="<memory>")
    if site not in store.sites:
        raise ProbingError(f"fit_probe: the store has no site {site!r}; it has {', '.join(store.sites)}")
    runner = Runner(config, progress=False, results=MemoryResults())
    runner.prepare(store)
    runner.run()
    return runner.results


def _summarise(runner: Runner) -> None:
    import json

    from spatialprobe.results.store import rows, to_csv, to_markdown

    table = rows(runner.records)
    (runner.out / "summary.csv").write_text(to_csv(table))
    (runner.out / "summary.md").write_text(to_markdown(table))
    (runner.out / "config.json").write_text(json.dumps(runner.config.to_dict(), indent=2) + "\n")
