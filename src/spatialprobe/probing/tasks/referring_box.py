"""The referent's box, regressed (unit cx, cy, w, h in the model's input frame)."""

from spatialprobe.probing.tasks._base import Task
from spatialprobe.probing.tasks._referring import BOX_METRICS, box_metrics, expression_items, unit_cxcywh
from spatialprobe.registry import TASKS


def build(scenes, store, options):
    return expression_items(scenes, store, unit_cxcywh, task="referring_box")


TASKS.register(
    "referring_box",
    Task("referring_box", "regression", location=True, level="scene", conditioned=True, build=build, metrics=box_metrics, box=True, metric_names=BOX_METRICS,
         description="the referent's box; ACC@0.5 headline, IoU, ACC@0.1…0.9, Center_ACC (lmms-eval names)"),
)
