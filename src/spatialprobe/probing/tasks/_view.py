"""What of an object the model sees once its preprocessing has cropped the image."""

from __future__ import annotations

from spatialprobe.models import imaging


class View:
    """How much of each object the model sees: a crop (CLIP's centre crop of a non-square image) can
    cut an object or remove it. A location target the model cannot see is no question about its
    features: such items are left out, and counted in one warning per task build."""

    def __init__(self, store, task: str):
        self.preprocess = imaging.from_json(store.manifest["components"]["preprocess"])
        self.task, self.outside = task, 0

    def of(self, scene, obj) -> str | None:
        """``whole``, ``cropped`` (part of the box is outside the model's frame) or None (all of it is)."""
        fmap = self.preprocess.frame_map(scene.frame)
        x0, y0, x1, y1 = fmap.map_boxes(obj.box.array()[None])[0]
        w, h = fmap.dst
        inside = max(0.0, min(x1, w) - max(x0, 0)) * max(0.0, min(y1, h) - max(y0, 0))
        if x0 >= 0 and y0 >= 0 and x1 <= w and y1 <= h:
            return "whole"
        if inside > 0:
            return "cropped"
        self.outside += 1
        return None

    @staticmethod
    def group(seen: list[str]) -> tuple[str, ...]:
        """The ``view`` breakdown, where some object is cropped (everything whole: no breakdown to add)."""
        return ("view",) if "cropped" in seen else ()

    def report(self) -> None:
        if self.outside:
            import warnings

            warnings.warn(f"{self.task}: {self.outside} items left out: their object lies outside the model's input frame "
                          f"(the preprocessing crops it away); `view` breaks the rest down into whole and cropped", stacklevel=3)
