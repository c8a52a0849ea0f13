"""Options of the synthetic scene generator, validated up front."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

from spatialprobe.scenes.record import SPLITS
from spatialprobe.scenes.sources.synthetic.predicates import PREDICATES_ORDER
from spatialprobe.scenes.sources.synthetic.shapes import COLOURS, SHAPES, box_sizes

PREDICATES = PREDICATES_ORDER
ATTRIBUTE_TEMPLATES = ("attr.shape", "attr.colour_shape", "attr.size_shape", "attr.size_colour_shape")


def _default_splits() -> dict[str, float]:
    return {"lab": 0.5, "probe_train": 0.25, "probe_val": 0.1, "test": 0.15}


def _default_predicate_sets() -> dict[str, list[str]]:
    return {"seen": ["left of", "above", "near"], "unseen": ["right of", "below", "far from"]}


def _default_template_sets() -> dict[str, list[str]]:
    return {
        "seen": ["attr.shape", "attr.colour_shape", "attr.size_colour_shape", "rel.left of", "rel.above", "rel.near"],
        "unseen": ["attr.size_shape", "rel.right of", "rel.below", "rel.far from"],
    }


class SynthConfigError(ValueError):
    """An invalid or impossible generator option; the message names the option."""


@dataclass(frozen=True)
class SyntheticConfig:
    """How to draw and annotate synthetic scenes. Sizes are fractions of the image side."""

    n: int = 1000
    seed: int = 0
    size: int = 64
    min_objects: int = 2
    max_objects: int = 6
    overlap: float = 0.0
    """Largest fraction of an object's box that other objects' boxes may cover (0 = disjoint)."""
    clutter: int = 0
    """Distractor specks per scene (not objects, never masked)."""
    noise: float = 6.0
    """Std of per-pixel Gaussian noise, in 0–255 levels."""
    coverage: float = 1.0
    """Expected fraction of objects that coarse captions name; small objects are dropped first."""
    duplicates: float = 0.3
    """Chance that an object copies the type of one already placed (relational expressions then matter)."""
    margin: float = 0.1
    """Relations are labelled only this far (fraction of the side) from their decision threshold."""
    near: float = 0.4
    """Centre distance (fraction of the side) that separates 'near' from 'far from'."""
    relations_per_family: int = 1
    """Object pairs per predicate family (horizontal, vertical, distance) per scene."""
    splits: dict[str, float] = field(default_factory=_default_splits)
    predicate_sets: dict[str, list[str]] = field(default_factory=_default_predicate_sets)
    template_sets: dict[str, list[str]] = field(default_factory=_default_template_sets)

    def __post_init__(self) -> None:
        def bad(name: str, message: str) -> SynthConfigError:
            return SynthConfigError(f"--{name.replace('_', '-')}: {message}")

        for name, lo in (("n", 1), ("size", 16), ("min_objects", 1), ("max_objects", 1), ("relations_per_family", 0)):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < lo:
                raise bad(name, f"expected an integer ≥ {lo}, got {value!r}")
        if self.clutter < 0:
            raise bad("clutter", f"expected ≥ 0, got {self.clutter}")
        if self.min_objects > self.max_objects:
            raise bad("min_objects", f"{self.min_objects} is more than --max-objects {self.max_objects}")
        for name in ("overlap", "coverage", "duplicates"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0 or (name == "overlap" and value >= 0.9):
                raise bad(name, f"expected a fraction in [0, {0.9 if name == 'overlap' else 1}], got {value}")
        if not (isinstance(self.seed, int) and not isinstance(self.seed, bool) and self.seed >= 0):
            raise bad("seed", f"expected an integer ≥ 0, got {self.seed!r}")
        if not 0 <= self.noise < 256:  # NaN fails too
            raise bad("noise", f"expected a standard deviation in [0, 256) grey levels, got {self.noise}")
        if not 0 <= self.margin < self.near < 0.9:
            raise bad("margin", f"need 0 ≤ margin < near < 0.9, got margin {self.margin}, near {self.near}")
        if set(self.splits) != set(SPLITS) or any(v < 0 for v in self.splits.values()):
            raise bad("splits", f"give a non-negative fraction for each of {SPLITS}, got {self.splits}")
        if abs(sum(self.splits.values()) - 1.0) > 1e-6:
            raise bad("splits", f"fractions must sum to 1, got {sum(self.splits.values())}")
        for name, valid in (("predicate_sets", PREDICATES), ("template_sets", self.all_templates())):
            for set_name, members in getattr(self, name).items():
                unknown = sorted(set(members) - set(valid))
                if unknown:
                    raise bad(name, f"set {set_name!r} has unknown members {unknown}; valid: {list(valid)}")
        self._check_fits()

    @staticmethod
    def all_templates() -> tuple[str, ...]:
        return ATTRIBUTE_TEMPLATES + tuple(f"rel.{p}" for p in PREDICATES)

    def _check_fits(self) -> None:
        _, large = box_sizes(self.size)
        cell = (large + 1) ** 2 * (1.0 - self.overlap)
        fits = int(0.45 * self.size**2 // cell)
        if self.max_objects > fits:
            raise SynthConfigError(
                f"--max-objects: {self.max_objects} objects do not reliably fit in a {self.size}×{self.size} image "
                f"with --overlap {self.overlap} (at most {fits}); lower --max-objects, raise --size or --overlap"
            )

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> SyntheticConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise SynthConfigError(f"unknown synthetic option(s) {unknown}; valid: {sorted(known)}")
        return cls(**d)


VOCABULARY = {"shape": list(SHAPES), "colour": list(COLOURS), "size": ["small", "large"]}
