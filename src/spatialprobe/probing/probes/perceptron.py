"""scikit-learn's `Perceptron` (tol 1e-3), the linear probe 2406.09067 used; validation rows are unused."""

from __future__ import annotations

import numpy as np
import torch

from spatialprobe.probing.probes._base import Probe
from spatialprobe.registry import PROBES


class Perceptron(Probe):
    name = "perceptron"
    kinds = ("classification",)

    def fit(self, X, y, X_val=None, y_val=None) -> Perceptron:
        from sklearn.linear_model import Perceptron as SkPerceptron

        self._classes(np.asarray(y))
        model = SkPerceptron(tol=1e-3, random_state=self.seed).fit(np.asarray(X, dtype=np.float64), np.asarray(y))
        coef, intercept = model.coef_, model.intercept_
        if len(self.classes_) == 2:  # scikit-learn keeps one row for two classes
            coef, intercept = np.vstack([-coef, coef]) / 2, np.array([-intercept[0], intercept[0]]) / 2
        self.coef_, self.intercept_ = torch.as_tensor(coef.T), torch.as_tensor(intercept)
        return self

    def decision(self, X) -> np.ndarray:
        return (torch.as_tensor(np.asarray(X, dtype=np.float64)) @ self.coef_ + self.intercept_).numpy()

    def tensors(self):
        return {"coef": self.coef_, "intercept": self.intercept_}

    def load_tensors(self, t) -> None:
        self.coef_, self.intercept_ = t["coef"], t["intercept"]


PROBES.register("perceptron", Perceptron)
