"""Reports: blocks rendered to Markdown and self-contained HTML, figures, and a run's results."""

from spatialprobe.report.blocks import Details, Figure, Heading, Table, Text, all_figures, to_html, to_markdown
from spatialprobe.report.collect import RunResults, fmt, headline

__all__ = ["Details", "Figure", "Heading", "RunResults", "Table", "Text", "all_figures", "fmt", "headline", "to_html", "to_markdown"]
