"""Open a run's report.html in headless Chromium: every figure loads, no console errors; screenshots.

    python scripts/check_report.py [RUN_DIR]     # default: the newest runs/*/report.html

Needs Debian's chromium (/usr/bin/chromium) and the `playwright` Python package (no browser
download: it drives the system Chromium). Screenshots go to RUN_DIR/screenshots/. Exit 1 on a
broken figure or a console error.
"""

from __future__ import annotations

import sys
from pathlib import Path

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]


def newest_report(runs: Path = Path("runs")) -> Path:
    reports = sorted(runs.glob("*/report.html"), key=lambda p: p.stat().st_mtime)
    if not reports:
        raise SystemExit(f"no report under {runs}/: run `spatialprobe demo --quick` first")
    return reports[-1].parent


def check(run: Path, chromium: str = "/usr/bin/chromium") -> list[str]:
    from playwright.sync_api import sync_playwright

    problems = []
    shots = run / "screenshots"
    shots.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
        page.goto((run / "report.html").resolve().as_uri(), wait_until="load")
        images = page.evaluate("() => Array.from(document.images).map(i => [i.alt, i.complete && i.naturalWidth > 0, i.naturalWidth, i.naturalHeight])")
        for alt, ok, w, h in images:
            print(f"{'ok ' if ok else 'BAD'} {w}×{h} {alt[:90]}")
            if not ok:
                problems.append(f"figure did not load: {alt}")
        if not images:
            problems.append("the report has no figures")
        page.screenshot(path=str(shots / "report-full.png"), full_page=True)
        for i, figure in enumerate(page.query_selector_all("figure")):
            figure.screenshot(path=str(shots / f"figure-{i:02d}.png"))
        browser.close()
    print(f"{len(images)} figures; screenshots in {shots}")
    return problems


def main(argv: list[str]) -> int:
    run = Path(argv[1]) if len(argv) > 1 else newest_report()
    problems = check(run)
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
