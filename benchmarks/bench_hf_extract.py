"""Extraction from Hugging Face models against the bare HF forward pass with ``output_hidden_states``.

Target (issue 17): reading one site of a real-architecture model costs ≤ 10 % more than the bare HF
forward that returns every hidden state (on CPU), and on a GPU one layer of a ViT-L/14-sized CLIP
reaches ≥ 2,000 images/s (H100 class, bfloat16). Models are random-init configs saved with
``save_pretrained`` and loaded back as ``hf:DIR`` (no download): a small CLIP vision tower and a
small LLaVA-1.5 (CLIP tower → MLP projector → Llama LM). In the same run, on the same pixels:

- bare HF: ``model(pixel_values=…, output_hidden_states=True)`` and the site's hidden state kept
  (``.cpu()``) — what a researcher writes with transformers alone;
- spatialprobe ``forward_sites`` of the same site (hooks; the pass stops after the site);
- spatialprobe ``extract``: decode + preprocess on a thread, the store's shards, checksums and object
  tables, against the bare loop plus its own decode / preprocess / ``np.save`` (the naive script).

    python benchmarks/bench_hf_extract.py [--n 256] [--repeats 3] [--threads 2]
    python benchmarks/bench_hf_extract.py --device cuda --dtype bfloat16 --size vit-l14 --n 4096 --batch 256
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

SIZES = {  # vision tower: width, layers, heads, MLP, input px, patch px
    "small": (256, 6, 4, 1024, 224, 16),
    "vit-l14": (1024, 24, 16, 4096, 224, 14),
}


def _vision(size: str) -> dict:
    width, layers, heads, mlp, px, patch = SIZES[size]
    return dict(hidden_size=width, num_hidden_layers=layers, num_attention_heads=heads, intermediate_size=mlp, image_size=px, patch_size=patch)


def save_clip(directory: Path, size: str) -> Path:
    from transformers import CLIPVisionConfig, CLIPVisionModel
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    torch.manual_seed(0)
    CLIPVisionModel(CLIPVisionConfig(**_vision(size))).save_pretrained(directory)
    px = SIZES[size][4]
    CLIPImageProcessorPil(size={"shortest_edge": px}, crop_size={"height": px, "width": px}).save_pretrained(directory)
    return directory


def save_llava(directory: Path, size: str) -> Path:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from tiny_hf import IMAGE_TOKEN, tiny_tokenizer
    from transformers import LlavaConfig, LlavaForConditionalGeneration
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    tokenizer = tiny_tokenizer()
    text = dict(model_type="llama", hidden_size=256, intermediate_size=1024, num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=4,
                vocab_size=len(tokenizer), pad_token_id=0, bos_token_id=2, eos_token_id=2)
    cfg = LlavaConfig(vision_config={**_vision(size), "model_type": "clip_vision_model"}, text_config=text,
                      image_token_index=tokenizer.convert_tokens_to_ids(IMAGE_TOKEN))
    torch.manual_seed(0)
    LlavaForConditionalGeneration(cfg).save_pretrained(directory)
    px = SIZES[size][4]
    CLIPImageProcessorPil(size={"shortest_edge": px}, crop_size={"height": px, "width": px}).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def timed(fn, repeats: int, sync) -> list[float]:
    fn()  # warm-up
    out = []
    for _ in range(repeats):
        sync()
        start = time.perf_counter()
        fn()
        sync()
        out.append(time.perf_counter() - start)
    return out


def bench(label, directory, site, hidden_index, args, data, tmp) -> dict[str, float]:
    from spatialprobe.features.extraction import extract
    from spatialprobe.models import load_model

    adapter = load_model(f"hf:{directory}", dtype=args.dtype, device=args.device)
    model = adapter.model
    scenes = data.scenes()[: args.n]
    chunks = [scenes[i : i + args.batch] for i in range(0, len(scenes), args.batch)]
    pixels = [adapter.preprocess([data.image(s) for s in chunk]).to(args.device, adapter.dtype) for chunk in chunks]
    batches = [adapter.make_batch(p) for p in pixels]
    sync = torch.cuda.synchronize if args.device.startswith("cuda") else (lambda: None)
    llava = adapter.card.family == "llava"

    def hf_call(batch):
        if llava:
            return model(pixel_values=batch.pixel_values, input_ids=batch.input_ids.to(args.device),
                         attention_mask=batch.attention_mask.to(args.device), output_hidden_states=True)
        return model(pixel_values=batch.pixel_values, output_hidden_states=True)

    def bare():
        with torch.inference_mode():
            for batch in batches:
                hf_call(batch).hidden_states[hidden_index].cpu()

    def ours():
        for batch in batches:
            adapter.forward_sites(batch, [site])[site].cpu()

    def naive():
        kept = []
        with torch.inference_mode():
            for chunk in chunks:
                batch = adapter.make_batch(adapter.preprocess([data.image(s) for s in chunk]).to(args.device, adapter.dtype))
                kept.append(hf_call(batch).hidden_states[hidden_index].float().cpu().numpy().astype(np.float16))
        np.save(tmp / "naive.npy", np.concatenate(kept))

    counter = iter(range(10**6))

    def store():
        extract(adapter, data, [site], root=tmp / f"store{next(counter)}", limit=args.n, batch_size=args.batch, progress=False)

    rows = {name: statistics.median(timed(fn, args.repeats, sync)) for name, fn in
            (("bare HF forward", bare), ("spatialprobe forward_sites", ours), ("naive loop (decode+HF+np.save)", naive),
             ("spatialprobe extract", store))}
    print(f"\n{label}: site {site} (= HF hidden_states[{hidden_index}]), {args.n} images, batch {args.batch}, "
          f"{args.device} {args.dtype}, median of {args.repeats}:")
    for name, value in rows.items():
        print(f"  {name:34s} {value:8.3f} s  ({args.n / value:8,.0f} images/s)")
    print(f"  ratio forward_sites / bare HF      : {rows['spatialprobe forward_sites'] / rows['bare HF forward']:.2f}x")
    print(f"  ratio extract / naive loop          : {rows['spatialprobe extract'] / rows['naive loop (decode+HF+np.save)']:.2f}x")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=256)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--size", choices=sorted(SIZES), default="small")
    parser.add_argument("--models", default="clip,llava", help="comma-separated: clip, llava")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from spatialprobe.scenes import SceneDataset
    from spatialprobe.scenes.sources.synthetic import SyntheticConfig, build

    layers = SIZES[args.size][1]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data = SceneDataset(build(SyntheticConfig(n=args.n, seed=0), tmp / "scenes", progress=False))
        wanted = args.models.split(",")
        if "clip" in wanted:
            d = save_clip(tmp / "clip", args.size)
            bench(f"CLIP vision ({args.size})", d, f"vision.layer.{layers - 1}", layers, args, data, tmp)
            bench(f"CLIP vision ({args.size})", d, f"vision.layer.{layers // 2 - 1}", layers // 2, args, data, tmp)
        if "llava" in wanted:
            d = save_llava(tmp / "llava", args.size)
            bench(f"LLaVA-1.5 ({args.size} tower, 4-layer Llama)", d, "lm.layer.1", 2, args, data, tmp)


if __name__ == "__main__":
    main()
