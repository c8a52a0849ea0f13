"""Reports: blocks rendered to Markdown and self-contained HTML, figures, and a run's results."""

from spatialprobe.report.blocks import Figure, Heading, Table, Text, to_html, to_markdown
from spatialprobe.report.collect import RunResults, fmt, headline

__all__ = ["Figure", "Heading", "RunResults", "Table", "Text", "fmt", "headline", "to_html", "to_markdown"]
