"""The tiled and dynamic-resolution families (issue 20) — LLaVA-NeXT, Qwen2-VL, Qwen2.5-VL — as tiny random models
saved with save_pretrained: every site equals the model's own outputs run on its own processor's inputs, each image's
rows do not depend on its batch, a bright marker lands on the rows each site's per-image layout names (in every frame
and after every row permutation, at the LM's input too), and stores of them extract, pool and probe."""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest
import torch
from PIL import Image

from spatialprobe.models import load_model
from tiny_hf import noise_image, save_idefics2, save_idefics3, save_llava_next, save_qwen

SAVERS = {"llava-next": save_llava_next, "llava-onevision": partial(save_llava_next, family="llava_onevision"), "qwen2-vl": partial(save_qwen, version="2"),
          "qwen2.5-vl": partial(save_qwen, version="2.5"), "idefics3": save_idefics3, "smolvlm": partial(save_idefics3, family="smolvlm"),
          "idefics2": save_idefics2}
SPLITTING = ("idefics3", "smolvlm", "idefics2")
SIZES = [(90, 30), (50, 50), (30, 90)]
TEXTS = ["the red circle", "a blue square is left of the circle", "where"]


@pytest.fixture(scope="session")
def per_image_dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("per-image")
    return {name: save(root / name) for name, save in SAVERS.items()}


@pytest.fixture(scope="module", params=list(SAVERS))
def family(request, per_image_dirs):
    return request.param, load_model(f"hf:{per_image_dirs[request.param]}")


def _images():
    return [noise_image(size, i) for i, size in enumerate(SIZES)]


def _processor(directory):
    from transformers import AutoImageProcessor

    return AutoImageProcessor.from_pretrained(directory)


def _lm_layers(adapter):
    return [s for s in adapter.sites() if s.startswith("lm.layer.")]


def test_per_image_sites_equal_the_models_own_outputs(family, per_image_dirs):
    """Ours from our pixels; theirs from HF's image processor, the model called as its documentation shows."""
    name, adapter = family
    images = _images()
    batch = adapter.make_batch(adapter.pixels(images), TEXTS)
    ours = adapter.forward_images(batch, adapter.sites())
    inputs = _processor(per_image_dirs[name])(images=[[im] for im in images] if name in SPLITTING else images, return_tensors="pt")
    model = adapter.model
    with torch.inference_mode():
        if name in SPLITTING:
            frames = [len(adapter.preprocess.frame_maps(im.size)) for im in images]
            pixels = torch.cat([p[:n] for p, n in zip(inputs["pixel_values"], frames)])
            keep, extra = torch.ones(pixels.shape[0], (pixels.shape[2] // 8) * (pixels.shape[3] // 8), dtype=torch.bool), {}
            if name == "idefics2":  # padded frames: the model's own patch mask (whole patches of each frame)
                mask = torch.cat([m[:n] for m, n in zip(inputs["pixel_attention_mask"], frames)]).bool()
                patches = mask.unfold(1, 8, 8).unfold(2, 8, 8).flatten(-2).all(-1)
                keep, extra = patches.flatten(1), {"patch_attention_mask": patches}
            tower = model.model.vision_model(pixel_values=pixels, output_hidden_states=True, **extra)
            vision = {"vision.embed": tower.hidden_states[0], **{f"vision.layer.{i}": tower.hidden_states[i + 1] for i in range(len(tower.hidden_states) - 1)},
                      "vision.out": tower.last_hidden_state}
            vision = {site: torch.split(x[keep], [len(adapter.layout(site, size=im.size)) for im in images]) for site, x in vision.items()}
            connector = model.model.connector(tower.last_hidden_state, **({"attention_mask": keep} if name == "idefics2" else {}))
            vision["connector.out"] = torch.split(connector.reshape(-1, connector.shape[-1]), [len(adapter.layout("connector.out", size=im.size)) for im in images])
            lm = model(pixel_values=inputs["pixel_values"], pixel_attention_mask=inputs["pixel_attention_mask"], input_ids=batch.input_ids,
                       attention_mask=batch.attention_mask, output_hidden_states=True).hidden_states
        elif name.startswith("llava"):
            frames = [len(adapter.preprocess.frames(im.size)) for im in images]
            tower = model.model.vision_tower(torch.cat([p[:n] for p, n in zip(inputs["pixel_values"], frames)]), output_hidden_states=True).hidden_states
            vision = {"vision.embed": tower[0], **{f"vision.layer.{i}": tower[i + 1] for i in range(len(tower) - 1)}}
            vision = {site: torch.split(x.reshape(-1, x.shape[-1]), [n * x.shape[1] for n in frames]) for site, x in vision.items()}
            lm = model(pixel_values=inputs["pixel_values"], image_sizes=inputs["image_sizes"], input_ids=batch.input_ids,
                       attention_mask=batch.attention_mask, output_hidden_states=True).hidden_states
        else:
            grid = inputs["image_grid_thw"]
            counts = [int(t * h * w) for t, h, w in grid.tolist()]
            out = model.model.visual(inputs["pixel_values"], grid_thw=grid)
            vision = {"vision.out": torch.split(out.last_hidden_state, counts)}
            merged = torch.split(out.pooler_output, [n // 4 for n in counts])
            for k, size in enumerate(SIZES):  # the merger's rows back in raster order, by the layout's cells
                layout = adapter.layout("connector.out", size=size)
                raster = np.argsort([r * layout.grid[1] + c for r, c in layout.patch_cells])
                torch.testing.assert_close(ours["connector.out"][k][raster], merged[k], atol=1e-5, rtol=1e-5)
            lm = model(pixel_values=inputs["pixel_values"], image_grid_thw=grid, input_ids=batch.input_ids, attention_mask=batch.attention_mask,
                       mm_token_type_ids=(batch.input_ids == model.config.image_token_id).int(), output_hidden_states=True).hidden_states
    for site, parts in vision.items():
        for k, part in enumerate(parts):
            torch.testing.assert_close(ours[site][k], part, atol=1e-5, rtol=1e-5)
    for k in range(len(images)):
        n = len(ours["lm.out"][k])
        assert n == int(batch.attention_mask[k].sum())
        torch.testing.assert_close(ours["lm.out"][k], lm[-1][k, :n], atol=1e-5, rtol=1e-5)
        for i, site in enumerate(_lm_layers(adapter)[:-1]):
            torch.testing.assert_close(ours[site][k], lm[i + 1][k, :n], atol=1e-5, rtol=1e-5)


def test_per_image_layouts_fit_the_tensors(family):
    name, adapter = family
    images = _images()
    batch = adapter.make_batch(adapter.pixels(images), TEXTS)
    for site, parts in adapter.forward_images(batch, adapter.sites()).items():
        for k, part in enumerate(parts):
            layout = adapter.layout(site, batch, k)
            assert len(layout) == len(part), (site, k)
            if site.startswith("lm."):
                words = [w for w, role in zip(layout.word_of_row, layout.roles) if role == "text"]
                assert max(words) == len(TEXTS[k].split()) - 1
    with pytest.raises(ValueError, match="forward_images"):
        adapter.forward_sites(batch, ["vision.out"])
    with pytest.raises(ValueError, match="needs the image size"):
        adapter.layout("vision.out")


def test_per_image_features_do_not_depend_on_the_batch(family):
    name, adapter = family
    images = _images()
    together = adapter.extract(images, adapter.sites(), TEXTS)
    for k, image in enumerate(images):
        alone = adapter.extract([image], adapter.sites(), [TEXTS[k]])
        for site in adapter.sites():
            torch.testing.assert_close(together[site][k], alone[site][0], atol=1e-5, rtol=1e-5, msg=f"{name} {site} image {k}")


def _without_positions(adapter):
    """The model with its positional information removed (zero position embeddings; rotary angles of zero) and, for
    Qwen2.5-VL, full attention in every block: identical patches then give identical rows wherever they sit, so a
    bright patch's rows can be told apart from every dark one at every site — while the row orders stay the model's."""
    model = adapter.model.model
    if hasattr(model, "vision_tower") or hasattr(model, "vision_model"):
        (getattr(model, "vision_tower", None) or model.vision_model).embeddings.position_embedding.weight.data.zero_()
    else:
        model.visual.rotary_pos_emb.inv_freq.zero_()
        if hasattr(model.visual, "fullatt_block_indexes"):
            model.visual.fullatt_block_indexes = list(range(len(model.visual.blocks)))
    return adapter


MARKERS = {(90, 30): (8, 0, 52, 30), (50, 50): (22, 20, 50, 50), (30, 90): (0, 30, 30, 84)}
"""Image size → a bright box; where it reaches the image border its edge stays sharp in every frame (no resampling halo)."""


def _marker(size, box):
    pixels = np.zeros((size[1], size[0], 3), np.uint8)
    x0, y0, x1, y1 = box
    pixels[y0:y1, x0:x1] = 255
    return Image.fromarray(pixels)


def _check_marker(layout, fmaps, rows: torch.Tensor, size, box, where: str, margin: float = 3.0) -> int:
    """Per frame: the patch rows wholly inside the marker (by their layout's cell, mapped into the frame; ``margin``
    frame pixels from a resampled edge) are equal to one another and far from the rows well outside it, which are all
    equal. Returns the bright rows found."""
    rows = rows.double()
    patch = layout.rows("patch")
    frame_of = np.array(layout.frame_of_row)[patch] if layout.frame_of_row else np.zeros(len(patch), int)
    boxes, bright_rows = layout.patch_boxes(), 0
    sharp = np.array([box[0] == 0, box[1] == 0, box[2] == size[0], box[3] == size[1]])
    m = np.where(sharp, 0.0, margin)
    for k in np.unique(frame_of):
        x0, y0, x1, y1 = fmaps[k].map_boxes(np.array([box], float))[0]
        b = boxes[frame_of == k]
        inside = (b[:, 0] >= x0 + m[0]) & (b[:, 1] >= y0 + m[1]) & (b[:, 2] <= x1 - m[2]) & (b[:, 3] <= y1 - m[3])
        outside = (b[:, 2] <= x0 - margin) | (b[:, 0] >= x1 + margin) | (b[:, 3] <= y0 - margin) | (b[:, 1] >= y1 + margin)
        sel = patch[frame_of == k]
        dark, bright = rows[sel[outside]], rows[sel[inside]]
        scale = rows.abs().max()
        if len(dark):
            assert (dark - dark[0]).abs().max() < 1e-4 * scale, f"{where}, frame {k}: a row the layout puts outside the marker is not dark"
        if len(bright):
            assert (bright - bright[0]).abs().max() < 1e-4 * scale, f"{where}, frame {k}: a row the layout puts inside the marker is not bright"
            if len(dark):
                assert (bright[0] - dark[0]).abs().max() > 1e-2 * scale, f"{where}, frame {k}: bright and dark rows alike"
        bright_rows += len(bright)
    return bright_rows


@pytest.mark.parametrize("name", list(SAVERS))
def test_a_bright_marker_lands_on_the_rows_each_sites_layout_names(name, per_image_dirs):
    """In every frame of a tiled image, in merge-window and window order, after the merger, and at the LM's input (base
    grid + unpadded tiles + newlines for LLaVA-NeXT, vision_start / vision_end markers around the merged grid for Qwen)."""
    from spatialprobe.models.imaging import frame_maps

    adapter = _without_positions(load_model(f"hf:{per_image_dirs[name]}"))
    lm = getattr(adapter.model.model, "language_model", None) or adapter.model.model.text_model
    seen = []
    lm.layers[0].register_forward_pre_hook(lambda m, args, kwargs: seen.append((kwargs.get("hidden_states", args[0] if args else None)).detach().clone()),
                                           with_kwargs=True)
    images = [_marker(size, box) for size, box in MARKERS.items()]
    sites = [s for s in adapter.sites() if not s.startswith("lm.")]
    batch = adapter.make_batch(adapter.pixels(images))
    out = adapter.forward_images(batch, sites + ["lm.layer.0"])
    for k, (size, box) in enumerate(MARKERS.items()):
        fmaps = frame_maps(adapter.preprocess, size)
        for site in sites:
            layout = adapter.layout(site, size=size)
            bright = _check_marker(layout, fmaps, out[site][k], size, box, f"{name} {site} {size}") if layout.patch_cells else 0
            assert bright > 0 or (name == "idefics2" and site == "connector.out")  # a Perceiver's latents have no cells
        layout = adapter.layout("lm.layer.0", batch, k)
        embeds = seen[-1][k, : len(layout)]
        assert name == "idefics2" or _check_marker(layout, fmaps, embeds, size, box, f"{name} LM input {size}") > 0
        specials = [i for i, role in enumerate(layout.roles) if role in ("newline", "marker")]
        if name.startswith("llava"):  # image_newline rows
            expected = adapter.model.model.image_newline.expand(len(specials), -1)
        else:  # marker tokens: Qwen's vision_start / vision_end, Idefics3's <fake_token_around_image>, <row_r_col_c>, \n, <global-img>
            expected = lm.embed_tokens(batch.input_ids[k, specials])
        assert specials and torch.allclose(embeds[specials], expected.detach(), atol=1e-6)


# --- stores ------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def refer(tmp_path_factory):
    from dataset_fixtures import refcoco

    return f"refcoco:{refcoco(tmp_path_factory.mktemp('refer'))}"


def _store(adapter, data, root, sites=None):
    from spatialprobe.features.extraction import extract
    from spatialprobe.features.reader import FeatureStore
    from spatialprobe.scenes.dataset import SceneDataset

    dataset = SceneDataset(data)
    result = extract(adapter, dataset, sites or adapter.sites(), root=root, batch_size=3, shard_size=16, progress=False)
    return FeatureStore(result.directory), dataset


def test_extraction_probes_and_pools_run_on_per_image_families(family, refer, tmp_path):
    from dataclasses import replace

    from spatialprobe.features.pools import pool
    from spatialprobe.probing import run

    name, adapter = family
    store, dataset = _store(adapter, refer, tmp_path / "st")
    scenes = {s.id: s for s in dataset.scenes()}
    assert store.rows == len(scenes) and all(store.per_scene(s) and store.ragged(s) for s in store.sites)
    for row in (0, 7, store.rows - 1):  # each scene's stored layout is the adapter's for its image, and fits its rows
        size = scenes[store.scene_ids[row]].frame
        for site in store.sites:
            layout = store.layout(site, row)
            assert layout == replace(adapter.layout(site, size=size), word_of_row=()) and len(layout) == len(store.take_ragged(site, [row]).values)
    images = [dataset.image(scenes[sid]) for sid in store.scene_ids[:3]]
    direct = adapter.extract(images, ["vision.out"])["vision.out"]
    np.testing.assert_allclose(pool(store, "vision.out", "mean", [0, 1, 2]), np.stack([d.float().mean(0).numpy() for d in direct]), atol=2e-3)
    base = {"model": adapter.name, "data": refer, "store": str(tmp_path / "st"), "controls": [], "bootstrap": 100, "min_train": 5}
    where = run({**base, "out": str(tmp_path / "where"), "sites": ["vision.out", "connector.out", "lm.out"], "tasks": ["referring_box", "region_cell"],
                 "pools": ["mean"], "probes": ["ridge"]}, progress=False)
    patched = [s for s in ("vision.out", "lm.out") if store.layout(s, 0).patch_cells]  # Idefics2's LM rows are latents: no object pools there
    what = run({**base, "out": str(tmp_path / "what"), "sites": patched, "tasks": ["object_identity"], "pools": ["object_mean", "random_patch"],
                "probes": ["logistic"]}, progress=False)
    done = {(r.task, r.site, r.condition["pool"]) for r in where + what}
    assert {(t, s, "mean") for t in ("referring_box", "region_cell") for s in ("vision.out", "connector.out", "lm.out")} <= done
    assert {("object_identity", s, p) for s in patched for p in ("object_mean", "random_patch")} <= done and len(patched) >= 1 + (name != "idefics2")
    assert all(r.metrics[next(iter(r.metrics))].n > 0 for r in where + what)


def test_pools_that_would_pad_are_refused_on_per_scene_sites(per_image_dirs, refer, tmp_path):
    from spatialprobe.features.pools import PoolError, pool

    store, _ = _store(load_model(f"hf:{per_image_dirs['qwen2-vl']}"), refer, tmp_path / "st", ["vision.out"])
    for name in ("all", "patches", "queries", "top_norm"):
        with pytest.raises(PoolError, match=f"own rows .* pool '{name}' would have to pad them; use mean, cls"):
            pool(store, "vision.out", name, [0])


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    from spatialprobe.scenes.sources.synthetic import SyntheticConfig, build

    out = tmp_path_factory.mktemp("shapes") / "scenes"
    build(SyntheticConfig(n=24, seed=3, min_objects=2, max_objects=4), out, workers=1, progress=False)
    return str(out)


@pytest.mark.parametrize("name", ["llava-next", "idefics2"])
def test_object_pools_read_the_objects_patches_in_every_frame(name, per_image_dirs, shapes, tmp_path):
    """On LLaVA-NeXT's anyres frames (64-pixel scenes: the base frame and four tiles) and Idefics2's (four quadrants
    and the whole image, at two grids), an object's pooled rows are its patches in every frame where its mask covers
    half a patch, each a patch of the object's box, and the pool is their mean."""
    from spatialprobe.features.pools import _object_rows, pool
    from spatialprobe.geometry import FrameMap, GridCoverage
    from spatialprobe.models.imaging import frame_maps

    adapter = load_model(f"hf:{per_image_dirs[name]}")
    store, dataset = _store(adapter, shapes, tmp_path / "st", ["vision.out"])
    objects, scenes = store.objects(), {s.id: s for s in dataset.scenes()}
    items = np.arange(len(objects["id"]))
    rows = _object_rows(store, "vision.out", objects, items, "area")
    spans = []
    for i, chosen in zip(items, rows):
        scene = scenes[store.scene_ids[objects["row"][i]]]
        obj = next(o for o in scene.objects if str(o.id) == str(objects["id"][i]))
        layout, fmaps = store.layout("vision.out", int(objects["row"][i])), frame_maps(adapter.preprocess, scene.frame)
        assert bool(layout.frame_grids) == (name == "idefics2")  # Idefics2's quadrants and whole image: grids of 4×4 and 5×5
        position = {int(r): j for j, r in enumerate(layout.rows("patch"))}
        boxes = layout.patch_boxes(fmaps)[[position[int(r)] for r in chosen]]
        x0, y0, x1, y1 = obj.box.array()
        assert ((boxes[:, 0] < x1) & (boxes[:, 2] > x0) & (boxes[:, 1] < y1) & (boxes[:, 3] > y0)).all()
        mask = dataset.mask(scene, obj, dataset.instances(scene))
        covers = set()
        for k, fmap in enumerate(fmaps):
            grid, covered = layout.grid_of(k)  # a grid of whole patches from the frame's top-left
            fmap = fmap.then(FrameMap.crop(fmap.dst, 0, 0, *covered)) if tuple(fmap.dst) != covered else fmap
            covers |= {k} if GridCoverage(scene.frame, grid, fmap).area(mask).max() >= 0.5 else set()
        if covers:
            assert {layout.frame_of_row[int(r)] for r in chosen} == covers
        spans.append(len(covers))
    assert sum(n >= 2 for n in spans) >= 3, spans  # objects read in the base frame and a tile (or in two tiles)
    pooled = pool(store, "vision.out", "object_mean", items[:4])
    for k, i in enumerate(items[:4]):
        np.testing.assert_allclose(pooled[k], store.take_ragged("vision.out", [objects["row"][i]], np.float32).values[rows[k]].mean(0), rtol=1e-6)


def test_a_box_target_is_the_same_whichever_frames_the_model_used(per_image_dirs, refer, tmp_path):
    """Targets live in the image's own frame: LLaVA-NeXT's tiles, Qwen2-VL's grid and Idefics3's crops give the same
    referring_box targets."""
    from spatialprobe.registry import TASKS

    targets = []
    for name in ("llava-next", "qwen2-vl", "idefics3"):
        store, dataset = _store(load_model(f"hf:{per_image_dirs[name]}"), refer, tmp_path / name, ["vision.out"])
        items = TASKS.get("referring_box").build(dataset.scenes(), store, {})
        targets.append((list(items.item_id), items.target))
    assert targets[0][0] == targets[1][0] == targets[2][0] and len(targets[0][0]) > 0
    np.testing.assert_array_equal(targets[0][1], targets[1][1])
    np.testing.assert_array_equal(targets[0][1], targets[2][1])
    scenes = {e.id: (s, e) for s in dataset.scenes() for e in s.expressions}
    scene, expression = scenes[targets[0][0][0]]
    x0, y0, x1, y1 = scene.object(expression.referent).box.array()
    w, h = scene.frame
    np.testing.assert_allclose(targets[0][1][0], [(x0 + x1) / 2 / w, (y0 + y1) / 2 / h, (x1 - x0) / w, (y1 - y0) / h], rtol=1e-6)


def test_the_per_image_preprocessing_enters_the_store_key(per_image_dirs, refer):
    from dataclasses import replace

    from spatialprobe.features.extraction import plan
    from spatialprobe.scenes.dataset import SceneDataset

    adapter, dataset = load_model(f"hf:{per_image_dirs['llava-next']}"), SceneDataset(refer)
    key = plan(adapter, dataset, ["vision.out"], split=None, limit=None, batch_size=4, shard_size=16)[0].key
    adapter.preprocess = replace(adapter.preprocess, pinpoints=adapter.preprocess.pinpoints[:2])
    assert plan(adapter, dataset, ["vision.out"], split=None, limit=None, batch_size=4, shard_size=16)[0].key != key


def test_a_damaged_per_scene_layout_is_refused_with_the_repair_command(per_image_dirs, refer, tmp_path):
    from spatialprobe.features.reader import FeatureStore, StoreError

    store, _ = _store(load_model(f"hf:{per_image_dirs['qwen2-vl']}"), refer, tmp_path / "st", ["vision.out"])
    path = next((store.dir / "layouts").glob("00000.patches.npy"))
    data = np.load(path)
    data[0, 2] += 1
    np.save(path, data)
    with pytest.raises(StoreError, match="(?s)sha256 differs.*store verify --repair"):
        FeatureStore(store.dir)


def test_models_sites_shows_a_per_image_models_rows_for_a_sample_image(per_image_dirs, capsys):
    from spatialprobe.cli.main import main

    assert main(["models", "sites", f"hf:{per_image_dirs['llava-next']}"]) == 0
    out = capsys.readouterr().out
    assert "every image its own layout — anyres tiling" in out and "shown for a 640×480 image" in out
    assert "vision.layer.1" in out and "in 5 frames" in out and "newline rows" in out
    assert main(["models", "sites", f"hf:{per_image_dirs['qwen2.5-vl']}"]) == 0
    assert "2 marker rows" in capsys.readouterr().out


def test_pools_and_recipes_that_cannot_read_per_image_rows_are_refused_before_a_probe_trains(per_image_dirs, shapes, refer, tmp_path):
    """At plan time (resolve), and in a probe run before any probe trains: padding pools, and the training recipes, on a
    per-image model."""
    from spatialprobe.experiments.plan import Plan, PlanError
    from spatialprobe.experiments.resolve import resolve
    from spatialprobe.probing import run
    from spatialprobe.probing.items import ProbingError
    from tiny_hf import save_gpt2

    qwen = f"hf:{per_image_dirs['qwen2-vl']}"
    plan = {"name": "per-image", "data": shapes, "probe_seeds": [0], "bootstrap": 100, "studies": {"decodability": {"models": [qwen], "attributes": ["shape"]}}}
    resolve(Plan.from_dict(plan))  # object_mean reads every frame: fine
    with pytest.raises(PlanError, match=r"pools \['patches'\] would pad them; use mean, cls"):
        resolve(Plan.from_dict({**plan, "studies": {"decodability": {"models": [qwen], "attributes": ["shape"], "pool": "patches"}}}))
    with pytest.raises(PlanError, match="training recipes read the same rows of every image"):
        resolve(Plan.from_dict({**plan, "studies": {"limber": {"models": [qwen], "lm": f"hf:{save_gpt2(tmp_path / 'gpt2')}"}}}))
    config = {"model": qwen, "data": refer, "store": str(tmp_path / "st"), "out": str(tmp_path / "out"), "sites": ["vision.out"], "tasks": ["region_cell"],
              "pools": ["all"], "probes": ["ridge"], "controls": [], "bootstrap": 100, "min_train": 5}
    with pytest.raises(ProbingError, match="pool 'all' would have to pad them"):
        run(config, progress=False)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*.json"))
