"""PixelLLM's location head on tiny LLaVA and BLIP-2: each located row is the hidden state of its own
word's token, the head learns a box where one is readable, and `spatialprobe train pixel` mixes
Localized Narratives and RefCOCO files into records vs the image-free baselines, resuming in place."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from dataset_fixtures import narratives, refcoco, visual_genome
from recipe_runs import cli, kill_during_training, same_weights
from tiny_hf import VLMS
from spatialprobe.cli.main import main


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("pixel")
    return {"llava": f"hf:{VLMS['llava'](root / 'llava')}", "blip2": f"hf:{VLMS['blip2'](root / 'blip2')}",
            "refcoco": f"refcoco:{refcoco(root / 'refer')}", "narratives": f"narratives:{narratives(root / 'ln', n=15)}?val_fraction=0.2",
            "vg": f"visual_genome:{visual_genome(root / 'vg', n=16)}"}


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
    head, curve = train_head(train.hidden, torch.as_tensor(train.boxes, dtype=torch.float32), epochs=60, batch_size=32, lr=5e-3)
    assert curve[-1] < curve[0] / 3
    none, baseline, diff = head_records(head, train, test, name="synthetic", site="lm.out", n_resamples=100)
    assert (none.condition["control"], baseline.condition["control"], diff.condition["control"]) == ("none", "word mean box", "head − baseline")
    assert none.task == "word_grounding" and diff.metrics["IoU"].low > 0 and diff.metrics["point_L1"].high < 0


def test_train_pixel_mixes_narratives_and_refcoco_and_resumes(inputs, tmp_path, capsys):
    from spatialprobe.results.store import ResultStore

    out = tmp_path / "run"
    args = ["train", "pixel", "--model", inputs["llava"], "--data", inputs["narratives"], "--data", inputs["refcoco"], "--out", str(out),
            "--epochs", "3", "--box-epochs", "1", "--no-meteor", "--bootstrap", "50", "--threads", "1", "--quiet"]
    assert main(args) == 0
    records = ResultStore(out / "results").records()
    assert {(r.task, r.condition["control"]) for r in records} == {
        ("word_grounding", "none"), ("word_grounding", "word mean box"), ("word_grounding", "head − baseline"),
        ("referring_eos", "none"), ("referring_eos", "mean referent box"), ("referring_eos", "head − baseline"),
        ("box_captioning", "none"), ("box_captioning", "another region's box"), ("box_captioning", "head − baseline")}
    assert all(r.model == inputs["llava"] and r.protocol == "pixel" and {"ACC@0.5", "point_L1"} <= set(r.metrics) for r in records if r.task != "box_captioning")
    referring = next(r for r in records if r.task == "referring_eos" and r.condition["control"] == "none")
    assert len(ResultStore(out / "results").predictions(referring)) == referring.metrics["ACC@0.5"].n
    stamps = {p.name: p.stat().st_mtime_ns for p in out.glob("*.safetensors")}
    assert set(stamps) == {"rows-probe_train.safetensors", "rows-test.safetensors", "head.safetensors", "box_prompt.safetensors"}
    assert main(args) == 0 and {p.name: p.stat().st_mtime_ns for p in out.glob("*.safetensors")} == stamps  # resumed: nothing recomputed
    capsys.readouterr()
    assert main(args + ["--hidden", "64"]) == 2 and "other settings (hidden)" in capsys.readouterr().err
    assert json.loads((out / "recipe.json").read_text())["settings"]["hidden"] == 256


def test_the_pixel_study_runs_the_recipe_on_a_vlm_spec_with_a_claim(inputs, tmp_path):
    import yaml

    plan = {"name": "pixel-hf", "bootstrap": 50, "models": {"llava": inputs["llava"]},
            "data": {"ln": inputs["narratives"], "refcoco": inputs["refcoco"]},
            "studies": {"pixel": {"models": ["llava"], "data": ["ln", "refcoco"], "epochs": 3, "box_epochs": 0}},
            "claims": [{"study": "pixel", "statement": "the head reads referents at <eos> better than the mean box", "metric": "ACC@0.5", "margin": 0.05,
                        "a": {"task": "referring_eos", "model": "llava", "control": "none"},
                        "b": {"task": "referring_eos", "model": "llava", "control": "mean referent box"}}]}
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump(plan))
    assert main(["run", str(path), "--runs", str(tmp_path / "runs"), "--quiet", "--workers", "1"]) == 0
    (run,) = (tmp_path / "runs").iterdir()
    records = [json.loads(line) for line in (run / "results.jsonl").read_text().splitlines()]
    assert {r["task"] for r in records} == {"word_grounding", "referring_eos"} and {r["config"]["data"][1] for r in records} == {inputs["refcoco"]}
    assert json.loads((run / "claims.json").read_text())[0]["verdict"] in {"reproduced", "not reproduced", "inconclusive", "undecidable"}
    assert "PixelLLM's location head (an MLP) on each VLM" in (run / "report.md").read_text()


def test_only_the_box_prompt_learns_and_box_captions_are_scored_against_another_regions_box(inputs):
    from spatialprobe.features.key import weights_fingerprint
    from spatialprobe.metrics.captions import meteor_available
    from spatialprobe.models import load_model
    from spatialprobe.scenes import SceneDataset
    from spatialprobe.scenes.address import resolve
    from spatialprobe.train.box_captions import CONTROL, box_caption_records, other_boxes, regions, train_box_prompt, visual_prompts
    from spatialprobe.train.location import BoxPrompt

    adapter = load_model(inputs["blip2"])
    dataset = SceneDataset(resolve(inputs["vg"]))
    before = weights_fingerprint(adapter.model)
    train_scenes, test_scenes = dataset.scenes("probe_train"), dataset.scenes("test")
    prompts = visual_prompts(adapter, [(dataset, s) for s in train_scenes])
    assert prompts.shape[:2] == (len(train_scenes), 6)  # the tiny BLIP-2's 6 query rows
    box_prompt, curve = train_box_prompt(adapter, prompts, *regions(train_scenes), epochs=2, batch_size=4)
    torch.manual_seed(0)
    assert not torch.equal(BoxPrompt(prompts.shape[-1]).net[0].weight, box_prompt.net[0].weight) and len(curve) == 2
    assert weights_fingerprint(adapter.model) == before  # the VLM is frozen
    scene_of, boxes, phrases = regions(test_scenes)
    swap = other_boxes(scene_of, seed=0)
    assert all(scene_of[j] == scene_of[i] and j != i for i, j in enumerate(swap) if j >= 0)
    none, control, diff = box_caption_records(adapter, box_prompt, visual_prompts(adapter, [(dataset, s) for s in test_scenes]), test_scenes,
                                              scene_of, boxes, phrases, n_resamples=50)
    assert (none.task, control.condition["control"], diff.condition["control"]) == ("box_captioning", CONTROL, "head − baseline")
    assert {"CIDEr", "BLEU-4"} <= set(none.metrics) and ("METEOR" in none.metrics) == meteor_available()


def test_train_pixel_killed_with_sigkill_resumes_to_the_same_head(inputs, tmp_path):
    def args(out):
        return ["train", "pixel", "--model", inputs["blip2"], "--data", inputs["refcoco"], "--out", str(out), "--epochs", "10", "--batch-size", "4",
                "--box-epochs", "0", "--every", "1", "--bootstrap", "20", "--threads", "1", "--quiet"]

    cli(args(tmp_path / "whole"))
    steps = kill_during_training(args(tmp_path / "killed"), tmp_path / "killed", 20)
    assert steps["optimiser_steps"] >= 20 and steps["epoch"] < 10 and not (tmp_path / "killed" / "head.safetensors").exists()
    cli(args(tmp_path / "killed"))
    assert same_weights(tmp_path / "whole" / "head.safetensors", tmp_path / "killed" / "head.safetensors")
