"""Content keys: a store's directory name is the hash of everything that determines its bytes."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from spatialprobe.scenes.files import sha256_file

FORMAT = "spatialprobe.features/1"
"""Version of the store layout; bump when shard contents change meaning."""


def canonical(obj) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def digest(obj) -> str:
    return hashlib.sha256(canonical(obj).encode()).hexdigest()


def weights_fingerprint(model) -> str:
    """sha256 over every parameter and buffer (names, shapes, dtypes, bytes) of a torch module."""
    import torch

    h = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        t = tensor.detach().cpu().contiguous()
        h.update(f"{name}:{tuple(t.shape)}:{t.dtype}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def dataset_fingerprint(root: str | Path) -> str:
    """sha256 of a scene dataset: its records, its metadata and every file a scene reads (images,
    instance maps), the last through `scenes.files.file_hashes` (only changed files are re-read)."""
    from spatialprobe.scenes import SceneDataset
    from spatialprobe.scenes.files import file_hashes

    root = Path(root)
    dataset = SceneDataset(root)
    files = sorted({p for s in dataset.scenes() for p in (s.image, s.instances) if p is not None})
    for path in files:
        dataset.file_path(path)  # refuses paths outside the dataset before anything is read
    return digest({"meta": sha256_file(root / "dataset.json"), "scenes": sha256_file(root / "scenes.jsonl"),
                   "files": digest(sorted(file_hashes(dataset.files_root, files).items()))})


def content_key(components: dict) -> str:
    """The store key: a short hash of the canonical JSON of its components."""
    return digest({"format": FORMAT, **components})[:24]
