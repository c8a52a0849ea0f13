"""docs/walkthrough.md runs: its Python blocks, in order, in one namespace, in a fresh folder."""

from __future__ import annotations

import re
from pathlib import Path

WALKTHROUGH = Path(__file__).resolve().parents[1] / "docs" / "walkthrough.md"


def test_the_notebook_walkthrough_runs_as_written(tmp_path, monkeypatch, capsys):
    blocks = re.findall(r"```python\n(.*?)```", WALKTHROUGH.read_text(), flags=re.S)
    assert len(blocks) >= 5
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for i, block in enumerate(blocks):
        exec(compile(block, f"{WALKTHROUGH.name} block {i + 1}", "exec"), namespace)
    assert not list(tmp_path.glob("**/*.npy"))  # the store stayed in memory
    out = capsys.readouterr().out
    assert "training scenes" in out and "referring_box" in out and "control_task" in out
