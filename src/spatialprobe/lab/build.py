"""Train (or reuse) every component a `LabConfig` names and assemble toy checkpoints.

Order: the tokenizer (text of the lab split); then the LM and every encoder, side by side; then each
connector on its encoder with the LM frozen, side by side. Independent stages run on a pool of
one-thread worker processes (`spatialprobe.workers`; ``workers=1`` runs them here). Every stage is
cached under the hash of its spec, so re-running reuses what exists and an interrupted run
continues. The result maps a model name (``linear+coarse@contrastive``) to a toy checkpoint
directory: load it with ``load_model("toy:<dir>")``.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_model, save_model

from spatialprobe.features.key import dataset_fingerprint
from spatialprobe.lab import cache, encoders, lm
from spatialprobe.lab.config import LabConfig, LabConfigError
from spatialprobe.lab.data import LabData, load
from spatialprobe.lab.text import PROMPT_WORDS, train_tokenizer
from spatialprobe.lab.objectives import connector_losses
from spatialprobe.lab.trainer import encoder_tokens, train_connector
from spatialprobe.models import toy
from spatialprobe.models.toy.model import ToyConfig, ToyVLM
from spatialprobe.registry import nearest
from spatialprobe.scenes.dataset import SceneDataset
from spatialprobe.scenes.sources.synthetic.predicates import PREDICATES_ORDER


@dataclass
class LabModels:
    checkpoints: dict[str, Path]
    seconds: dict[str, float]
    reused: list[str]


def _toy_config(cfg: LabConfig, vocab: int, connector: str = "linear", position_in_kv: bool = False) -> ToyConfig:
    return ToyConfig(**cfg.model, connector=connector, vocab_size=vocab, position_in_kv=position_in_kv, max_length=112)


class Lab:
    def __init__(self, cfg: LabConfig, progress: bool = True):
        self.cfg, self.progress = cfg, progress
        self.root = cfg.cache_root()
        self.dataset = SceneDataset(cfg.data)
        splits = sorted({s.split for s in self.dataset.scenes()})
        if cfg.split not in splits:  # before any stage trains
            near = nearest(cfg.split, splits)
            raise LabConfigError(f"lab.split: {cfg.split!r} is not a split of {self.dataset.root}" + (f"; did you mean {near!r}?" if near else "")
                                 + f" (it has {', '.join(splits)})")
        self.base = {"data": dataset_fingerprint(self.dataset.root), "split": cfg.split, "limit": cfg.limit, "seed": cfg.seed, "model": cfg.model}
        self._data: LabData | None = None
        self.seconds: dict[str, float] = {}
        self.reused: list[str] = []

    @property
    def data(self) -> LabData:
        if self._data is None:
            self._data = load(self.dataset, self.cfg.split, self.cfg.limit)
        return self._data

    def _stage(self, name: str, spec: dict, build):
        """Reuse ``root/<key>`` or run ``build(tmpdir)`` into it."""
        directory = self.root / cache.key(name.split(":")[0], spec)
        if (directory / "spec.json").exists():
            self.reused.append(name)
            return directory
        start = time.perf_counter()
        with cache.building(self.root, directory.name) as tmp:
            curve = build(tmp)
            cache.write_meta(tmp, spec, curve, time.perf_counter() - start)
        self.seconds[name] = time.perf_counter() - start
        return directory

    @property
    def seen_predicates(self) -> list[str]:
        """The config's, else the dataset's seen predicate set, else every predicate (nothing held out)."""
        if self.cfg.seen_predicates is not None:
            return list(self.cfg.seen_predicates)
        sets = self.dataset.metadata.get("predicate_sets") or {}
        return list(sets.get("seen") or PREDICATES_ORDER)

    def tokenizer(self) -> Path:
        def build(tmp: Path):
            train_tokenizer(self.data.texts()).save_pretrained(tmp)
            return []

        return self._stage("tokenizer", {**self.base, "prompt_words": PROMPT_WORDS}, build)

    def language_model(self, tok_dir: str | Path) -> Path:
        tok_dir = Path(tok_dir)
        spec = {**self.base, "epochs": self.cfg.lm_epochs, "tokenizer": tok_dir.name}

        def build(tmp: Path):
            tokenizer = toy.load_tokenizer(tok_dir)
            tokenizer.save_pretrained(tmp)
            model, curve = lm.pretrain(_toy_config(self.cfg, len(tokenizer)), self.data, tokenizer, epochs=self.cfg.lm_epochs, seed=self.cfg.seed, progress=self.progress)
            save_model(model, str(tmp / "weights.safetensors"))
            return curve

        return self._stage("lm", spec, build)

    def encoder(self, objective: str, tok_dir: str | Path) -> Path:
        tok_dir = Path(tok_dir)
        spec = {**self.base, "objective": objective, "epochs": self.cfg.encoder_epochs, "tokenizer": tok_dir.name}

        def build(tmp: Path):
            tokenizer = toy.load_tokenizer(tok_dir)
            model, curve = encoders.pretrain(objective, _toy_config(self.cfg, len(tokenizer)), self.data, tokenizer, epochs=self.cfg.encoder_epochs, seed=self.cfg.seed, progress=self.progress)
            save_model(model, str(tmp / "weights.safetensors"))
            return curve

        return self._stage(f"encoder:{objective}", spec, build)

    def connector(self, c: dict, enc_dir: str | Path, lm_dir: str | Path) -> Path:
        """Train connector ``c`` (type, position_in_kv, objectives) on its encoder with the LM frozen.

        The heads its objectives add (e.g. PixelLLM's location head) are saved beside it.
        """
        enc_dir, lm_dir = Path(enc_dir), Path(lm_dir)
        kind, position_in_kv, objectives = c["type"], bool(c.get("position_in_kv", False)), list(c["objectives"])
        spec = {**self.base, "connector": kind, "position_in_kv": position_in_kv, "epochs": self.cfg.connector_epochs, "encoder": enc_dir.name, "lm": lm_dir.name,
                "objectives": objectives}
        if objectives != ["coarse"]:
            spec.update(seen=sorted(self.seen_predicates), location_weight=self.cfg.location_weight)

        def build(tmp: Path):
            tokenizer = toy.load_tokenizer(lm_dir)
            model = self.assemble(kind, enc_dir, lm_dir, len(tokenizer), position_in_kv)
            losses, heads = connector_losses(objectives, model, self.data, tokenizer, seen=set(self.seen_predicates), location_weight=self.cfg.location_weight)
            tokens = encoder_tokens(model, self.data)
            extra = [p for head in heads.values() for p in head.parameters()]
            curve = train_connector(model, tokens, losses, epochs=self.cfg.connector_epochs, seed=self.cfg.seed, extra_params=extra, progress=self.progress)
            toy.save(model, tmp, tokenizer=tokenizer)
            for name, head in heads.items():
                save_model(head, str(tmp / f"{name}_head.safetensors"))
            return curve

        return self._stage(f"model:{LabConfig.name(c)}", spec, build)

    def assemble(self, kind: str, enc_dir: Path, lm_dir: Path, vocab: int, position_in_kv: bool) -> ToyVLM:
        """A toy VLM with the pretrained encoder and LM and a fresh connector (seeded)."""
        cfg = _toy_config(self.cfg, vocab, kind, position_in_kv)
        model = toy.build(cfg, seed=self.cfg.seed)
        load_model(model.vision, str(enc_dir / "weights.safetensors"))
        load_model(model.lm, str(lm_dir / "weights.safetensors"))
        return model

    def train_all(self, workers: int | None = None, threads: int = 1) -> LabModels:
        from spatialprobe.workers import Job, run

        tok_dir = self.tokenizer()
        cfg = self.cfg.to_dict()
        _LABS[_lab_key(cfg)] = self  # jobs run inline reuse this lab (and its loaded data)

        def stages(calls):
            jobs = [Job(_stage_job, {"cfg": cfg, "method": method, "args": args}, name) for name, method, args in calls]
            out = run(jobs, workers, threads, done=lambda job, result: self._done(job.name, result))
            return [Path(path) for path, _, _ in out]

        # longest first packs two workers best (encoders ~60-75 s, the LM ~35 s, random ~0 s at the demo's scale)
        encoder = {o: (f"encoder:{o}", "encoder", [o, str(tok_dir)]) for o in self.cfg.encoders}
        first = [encoder[o] for o in self.cfg.encoders if o != "random"] + [("lm", "language_model", [str(tok_dir)])] + [encoder[o] for o in self.cfg.encoders if o == "random"]
        built = dict(zip([name for name, _, _ in first], stages(first)))
        lm_dir, encoder_dirs = built["lm"], {o: built[f"encoder:{o}"] for o in self.cfg.encoders}
        names = [LabConfig.name(c) for c in self.cfg.connectors]
        paths = stages([(f"model:{n}", "connector", [c, str(encoder_dirs[c["encoder"]]), str(lm_dir)]) for n, c in zip(names, self.cfg.connectors)])
        return LabModels(dict(zip(names, paths)), dict(self.seconds), list(self.reused))

    def _done(self, name: str, result) -> None:
        _, seconds, reused = result
        if reused:
            if name not in self.reused:
                self.reused.append(name)
        else:
            self.seconds[name] = seconds


_LABS: dict[str, Lab] = {}
"""Labs of this process by config: a worker loads a lab's data once, whatever stages it runs."""


def _lab_key(cfg: dict) -> str:
    return json.dumps(cfg, sort_keys=True, default=str)


def _stage_job(cfg: dict, method: str, args: list) -> tuple[str, float, bool]:
    """One lab stage (in a worker, or inline): (directory, seconds, reused)."""
    lab = _LABS.get(_lab_key(cfg))
    if lab is None:
        lab = _LABS[_lab_key(cfg)] = Lab(LabConfig.from_dict(cfg), progress=False)
    torch.manual_seed(lab.cfg.seed)
    before, reused = dict(lab.seconds), len(lab.reused)
    path = getattr(lab, method)(*args)
    new = [v for k, v in lab.seconds.items() if k not in before]
    return str(path), new[0] if new else 0.0, len(lab.reused) > reused


def train_lab(cfg: LabConfig, progress: bool = True, workers: int | None = None, threads: int = 1) -> LabModels:
    """Train or reuse everything ``cfg`` names; see `Lab`."""
    torch.manual_seed(cfg.seed)
    return Lab(cfg, progress).train_all(workers, threads)


def curve(directory: Path) -> dict:
    """The loss curve and training time saved beside a component."""
    return json.loads((Path(directory) / "curve.json").read_text())

