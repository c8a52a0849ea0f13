"""Preprocessing that gives each image its own frames or grid (tiled and dynamic-resolution models), and the
one place that reads any stored preprocessing back.

A `PerImage` preprocessing (`tiling.Tiling`, `dynamic.DynamicResize`, `splitting.Splitting`,
`quadrants.Quadrants`) answers, for an image of a given size,
the maps into every frame the model sees (`frame_maps`) and builds a batch's model inputs (`inputs`). Location
targets stay in **the image's own frame** (`frame_map` is the identity): the whole image reaches such models,
and a box target must not depend on which frames or grid the model chose.
"""

from __future__ import annotations

from spatialprobe.geometry import FrameMap


class PerImage:
    """What every per-image preprocessing shares; subclasses give ``frame_maps``, ``inputs``, ``to_json``."""

    per_image = True

    def frame_map(self, size: tuple[int, int]) -> FrameMap:
        """The frame location targets live in: the image's own (identity)."""
        size = (int(size[0]), int(size[1]))
        return FrameMap.resize(size, size)

    def input_size(self, size: tuple[int, int]) -> tuple[int, int]:
        return (int(size[0]), int(size[1]))

    @staticmethod
    def fixed_size() -> None:
        return None


def from_json(d: dict):
    """A stored preprocessing (``Preprocess.to_json`` or a `PerImage`'s) as the object it was."""
    from spatialprobe.models.dynamic import DynamicResize
    from spatialprobe.models.preprocess import Preprocess
    from spatialprobe.models.quadrants import Quadrants
    from spatialprobe.models.splitting import Splitting
    from spatialprobe.models.tiling import Tiling

    kinds = {"tiling": Tiling, "dynamic": DynamicResize, "splitting": Splitting, "quadrants": Quadrants}
    return kinds[d["kind"]].from_json(d) if "kind" in d else Preprocess.from_json(d)


def frame_maps(preprocess, size: tuple[int, int]) -> list[FrameMap]:
    """Image → each frame the model sees (one for a fixed-size preprocessing)."""
    return preprocess.frame_maps(size) if getattr(preprocess, "per_image", False) else [preprocess.frame_map(size)]
