"""What a probe config's run will write, as `Outline`s (one per task and protocol), before any work.

Mirrors `protocol.Runner`: ``test_experiments.py`` checks every record of a real run against it.
"""

from __future__ import annotations

from spatialprobe.probing.config import ProbeConfig
from spatialprobe.results.outline import Outline


def outline(cfg: ProbeConfig) -> list[Outline]:
    from spatialprobe.probing import kinds
    from spatialprobe.probing.protocol import STRUCTURE_METRICS, joint_plan
    from spatialprobe.registry import PROBES, TASKS

    model, out = cfg.name or cfg.model, []
    for name, options in cfg.task_specs():
        task = TASKS.get(name)
        common = {"task": name, "model": model, "options": [options]}
        if "frozen" in cfg.protocols:
            controls = ["none"] + [c for c in cfg.controls if c == "random_init" or (c == "blind" and task.level != "object")
                                   or (c == "control_task" and not task.conditioned)]
            metrics = list(task.metric_names) + (["selectivity"] if "control_task" in controls else [])
            out.append(Outline.of(**common, site=cfg.sites, probe=cfg.probes, protocol="frozen", control=controls, pool=cfg.pools, metrics=metrics, seed=cfg.seeds))
            if "baselines" in cfg.controls:
                out.append(Outline.of(**common, site=None, probe=[f"baseline:{b}" for b in kinds.of(task.kind).baselines_named], protocol="frozen", control="baseline",
                                      pool=None, metrics=task.metric_names, seed=None))
        trainable = [p for p in cfg.probes if PROBES.get(p).joint_trainable]
        if "joint" in cfg.protocols and trainable:
            conditions, _ = joint_plan(cfg, task)
            conditions = conditions + (["joint − frozen"] if {"joint", "frozen"} <= set(conditions) else [])
            out.append(Outline.of(**common, site=["connector.in", "connector.out"], probe=trainable, protocol=["frozen", "joint"], control=conditions,
                                  pool="all", metrics=task.metric_names, seed=cfg.seeds))
    if any(name == "object_identity" and options.get("pairing") == "paired" for name, options in cfg.task_specs()) and "frozen" in cfg.protocols:
        out.append(Outline.of(task="object_identity.structure", model=model, site=cfg.sites, probe=cfg.probes, protocol="frozen", control="none",
                              pool=cfg.pools, metrics=STRUCTURE_METRICS, seed=cfg.seeds))
    return out
