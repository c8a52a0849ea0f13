"""LiMBeR's linear map trained on a tiny HF encoder into a tiny causal LM: only the map learns, the
store path reads the same tokens the encoder gives, and a checkpointed run resumes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tiny_hf import save_encoder, save_gpt2
from spatialprobe.features import FeatureStore, extract
from spatialprobe.models import load_model
from spatialprobe.scenes.sources.synthetic import SyntheticConfig, build
from spatialprobe.train.limber import load_causal_lm, train_limber


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("limber")
    data = build(SyntheticConfig(n=80, seed=4), root / "scenes", workers=1, progress=False)
    from spatialprobe.scenes import SceneDataset

    dataset = SceneDataset(data)
    encoder = load_model(f"hf:{save_encoder(root / 'clip', 'clip')}")
    lm, tokenizer = load_causal_lm(f"hf:{save_gpt2(root / 'gpt2')}")
    store = FeatureStore(extract(encoder, dataset, ["vision.out"], root=root / "store", split=["probe_train"], progress=False).directory)
    return dataset, encoder, lm, tokenizer, store


def _frozen(encoder, lm):
    return {**{f"enc.{k}": v.clone() for k, v in encoder.model.state_dict().items()}, **{f"lm.{k}": v.clone() for k, v in lm.state_dict().items()}}


@pytest.mark.parametrize("variant", ["tokens", "pooled"])
def test_only_the_map_learns_and_the_store_gives_the_encoders_tokens(setup, variant):
    dataset, encoder, lm, tokenizer, store = setup
    before = _frozen(encoder, lm)
    args = dict(variant=variant, epochs=2, batch_size=8, lr=5e-3, seed=0, max_scenes=16)
    live, live_curve = train_limber(encoder, lm, tokenizer, dataset, **args)
    stored, stored_curve = train_limber(encoder, lm, tokenizer, dataset, store=store, **args)
    after = _frozen(encoder, lm)
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)  # encoder and LM untouched
    assert not any(p.requires_grad for p in lm.parameters()) and all(p.requires_grad for p in live.parameters())
    torch.manual_seed(0)
    fresh = type(live)(live.linear.in_features, lm.get_input_embeddings().embedding_dim, variant, live.prefix)
    assert not torch.equal(fresh.linear.weight, live.linear.weight)  # the map trained
    np.testing.assert_allclose(live_curve, stored_curve, rtol=2e-2)  # float16 store rows vs the live float32 tokens
    if variant == "pooled":
        assert live(torch.zeros(3, 17, live.linear.in_features)).shape == (3, 4, 32)


def test_an_interrupted_limber_run_resumes_to_the_map_of_an_uninterrupted_one(setup, tmp_path, monkeypatch):
    from spatialprobe.train import limber

    dataset, encoder, lm, tokenizer, store = setup
    args = dict(epochs=2, batch_size=4, seed=1, store=store, max_scenes=16, checkpoints=tmp_path / "c", every=1)
    whole, curve = train_limber(encoder, lm, tokenizer, dataset, **{**args, "checkpoints": None})
    calls, real = [], limber.EncoderTokens.__call__

    def crash_mid_epoch(self, index):
        calls.append(1)
        if len(calls) == 7:  # call 1 reads the width; then the 2nd of the second epoch's 4 batches
            raise KeyboardInterrupt
        return real(self, index)

    monkeypatch.setattr(limber.EncoderTokens, "__call__", crash_mid_epoch)
    with pytest.raises(KeyboardInterrupt):
        train_limber(encoder, lm, tokenizer, dataset, **args)
    monkeypatch.setattr(limber.EncoderTokens, "__call__", real)
    resumed, resumed_curve = train_limber(encoder, lm, tokenizer, dataset, **args)
    assert resumed_curve == curve and all(torch.equal(a, b) for a, b in zip(whole.state_dict().values(), resumed.state_dict().values()))
    with pytest.raises(ValueError, match="the store lacks 12 of the training scenes"):
        train_limber(encoder, lm, tokenizer, dataset, split="test", store=store, max_scenes=16)


def test_a_caption_names_categories_by_lemma_and_synonym():
    from spatialprobe.metrics.captions import category_scores, named_categories

    categories = ["cat", "couch", "dining table", "dog", "person"]
    assert named_categories("Two men sit on a sofa next to the dogs.", categories) == {"person", "couch", "dog"}
    assert named_categories("a plate on a table", categories) == {"dining table"}
    scores = category_scores("Two men sit on a sofa next to the dogs.", {"person", "couch", "cat", "dog"}, categories)
    assert scores == {"category_precision": 1.0, "category_recall": 0.75}
    assert np.isnan(category_scores("nothing here", {"cat"}, categories)["category_precision"])


def test_limber_captions_are_scored_against_blind_and_a_random_encoder(setup, tmp_path):
    from spatialprobe.results.store import ResultStore
    from spatialprobe.train.captions import METRICS, evaluate_limber

    dataset, encoder, lm, tokenizer, store = setup
    mapping, _ = train_limber(encoder, lm, tokenizer, dataset, variant="pooled", epochs=1, batch_size=8, store=store, max_scenes=16)
    results = ResultStore(tmp_path / "results")
    records = evaluate_limber(mapping, encoder, lm, tokenizer, dataset, name="clip→gpt2", n_resamples=100, out=results)
    assert [r.condition["control"] for r in records] == ["none", "blind", "model − blind"]
    assert {"BLEU-4", "CIDEr"} <= set(records[0].metrics) <= set(METRICS) and records[0].protocol == "limber"
    captions = results.predictions(records[0])
    assert len(captions) == len(dataset.scenes("test")) and all(isinstance(c["prediction"], str) for c in captions)
    blind = [c["prediction"] for c in results.predictions(records[1])]
    assert blind != [c["prediction"] for c in captions] or len(set(blind)) == 1  # another image's prompt (unless the LM ignores prompts)
    random = load_model(encoder.name, random_init=True)
    random_map, _ = train_limber(random, lm, tokenizer, dataset, variant="pooled", epochs=1, batch_size=8, max_scenes=16)
    (floor, *_) = evaluate_limber(random_map, random, lm, tokenizer, dataset, name="random clip→gpt2", n_resamples=100)
    assert floor.model == "random clip→gpt2" and "BLEU-4" in floor.metrics


def test_a_bfloat16_encoder_and_lm_train_a_float32_map(setup, tmp_path):
    dataset, encoder, lm, tokenizer, _ = setup
    encoder16 = load_model(encoder.name, dtype="bfloat16")
    lm16, _ = load_causal_lm(lm.name_or_path if lm.name_or_path.startswith("hf:") else f"hf:{lm.name_or_path}", dtype="bfloat16")
    assert lm16.dtype == torch.bfloat16
    mapping, curve = train_limber(encoder16, lm16, tokenizer, dataset, variant="pooled", epochs=1, batch_size=8, max_scenes=16)
    assert mapping.linear.weight.dtype == torch.float32 and np.isfinite(curve).all()
