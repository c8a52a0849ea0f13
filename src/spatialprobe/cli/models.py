"""`spatialprobe models ls | sites MODEL`."""

from __future__ import annotations

from collections import Counter


def add_parser(sub) -> None:
    parser = sub.add_parser("models", help="model families and the sites of a model")
    models = parser.add_subparsers(dest="models_command", metavar="SUBCOMMAND", required=True)
    ls = models.add_parser("ls", help="list model families, the Hugging Face types they serve, and toy presets")
    ls.set_defaults(run=_ls)
    sites = models.add_parser("sites", help="list a model's sites with their shapes and token layouts")
    sites.add_argument("model", help="hf:<hub id or local dir> or toy:<preset or dir>")
    sites.add_argument("--dtype", default="float32")
    sites.add_argument("--trust-remote-code", action="store_true", help="allow a checkpoint's own code to run")
    sites.set_defaults(run=_sites)


def _ls(args) -> int:
    from spatialprobe.models import toy
    from spatialprobe.names import HF_NOT_YET
    from spatialprobe.registry import MODELS

    for name in MODELS.names():
        card = MODELS.get(name)
        served = ", ".join(card.model_types) if card.model_types else "toy:<preset or directory>"
        print(f"{name:13s} {served}")
    print(f"toy presets: {', '.join(toy.PRESETS)} (random init: architectures for tests and examples, not trained models; "
          "`spatialprobe lab train` trains toy models)")
    print("not supported yet:")
    for model_type, why in HF_NOT_YET.items():
        print(f"  {model_type}: {why}")
    return 0


def describe(layout) -> str:
    """A short human description of a token layout."""
    counts = Counter(layout.roles)
    parts = []
    for role in ("cls", "register"):
        if counts[role]:
            parts.append(role if counts[role] == 1 else f"{counts[role]} {role}s")
    if counts["patch"]:
        parts.append(f"{layout.grid[0]}×{layout.grid[1]} patches")
    plural = {"query": "queries", "latent": "latents", "image": "image rows", "newline": "newline rows", "marker": "marker rows", "text": "text rows"}
    for role, name in plural.items():
        if counts[role]:
            parts.append(f"{counts[role]} {name}")
    text = " + ".join(parts)
    frames = {f for f in layout.frame_of_row if f >= 0}
    if len(frames) > 1:
        text += f" in {len(frames)} frames"
    if layout.columns is not None:
        text += f" → {describe(layout.columns)}"
    return text


SAMPLE_TEXT = "a photo"


def _sites(args) -> int:
    import torch

    from spatialprobe.models import load_model

    adapter = load_model(args.model, dtype=args.dtype, trust_remote_code=args.trust_remote_code)
    if adapter.per_image:
        return _per_image_sites(args, adapter)
    rows, cols, w, h = adapter.geometry
    cross = adapter.card.prompt == "cross"  # IDEFICS: lm.* are text rows only, so they need a text
    pixels = torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(0))  # not blank: Idefics2 drops all-zero frames
    batch = adapter.make_batch(pixels, [SAMPLE_TEXT] if cross else None)
    tensors = adapter.forward_sites(batch, adapter.sites())
    print(f"{args.model}: family {adapter.card.family}; input {w}×{h}, patch grid {rows}×{cols}")
    print(f"preprocessing: {adapter.preprocess.to_json()} ({adapter.info.get('preprocess', 'toy default')})")
    print(f"{'site':18s} {'shape per image':16s} layout")
    for site, tensor in tensors.items():
        shape = " × ".join(str(d) for d in tensor.shape[1:])
        note = "" if not site.startswith("lm.") else (f" (text rows of {SAMPLE_TEXT!r}; the image enters by cross-attention)" if cross
                                                      else " (+ text rows when given text)")
        print(f"{site:18s} {shape:16s} {describe(adapter.layout(site, batch))}{note}")
    return 0


SAMPLE_SIZE = (640, 480)
"""The image a per-image model's sites are shown for (each image has its own frames or grid)."""


def _per_image_sites(args, adapter) -> int:
    import numpy as np

    w, h = SAMPLE_SIZE
    image = np.random.default_rng(0).integers(0, 255, (h, w, 3), dtype=np.uint8)
    batch = adapter.make_batch(adapter.pixels([image]))
    tensors = adapter.forward_images(batch, adapter.sites())
    print(f"{args.model}: family {adapter.card.family}; every image its own layout — {adapter.preprocess.describe()}")
    print(f"shown for a {w}×{h} image")
    print(f"{'site':18s} {'rows × dim':16s} layout")
    for site, (tensor,) in tensors.items():
        note = " (+ text rows when given text)" if site.startswith("lm.") else ""
        print(f"{site:18s} {' × '.join(map(str, tensor.shape)):16s} {describe(adapter.layout(site, batch, 0))}{note}")
    return 0
