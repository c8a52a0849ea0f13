"""`EncoderTokens`: a model's rows at one site for training scenes — read from a feature store when one
holds them (the model runs once per image, at extraction), else computed by the model at every step."""

from __future__ import annotations

import numpy as np
import torch

from spatialprobe.train.recipe import RecipeError


class EncoderTokens:
    """The encoder's tokens at ``site`` for scenes by index: from a feature store's rows, or the encoder."""

    def __init__(self, encoder, dataset, scenes, site: str, store=None):
        self.encoder, self.dataset, self.scenes, self.site, self.store = encoder, dataset, scenes, site, store
        if store is not None:
            if site not in store.sites:
                raise ValueError(f"the store has no site {site!r}; it has {', '.join(store.sites)}")
            row_of = {sid: i for i, sid in enumerate(store.scene_ids)}
            missing = [s.id for s in scenes if s.id not in row_of]
            if missing:
                raise RecipeError(f"the store lacks {len(missing)} of the training scenes (e.g. {missing[0]}): not the store of this dataset and split")
            self.rows = np.array([row_of[s.id] for s in scenes])

    def __call__(self, index: np.ndarray) -> torch.Tensor:
        if self.store is not None:
            return torch.from_numpy(self.store.take(self.site, self.rows[index], dtype=np.float32))
        with torch.inference_mode():
            pixels = self.encoder.preprocess([self.dataset.image(self.scenes[i]) for i in index])
            out = self.encoder.forward_sites(self.encoder.make_batch(pixels), [self.site])[self.site]
        return out.float().clone()
