"""spatialprobe: where do vision-language models keep, and lose, the information about where things are?"""

__version__ = "0.1.0"


def __getattr__(name: str):
    if name == "probe":  # spatialprobe.probe(...): the probing API, imported on first use
        from spatialprobe.probing.protocol import probe

        return probe
    raise AttributeError(f"module 'spatialprobe' has no attribute {name!r}")
