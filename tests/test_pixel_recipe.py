"""PixelLLM's location head on tiny LLaVA and BLIP-2: each located row is the hidden state of its own
word's token, the head learns a box where one is readable, and `spatialprobe train pixel` mixes
Localized Narratives and RefCOCO files into records vs the image-free baselines, resuming in place."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from dataset_fixtures import narratives, refcoco
from tiny_hf import VLMS
from spatialprobe.cli.main import main


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("pixel")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SPATIALPROBE_CACHE", str(root / "cache"))
        yield {"llava": f"hf:{VLMS['llava'](root / 'llava')}", "blip2": f"hf:{VLMS['blip2'](root / 'blip2')}",
               "refcoco": f"refcoco:{refcoco(root / 'refer')}", "narratives": f"narratives:{narratives(root / 'ln', n=15)}?val_fraction=0.2"}


@pytest.mark.parametrize("family", ["llava", "blip2"])
def test_each_located_row_is_the_hidden_state_of_its_words_token(inputs, family):
    from spatialprobe.models import load_model
    from spatialprobe.scenes import SceneDataset
    from spatialprobe.scenes.address import resolve
    from spatialprobe.train.pixel import WHERE, located_rows

    adapter = load_model(inputs[family])
    for address in (inputs["narratives"], inputs["refcoco"]):
        dataset = SceneDataset(resolve(address))
        scene = next(s for s in dataset.scenes("probe_train") if s.captions or s.expressions)
        located = located_rows(adapter, dataset, [scene], batch_size=3)
        text, kind = (scene.captions[0].text, "caption") if scene.captions else (WHERE.format(scene.expressions[0].text) + "</s>", "referring")
        hidden = adapter.extract([dataset.image(scene)], "lm.out", texts=[text])["lm.out"][0]
        ids = adapter.tokenizer(text, add_special_tokens=True, return_offsets_mapping=True)
        q = adapter.make_batch(adapter.preprocess([dataset.image(scene)]), [text]).prompt_length
        if kind == "caption":
            spans = [(w.start, w.end) for w in scene.captions[0].words]
            rows = [q + j for j, (a, b) in enumerate(ids["offset_mapping"]) if any(a < e and s < b for s, e in spans)]  # not the full stop
            assert len(rows) == len(spans) == 5 and list(located.words[:5]) == [scene.captions[0].text[s:e].lower() for s, e in spans]
        else:
            rows = [q + len(ids["input_ids"]) - 1]  # the last token, </s>
        first = located.hidden[: len(rows)]
        torch.testing.assert_close(first, hidden[rows].float())


def test_the_head_reads_a_box_where_the_hidden_states_hold_one_and_beats_the_word_mean():
    from spatialprobe.train.pixel import Located, head_records, train_head

    rng = np.random.default_rng(0)
    n = 400
    boxes = np.column_stack([rng.uniform(0.3, 0.7, (n, 2)), rng.uniform(0.2, 0.4, (n, 2))])
    hidden = torch.as_tensor(np.column_stack([boxes, rng.normal(size=(n, 12))]) @ rng.normal(size=(16, 32)), dtype=torch.float32)
    words = np.array(["cat", "dog"] * (n // 2))
    rows = Located(hidden, boxes, boxes[:, :2], words, np.array([f"s{i // 4}" for i in range(n)]), np.array(["caption"] * n))
    train, test = (Located(rows.hidden[s], *(getattr(rows, f)[s] for f in ("boxes", "points", "words", "scene_ids", "kinds"))) for s in (slice(0, 300), slice(300, n)))
    head, curve = train_head(train, epochs=60, batch_size=32, lr=5e-3)
    assert curve[-1] < curve[0] / 3
    none, baseline, diff = head_records(head, train, test, name="synthetic", site="lm.out", n_resamples=100)
    assert (none.condition["control"], baseline.condition["control"], diff.condition["control"]) == ("none", "word mean box", "head − baseline")
    assert none.task == "word_grounding" and diff.metrics["IoU"].low > 0 and diff.metrics["point_L1"].high < 0


def test_train_pixel_mixes_narratives_and_refcoco_and_resumes(inputs, tmp_path, capsys):
    from spatialprobe.results.store import ResultStore

    out = tmp_path / "run"
    args = ["train", "pixel", "--model", inputs["llava"], "--data", inputs["narratives"], "--data", inputs["refcoco"], "--out", str(out),
            "--epochs", "3", "--bootstrap", "50", "--threads", "1", "--quiet"]
    assert main(args) == 0
    records = ResultStore(out / "results").records()
    assert {(r.task, r.condition["control"]) for r in records} == {
        ("word_grounding", "none"), ("word_grounding", "word mean box"), ("word_grounding", "head − baseline"),
        ("referring_eos", "none"), ("referring_eos", "mean referent box"), ("referring_eos", "head − baseline")}
    assert all(r.model == inputs["llava"] and r.protocol == "pixel" and {"ACC@0.5", "point_L1"} <= set(r.metrics) for r in records)
    referring = next(r for r in records if r.task == "referring_eos" and r.condition["control"] == "none")
    assert len(ResultStore(out / "results").predictions(referring)) == referring.metrics["ACC@0.5"].n
    stamps = {p.name: p.stat().st_mtime_ns for p in out.glob("*.safetensors")}
    assert set(stamps) == {"rows-probe_train.safetensors", "rows-test.safetensors", "head.safetensors"}
    assert main(args) == 0 and {p.name: p.stat().st_mtime_ns for p in out.glob("*.safetensors")} == stamps  # resumed: nothing recomputed
    capsys.readouterr()
    assert main(args + ["--hidden", "64"]) == 2 and "other settings (hidden)" in capsys.readouterr().err
    assert json.loads((out / "recipe.json").read_text())["settings"]["hidden"] == 256
