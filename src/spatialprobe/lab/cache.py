"""Content-addressed artefacts: every trained component under the hash of what made it."""

from __future__ import annotations

import json
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

from spatialprobe.features.key import digest

FORMAT = "spatialprobe.lab/2"


def key(stage: str, spec: dict) -> str:
    """``<stage>-<hash>`` of the full training spec (config, data fingerprint, seed, inputs' keys)."""
    return f"{stage}-{digest({'format': FORMAT, 'stage': stage, **spec})[:16]}"


@contextmanager
def building(root: Path, name: str):
    """Yield a temp directory that becomes ``root/name`` only if the block finishes."""
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=root))
    try:
        yield tmp
        target = root / name
        if target.exists():  # another process finished the same artefact first: identical by construction
            shutil.rmtree(tmp)
        else:
            tmp.rename(target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_meta(directory: Path, spec: dict, curve: list[float], seconds: float) -> None:
    (directory / "spec.json").write_text(json.dumps(spec, indent=2, sort_keys=True, default=str) + "\n")
    (directory / "curve.json").write_text(json.dumps({"loss_per_epoch": curve, "seconds": round(seconds, 2)}, indent=2) + "\n")
