"""A report as a list of blocks, rendered to Markdown (figures as files) or self-contained HTML."""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass


@dataclass(frozen=True)
class Heading:
    text: str
    level: int = 2


@dataclass(frozen=True)
class Text:
    text: str


@dataclass(frozen=True)
class Table:
    header: list[str]
    rows: list[list[str]]


@dataclass(frozen=True)
class Figure:
    name: str
    """File name under ``figures/`` (``.png``)."""
    png: bytes
    caption: str


@dataclass(frozen=True)
class Details:
    """Blocks folded away under a one-line summary (per-seed rows, long tables)."""

    summary: str
    blocks: list


def _anchor(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-")


def to_markdown(blocks: list) -> str:
    out = []
    for b in blocks:
        if isinstance(b, Heading):
            out.append(f"{'#' * b.level} {b.text}")
        elif isinstance(b, Text):
            out.append(b.text)
        elif isinstance(b, Table):
            out.append("\n".join(["| " + " | ".join(b.header) + " |", "|" + "---|" * len(b.header)] + ["| " + " | ".join(r) + " |" for r in b.rows]))
        elif isinstance(b, Figure):
            out.append(f"![{b.caption}](figures/{b.name})\n\n*{b.caption}*")
        elif isinstance(b, Details):
            out.append(f"<details><summary>{html.escape(b.summary)}</summary>\n\n{to_markdown(b.blocks).strip()}\n\n</details>")
    return "\n\n".join(out) + "\n"


def all_figures(blocks: list) -> list[Figure]:
    """Every figure, also those inside `Details`."""
    return [f for b in blocks for f in (all_figures(b.blocks) if isinstance(b, Details) else [b] if isinstance(b, Figure) else [])]


STYLE = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222;line-height:1.45}
table{border-collapse:collapse;margin:1em 0;font-size:.9em}td,th{border:1px solid #ccc;padding:.25em .5em;text-align:left}
th{background:#f3f3f3}figure{margin:1.5em 0}img{max-width:100%}figcaption{font-style:italic;color:#555}
.reproduced{color:#17692b;font-weight:600}.not-reproduced{color:#a3171d;font-weight:600}.inconclusive{color:#8a5a00;font-weight:600}
.undecidable{color:#555;font-weight:600;font-style:italic}"""


def _cell(text: str) -> str:
    escaped = html.escape(text)
    for verdict in ("not reproduced", "reproduced", "inconclusive", "undecidable"):
        if text.lower().startswith(verdict):
            return f'<span class="{verdict.replace(" ", "-")}">{escaped}</span>'
    return escaped


def _inline(text: str) -> str:
    """Markdown's `code` and **bold** in a paragraph, as HTML."""
    import re

    escaped = html.escape(text)
    escaped = re.sub(r"`([^`]+)`", r"<code>\1</code>", escaped)
    return re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", escaped)


def to_html(blocks: list, title: str) -> str:
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{STYLE}</style></head><body>\n" + _html_body(blocks) + "\n</body></html>\n")


def _html_body(blocks: list) -> str:
    body = []
    for b in blocks:
        if isinstance(b, Heading):
            body.append(f'<h{b.level} id="{_anchor(b.text)}">{html.escape(b.text)}</h{b.level}>')
        elif isinstance(b, Text):
            body += [f"<p>{_inline(p)}</p>" for p in b.text.split("\n\n")]
        elif isinstance(b, Table):
            head = "".join(f"<th>{html.escape(h)}</th>" for h in b.header)
            rows = "".join("<tr>" + "".join(f"<td>{_cell(c)}</td>" for c in r) + "</tr>" for r in b.rows)
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
        elif isinstance(b, Figure):
            data = base64.b64encode(b.png).decode()
            body.append(f'<figure><img alt="{html.escape(b.caption)}" src="data:image/png;base64,{data}"><figcaption>{html.escape(b.caption)}</figcaption></figure>')
        elif isinstance(b, Details):
            body.append(f"<details><summary>{html.escape(b.summary)}</summary>{_html_body(b.blocks)}</details>")
    return "\n".join(body)
