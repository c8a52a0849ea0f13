"""spatialprobe: where do vision-language models keep, and lose, the information about where things are?"""

__version__ = "0.1.0"


from spatialprobe.lazy import exports

__getattr__, __all__ = exports(__name__, {
    "probe": "spatialprobe.probing.protocol", "fit_probe": "spatialprobe.probing.protocol", "load_model": "spatialprobe.models.loading",
    "wrap": "spatialprobe.models.wrapping", "in_memory": "spatialprobe.features.memory", "to_frame": "spatialprobe.results.store",
})
"""The notebook API (docs/walkthrough.md), imported on first use."""
