"""Argument types shared by the commands: a bad number is an argparse error (exit 2) naming the option."""

from __future__ import annotations

import argparse


def positive_int(text: str) -> int:
    """An integer ≥ 1 (sizes, counts, limits, threads, workers)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def key_value(text: str) -> tuple[str, object]:
    """``key=value``; the value is read as JSON when it parses (numbers, lists, mappings), else as a string."""
    from spatialprobe.scenes.address import option_value

    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected key=value, got {text!r}")
    return key, option_value(value)
