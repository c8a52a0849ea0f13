"""The toy V&L model: named presets (random init) and safetensors + JSON checkpoints."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from spatialprobe.models.toy.model import ToyConfig, ToyVLM

PRESETS = {
    "tiny-linear": ToyConfig(connector="linear", width=64, depth=2, lm_width=64, connector_width=64),
    "tiny-qformer": ToyConfig(connector="qformer", width=64, depth=2, lm_width=64, connector_width=64, queries=8),
    "small-linear": ToyConfig(connector="linear"),
    "small-qformer": ToyConfig(connector="qformer"),
}
CONFIG_FILE, WEIGHTS_FILE = "config.json", "model.safetensors"


def build(config: ToyConfig, seed: int = 0) -> ToyVLM:
    """A randomly initialised toy model, deterministic in ``seed``."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return ToyVLM(config)


def save(model: ToyVLM, directory: str | Path, tokenizer=None) -> Path:
    """Write ``config.json`` + ``model.safetensors`` (no pickle), and the tokenizer if given."""
    from safetensors.torch import save_model

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    if tokenizer is not None:
        tokenizer.save_pretrained(directory)
    (directory / CONFIG_FILE).write_text(json.dumps({"kind": "spatialprobe.toy", **model.config.to_json()}, indent=2))
    save_model(model, str(directory / WEIGHTS_FILE))
    return directory


def load(directory: str | Path) -> ToyVLM:
    """Load a checkpoint written by `save`; only safetensors weights are accepted."""
    from safetensors.torch import load_model

    directory = Path(directory)
    weights = directory / WEIGHTS_FILE
    if not weights.exists():
        others = sorted(p.name for p in directory.glob("*") if p.suffix in (".bin", ".pt", ".pth", ".ckpt"))
        hint = f" (found {others}: pickle-based formats are refused)" if others else ""
        raise FileNotFoundError(f"{directory}: no {WEIGHTS_FILE}{hint}")
    d = json.loads((directory / CONFIG_FILE).read_text())
    d.pop("kind", None)
    model = ToyVLM(ToyConfig(**d))
    load_model(model, str(weights))
    return model


def load_tokenizer(directory: str | Path):
    """The checkpoint's tokenizer (``tokenizer.json``), or None."""
    path = Path(directory) / "tokenizer.json"
    if not path.exists():
        return None
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(tokenizer_file=str(path), pad_token="<pad>", unk_token="<unk>", bos_token="<bos>", eos_token="<eos>")
