"""Scene sources: each module (or subpackage) here is one registered source.

A source turns something (a generator seed, or a real dataset's files) into a scene dataset
directory in the exchange format (`spatialprobe.scenes.dataset`).
"""
