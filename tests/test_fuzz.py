"""Random mutations of valid inputs either load (and round-trip) or raise the project's own error type.

Derandomised so CI is reproducible; `SPATIALPROBE_FUZZ=5000` draws that many fresh random examples instead.
"""

from __future__ import annotations

import copy
import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spatialprobe.probing.config import ConfigError, ProbeConfig
from spatialprobe.probing.items import ProbingError
from spatialprobe.scenes import scene_from_json, scene_to_json
from spatialprobe.scenes.codec import SceneFormatError
from test_scene_format import _scene

VALUES = st.one_of(st.none(), st.booleans(), st.integers(-5, 100), st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=6),
                   st.lists(st.integers(-2, 50), max_size=5), st.dictionaries(st.text(max_size=4), st.integers(), max_size=2))

EXPLORE = int(os.environ.get("SPATIALPROBE_FUZZ", "0"))
FUZZ = settings(max_examples=EXPLORE or 300, derandomize=not EXPLORE, database=None, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _paths(obj, prefix=()):
    """Every (path, container) position in a JSON tree."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield prefix + (k,)
            yield from _paths(v, prefix + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield prefix + (i,)
            yield from _paths(v, prefix + (i,))


def _mutate(tree, data):
    tree = copy.deepcopy(tree)
    for _ in range(data.draw(st.integers(1, 3))):
        paths = list(_paths(tree))
        path = data.draw(st.sampled_from(paths))
        parent = tree
        for key in path[:-1]:
            parent = parent[key]
        action = data.draw(st.sampled_from(["replace", "delete", "add"]))
        if action == "replace":
            parent[path[-1]] = data.draw(VALUES)
        elif action == "delete":
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[data.draw(st.text(min_size=1, max_size=8))] = data.draw(VALUES)
        if not paths:
            break
    return tree


@FUZZ
@given(st.data())
def test_a_mutated_scene_record_loads_identically_or_is_a_scene_format_error(data):
    record = _mutate(scene_to_json(_scene()), data)
    try:
        scene = scene_from_json(record)
    except SceneFormatError:
        return
    assert scene_from_json(scene_to_json(scene)) == scene


CONFIG = {"model": "toy:tiny-qformer", "data": "data/x", "sites": ["connector.out"], "tasks": ["region_cell", {"name": "object_identity", "pairing": "paired"}],
          "pools": ["mean"], "probes": ["ridge", "attention_pool"], "seeds": [0, 1], "controls": ["blind"], "batch_size": 64, "bootstrap": 1000,
          "neural": {"epochs": 5, "hidden": 64}, "protocols": ["frozen"]}


@FUZZ
@given(st.data())
def test_a_mutated_probe_config_parses_or_is_a_config_error(data):
    try:
        config = ProbeConfig.from_dict(_mutate(CONFIG, data))
    except (ConfigError, ProbingError):
        return
    assert ProbeConfig.from_dict(config.to_dict()) == config
