"""spatialprobe: where do vision-language models keep, and lose, the information about where things are?"""

__version__ = "0.1.0"
