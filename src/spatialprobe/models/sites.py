"""Site names: the same points of every V&L model, in data-flow order.

``vision.embed`` (input to the first block), ``vision.layer.{i}`` (output of block i = HF
``hidden_states[i+1]``), ``vision.out`` (after the final norm), ``connector.in``,
``connector.hidden`` (resampler output before its projection), ``connector.out`` (the visual
prompt as the LM receives it), ``connector.attn`` (query → token cross-attention, head-averaged),
``lm.layer.{j}``, ``lm.out`` (after the LM's final norm). See docs/sites.md.
"""

from __future__ import annotations

import fnmatch
import re

ORDER = (
    "vision.embed",
    "vision.layer",
    "vision.out",
    "connector.in",
    "connector.attn",
    "connector.hidden",
    "connector.out",
    "lm.layer",
    "lm.out",
)
_INDEXED = re.compile(r"^(vision\.layer|lm\.layer)\.(\d+)$")


class UnknownSiteError(KeyError):
    """A site the model does not have; the message lists the sites it has."""

    def __str__(self) -> str:
        return str(self.args[0])


def split(site: str) -> tuple[str, int | None]:
    """``"vision.layer.3"`` → (``"vision.layer"``, 3); ``"vision.out"`` → (``"vision.out"``, None)."""
    m = _INDEXED.match(site)
    if m:
        return m.group(1), int(m.group(2))
    if site in ORDER and site not in ("vision.layer", "lm.layer"):
        return site, None
    raise ValueError(f"{site!r} is not a site name (e.g. vision.layer.3, connector.out); see docs/sites.md")


def sort_key(site: str) -> tuple[int, int]:
    stem, index = split(site)
    return ORDER.index(stem), -1 if index is None else index


def expand(patterns: list[str] | str, available: list[str], model: str = "the model") -> list[str]:
    """Resolve names and wildcards (``vision.layer.*``) against the sites a model has, in flow order."""
    patterns = [patterns] if isinstance(patterns, str) else list(patterns)
    chosen: set[str] = set()
    for pattern in patterns:
        hits = fnmatch.filter(available, pattern)
        if not hits:
            raise UnknownSiteError(f"{model} has no site {pattern!r}; its sites: {', '.join(available)}")
        chosen.update(hits)
    return sorted(chosen, key=sort_key)
