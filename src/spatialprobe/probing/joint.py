"""The joint protocol (Lost in Space) and the references that make a frozen-vs-joint gap readable.

Every condition trains the **same probe head** on the **same training items** with the **same
recipe** as the frozen neural probes (`probing.training`: fixed epoch budget, warm-up + cosine,
best epoch on ``probe_val``); they differ only in what learns and what the probe reads:

| condition | the probe reads | what learns |
|---|---|---|
| frozen | the pretrained connector's output | probe |
| joint | the connector's output | connector (from its pretrained weights, at ``connector_lr``) + probe |
| joint from random | the connector's output | connector (re-initialised) + probe |
| upper reference | the connector's input (the encoder tokens it sees) | probe |
| capacity-matched frozen | a fresh module the size of the connector on the frozen output | module + probe |
| blind | the frozen output for another scene | probe |
| control task | the frozen output, control labels | probe |

The connector's input comes from the feature store (``connector.in``), so the encoder never runs;
the connector runs once per scene of a batch. Each record states how many parameters were trained.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from spatialprobe.models.trainable import Trainable
from spatialprobe.names import JOINT_CONDITIONS as CONDITIONS
from spatialprobe.names import JOINT_TRAINED as TRAINED
from spatialprobe.probing.items import SPLITS, Items, ProbingError
from spatialprobe.probing.probes._neural import Inputs
from spatialprobe.probing.training import Recipe, fit


@dataclass
class ConditionResult:
    prediction: np.ndarray
    trained_parameters: int
    info: dict
    connector: nn.Module
    head: nn.Module


class _Chain(nn.Module):
    """connector → [fresh capacity module] → probe head, on per-scene tokens."""

    def __init__(self, connector, prefix, head, wants_tokens: bool, connector_learns: bool):
        super().__init__()
        self.connector, self.prefix, self.head = connector, prefix, head
        self.wants_tokens, self.connector_learns = wants_tokens, connector_learns

    def forward(self, tokens, text, scene_of):
        with torch.set_grad_enabled(self.connector_learns and torch.is_grad_enabled()):
            prompt = self.connector(tokens)
        x = self.prefix(prompt)
        return self.head(x, text, scene_of) if self.wants_tokens else self.head(x[scene_of].flatten(1), text, scene_of)


def train_condition(trainable: Trainable, condition: str, probe, kind: str, data: dict[str, Inputs], targets: dict[str, np.ndarray], seed: int,
                    recipe: Recipe) -> ConditionResult:
    """Train one condition and predict ``test``; the model itself is never changed (every condition
    runs a copy of its connector).

    ``trainable``: the model's connector (`Adapter.trainable`); ``data``: per split, the connector's
    input tokens per scene and the items pointing at them; ``targets``: per split, the items' answers.
    """
    if condition not in TRAINED:
        raise ProbingError(f"unknown training condition {condition!r}; valid: {', '.join(TRAINED)}")
    learns = condition in ("joint", "joint from random")
    connector = {"joint from random": lambda: trainable.reinitialised(seed), "upper reference": nn.Identity}.get(condition, trainable.copy)()
    connector.requires_grad_(learns)
    if not learns:  # a fixed connector's output is computed once per scene, not once per batch
        data = {split: _through(connector, inputs) for split, inputs in data.items()}
        connector, fixed = nn.Identity(), connector
    train = data["probe_train"]
    prefix = trainable.capacity_matched(seed, data["probe_train"].visual.shape[-1]) if condition == "capacity-matched frozen" else nn.Identity()
    n_out = probe.n_outputs(targets["probe_train"])
    with torch.inference_mode():
        example = prefix(connector(train.visual))
    shape_input = ({"tokens": example.numpy(), "scene_of": train.scene_of.numpy(), "text": None if train.text is None else train.text.numpy()}
                   if probe.wants_tokens else example[train.scene_of].flatten(1).numpy())
    torch.manual_seed(seed)
    chain = _Chain(connector, prefix, probe.build(shape_input, n_out), probe.wants_tokens, learns)
    Y = {split: probe.encode_targets(targets[split]) for split in SPLITS}
    rng = np.random.default_rng(seed)

    def loss_of(rows):
        index = torch.as_tensor(rows)
        return probe.loss(chain(*train.batch(rows)), Y["probe_train"][index], {k: v[index] for k, v in train.aux.items()})

    def validate():
        return probe.validation_score(probe.outputs(chain, data["probe_val"]), Y["probe_val"])

    head_params = list(chain.prefix.parameters()) + list(chain.head.parameters())
    groups = [(head_params, recipe.lr)] + ([(connector.parameters(), recipe.connector_lr)] if learns else [])
    modules = [chain.head, chain.prefix] + ([connector] if learns else [])
    fitted = fit(groups, modules, lambda: train.batches(rng, recipe.batch_size), loss_of, validate, recipe, desc=condition)
    connector.eval()
    trained = sum(p.numel() for p in head_params if p.requires_grad) + (sum(p.numel() for p in connector.parameters()) if learns else 0)
    pred = probe.labels(probe.decode(probe.outputs(chain, data["test"])))
    return ConditionResult(pred, trained, {"curve": fitted.curve, "best_epoch": fitted.best_epoch}, connector if learns else fixed, chain.head)


@torch.no_grad()
def _through(connector: nn.Module, inputs: Inputs, chunk: int = 512) -> Inputs:
    """``inputs`` with each scene's tokens replaced by the (fixed) connector's output."""
    connector.eval()
    out = torch.cat([connector(inputs.visual[s : s + chunk]) for s in range(0, len(inputs.visual), chunk)])
    return Inputs(out, inputs.text, inputs.scene_of, inputs.aux)


def split_inputs(store, items: Items, site: str, text: np.ndarray | None, rows: np.ndarray | None = None) -> dict[str, Inputs]:
    """Per split: the stored ``site`` tokens of each item's scene (once per scene), the items' text,
    and (``probe_train`` only) their auxiliary targets."""
    from spatialprobe.probing.design import token_inputs

    if site not in store.layouts:
        raise ProbingError(f"the joint protocol reads {site!r} from the store; add it to the config's sites")
    out = {}
    for split, X in token_inputs(store, site, "all", items, text, seed=0, scene_rows=rows).items():
        t = X["text"]
        t = None if t is None else torch.as_tensor(t if np.asarray(t).dtype.kind == "i" else np.asarray(t, dtype=np.float32))
        aux = {k: torch.as_tensor(np.asarray(v, dtype=np.float32)) for k, v in X.get("aux", {}).items()}
        out[split] = Inputs(torch.as_tensor(X["tokens"]), t, torch.as_tensor(X["scene_of"], dtype=torch.long), aux)
    return out
