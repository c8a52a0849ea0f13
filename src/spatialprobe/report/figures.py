"""The report's figures as PNG bytes (matplotlib, Agg): bars with CIs, curves with CI bands, boxes on scenes."""

from __future__ import annotations

import io
import textwrap

import numpy as np

PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"]


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return buf.getvalue()


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def bars(panels: dict[str, dict[str, dict[str, object]]], ylabel: str, title: str = "") -> bytes:
    """One panel per key; in each, groups on the x axis and one bar per series, with CI whiskers.

    ``panels[panel][series][group]`` is an `Estimate` (or missing).
    """
    plt = _plt()
    fig, axes = plt.subplots(1, len(panels), figsize=(max(4.5, 4.2 * len(panels)), 3.6), squeeze=False)
    for ax, (panel, series) in zip(axes[0], panels.items()):
        groups = list(dict.fromkeys(g for s in series.values() for g in s))
        width = 0.8 / max(1, len(series))
        for k, (name, values) in enumerate(series.items()):
            x = np.arange(len(groups)) + (k - (len(series) - 1) / 2) * width
            est = [values.get(g) for g in groups]
            v = np.array([e.value if e else np.nan for e in est])
            err = np.array([[e.value - e.low, e.high - e.value] if e else [0, 0] for e in est]).T
            ax.bar(x, v, width, yerr=err, capsize=2, color=PALETTE[k % len(PALETTE)], label=name)
        ax.set_xticks(np.arange(len(groups)), groups, rotation=30, ha="right", fontsize=8)
        ax.set_title(panel, fontsize=10)
        ax.set_ylabel(ylabel, fontsize=9)
        ax.axhline(0, color="#999", lw=0.6)
    axes[0][-1].legend(fontsize=7, loc="best")
    if title:
        fig.suptitle(title, fontsize=11)
    return _png(fig)


def curves(panels: dict[str, dict[str, list[tuple[str, object]]]], ylabel: str, title: str = "", xlabel: str = "") -> bytes:
    """One panel per key; one line per series over ordered x labels, with a CI band."""
    plt = _plt()
    fig, axes = plt.subplots(1, len(panels), figsize=(max(4.5, 4.4 * len(panels)), 3.6), squeeze=False)
    for ax, (panel, series) in zip(axes[0], panels.items()):
        labels = list(dict.fromkeys(x for points in series.values() for x, _ in points))
        for k, (name, points) in enumerate(series.items()):
            pos = [labels.index(x) for x, _ in points]
            v = [e.value for _, e in points]
            ax.plot(pos, v, marker="o", ms=3, color=PALETTE[k % len(PALETTE)], label=name)
            ax.fill_between(pos, [e.low for _, e in points], [e.high for _, e in points], color=PALETTE[k % len(PALETTE)], alpha=0.18)
        ax.set_xticks(range(len(labels)), labels, rotation=35, ha="right", fontsize=7)
        ax.set_title(panel, fontsize=10)
        ax.set_ylabel(ylabel, fontsize=9)
        if xlabel:
            ax.set_xlabel(xlabel, fontsize=9)
    axes[0][-1].legend(fontsize=7, loc="best")
    if title:
        fig.suptitle(title, fontsize=11)
    return _png(fig)


def scenes_with_boxes(panels: list[tuple[np.ndarray, str, list[tuple[np.ndarray, str, str]]]], columns: int = 4) -> bytes:
    """Scenes (H×W×3 uint8) with labelled boxes (unit cxcywh, colour, label)."""
    plt = _plt()
    rows = (len(panels) + columns - 1) // columns
    fig, axes = plt.subplots(rows, columns, figsize=(2.6 * columns, 2.9 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (image, title, boxes) in zip(axes.flat, panels):
        h, w = image.shape[:2]
        ax.imshow(image, interpolation="nearest")
        for box, colour, label in boxes:
            cx, cy, bw, bh = box
            ax.add_patch(plt.Rectangle(((cx - bw / 2) * w - 0.5, (cy - bh / 2) * h - 0.5), bw * w, bh * h, fill=False, color=colour, lw=1.6))
            if label:
                ax.text(max(0, (cx - bw / 2) * w), max(2, (cy - bh / 2) * h - 1), label, color=colour, fontsize=6, va="bottom", clip_on=True)
        ax.set_xlim(-0.5, w - 0.5)
        ax.set_ylim(h - 0.5, -0.5)
        ax.set_title(textwrap.fill(title, 36), fontsize=6)
    return _png(fig)
