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


def test_a_probe_output_folder_renders_as_a_report(tmp_path):
    """Any probe run — not only a plan's — becomes report.md / report.html: sites in data-flow order,
    seeds averaged, floors beside the probes, a figure across sites."""
    from spatialprobe.cli.main import main
    from spatialprobe.probing import run
    from spatialprobe.scenes.sources.synthetic import SyntheticConfig, build

    data = build(SyntheticConfig(n=120, seed=3), tmp_path / "scenes", workers=1, progress=False)
    out = tmp_path / "probe"
    run({"model": "toy:tiny-qformer", "data": str(data), "store": str(tmp_path / "st"), "out": str(out), "sites": ["vision.out", "vision.layer.0"],
         "tasks": ["region_cell"], "pools": ["mean"], "probes": ["logistic"], "controls": ["blind"], "seeds": [0, 1], "bootstrap": 100,
         "min_train": 10}, progress=False)
    assert main(["report", str(out)]) == 0
    md = (out / "report.md").read_text()
    assert "# spatialprobe probe: toy:tiny-qformer" in md and "## region_cell" in md
    rows = [line for line in md.splitlines() if line.startswith("| vision.")]
    assert [r.split(" | ")[0] for r in rows][:2] == ["| vision.layer.0", "| vision.layer.0"]  # flow order: layer 0 before vision.out
    assert any("| blind |" in r for r in rows) and all("| 0, 1 |" in r for r in rows)
    assert (out / "figures" / "region_cell-by-site.png").exists() and "data:image/png;base64," in (out / "report.html").read_text()


def test_report_names_what_a_folder_lacks(tmp_path):
    from spatialprobe.cli.main import main

    (tmp_path / "x").mkdir()
    assert main(["report", str(tmp_path / "x")]) == 2
