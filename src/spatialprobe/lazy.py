"""Lazy package exports: names are imported from their modules on first use (PEP 562)."""

from __future__ import annotations

import importlib


def exports(package: str, names: dict[str, str]):
    """``__getattr__, __all__ = exports(__name__, {"Name": "package.module", ...})``."""

    def __getattr__(name: str):
        if name in names:
            return getattr(importlib.import_module(names[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__, sorted(names)
