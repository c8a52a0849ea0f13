"""Which cell of a G×G grid over the model's input frame holds the referent's box centre."""

import numpy as np

from spatialprobe.geometry import grid_cell
from spatialprobe.probing.tasks._base import Task, accuracy, integer
from spatialprobe.probing.tasks._referring import expression_items
from spatialprobe.registry import TASKS


def build(scenes, store, options) -> "Items":  # noqa: F821
    grid = int(options.get("grid", 4))

    def target(box, frame):
        x0, y0, x1, y1 = box
        return grid_cell(((x0 + x1) / 2, (y0 + y1) / 2), grid, frame)

    items = expression_items(scenes, store, target, task="region_cell")
    items.target = items.target.astype(np.int64)
    items.classes = list(range(grid * grid))
    return items


TASKS.register(
    "region_cell",
    Task("region_cell", "classification", location=True, level="scene", conditioned=True, build=build, metrics=accuracy, options={"grid": integer(2)},
         description="grid cell (G×G, default 4) of the referent's centre in the model's input frame; accuracy"),
)
