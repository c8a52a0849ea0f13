"""Test settings: one thread, offline, caches in a temporary folder, and a small shared synthetic dataset."""

from __future__ import annotations

import os
import tempfile

os.environ.setdefault("OMP_NUM_THREADS", "1")
_CACHES = tempfile.mkdtemp(prefix="spatialprobe-test-")
for _var in ("SPATIALPROBE_CACHE", "SPATIALPROBE_LAB", "SPATIALPROBE_STORE"):  # tests never write to ~/.cache
    os.environ[_var] = os.path.join(_CACHES, _var.lower())
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)

from spatialprobe.scenes import SceneDataset  # noqa: E402
from spatialprobe.scenes.sources.synthetic import SyntheticConfig, build  # noqa: E402


@pytest.fixture(scope="session")
def synthetic(tmp_path_factory) -> SceneDataset:
    """1,500 default scenes (seed 3), built once per session."""
    out = tmp_path_factory.mktemp("data") / "scenes"
    build(SyntheticConfig(n=1500, seed=3), out, workers=1, progress=False)
    return SceneDataset(out)
