"""Experiments: typed plans (`Plan`) with pre-registered claims, run with caching and resume."""

from spatialprobe.lazy import exports

__getattr__, __all__ = exports(__name__, {
    "Plan": "spatialprobe.experiments.plan",
    "PlanError": "spatialprobe.experiments.plan",
    "Claim": "spatialprobe.experiments.claims",
    "judge": "spatialprobe.experiments.claims",
    "run_plan": "spatialprobe.experiments.runner",
})
