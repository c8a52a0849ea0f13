"""Content hashes of a dataset's files, recomputed only for files whose size or mtime changed.

A store's content key must change when a pixel does (an edited image, a masked-object ablation
with the same annotations), so it covers every file a scene reads. Hashing 100k images on every
`extract` would cost minutes; the hashes are kept in ``$SPATIALPROBE_CACHE/file-hashes/<root>.json``
as ``path → [size, mtime_ns, sha256]`` and a file is re-read only when its size or mtime differs
(git's index does the same). Editing a file in place while keeping both its size and its mtime to
the nanosecond defeats this; ``refresh=True`` re-reads everything.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

CHUNK = 1 << 22


def cache_root() -> Path:
    """``$SPATIALPROBE_CACHE``, else ``~/.cache/spatialprobe``."""
    return Path(os.environ.get("SPATIALPROBE_CACHE", Path.home() / ".cache" / "spatialprobe"))


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(CHUNK):
            h.update(block)
    return h.hexdigest()


def _index_path(root: Path) -> Path:
    return cache_root() / "file-hashes" / f"{hashlib.sha256(str(root).encode()).hexdigest()[:24]}.json"


def file_hashes(root: str | Path, paths: list[str], refresh: bool = False) -> dict[str, str]:
    """``path → sha256`` for ``paths`` (relative to ``root``); only new or changed files are read."""
    root = Path(root).resolve()
    index_path = _index_path(root)
    try:
        index = {} if refresh else json.loads(index_path.read_text())
    except (OSError, ValueError):
        index = {}  # a missing or damaged index only costs a re-read
    out, changed = {}, False
    for rel in paths:
        stat = (root / rel).stat()  # a missing file raises FileNotFoundError naming it
        entry = index.get(rel)
        if not (isinstance(entry, list) and len(entry) == 3 and entry[:2] == [stat.st_size, stat.st_mtime_ns]):
            entry = index[rel] = [stat.st_size, stat.st_mtime_ns, sha256_file(root / rel)]
            changed = True
        out[rel] = entry[2]
    if changed:
        index_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = index_path.with_name(f"{index_path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(index, separators=(",", ":")))
        os.replace(tmp, index_path)
    return out
