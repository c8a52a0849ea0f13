"""Probes: one module per probe, each registering a `Probe` subclass in `PROBES`."""
