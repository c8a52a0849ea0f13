"""Boxes, frames, grids and masks: the one place that knows coordinate conventions.

A leaf package: it imports nothing else from spatialprobe.
"""

from spatialprobe.geometry.box import BOX_FORMATS, UNITS, Box, convert
from spatialprobe.geometry.frames import FrameMap
from spatialprobe.geometry.grid import GridCoverage, grid_cell, mask_to_grid
from spatialprobe.geometry.overlap import acc_at, center_in_box, giou, iou

__all__ = [
    "BOX_FORMATS",
    "UNITS",
    "Box",
    "FrameMap",
    "GridCoverage",
    "acc_at",
    "center_in_box",
    "convert",
    "giou",
    "grid_cell",
    "iou",
    "mask_to_grid",
]
