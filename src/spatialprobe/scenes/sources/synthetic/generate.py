"""One synthetic scene from (config, index): image, instance map and its `Scene` record."""

from __future__ import annotations

import random

import numpy as np

from spatialprobe.geometry import Box
from spatialprobe.scenes.record import Mask, Scene, SceneObject
from spatialprobe.scenes.sources.synthetic.config import SyntheticConfig
from spatialprobe.scenes.sources.synthetic.language import SceneText
from spatialprobe.scenes.sources.synthetic.render import draw


def scene_id(index: int) -> str:
    return f"{index:06d}"


def generate_scene(cfg: SyntheticConfig, index: int, split: str | None) -> tuple[Scene, np.ndarray, np.ndarray]:
    """Deterministic in (cfg.seed, index): the same pair always gives the same scene."""
    rnd = random.Random(cfg.seed * 1_000_003 + index)
    image, instances, placed = draw(cfg, rnd, np.random.default_rng([cfg.seed, index]), index)
    frame = (cfg.size, cfg.size)
    text = SceneText(cfg, placed, rnd)
    attribute = text.attribute_expressions()
    sid = scene_id(index)
    scene = Scene(
        id=sid,
        image=f"images/{sid}.png",
        width=cfg.size,
        height=cfg.size,
        split=split,
        source="synthetic",
        instances=f"instances/{sid}.png",
        objects=tuple(
            SceneObject(
                id=p.id,
                box=Box(p.box, "xyxy", "pixel", frame),
                category=p.shape,
                attributes={"colour": p.colour, "size": p.size},
                mask=Mask("instance"),
                visible=round(p.visible, 4),
            )
            for p in placed
        ),
        expressions=tuple(attribute + text.relational_expressions(start=len(attribute))),
        relations=tuple(text.relations()),
        captions=(text.coarse_caption(), text.spatial_caption()),
    )
    return scene, image, instances
