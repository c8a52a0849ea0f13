"""Object-aware connector objectives and PixelLLM's location head."""

import pytest
import torch

from spatialprobe.geometry import Box
from spatialprobe.lab.config import LabConfig, LabConfigError, parse_preset
from spatialprobe.lab.grounding import ground
from spatialprobe.train.location import LocationHead, set_location_loss, word_location_loss
from spatialprobe.lab.objectives import seen_caption
from spatialprobe.lab.pixel import eos_positions, referring_prompts
from spatialprobe.lab.text import encode_batch, train_tokenizer
from spatialprobe.scenes import Scene, SceneObject
from spatialprobe.scenes.record import Caption, Expression, Word

FRAME = (64, 64)


def _scene():
    return Scene("s", "i.png", 64, 64, split="lab", objects=(
        SceneObject(1, Box.xyxy(0, 0, 16, 16, FRAME), "circle", {"colour": "red", "size": "small"}),
        SceneObject(2, Box.xyxy(32, 32, 64, 64, FRAME), "square", {"colour": "blue", "size": "large"}),
    ), expressions=(Expression("e0", "the red circle", 1), Expression("e1", "the large blue square", 2)))


def _caption(parts):
    """A caption from (token, object) parts, with exact word spans."""
    text, words = "", []
    for token, obj in parts:
        text += " " if text else ""
        words.append(Word(len(text), len(text) + len(token), obj))
        text += token
    return Caption("c", text + ".", "spatial", tuple(sorted({o for _, o in parts if o is not None})), tuple(words))


SPATIAL = [("a", 1), ("small", 1), ("red", 1), ("circle", 1), ("is", None), ("above", None), ("a", 2), ("large", 2), ("blue", 2), ("square", 2),
           ("and", None), ("a", 2), ("large", 2), ("blue", 2), ("square", 2), ("is", None), ("right", None), ("of", None), ("a", 1), ("small", 1), ("red", 1), ("circle", 1)]


@pytest.fixture(scope="module")
def tokenizer():
    return train_tokenizer(["a small red circle is above a large blue square and right of .", "the red circle"])


def test_targets_line_up_with_the_tokenised_words(tokenizer):
    scene, caption = _scene(), _caption(SPATIAL)
    g = ground(tokenizer, [caption], [scene], 48)
    ids, mask = encode_batch(tokenizer, [caption.text], 48)
    assert torch.equal(g.ids, ids) and torch.equal(g.mask, mask)
    tokens = tokenizer.convert_ids_to_tokens(g.ids[0].tolist())
    circle = torch.tensor(scene.object(1).box.array("cxcywh", "unit"), dtype=torch.float32)
    square = torch.tensor(scene.object(2).box.array("cxcywh", "unit"), dtype=torch.float32)
    for t, token in enumerate(tokens):
        if t == 0 or token in ("<eos>", "is", "above", "and", "right", "of", "."):
            assert not g.located[0, t], token
    assert tokens[1:5] == ["a", "small", "red", "circle"] and g.located[0, 1:5].all()
    assert torch.equal(g.boxes[0, 4], circle) and torch.equal(g.boxes[0, 7], square)  # "circle" and the next "a"
    assert tokens[-3:] == ["circle", ".", "<eos>"] and torch.equal(g.boxes[0, -3], circle)


def test_location_loss_is_zero_where_no_word_is_grounded():
    pred = torch.rand(2, 5, 4, requires_grad=True)
    target = torch.rand(2, 5, 4)
    none = torch.zeros(2, 5, dtype=torch.bool)
    loss = word_location_loss(pred, target, none)
    assert loss.item() == 0.0
    loss.backward()
    assert torch.count_nonzero(pred.grad) == 0
    some = none.clone()
    some[1, 2] = True
    torch.testing.assert_close(word_location_loss(pred, target, some), (pred[1, 2] - target[1, 2]).abs().mean())


def test_seen_caption_keeps_only_seen_clauses_with_their_grounding():
    caption = _caption(SPATIAL)
    kept = seen_caption(caption, {"right of", "left of"})
    assert kept.text == "a large blue square is right of a small red circle."
    assert [kept.text[w.start : w.end] for w in kept.words][:4] == ["a", "large", "blue", "square"]
    assert [w.object for w in kept.words] == [2, 2, 2, 2, None, None, None, 1, 1, 1, 1]
    alone = seen_caption(caption, {"near"})
    assert alone.text == "a small red circle." and alone.mentions == (1,)


def test_set_location_loss_matches_tokens_to_objects():
    boxes = torch.tensor([[[0.2, 0.2, 0.1, 0.1], [0.7, 0.7, 0.3, 0.3]]])
    present = torch.tensor([[True, True]])
    perfect = torch.tensor([[[0.7, 0.7, 0.3, 0.3, 9.0], [0.5, 0.5, 0.5, 0.5, -9.0], [0.2, 0.2, 0.1, 0.1, 9.0]]])
    assert set_location_loss(perfect, boxes, present).item() < 1e-3  # order of tokens is free
    swapped = perfect.clone()
    swapped[0, [0, 1], 4] = swapped[0, [1, 0], 4]
    assert set_location_loss(swapped, boxes, present).item() > 1.0


def test_eos_readout_reads_the_right_position_for_padded_batches(tokenizer):
    from spatialprobe.lab.data import LabData

    scene = _scene()
    data = LabData([scene], torch.zeros(1, 3, 64, 64, dtype=torch.uint8))
    g, origin = referring_prompts(tokenizer, data)
    assert [eid for _, eid in origin] == ["e0", "e1"]
    eos = eos_positions(g.mask)
    lengths = [len(encode_batch(tokenizer, [f"where is {e.text}"], 48)[0][0]) for e in scene.expressions]
    assert eos.tolist() == [n - 1 for n in lengths] and lengths[0] != lengths[1]
    assert (g.ids[torch.arange(2), eos] == tokenizer.eos_token_id).all()
    assert g.located.sum(1).tolist() == [1, 1] and g.located[torch.arange(2), eos].all()
    torch.testing.assert_close(g.boxes[1, eos[1]], torch.tensor(scene.object(2).box.array("cxcywh", "unit"), dtype=torch.float32))
    # the readout of a padded batch equals the readout of each prompt alone
    torch.manual_seed(0)
    from spatialprobe.models.toy.model import ToyConfig, ToyLM

    lm = ToyLM(ToyConfig(lm_width=16, lm_depth=1, lm_heads=2, vocab_size=len(tokenizer), max_length=40)).eval()
    head = LocationHead(16)
    prefix = torch.randn(2, 3, 16)
    with torch.inference_mode():
        batched = head(lm.hidden(prefix, g.ids, g.mask)[:, 3:])[torch.arange(2), eos]
        for i, n in enumerate(lengths):
            alone = head(lm.hidden(prefix[i : i + 1], g.ids[i : i + 1, :n], g.mask[i : i + 1, :n])[:, 3:])[0, n - 1]
            torch.testing.assert_close(batched[i], alone)


def test_connector_presets_parse_and_name():
    assert parse_preset("qformer+spatial+location@contrastive") == {"type": "qformer", "encoder": "contrastive", "position_in_kv": False, "objectives": ["spatial", "location"]}
    assert parse_preset("qformer@masked")["objectives"] == ["coarse"]
    cfg = LabConfig(data="d", connectors=["qformer+pos+spatial+query_location@contrastive", {"type": "linear", "encoder": "random"}])
    assert [LabConfig.name(c) for c in cfg.connectors] == ["qformer+pos+spatial+query_location@contrastive", "linear+coarse@random"]
    with pytest.raises(LabConfigError, match=r"connectors\[0\].objectives: unknown 'pixels'"):
        LabConfig(data="d", connectors=["qformer+pixels@contrastive"])
    with pytest.raises(LabConfigError, match="needs a caption objective"):
        LabConfig(data="d", connectors=["qformer+location@contrastive"])
    with pytest.raises(LabConfigError, match="names no encoder"):
        LabConfig(data="d", connectors=["qformer+spatial"])
