"""Box metrics named as lmms-eval's RefCOCO task names them (IoU, ACC@τ, Center_ACC)."""

from __future__ import annotations

from functools import partial

from spatialprobe.geometry import acc_at, center_in_box, iou
from spatialprobe.metrics import Metric
from spatialprobe.registry import METRICS

METRICS.register("IoU", Metric("IoU", iou, description="intersection over union of xyxy boxes"))
METRICS.register(
    "Center_ACC",
    Metric("Center_ACC", center_in_box, description="predicted centre inside the target box"),
)


def _acc(pred, target, tau: float):
    return acc_at(iou(pred, target), tau)


for _tau in (0.1, 0.3, 0.5, 0.7, 0.9):
    METRICS.register(
        f"ACC@{_tau}",
        Metric(f"ACC@{_tau}", partial(_acc, tau=_tau), description=f"IoU ≥ {_tau}"),
    )
