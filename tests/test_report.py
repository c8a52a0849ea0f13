"""Report blocks render to Markdown and self-contained HTML; figures are real PNGs."""

from spatialprobe.report import Figure, Heading, Table, Text, fmt, to_html, to_markdown
from spatialprobe.report.figures import bars, curves, scenes_with_boxes
from spatialprobe.results.stats import Estimate

E = Estimate(0.5, 0.4, 0.6, 10, 5)


def test_blocks_render_to_markdown_and_html():
    png = bars({"task": {"model": {"frozen": E, "joint": E}}}, "score")
    blocks = [Heading("Results"), Text("a `code` and **bold** <tag>"), Table(["claim", "verdict"], [["x < y", "not reproduced (CI)"]]), Figure("f.png", png, "cap")]
    md = to_markdown(blocks)
    assert "## Results" in md and "| x < y | not reproduced (CI) |" in md and "![cap](figures/f.png)" in md
    html = to_html(blocks, "t")
    assert "<code>code</code>" in html and "<strong>bold</strong>" in html and "&lt;tag&gt;" in html and "x &lt; y" in html
    assert '<span class="not-reproduced">' in html and html.count("data:image/png;base64,") == 1
    assert fmt(E) == "0.500 [0.400, 0.600]" and fmt(None) == "—"


def test_figures_are_pngs():
    import numpy as np

    for png in (curves({"p": {"pool": [("layer.0", E), ("layer.1", E)]}}, "acc"),
                scenes_with_boxes([(np.zeros((8, 8, 3), np.uint8), "scene", [((0.5, 0.5, 0.5, 0.5), "#f00", "true")])])):
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 1000


def test_details_fold_their_blocks_and_keep_their_figures():
    from spatialprobe.report import Details, all_figures

    inner = Figure("seed.png", bars({"task": {"model": {"frozen": E}}}, "score"), "per seed")
    blocks = [Table(["a"], [["1"]]), Details("per-seed rows <2>", [Table(["seed", "score"], [["0", fmt(E)]]), inner])]
    md = to_markdown(blocks)
    assert "<details><summary>per-seed rows &lt;2&gt;</summary>" in md and "| 0 | 0.500 [0.400, 0.600] |" in md and md.rstrip().endswith("</details>")
    html = to_html(blocks, "t")
    assert html.count("<details>") == 1 and html.count("data:image/png;base64,") == 1
    assert all_figures(blocks) == [inner]
