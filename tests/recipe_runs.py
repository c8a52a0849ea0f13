"""Running `spatialprobe train …` in a subprocess and killing it mid-training, as the recipes' resume tests do."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

COMMAND = [sys.executable, "-m", "spatialprobe.cli.main"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def cli(args: list[str]) -> subprocess.CompletedProcess:
    """The command to its end (an error fails the test)."""
    return subprocess.run(COMMAND + args, env=ENV, check=True, capture_output=True, text=True, timeout=600)


def kill_during_training(args: list[str], folder: Path, at_steps: int) -> dict:
    """Start the command, SIGKILL it once ``folder``'s checkpoint has ``at_steps`` optimiser steps; the saved loop state."""
    process = subprocess.Popen(COMMAND + args, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    state, deadline = Path(folder) / "checkpoints" / "checkpoint.json", time.time() + 300
    while time.time() < deadline:
        if state.exists() and json.loads(state.read_text())["state"]["optimiser_steps"] >= at_steps:
            break
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait()
    return json.loads(state.read_text())["state"]


def same_weights(a: Path, b: Path) -> bool:
    """Whether two safetensors files hold bit-identical tensors under the same names."""
    import torch
    from safetensors.torch import load_file

    x, y = load_file(str(a)), load_file(str(b))
    return x.keys() == y.keys() and all(torch.equal(x[k], y[k]) for k in x)
