"""Models behind one interface: sites, token layouts and preprocessing geometry.

``load_model("hf:Salesforce/blip2-opt-2.7b")`` or ``load_model("toy:tiny-qformer")`` gives an
`Adapter`; ``adapter.sites()``, ``adapter.layout(site)``, ``adapter.extract(images, sites)``.
``wrap(module, {"vision.layer.{i}": "encoder.layers.{i}"}, input_size=224, patch_size=16)`` puts
an already loaded module behind the same interface.
Names are imported lazily, so listing model families does not import torch.
"""

from spatialprobe.lazy import exports

_EXPORTS = {
    "Adapter": "spatialprobe.models.adapter",
    "Batch": "spatialprobe.models.adapter",
    "ModelLoadError": "spatialprobe.models.loading",
    "load_model": "spatialprobe.models.loading",
    "parse_spec": "spatialprobe.models.loading",
    "Preprocess": "spatialprobe.models.preprocess",
    "TokenLayout": "spatialprobe.models.layout",
    "UnknownSiteError": "spatialprobe.models.sites",
    "wrap": "spatialprobe.models.wrapping",
}

__getattr__, __all__ = exports(__name__, _EXPORTS)
