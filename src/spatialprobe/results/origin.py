"""Where a number came from: package versions, code revision, seed, threads, dtype, machine."""

from __future__ import annotations

import functools
import os
import platform
import subprocess
import sys
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from spatialprobe import __version__

PACKAGES = ("numpy", "scipy", "torch", "transformers", "scikit-learn", "pillow")


def package_versions() -> dict[str, str]:
    out = {"spatialprobe": __version__, "python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            continue
    return out


def git_revision() -> str:
    """The source tree's commit (``+dirty`` if modified), or ``unknown`` outside a git checkout."""
    root = Path(__file__).resolve().parents[3]
    try:
        sha = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return sha + ("+dirty" if dirty else "")


@functools.cache
def source_fingerprint() -> str:
    """sha256 over every module of the installed spatialprobe package (paths and bytes): a cached
    result is reused only by the code that computed it."""
    import hashlib

    root = Path(__file__).resolve().parents[1]
    h = hashlib.sha256(__version__.encode())
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.suffix in (".py", ".yaml", ".json"):
            h.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def thread_count() -> int:
    torch = sys.modules.get("torch")
    if torch is not None:
        return int(torch.get_num_threads())
    return int(os.environ.get("OMP_NUM_THREADS", os.cpu_count() or 1))


def provenance(*, seed: int | None = None, dtype: str | None = None, **extra) -> dict:
    """A provenance block for a results record (extra keys, e.g. a store hash, are kept)."""
    return {
        "packages": package_versions(),
        "git": git_revision(),
        "seed": seed,
        "dtype": dtype,
        "threads": thread_count(),
        "platform": f"{platform.system()} {platform.machine()}",
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        **extra,
    }
