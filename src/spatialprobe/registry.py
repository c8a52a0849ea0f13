"""One small generic registry for sources, models, tasks, probes and metrics.

Built-in entries are discovered lazily: a registry names a package, and each public module of that
package is one entry (the module name is the entry name, the module registers its object when
imported). Listing names imports nothing; `get` imports only the module it needs. Third-party
entries come from explicit `register` calls or from the ``spatialprobe.<kind>s`` entry-point group.
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Generic, TypeVar

T = TypeVar("T")


def nearest(name, valid) -> str | None:
    """The valid name closest to a misspelt ``name`` (for "did you mean …?"), or None."""
    import difflib

    close = difflib.get_close_matches(str(name), sorted(valid), n=1)
    return close[0] if close else None


class UnknownNameError(KeyError):
    """An unknown registry name; the message lists the valid ones."""

    def __str__(self) -> str:
        return str(self.args[0])


class Registry(Generic[T]):
    """Name → object, with lazy module discovery, duplicate refusal and helpful errors."""

    def __init__(self, kind: str, package: str | None = None, *, one_module_per_entry: bool = True):
        self.kind = kind
        self.package = package
        self.one_module_per_entry = one_module_per_entry
        self._entries: dict[str, T] = {}
        self._plugins_loaded = False

    def register(self, name: str, obj: T | None = None) -> Callable[[T], T] | T:
        """Register ``obj`` under ``name`` (or use as a decorator); a taken name is refused."""

        def add(value: T) -> T:
            if name in self._entries and self._entries[name] is not value:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            self._entries[name] = value
            return value

        return add if obj is None else add(obj)

    def _builtin_modules(self) -> list[str]:
        try:
            if self.package is None or importlib.util.find_spec(self.package) is None:
                return []
        except ModuleNotFoundError:  # the parent package does not exist (yet)
            return []
        pkg = importlib.import_module(self.package)
        return sorted(m.name for m in pkgutil.iter_modules(pkg.__path__) if not m.name.startswith("_"))

    def _load_plugins(self) -> None:
        if self._plugins_loaded:
            return
        self._plugins_loaded = True
        for ep in entry_points(group=f"spatialprobe.{self.kind}s"):
            self.register(ep.name, ep.load())

    def names(self) -> list[str]:
        """Every valid name, sorted, without importing built-in entries."""
        self._load_plugins()
        if self.one_module_per_entry:
            return sorted(set(self._entries) | set(self._builtin_modules()))
        self._import_all()
        return sorted(self._entries)

    def _import_all(self) -> None:
        for module in self._builtin_modules():
            importlib.import_module(f"{self.package}.{module}")

    def get(self, name: str) -> T:
        """The object registered as ``name``; unknown names raise with the list of valid ones."""
        self._load_plugins()
        if name not in self._entries:
            if self.one_module_per_entry and name in self._builtin_modules():
                importlib.import_module(f"{self.package}.{name}")
            elif not self.one_module_per_entry:
                self._import_all()
        if name not in self._entries:
            valid = ", ".join(self.names()) or "(none yet)"
            raise UnknownNameError(f"unknown {self.kind} {name!r}; valid {self.kind}s: {valid}")
        return self._entries[name]


SOURCES: Registry = Registry("source", "spatialprobe.scenes.sources")
MODELS: Registry = Registry("model", "spatialprobe.models.families")
TASKS: Registry = Registry("task", "spatialprobe.probing.tasks")
PROBES: Registry = Registry("probe", "spatialprobe.probing.probes")
METRICS: Registry = Registry("metric", "spatialprobe.metrics", one_module_per_entry=False)
STUDIES: Registry = Registry("study", "spatialprobe.experiments.studies")

ALL = {"sources": SOURCES, "models": MODELS, "tasks": TASKS, "probes": PROBES, "metrics": METRICS, "studies": STUDIES}
