"""The shared training loop: checkpoints that resume after kill -9 to the same weights, gradient
accumulation, and a checkpoint of another run refused."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import torch

from spatialprobe.train.loop import CheckpointError, train

SCRIPT = textwrap.dedent("""
    import sys, time
    import numpy as np, torch
    from safetensors.torch import save_file
    from spatialprobe.train.loop import train

    torch.set_num_threads(1)
    out, checkpoints, slow = sys.argv[1], sys.argv[2], float(sys.argv[3])
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(8, 32), torch.nn.Dropout(0.3), torch.nn.Linear(32, 3))
    X = torch.randn(120, 8, generator=torch.Generator().manual_seed(1))
    y = torch.randint(0, 3, (120,), generator=torch.Generator().manual_seed(2))

    def step(rows):
        time.sleep(slow)
        return torch.nn.functional.cross_entropy(net(X[rows]), y[rows])

    curve = train(list(net.parameters()), 120, step, epochs=4, batch_size=8, lr=1e-2, seed=3, desc="t", progress=False,
                  accumulate=2, checkpoints=None if checkpoints == "-" else checkpoints, every=1)
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, out)
    print(curve)
""")


def _train(tmp_path, out: str, checkpoints: str, slow: float = 0.0, wait: bool = True):
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen([sys.executable, str(script), str(tmp_path / out), checkpoints, str(slow)], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if wait:
        stdout, stderr = process.communicate(timeout=300)
        assert process.returncode == 0, stderr
        return stdout
    return process


def test_a_run_killed_with_sigkill_resumes_to_the_weights_of_an_uninterrupted_run(tmp_path):
    from safetensors.torch import load_file

    uninterrupted = _train(tmp_path, "plain.safetensors", "-")
    checkpoints = tmp_path / "ckpt"
    process = _train(tmp_path, "killed.safetensors", str(checkpoints), slow=0.02, wait=False)
    deadline = time.time() + 120
    while time.time() < deadline:  # past the first epoch (8 optimiser steps each) and mid-way through the second
        state = checkpoints / "checkpoint.json"
        if state.exists() and json.loads(state.read_text())["state"]["optimiser_steps"] >= 11:
            break
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    stopped = json.loads((checkpoints / "checkpoint.json").read_text())["state"]
    assert 11 <= stopped["optimiser_steps"] < 32 and not (tmp_path / "killed.safetensors").exists()
    resumed = _train(tmp_path, "killed.safetensors", str(checkpoints))
    assert resumed == uninterrupted  # the same loss curve
    plain, killed = load_file(str(tmp_path / "plain.safetensors")), load_file(str(tmp_path / "killed.safetensors"))
    assert plain.keys() == killed.keys() and all(torch.equal(plain[k], killed[k]) for k in plain)
    assert len(list(checkpoints.glob("checkpoint-*.safetensors"))) == 1  # older tensor files are removed
    _train(tmp_path, "again.safetensors", str(checkpoints))  # a finished run's checkpoint: nothing left to train
    assert all(torch.equal(plain[k], v) for k, v in load_file(str(tmp_path / "again.safetensors")).items())


def _linear(seed=0):
    torch.manual_seed(seed)
    return torch.nn.Linear(4, 2)


def test_accumulated_micro_batches_take_the_step_of_the_whole_batch(tmp_path):
    X, y = torch.randn(16, 4, generator=torch.Generator().manual_seed(0)), torch.randn(16, 2, generator=torch.Generator().manual_seed(1))
    nets = {}
    for name, batch, accumulate in (("whole", 8, 1), ("micro", 4, 2)):
        net = nets[name] = _linear()
        train(list(net.parameters()), 16, lambda rows, net=net: torch.nn.functional.mse_loss(net(X[rows]), y[rows]), epochs=2, batch_size=batch,
              lr=1e-2, seed=0, desc=name, progress=False, schedule=False, accumulate=accumulate)
    for a, b in zip(nets["whole"].parameters(), nets["micro"].parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="accumulate must be a positive integer"):
        train(list(_linear().parameters()), 16, lambda rows: X.sum(), epochs=1, batch_size=4, lr=1e-2, seed=0, desc="x", progress=False, accumulate=0)


def test_a_checkpoint_of_another_run_is_refused(tmp_path):
    X = torch.randn(16, 4)
    net = _linear()
    args = dict(epochs=1, batch_size=4, lr=1e-2, desc="probe head", progress=False, checkpoints=tmp_path / "c")
    train(list(net.parameters()), 16, lambda rows: net(X[rows]).pow(2).mean(), seed=0, **args)
    with pytest.raises(CheckpointError, match="a checkpoint of another run \\(probe head with other settings"):
        train(list(net.parameters()), 16, lambda rows: net(X[rows]).pow(2).mean(), seed=1, **args)
    (tmp_path / "c" / "checkpoint.json").write_text("{broken")
    with pytest.raises(CheckpointError, match="unreadable checkpoint"):
        train(list(net.parameters()), 16, lambda rows: net(X[rows]).pow(2).mean(), seed=0, **args)
    assert np.isfinite([p.detach().numpy() for p in net.parameters()][0]).all()
