"""A scene dataset on disk: ``scenes.jsonl`` + images + instance-id PNGs + ``dataset.json``.

Writes go to a temporary sibling directory that is renamed into place only when complete, so a
dataset directory either is whole or does not exist. ``dataset.json`` is written last.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from spatialprobe.scenes.codec import SceneFormatError, scene_from_json, scene_to_json
from spatialprobe.scenes.record import Scene, SceneObject

FORMAT = "spatialprobe.scenes/1"
SCENES_FILE = "scenes.jsonl"
META_FILE = "dataset.json"


def _is_dataset(path: Path) -> bool:
    try:
        return path.is_dir() and json.loads((path / META_FILE).read_text()).get("format") == FORMAT
    except (OSError, ValueError, AttributeError):
        return False


class DatasetWriter:
    """Context manager that builds a dataset in a temp directory and renames it into place.

    ``out`` must not exist unless ``force``; with ``force`` the old directory is replaced only after
    the new one is complete. On any error the temp directory is removed and ``out`` is untouched.
    """

    def __init__(self, out: str | Path, force: bool = False):
        self.out = Path(out)
        if self.out.exists() and not force:
            raise FileExistsError(f"{self.out} already exists; choose another --out or pass --force to replace it")
        if self.out.exists() and not _is_dataset(self.out):  # --force replaces a dataset, never another folder
            raise FileExistsError(f"{self.out} exists and is not a scene dataset (no {META_FILE} of format {FORMAT!r}); --force will not replace it")
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self.path = Path(tempfile.mkdtemp(prefix=f".{self.out.name}.tmp-", dir=self.out.parent))
        self._lines = open(self.path / SCENES_FILE, "w", encoding="utf-8")
        self.count = 0

    def __enter__(self) -> DatasetWriter:
        return self

    def add(self, scene: Scene | dict) -> None:
        """Append a scene (a `Scene` or its already-encoded JSON object)."""
        d = scene if isinstance(scene, dict) else scene_to_json(scene)
        self._lines.write(json.dumps(d, separators=(",", ":")) + "\n")
        self.count += 1

    def add_line(self, line: str) -> None:
        """Append one already-serialised scene line (no trailing newline)."""
        self._lines.write(line + "\n")
        self.count += 1

    def finish(self, metadata: dict[str, Any]) -> Path:
        self._lines.close()
        meta = {"format": FORMAT, "scenes": self.count, **metadata}
        (self.path / META_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
        backup = None
        if self.out.exists():
            backup = self.out.with_name(f".{self.out.name}.old-{os.getpid()}")
            self.out.rename(backup)
        os.replace(self.path, self.out)
        if backup is not None:
            shutil.rmtree(backup)
        return self.out

    def __exit__(self, exc_type, exc, tb) -> None:
        if not self._lines.closed:
            self._lines.close()
        if exc_type is not None or self.path.exists():
            shutil.rmtree(self.path, ignore_errors=True)


_PARSED: dict[tuple, list[Scene]] = {}
"""The last parsed ``scenes.jsonl`` of this process, by (path, size, mtime): worker processes that run
many steps on one dataset parse it once."""


class SceneDataset:
    """Read access to a dataset directory, or to a real dataset by its ``SOURCE:ROOT`` address
    (`spatialprobe.scenes.address`: read once into the cache)."""

    def __init__(self, root: str | Path):
        from spatialprobe.scenes.address import resolve

        self.root = resolve(root)
        meta_path = self.root / META_FILE
        if not self.root.is_dir():
            raise FileNotFoundError(f"{self.root}: no such dataset directory")
        if not meta_path.exists():
            raise SceneFormatError("dataset.json", "missing: the dataset is incomplete (was writing interrupted?)", str(self.root))
        try:
            self.metadata = json.loads(meta_path.read_text())
        except json.JSONDecodeError as err:
            raise SceneFormatError("dataset.json", f"not valid JSON ({err.msg} at line {err.lineno})", str(meta_path)) from None
        if self.metadata.get("format") != FORMAT:
            raise SceneFormatError("format", f"expected {FORMAT!r}, got {self.metadata.get('format')!r}", str(meta_path))
        self.files_root = (self.root / self.metadata["image_root"]) if self.metadata.get("image_root") else self.root
        """Where the records' relative file paths point: the dataset directory, or ``image_root`` of
        ``dataset.json`` (e.g. an existing COCO image folder; part of the content key, like every field there)."""

    def __iter__(self) -> Iterator[Scene]:
        return iter(self._all)

    @cached_property
    def _all(self) -> list[Scene]:
        path = self.root / SCENES_FILE
        stat = path.stat()
        key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
        if key not in _PARSED:  # scenes are immutable records: one parse per file version per process
            _PARSED.clear()
            _PARSED[key] = list(read_scenes(path))
        return _PARSED[key]

    def scenes(self, split: str | None = None) -> list[Scene]:
        """All scenes, or those of one split (parsed once per `SceneDataset`)."""
        return [s for s in self._all if split is None or s.split == split]

    def image(self, scene: Scene) -> np.ndarray:
        """The scene's RGB image as a (H, W, 3) uint8 array."""
        with self._open(scene, "image", scene.image, decode=True) as im:
            return np.asarray(im.convert("RGB"))

    def instances(self, scene: Scene) -> np.ndarray | None:
        """The instance-id map (H, W) (0 = background), or None if the scene has none."""
        if scene.instances is None:
            return None
        with self._open(scene, "instances", scene.instances, decode=True) as im:
            return np.asarray(im)

    def check_files(self, scene: Scene, decode: bool = True) -> None:
        """Every file the scene reads exists, lies inside the dataset, has the record's size and
        (``decode``) decodes; raises `SceneFormatError` naming the scene, field and file."""
        for field, path in (("image", scene.image), ("instances", scene.instances)):
            if path is not None:
                self._open(scene, field, path, decode).close()

    def _open(self, scene: Scene, field: str, path: str, decode: bool):
        from PIL import Image, UnidentifiedImageError

        where = f"{self.root / SCENES_FILE}: scene {scene.id}"
        file = self.file_path(path, where, field)
        try:
            im = Image.open(file)
            if decode:
                im.load()
        except FileNotFoundError:
            raise SceneFormatError(field, f"file {file} is missing", where) from None
        except (OSError, UnidentifiedImageError, SyntaxError, ValueError) as err:
            raise SceneFormatError(field, f"cannot decode {file}: {err}", where) from None
        if im.size != (scene.width, scene.height):
            im.close()
            raise SceneFormatError(field, f"{file} is {im.size[0]}×{im.size[1]} px, the record says {scene.width}×{scene.height}", where)
        return im

    def mask(self, scene: Scene, obj: SceneObject, instances: np.ndarray | None = None) -> np.ndarray:
        """The object's modal mask as (H, W) bool."""
        if obj.mask is None:
            raise ValueError(f"scene {scene.id} object {obj.id} has no mask")
        if obj.mask.kind == "instance" and instances is None:
            instances = self.instances(scene)
        return obj.mask.decode(scene.height, scene.width, obj.id, instances)

    def file_path(self, path: str, where: str = "", field: str = "image") -> Path:
        """``path`` under `files_root`; absolute paths and paths that climb out of it are refused
        (a downloaded dataset must not make the tool read any file the user can read)."""
        resolved = self.files_root / path
        if Path(path).is_absolute() or not resolved.resolve().is_relative_to(self.files_root.resolve()):
            raise SceneFormatError(field, f"{path!r} is outside {self.files_root} (set \"image_root\" in dataset.json to read files from another folder)", where)
        return resolved


def read_scenes(path: str | Path) -> Iterator[Scene]:
    """Yield validated scenes from a JSONL file; errors name the file, line and field."""
    path = Path(path)
    first_line: dict[str, int] = {}
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            if not line.strip():
                continue
            where = f"{path}:{lineno}"
            try:
                d = json.loads(line)
            except json.JSONDecodeError as err:
                raise SceneFormatError("line", f"not valid JSON ({err.msg} at column {err.colno})", where) from None
            try:
                scene = scene_from_json(d)
            except SceneFormatError as err:
                raise err.at(where) from None
            if scene.id in first_line:  # tasks and stores look scenes up by id: a second one would meet the first's labels
                raise SceneFormatError("id", f"duplicate scene id {scene.id!r} (first at line {first_line[scene.id]})", where)
            first_line[scene.id] = lineno
            yield scene
