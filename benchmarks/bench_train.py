"""LiMBeR map training steps/s with the encoder's tokens read from the feature store vs the encoder
run at every step (what a training script without a store does).

Target (issue 19): the store wins by ≥ 2× on CPU. Models are random-init configs saved with
``save_pretrained`` and loaded back as ``hf:DIR`` (no download): a small CLIP vision tower (the
`bench_hf_extract.py` "small" size: width 256, 6 layers, 224 px / 16) and a GPT-2 LM (width 256,
4 layers), on synthetic scenes. The same map, recipe, batches and seed in both runs; the store is
extracted once before timing (its cost is reported beside, as it is paid once per image). With the
``tokens`` variant every encoder token is a prompt token, so the frozen LM's forward and backward
over ~200 prompt rows dominate a step and the store's share of the saving is smaller.

    python benchmarks/bench_train.py [--scenes 256] [--epochs 2] [--batch 16] [--threads 2]
    python benchmarks/bench_train.py --device cuda --size vit-l14 --scenes 4096 --batch 64
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_hf_extract import SIZES, save_clip  # noqa: E402


def save_gpt2(directory: Path, width: int = 256, layers: int = 4) -> Path:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from tiny_hf import tiny_tokenizer
    from transformers import GPT2Config, GPT2LMHeadModel

    tokenizer = tiny_tokenizer()
    torch.manual_seed(0)
    GPT2LMHeadModel(GPT2Config(n_embd=width, n_layer=layers, n_head=4, n_positions=512, vocab_size=len(tokenizer), eos_token_id=2, bos_token_id=2)).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenes", type=int, default=256, help="training scenes (probe_train)")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--size", choices=sorted(SIZES), default="small")
    parser.add_argument("--variant", choices=("pooled", "tokens"), default="pooled",
                        help="pooled: the CLIP variant (the mean token → 4 prompt tokens); tokens: every encoder token → one prompt token (BEiT)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each; the median is printed")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from spatialprobe.features import FeatureStore, extract
    from spatialprobe.models import load_model
    from spatialprobe.scenes import SceneDataset
    from spatialprobe.scenes.sources.synthetic import SyntheticConfig, build
    from spatialprobe.train.limber import load_causal_lm, train_limber

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        n = int(args.scenes / SyntheticConfig().splits["probe_train"]) + 1  # enough scenes for --scenes in probe_train
        dataset = SceneDataset(build(SyntheticConfig(n=n, seed=0), root / "scenes", progress=False))
        encoder = load_model(f"hf:{save_clip(root / 'clip', args.size)}", device=args.device)
        lm, tokenizer = load_causal_lm(f"hf:{save_gpt2(root / 'gpt2')}")
        start = time.perf_counter()
        store = FeatureStore(extract(encoder, dataset, ["vision.out"], root=root / "store", split=["probe_train"], progress=False).directory)
        extract_s = time.perf_counter() - start
        train_n = min(args.scenes, len(dataset.scenes("probe_train")))
        steps = args.epochs * -(-train_n // args.batch)
        common = dict(epochs=args.epochs, batch_size=args.batch, seed=0, max_scenes=train_n, device=args.device, variant=args.variant)
        times = {}
        for name, source in (("encoder every step", None), ("store", store)):
            runs = []
            for _ in range(args.repeats):
                start = time.perf_counter()
                train_limber(encoder, lm, tokenizer, dataset, store=source, **common)
                runs.append(time.perf_counter() - start)
            times[name] = statistics.median(runs)
    print(f"LiMBeR map ({args.variant}), {args.size} CLIP tower → GPT-2 (256 × 4), {train_n} scenes × {args.epochs} epochs = {steps} steps of {args.batch}, "
          f"{args.device}, {args.threads} threads")
    for name, seconds in times.items():
        print(f"  {name:<20} {seconds:7.2f} s   {steps / seconds:6.2f} steps/s   (median of {args.repeats})")
    print(f"  store extraction (once per image): {extract_s:.2f} s")
    ratio = times["encoder every step"] / times["store"]
    print(f"store vs encoder every step: {ratio:.2f}× faster (target ≥ 2×: {'met' if ratio >= 2 else 'NOT met'})")


if __name__ == "__main__":
    main()
