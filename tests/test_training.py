"""The one training recipe, the per-scene attention of the token probes, and the relational probe."""

import math

import numpy as np
import pytest
import torch

from spatialprobe.probing import ProbingError
from spatialprobe.probing.kinds import of as kind
from spatialprobe.probing.probes._attention import SceneAttention, positions
from spatialprobe.probing.probes._neural import Inputs
from spatialprobe.probing.protocol import fit_and_predict
from spatialprobe.probing.training import Recipe, lr_factor
from spatialprobe.registry import PROBES


def test_unknown_training_options_name_the_nearest_valid_one():
    with pytest.raises(ProbingError, match=r"neural.max_epochs: unknown training option \(did you mean 'epochs'\?\)"):
        Recipe.from_options({"max_epochs": 3}, "neural")
    with pytest.raises(ProbingError, match="training.epochs: expected a positive integer"):
        Recipe(epochs=0)
    with pytest.raises(ProbingError, match="training.lr"):
        Recipe(lr=float("nan"))


def test_the_schedule_warms_up_then_decays_to_zero():
    total, warm = 200, 0.05
    factors = [lr_factor(s, total, warm) for s in range(total)]
    assert factors[0] == pytest.approx(1 / 10) and factors[9] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(factors[10:], factors[11:])) and factors[-1] < 1e-3
    assert max(factors) == pytest.approx(1.0) and math.isclose(lr_factor(total, total, warm), 0.0, abs_tol=1e-12)


def test_scene_attention_equals_attention_on_each_items_own_scene():
    torch.manual_seed(0)
    attn = SceneAttention(16, 4)
    tokens = torch.randn(5, 7, 16)
    scene_of = torch.tensor([3, 0, 3, 1, 3, 4, 0])
    queries = torch.randn(len(scene_of), 2, 16)
    out = attn(queries, tokens, scene_of)
    for i, s in enumerate(scene_of.tolist()):  # one item at a time, its scene alone
        alone = attn(queries[i : i + 1], tokens[s : s + 1], torch.tensor([0]))
        torch.testing.assert_close(out[i : i + 1], alone, rtol=1e-5, atol=1e-6)
    pos, m = positions(scene_of)
    assert pos.tolist() == [0, 0, 1, 0, 2, 0, 1] and m == 3


def test_minibatches_mix_scenes_and_read_each_scenes_tokens_once():
    from spatialprobe.probing.probes._neural import PER_SCENE

    inputs = Inputs(torch.arange(40.0)[:, None, None].expand(40, 3, 2), None, torch.as_tensor(np.repeat(np.arange(40), 7)))
    batches = inputs.batches(np.random.default_rng(0), 32)
    assert sorted(np.concatenate(batches).tolist()) == list(range(280))  # every item once an epoch
    counts = np.concatenate([np.unique(rows // 7, return_counts=True)[1] for rows in batches])
    assert counts.mean() < PER_SCENE + 1 and (counts == 7).mean() < 0.1  # a batch mixes many scenes, rarely a whole one
    rows = batches[0]
    visual, _, scene_of = inputs.batch(rows)
    assert len(visual) == len(np.unique(rows // 7))  # unique scenes only
    np.testing.assert_array_equal(visual[scene_of, 0, 0].numpy(), rows // 7)  # each item points at its own scene


def _two_objects(n, seed, T=16, d=8):
    """Tokens that carry their position (channel 2, as an encoder's position code) and two bumps
    (subject in rows 0–7, object in rows 8–15); the statement is "left of" (text [1, 0]) or
    "right of" ([0, 1]); its truth follows the bumps' positions."""
    rng = np.random.default_rng(seed)
    tokens = rng.normal(size=(n, T, d)).astype(np.float32)
    tokens[:, :, 2] = 2 * (np.arange(T) % 8) / 7 - 1
    s, o = rng.integers(0, 8, n), rng.integers(0, 8, n)
    o[o == s] = (s[o == s] + 1) % 8
    tokens[np.arange(n), s, 0] += 3.0
    tokens[np.arange(n), o + 8, 1] += 3.0
    left = rng.integers(0, 2, n)
    text = np.stack([left, 1 - left], 1).astype(np.float32)
    y = np.where(left == 1, s < o, s > o).astype(int)
    boxes = np.zeros((n, 2, 4), np.float32)
    boxes[:, 0, 0], boxes[:, 1, 0] = (s + 0.5) / 8, (o + 0.5) / 8
    boxes[:, :, 1:] = [0.5, 0.1, 0.1]
    return {"tokens": tokens, "text": text, "aux": {"boxes": boxes}}, y


def test_the_relational_probe_composes_two_located_slots():
    X, y = _two_objects(1500, 0)
    Xv, yv = _two_objects(300, 1)
    Xt, yt = _two_objects(300, 2)
    probe = PROBES.get("relational")("classification", epochs=40, lr=5e-3).fit(X, y, {k: v for k, v in Xv.items() if k != "aux"}, yv)
    assert probe.score({k: v for k, v in Xt.items() if k != "aux"}, yt) > 0.7  # chance 0.5
    with pytest.raises(ProbingError, match="subject and object boxes"):
        PROBES.get("relational")("classification").fit({k: v for k, v in X.items() if k != "aux"}, y)


@pytest.mark.parametrize("name", ["attention_pool", "relational"])
def test_token_probes_never_see_test_rows(name):
    X, y = _two_objects(200, 0)
    Xv, yv = _two_objects(60, 1)
    Xt, yt = _two_objects(60, 2)
    strip = lambda d: {k: v for k, v in d.items() if k != "aux"}  # noqa: E731
    probe_cls = PROBES.get(name)
    poisoned_test = {**strip(Xt), "tokens": Xt["tokens"] * 1e6}
    clean, _ = fit_and_predict(probe_cls, "classification", 0, {"probe_train": X, "probe_val": strip(Xv), "test": strip(Xt)}, {"probe_train": y, "probe_val": yv, "test": yt}, epochs=3)
    poisoned, _ = fit_and_predict(probe_cls, "classification", 0, {"probe_train": X, "probe_val": strip(Xv), "test": poisoned_test},
                                  {"probe_train": y, "probe_val": yv, "test": 1 - yt}, epochs=3)
    for k, v in clean.tensors().items():
        np.testing.assert_array_equal(v.numpy(), poisoned.tensors()[k].numpy())


def test_collapsed_predictions_are_named():
    rng = np.random.default_rng(0)
    target = np.column_stack([rng.random(100), rng.random(100), np.full(100, 0.2), np.full(100, 0.2)])
    assert "mean-box basin" in kind("regression").collapse(np.tile(target.mean(0), (100, 1)) + 1e-4 * rng.random((100, 4)), target)
    assert kind("regression").collapse(target + 0.01 * rng.random((100, 4)), target) is None
    labels = rng.integers(0, 4, 100)
    assert kind("classification").collapse(np.zeros(100, int), labels) and kind("classification").collapse(labels, labels) is None
