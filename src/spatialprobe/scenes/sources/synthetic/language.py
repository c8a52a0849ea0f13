"""Text about a synthetic scene, correct by construction: expressions, statements, captions.

Every piece of text is built word by word, so each word's character span and the object it
names (if any) are known exactly.
"""

from __future__ import annotations

import random
from itertools import combinations

from spatialprobe.scenes.record import Caption, Expression, Relation, Word
from spatialprobe.scenes.sources.synthetic.config import SyntheticConfig
from spatialprobe.scenes.sources.synthetic.predicates import FAMILIES, PREDICATES_ORDER, signed_value, truth
from spatialprobe.scenes.sources.synthetic.render import Placed

DESCRIPTIONS = {
    "shape": ("shape",),
    "colour_shape": ("colour", "shape"),
    "size_shape": ("size", "shape"),
    "size_colour_shape": ("size", "colour", "shape"),
}
FULL = DESCRIPTIONS["size_colour_shape"]
COARSE_TEMPLATES = ("{}", "a picture of {}", "there is {}", "an image with {}")


class Text:
    """Builds a sentence word by word, recording each word's span and grounding."""

    def __init__(self) -> None:
        self._text = ""
        self.words: list[Word] = []

    def word(self, token: str, obj: int | None = None) -> Text:
        if self._text and not self._text.endswith(" "):
            self._text += " "
        start = len(self._text)
        self._text += token
        self.words.append(Word(start, len(self._text), obj))
        return self

    def phrase(self, tokens, obj: int | None = None) -> Text:
        for token in tokens:
            self.word(token, obj)
        return self

    def raw(self, s: str) -> Text:
        self._text += s
        return self

    @property
    def text(self) -> str:
        return self._text


def noun(o: Placed, fields: tuple[str, ...]) -> list[str]:
    """Attribute words in a fixed order (size, colour, shape) for the given fields."""
    return [o.attributes[f] for f in ("size", "colour", "shape") if f in fields]


def matches(o: Placed, fields: tuple[str, ...], ref: Placed) -> bool:
    a, b = o.attributes, ref.attributes
    for f in fields:
        if a[f] != b[f]:
            return False
    return True


def unique_descriptions(o: Placed, objects: list[Placed]) -> list[str]:
    """Names of the descriptions that pick out ``o`` alone among ``objects``."""
    return [
        name
        for name, fields in DESCRIPTIONS.items()
        if sum(matches(other, fields, o) for other in objects) == 1
    ]


class SceneText:
    """All text of one scene, drawn with the scene's own random stream."""

    def __init__(self, cfg: SyntheticConfig, objects: list[Placed], rnd: random.Random):
        self.cfg, self.objects, self.rnd = cfg, objects, rnd
        self.near_px = cfg.near * cfg.size
        self.margin_px = cfg.margin * cfg.size
        self.unique = {o.id: unique_descriptions(o, objects) for o in objects}
        self._truths = {
            (p, a.id, b.id): truth(p, a.center, b.center, self.near_px, self.margin_px)
            for p in PREDICATES_ORDER
            for a in objects
            for b in objects
            if a.id != b.id
        }
        # one unique description per object, reused by every statement so minimal pairs stay minimal
        self.name = {oid: DESCRIPTIONS[rnd.choice(names)] for oid, names in self.unique.items() if names}

    def _truth(self, predicate: str, a: Placed, b: Placed) -> bool | None:
        return self._truths[(predicate, a.id, b.id)]

    def attribute_expressions(self) -> list[Expression]:
        out = []
        for o in self.objects:
            if self.unique[o.id]:
                name = self.rnd.choice(self.unique[o.id])
                text = Text().word("the").phrase(noun(o, DESCRIPTIONS[name])).text
                out.append(Expression(f"e{len(out)}", text, o.id, "attribute", f"attr.{name}"))
        return out

    def relational_expressions(self, start: int) -> list[Expression]:
        out = []
        for target in self.objects:
            ambiguous, unique = [], []
            for fields in DESCRIPTIONS.values():
                alike = [o for o in self.objects if o.id != target.id and matches(o, fields, target)]
                for anchor in self.objects:
                    if anchor.id == target.id or anchor.id not in self.name:
                        continue
                    rivals = [o for o in alike if o.id != anchor.id]
                    for predicate in PREDICATES_ORDER:
                        if self._truth(predicate, target, anchor) is True and all(
                            self._truth(predicate, o, anchor) is False for o in rivals
                        ):
                            (ambiguous if rivals else unique).append((fields, anchor, predicate))
            options = ambiguous or unique
            if not options:
                continue
            fields, anchor, predicate = self.rnd.choice(options)
            text = Text().word("the").phrase(noun(target, fields)).phrase(predicate.split())
            text.word("the").phrase(noun(anchor, self.name[anchor.id]))
            out.append(Expression(f"e{start + len(out)}", text.text, target.id, "relational", f"rel.{predicate}"))
        return out

    def _statement(self, idx: int, a: Placed, predicate: str, b: Placed, group: str) -> Relation:
        text = Text().word("the").phrase(noun(a, self.name[a.id])).word("is").phrase(predicate.split())
        text.word("the").phrase(noun(b, self.name[b.id]))
        value = signed_value(predicate, a.center, b.center, self.near_px)
        return Relation(
            id=f"r{idx}",
            text=text.text,
            predicate=predicate,
            label=value > 0,
            subject=a.id,
            object=b.id,
            group=group,
            margin=round(abs(value), 3),
        )

    def relations(self) -> list[Relation]:
        """Minimal-pair groups; each predicate gets as many true as false statements."""
        named = [o for o in self.objects if o.id in self.name]
        pairs = list(combinations(named, 2))
        k = self.cfg.relations_per_family
        quads: list[tuple[str, Placed, str, Placed, bool]] = []  # (group, subject, predicate, object, label)
        for family in ("horizontal", "vertical"):
            first, second = FAMILIES[family]
            decided = [(a, b) for a, b in pairs if self._truth(first, a, b) is not None]
            for j, (a, b) in enumerate(self.rnd.sample(decided, min(k, len(decided)))):
                lo, hi = (a, b) if self._truth(first, a, b) else (b, a)
                g = f"{family}{j}"
                quads += [(g, lo, first, hi, True), (g, hi, first, lo, False), (g, hi, second, lo, True), (g, lo, second, hi, False)]
        near = [p for p in pairs if self._truth("near", *p) is True]
        far = [p for p in pairs if self._truth("near", *p) is False]
        n = min(k, len(near), len(far))
        for j, (kind, chosen) in enumerate(
            [("near", p) for p in self.rnd.sample(near, n)] + [("far from", p) for p in self.rnd.sample(far, n)]
        ):
            a, b = chosen if self.rnd.random() < 0.5 else chosen[::-1]
            other = "far from" if kind == "near" else "near"
            quads += [(f"distance{j}", a, kind, b, True), (f"distance{j}", a, other, b, False)]
        return [self._statement(i, a, p, b, g) for i, (g, a, p, b, _) in enumerate(quads)]

    def coarse_caption(self) -> Caption:
        """Objects named with all attributes, in random order, never their positions."""
        drop = 1.0 - self.cfg.coverage
        kept = [o for o in self.objects if self.rnd.random() >= min(1.0, drop * (1.6 if o.size == "small" else 0.4))]
        if not kept:
            kept = [self.rnd.choice(self.objects)]
        self.rnd.shuffle(kept)
        template = self.rnd.choice(COARSE_TEMPLATES)
        prefix = template.split("{}")[0].split()
        text = Text().phrase(prefix)
        for i, o in enumerate(kept):
            if i:
                text.raw(",") if i < len(kept) - 1 else text.word("and")
            text.word("a", o.id).phrase(noun(o, FULL), o.id)
        text.raw(".")
        return Caption("c0", text.text, "coarse", tuple(o.id for o in kept), tuple(text.words))

    def spatial_caption(self) -> Caption:
        """A chain of true relations through every object: "a red circle is left of a blue square and …"."""
        order = list(self.objects)
        self.rnd.shuffle(order)
        text, mentions = Text(), []
        for i, a in enumerate(order[:-1]):
            partners = [order[i + 1]] + [o for o in order if o.id not in (a.id, order[i + 1].id)]
            for b in partners:
                true = [p for p in PREDICATES_ORDER if self._truth(p, a, b) is True]
                if true:
                    break
            else:
                continue
            if mentions:
                text.word("and")
            text.word("a", a.id).phrase(noun(a, FULL), a.id).word("is").phrase(self.rnd.choice(true).split())
            text.word("a", b.id).phrase(noun(b, FULL), b.id)
            mentions += [m for m in (a.id, b.id) if m not in mentions]
        if not mentions:  # a single object: nothing to relate it to
            text.word("a", order[0].id).phrase(noun(order[0], FULL), order[0].id)
            mentions = [order[0].id]
        text.raw(".")
        return Caption("c1", text.text, "spatial", tuple(mentions), tuple(text.words))
