"""``--model`` specs, parsed in one place: ``hf:<hub id or local dir>`` and ``toy:<preset or dir>``."""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from spatialprobe.models.adapter import Adapter, GeometryError
from spatialprobe.models.card import Card
from spatialprobe.models.preprocess import Preprocess, PreprocessError
from spatialprobe import names
from spatialprobe.names import HF_NOT_YET
from spatialprobe.registry import MODELS

SCHEMES = ("hf", "toy")
DTYPES = {name: getattr(torch, name) for name in names.DTYPES}


class ModelLoadError(RuntimeError):
    """A model spec that cannot be loaded; the message says what to do."""


def parse_spec(spec: str) -> tuple[str, str]:
    scheme, sep, target = spec.partition(":")
    if not sep or scheme not in SCHEMES or not target:
        raise ModelLoadError(f"model spec {spec!r}: expected hf:<hub id or local dir> or toy:<preset or dir>")
    return scheme, target


RANDOM_INIT_SEED = 12345
RANDOM_INIT = " (random init)"
CONNECTOR = "connector"
"""The spec option every card with a trainable connector takes: ``hf:<id>?connector=<file>`` loads a trained connector in place of the model's."""
"""Appended to the name of a model loaded with ``random_init``."""


def check_device(device: str) -> None:
    """Refuse a device torch cannot parse or this build cannot use, before anything is loaded."""
    import torch

    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError):
        raise ModelLoadError(f"device {device!r}: not a torch device (e.g. cpu, cuda, cuda:1, mps)") from None
    available = {"cpu": True, "cuda": torch.cuda.is_available(), "mps": torch.backends.mps.is_available()}
    if not available.get(parsed.type, True):
        raise ModelLoadError(f"device {device!r}: not available in this torch build ({torch.__version__}); devices here: "
                             + ", ".join(k for k, v in available.items() if v))
    if parsed.type == "cuda" and parsed.index is not None and parsed.index >= torch.cuda.device_count():
        raise ModelLoadError(f"device {device!r}: this machine has {torch.cuda.device_count()} CUDA device(s)")


def load_model(
    spec: str,
    *,
    dtype: str = "float32",
    device: str = "cpu",
    trust_remote_code: bool = False,
    random_init: bool = False,
) -> Adapter:
    """Load a model behind the common interface.

    ``random_init`` gives the same architecture with fresh (untrained) weights, seeded — the
    random-encoder control of LiMBeR and of probing studies.
    """
    scheme, target = parse_spec(spec)
    check_device(device)
    if dtype not in DTYPES:
        raise ModelLoadError(f"unknown dtype {dtype!r}; expected one of {sorted(DTYPES)}")
    if scheme == "toy":
        return _load_toy(spec, target, dtype, device, random_init)
    target, options = target.partition("?")[0], _options(spec, target.partition("?")[2])
    return _load_hf(spec, target, dtype, device, trust_remote_code, random_init, options)


def load_structure(spec: str) -> Adapter:
    """The model's architecture behind the interface on the meta device — sites, card, geometry —
    without reading its weights (a plan's models are checked with it before any work)."""
    scheme, target = parse_spec(spec)
    if scheme == "toy":
        return _load_toy(spec, target, "float32", "cpu", False)
    target, options = target.partition("?")[0], _options(spec, target.partition("?")[2])
    return _load_hf(spec, target, "float32", "cpu", False, False, options, structure_only=True)


def _options(spec: str, query: str) -> dict[str, str]:
    """``hf:<id>?name=value&…``: a family's model options (InstructBLIP's ``instruction``)."""
    from urllib.parse import parse_qsl

    try:
        return dict(parse_qsl(query, keep_blank_values=True, strict_parsing=True)) if query else {}
    except ValueError:
        raise ModelLoadError(f"{spec}: options after '?' must be name=value pairs joined by '&'") from None


def _load_toy(spec: str, target: str, dtype: str, device: str, random_init: bool) -> Adapter:
    from spatialprobe.models import toy

    tokenizer = None
    if target in toy.PRESETS:
        model = toy.build(toy.PRESETS[target])
    elif Path(target).is_dir():
        model, tokenizer = toy.load(target), toy.load_tokenizer(target)
    else:
        raise ModelLoadError(f"{spec}: no toy preset or directory {target!r}; presets: {', '.join(toy.PRESETS)}")
    if random_init:
        model = toy.build(model.config, seed=RANDOM_INIT_SEED)
        spec = f"{spec}{RANDOM_INIT}"
    cfg = model.config
    preprocess = Preprocess(resize=("exact", (cfg.image_size, cfg.image_size)), mean=(0.5,) * 3, std=(0.25,) * 3)
    card = MODELS.get("toy")
    return Adapter(spec, model.to(device=device, dtype=DTYPES[dtype]), card, preprocess, tokenizer=tokenizer, info={"family": "toy"})


def card_for(model_type: str) -> Card:
    """The card serving a Hugging Face ``model_type``."""
    supported = {}
    for name in MODELS.names():
        card = MODELS.get(name)
        for mt in card.model_types:
            supported[mt] = card
    if model_type in HF_NOT_YET:
        raise ModelLoadError(f"Hugging Face model_type {model_type!r}: not supported yet — {HF_NOT_YET[model_type]}")
    if model_type not in supported:
        raise ModelLoadError(
            f"no card for Hugging Face model_type {model_type!r}; supported: {', '.join(sorted(supported))} "
            "(adding one is a single file: see docs/adding-a-model.md)"
        )
    return supported[model_type]


def _load_hf(spec: str, target: str, dtype: str, device: str, trust_remote_code: bool, random_init: bool, options: dict,
             structure_only: bool = False) -> Adapter:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import transformers
    from transformers import AutoConfig

    transformers.utils.logging.disable_progress_bar()
    offline = os.environ.get("HF_HUB_OFFLINE") == "1"
    if target.startswith(("/", "./", "../", "~")) and not Path(target).expanduser().exists():
        raise ModelLoadError(f"{spec}: the directory {target} does not exist (a local checkpoint is a folder saved with save_pretrained)")
    try:
        config = AutoConfig.from_pretrained(target, trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as err:
        where = "in the local cache (offline mode)" if offline else "locally or on the Hub"
        raise ModelLoadError(
            f"{spec}: cannot find {target!r} {where}. Download it first (`hf download {target}` on a machine "
            f"with internet) or pass a local directory: --model hf:/path/to/checkpoint. ({type(err).__name__})"
        ) from None
    card = card_for(config.model_type)
    connector = options.get(CONNECTOR)
    if connector is not None:
        _check_connector(spec, card, connector)
    for name in options:
        if name not in card.options and name != CONNECTOR:
            from spatialprobe.registry import nearest

            near = nearest(name, card.options)
            raise ModelLoadError(f"{spec}: {card.family} has no option {name!r}" + (f"; did you mean {near!r}?" if near else "")
                                 + (f" (options: {', '.join(card.options)})" if card.options else " (it takes none)"))
    for name, (required, meaning) in card.options.items():
        if required and name not in options:
            raise ModelLoadError(f"{spec}: {card.family} needs ?{name}=… — {meaning}")
    cls = getattr(transformers, model_class(card, config))
    if structure_only:
        with torch.device("meta"):
            model = cls._from_config(config)
        device = "meta"
    else:
        try:
            model = cls.from_pretrained(target, dtype=DTYPES[dtype], use_safetensors=True, trust_remote_code=trust_remote_code)
        except OSError as err:
            raise ModelLoadError(f"{spec}: {err} (only safetensors weights are loaded)") from None
    if random_init:
        with torch.random.fork_rng():
            torch.manual_seed(RANDOM_INIT_SEED)
            model = cls._from_config(model.config, dtype=DTYPES[dtype])
        spec = f"{spec}{RANDOM_INIT}"
    if card.submodule and hasattr(model, card.submodule):
        model = getattr(model, card.submodule)
    try:
        preprocess, note = _hf_preprocess(target, model, card)
        adapter = Adapter(
            spec,
            model.to(device),
            card,
            preprocess,
            tokenizer=_hf_tokenizer(target, trust_remote_code),
            info={"family": card.family, "model_type": config.model_type, "class": cls.__name__, "preprocess": note},
            options=options,
            resources=card.resources(target) if card.resources else {},
        )
    except (PreprocessError, GeometryError) as err:
        raise ModelLoadError(f"{spec}: {err}") from None
    if connector is not None and not structure_only:
        load_connector(adapter, connector)
    return adapter


def _check_connector(spec: str, card: Card, path: str) -> None:
    if card.trainable is None:
        raise ModelLoadError(f"{spec}: ?{CONNECTOR}=… — the {card.family} card declares no trainable connector to replace")
    if not Path(path).expanduser().is_file():
        raise ModelLoadError(f"{spec}: ?{CONNECTOR}={path}: no such file (a connector saved by `spatialprobe train fix`)")


def load_connector(adapter: Adapter, path: str | Path) -> None:
    """Replace the adapter's connector weights by a trained connector's (safetensors of its `Trainable` module); in place."""
    from safetensors.torch import load_file

    module = adapter.trainable().module
    try:
        state = load_file(str(Path(path).expanduser()))
        module.load_state_dict({k: v.to(adapter.dtype) for k, v in state.items()}, strict=True)
    except (OSError, RuntimeError, ValueError) as err:
        raise ModelLoadError(f"{adapter.name}: ?{CONNECTOR}={path}: not a connector of this model ({type(err).__name__}: {str(err)[:300]})") from None


def model_class(card: Card, config) -> str:
    """The transformers class to load: the checkpoint's own architecture where the card serves it
    (BLIP's ITM, captioning and VQA heads), else the card's class for the model type."""
    for name in getattr(config, "architectures", None) or ():
        if name in card.architectures:
            return name
    return card.model_classes[config.model_type]


def _hf_file(target: str, name: str) -> Path | None:
    if Path(target).is_dir():
        path = Path(target) / name
        return path if path.exists() else None
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(target, name)
    return Path(found) if isinstance(found, str) else None


def _hf_preprocess(target: str, model, card: Card):
    path = _hf_file(target, "preprocessor_config.json")
    if card.images is not None:
        if path is None:
            raise PreprocessError(f"the {card.family} family tiles images or gives each its own resolution: its preprocessor_config.json is needed")
        return card.images(json.loads(path.read_text())), f"from {path.name}"
    if path is not None:
        return Preprocess.from_hf(json.loads(path.read_text())), f"from {path.name}"
    vision = getattr(model.config, "vision_config", model.config)
    size = int(vision.image_size)
    return (
        Preprocess(resize=("exact", (size, size)), mean=(0.5,) * 3, std=(0.5,) * 3),
        "derived from the model config (no preprocessor_config.json): exact resize, mean/std 0.5",
    )


def _hf_tokenizer(target: str, trust_remote_code: bool):
    if _hf_file(target, "tokenizer.json") is None and _hf_file(target, "tokenizer_config.json") is None:
        return None
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(target, trust_remote_code=trust_remote_code)
