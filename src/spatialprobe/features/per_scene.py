"""What a store keeps for a per-image model (tiled or dynamic-resolution): each scene's own layout, and each
object's coverage of that scene's patch rows in every frame that sees it.

Sites that share a layout rule (every ``vision.layer.*`` of a tower) share one table. Per shard:
``layouts/<shard>.<rule>.npy`` holds each scene's `TokenLayout.to_codes` rows (ragged, with an offsets index; read
back with `TokenLayout.from_codes`), ``layouts/<shard>.<rule>.grid.npy`` its grid and input size (one per frame where
its frames differ; ragged too), and ``objects/<shard>.cells.<rule>.npy``, per object, one (area coverage, nearest)
pair per patch row of its scene's layout, in the layout's patch-row order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from spatialprobe.geometry import FrameMap, GridCoverage
from spatialprobe.models.layout import TokenLayout
from spatialprobe.features.store import Ragged


@dataclass(frozen=True)
class SceneLayouts:
    """The layout of a site whose scenes each have their own: ``rule`` names the stored per-scene table."""

    rule: str

    def to_json(self) -> dict:
        return {"per_scene": self.rule}


def layout_table(layouts: list[TokenLayout]) -> tuple[Ragged, Ragged]:
    """One layout per scene → (its codes, its grids: (rows, cols, input width, height), one per frame where frames
    differ; -1: no grid), both `Ragged` over scenes."""
    return Ragged.of([l.to_codes() for l in layouts]), Ragged.of([l.grids() for l in layouts])


def row_coverage(layout: TokenLayout, frame_maps, size: tuple[int, int], masks: np.ndarray) -> np.ndarray:
    """(objects, patch rows, 2) float32: each mask's covered fraction of each patch row's patch (in that row's frame)
    and whether it covers the patch centre — the per-frame coverage `features.pools` reads for an object."""
    patch = layout.rows("patch")
    out = np.zeros((len(masks), len(patch), 2), np.float32)
    if not len(patch) or not len(masks):
        return out
    frames = np.array(layout.frame_of_row)[patch] if layout.frame_of_row else np.zeros(len(patch), int)
    cells = np.array(layout.patch_cells).reshape(-1, 2)
    for k in np.unique(frames):
        grid_k, covered = layout.grid_of(int(k))
        fmap = frame_maps[k]
        if tuple(fmap.dst) != tuple(covered):  # the grid covers the frame's top-left (Idefics2 drops a partial last patch)
            fmap = fmap.then(FrameMap.crop(fmap.dst, 0, 0, *covered))
        grid = GridCoverage(tuple(size), grid_k, fmap)
        sel = np.flatnonzero(frames == k)
        out[:, sel, 0] = grid.area(masks)[:, cells[sel, 0], cells[sel, 1]]
        out[:, sel, 1] = grid.nearest(masks)[:, cells[sel, 0], cells[sel, 1]] > 0
    return out
