"""The synthetic generator's annotations, checked against geometry by code independent of it."""

import hashlib
import math
from collections import Counter, defaultdict

import numpy as np
import pytest
from scipy import stats

from spatialprobe.scenes import SPLITS, SceneDataset
from spatialprobe.scenes.sources.synthetic import SynthConfigError, SyntheticConfig, build, generate_scene
from spatialprobe.scenes.sources.synthetic.render import LayoutError

POSITION_WORDS = {"left", "right", "above", "below", "near", "far", "top", "bottom", "under", "over", "next", "behind"}
SIZES, PREDICATE_WORDS = {"small", "large"}, ["left of", "right of", "above", "below", "near", "far from"]


def _tree_hash(root) -> str:
    h = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        h.update(str(path.relative_to(root)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def test_same_seed_gives_byte_identical_datasets_and_other_seeds_differ(tmp_path):
    cfg = SyntheticConfig(n=60, seed=11)
    a = build(cfg, tmp_path / "a", workers=1, progress=False)
    b = build(cfg, tmp_path / "b", workers=2, progress=False)
    c = build(SyntheticConfig(n=60, seed=12), tmp_path / "c", workers=1, progress=False)
    assert _tree_hash(a) == _tree_hash(b)
    assert _tree_hash(a) != _tree_hash(c)


def _geometry(dataset):
    cfg = dataset.metadata["config"]
    return cfg["near"] * cfg["size"], cfg["margin"] * cfg["size"]


def _signed(predicate, a, b, near):
    """Independent restatement of the predicates on box centres (y points down)."""
    (ax, ay), (bx, by) = a.box.center, b.box.center
    return {
        "left of": bx - ax,
        "right of": ax - bx,
        "above": by - ay,
        "below": ay - by,
        "near": near - math.hypot(bx - ax, by - ay),
        "far from": math.hypot(bx - ax, by - ay) - near,
    }[predicate]


def test_relation_labels_agree_with_the_boxes_beyond_the_margin(synthetic):
    near, margin = _geometry(synthetic)
    n = 0
    for scene in synthetic:
        for r in scene.relations:
            value = _signed(r.predicate, scene.object(r.subject), scene.object(r.object), near)
            assert abs(value) >= margin - 1e-9, (scene.id, r)
            assert (value > 0) == r.label, (scene.id, r)
            n += 1
    assert n > 1000


def test_relations_are_minimal_pairs_balanced_per_predicate(synthetic):
    per_predicate = Counter()
    cells = defaultdict(Counter)
    for scene in synthetic:
        groups = defaultdict(list)
        for r in scene.relations:
            groups[r.group].append(r)
            per_predicate[(r.predicate, r.label)] += 1
            cells[(r.predicate, scene.object(r.subject).category, scene.object(r.object).category)][r.label] += 1
        for members in groups.values():
            assert {r.label for r in members} == {True, False}
            assert len({frozenset((r.subject, r.object)) for r in members}) == 1  # same two objects
    for predicate in PREDICATE_WORDS:
        assert per_predicate[(predicate, True)] == per_predicate[(predicate, False)] > 0
    # per predicate × subject shape × object shape: the true share is 1/2 up to sampling noise
    counts = [(c[True], c[True] + c[False]) for c in cells.values() if c[True] + c[False] >= 20]
    pvalues = [stats.binomtest(t, n, 0.5).pvalue for t, n in counts]
    assert len(counts) > 50
    assert np.mean(np.array(pvalues) < 0.01) < 0.05


def _parse_description(words, vocabulary):
    fields = {}
    for w in words:
        key = next(k for k, values in vocabulary.items() if w in values)
        fields[key] = w
    return fields


def _matches(obj, fields):
    attrs = {"shape": obj.category, **obj.attributes}
    return all(attrs[k] == v for k, v in fields.items())


def _referents(scene, text, vocabulary, near, margin):
    """Evaluate an expression's text against the scene, from the words alone."""
    words = text.split()
    assert words[0] == "the"
    rest = " ".join(words[1:])
    for predicate in PREDICATE_WORDS:
        marker = f" {predicate} the "
        if marker in rest:
            head, anchor_text = rest.split(marker)
            anchors = [o for o in scene.objects if _matches(o, _parse_description(anchor_text.split(), vocabulary))]
            assert len(anchors) == 1, "the anchor must be unique"
            candidates = [o for o in scene.objects if o.id != anchors[0].id and _matches(o, _parse_description(head.split(), vocabulary))]
            values = [_signed(predicate, o, anchors[0], near) for o in candidates]
            assert all(abs(v) >= margin for v in values), "no borderline candidate"
            return [o.id for o, v in zip(candidates, values) if v > 0]
    return [o.id for o in scene.objects if _matches(o, _parse_description(words[1:], vocabulary))]


def test_every_expression_has_exactly_its_one_referent(synthetic):
    near, margin = _geometry(synthetic)
    vocabulary = synthetic.metadata["vocabulary"]
    kinds = Counter()
    for scene in synthetic:
        for e in scene.expressions:
            assert _referents(scene, e.text, vocabulary, near, margin) == [e.referent], (scene.id, e.text)
            kinds[e.kind] += 1
    assert kinds["attribute"] > 1000 and kinds["relational"] > 1000


def test_coarse_captions_name_objects_without_positions_in_unrelated_order(synthetic):
    index_vs_x, index_vs_size = [], []
    for scene in synthetic:
        coarse = next(c for c in scene.captions if c.kind == "coarse")
        assert not POSITION_WORDS & set(coarse.text.replace(",", " ").replace(".", " ").split())
        for rank, oid in enumerate(coarse.mentions):
            obj = scene.object(oid)
            index_vs_x.append((rank, obj.box.center[0]))
            index_vs_size.append((rank, obj.box.area))
            assert f"{obj.attributes['size']} {obj.attributes['colour']} {obj.category}" in coarse.text
    for pairs in (index_vs_x, index_vs_size):
        rho, p = stats.spearmanr(*zip(*pairs))
        assert abs(rho) < 0.05 and p > 0.001


def test_word_grounding_points_at_the_named_object(synthetic):
    for scene in list(synthetic)[:300]:
        for caption in scene.captions:
            for word in caption.words:
                token = caption.word_text(word)
                assert token == token.strip() and token
                if word.object is not None:
                    obj = scene.object(word.object)
                    attrs = {"a", obj.category, *obj.attributes.values()}
                    assert token in attrs, (caption.text, token)
                else:
                    assert token not in {obj.category for obj in scene.objects}
            assert set(caption.mentions) == {w.object for w in caption.words if w.object is not None}


def test_masks_boxes_and_occlusion_agree(synthetic):
    for scene in list(synthetic)[:200]:
        instances = synthetic.instances(scene)
        image = synthetic.image(scene)
        assert image.shape == (scene.height, scene.width, 3) and instances.shape == image.shape[:2]
        assert set(np.unique(instances)) - {0} == {o.id for o in scene.objects}
        for obj in scene.objects:
            mask = synthetic.mask(scene, obj, instances)
            ys, xs = np.nonzero(mask)
            x0, y0, x1, y1 = obj.box.array()
            assert x0 <= xs.min() and xs.max() < x1 and y0 <= ys.min() and ys.max() < y1
            assert obj.visible == 1.0  # default --overlap 0: nothing is hidden


def test_overlap_records_occlusion(tmp_path):
    ds = SceneDataset(build(SyntheticConfig(n=80, seed=2, overlap=0.6), tmp_path / "o", workers=1, progress=False))
    visible = [o.visible for s in ds for o in s.objects]
    assert min(visible) >= 0.35 and min(visible) < 1.0


def test_splits_are_exact_and_by_scene(synthetic):
    counts = Counter(s.split for s in synthetic)
    fractions = synthetic.metadata["config"]["splits"]
    assert set(counts) == set(SPLITS)
    for split in SPLITS:
        assert abs(counts[split] - fractions[split] * 1500) <= 1
    assert len({s.id for s in synthetic}) == 1500


def test_coverage_drops_mostly_small_objects(tmp_path):
    ds = SceneDataset(build(SyntheticConfig(n=300, seed=5, coverage=0.6), tmp_path / "c", workers=1, progress=False))
    named = Counter()
    total = Counter()
    for scene in ds:
        coarse = next(c for c in scene.captions if c.kind == "coarse")
        for obj in scene.objects:
            total[obj.attributes["size"]] += 1
            named[obj.attributes["size"]] += obj.id in coarse.mentions
    assert named["small"] / total["small"] < named["large"] / total["large"] - 0.2


@pytest.mark.parametrize(
    "options, message",
    [
        (dict(max_objects=40), "--max-objects: 40 objects do not reliably fit"),
        (dict(min_objects=5, max_objects=3), "--min-objects"),
        (dict(overlap=1.5), "--overlap"),
        (dict(coverage=-0.1), "--coverage"),
        (dict(n=0), "--n"),
        (dict(splits={"lab": 1.0}), "--splits"),
        (dict(predicate_sets={"seen": ["inside"]}), "--predicate-sets"),
    ],
)
def test_bad_options_are_clear_errors(options, message):
    with pytest.raises(SynthConfigError, match=message):
        SyntheticConfig(**options)


def test_an_unplaceable_scene_is_a_clear_error(monkeypatch):
    from spatialprobe.scenes.sources.synthetic import render

    monkeypatch.setattr(render, "PLACEMENT_TRIES", 0)
    with pytest.raises(LayoutError, match="scene 7: could not place"):
        generate_scene(SyntheticConfig(), 7, "lab")
