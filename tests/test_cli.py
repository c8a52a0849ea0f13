import json
import subprocess
import sys

from spatialprobe.cli.main import main


def test_scenes_synth_validate_and_sheet(tmp_path, capsys):
    out = tmp_path / "ds"
    assert main(["scenes", "synth", "--n", "30", "--out", str(out), "--quiet", "--workers", "1"]) == 0
    assert (out / "contact_sheet.png").exists()
    assert json.loads((out / "dataset.json").read_text())["scenes"] == 30
    assert main(["scenes", "validate", str(out)]) == 0
    assert "30 valid scenes" in capsys.readouterr().out
    assert main(["scenes", "sheet", str(out), "--out", str(tmp_path / "s.png"), "--n", "4"]) == 0


def test_user_errors_exit_2_with_a_message_and_leave_nothing(tmp_path, capsys):
    out = tmp_path / "ds"
    assert main(["scenes", "synth", "--n", "5", "--out", str(out), "--max-objects", "30"]) == 2
    assert "--max-objects: 30 objects do not reliably fit" in capsys.readouterr().err
    assert not out.exists() and list(tmp_path.iterdir()) == []
    assert main(["scenes", "validate", str(tmp_path / "missing")]) == 2
    assert main(["ls", "gadgets"]) == 2
    assert "valid kinds: sources, models" in capsys.readouterr().err


def test_existing_output_is_never_overwritten_without_force(tmp_path, capsys):
    out = tmp_path / "ds"
    assert main(["scenes", "synth", "--n", "5", "--out", str(out), "--quiet"]) == 0
    before = (out / "scenes.jsonl").read_bytes()
    assert main(["scenes", "synth", "--n", "6", "--out", str(out), "--quiet"]) == 2
    assert "already exists" in capsys.readouterr().err
    assert (out / "scenes.jsonl").read_bytes() == before


def test_ls_lists_registries_and_every_name_a_config_accepts(capsys):
    from spatialprobe import names
    from spatialprobe.features.pools import POOLS
    from spatialprobe.models import toy
    from spatialprobe.probing import joint

    assert main(["ls"]) == 0
    out = capsys.readouterr().out
    assert "sources: coco, narratives, refcoco, synthetic, visual_genome, vsr" in out and "metrics:" in out and "studies: decodability" in out
    assert "toy presets (random init): tiny-linear" in out and "joint conditions: frozen, joint, joint from random, upper reference" in out
    assert "connector objectives: coarse, spatial, location" in out and "  referring_box: ACC@0.5, IoU" in out
    assert names.POOLS == tuple(POOLS) and names.TOY_PRESETS == tuple(toy.PRESETS) and joint.CONDITIONS == names.JOINT_CONDITIONS  # one source each
    assert main(["ls", "names"]) == 0 and "claim metrics" not in capsys.readouterr().out
    assert main(["ls", "nmes"]) == 2


def test_light_commands_do_not_import_torch(tmp_path):
    code = (
        "import sys; from spatialprobe.cli.main import main; "
        f"main(['scenes', 'synth', '--n', '3', '--out', r'{tmp_path / 'd'}', '--quiet', '--workers', '1']); main(['ls']); "
        "assert 'torch' not in sys.modules, 'torch was imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


def test_models_ls_and_sites(capsys):
    assert main(["models", "ls"]) == 0
    out = capsys.readouterr().out
    assert "blip2         blip-2" in out and "toy presets: tiny-linear" in out and "(random init" in out
    served = ("clip", "vit", "beit", "dinov2_with_registers", "siglip", "flava", "blip", "instructblip", "llava", "paligemma", "kosmos-2", "idefics",
              "llava_next", "llava_onevision", "qwen2_vl", "qwen2_5_vl", "idefics2", "idefics3", "smolvlm")
    assert all(f" {t}" in out for t in served) and "siglip2: NaFlex SigLIP2 patchifies" in out
    assert main(["models", "sites", "toy:tiny-qformer"]) == 0
    out = capsys.readouterr().out
    assert "connector.attn     8 × 65           8 queries → cls + 8×8 patches" in out
    assert main(["models", "sites", "hf:nobody/nothing"]) == 2
    assert "Download it first" in capsys.readouterr().err


def _wait_for(predicate, seconds: float = 60.0) -> None:
    import time

    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_sigterm_is_handled_like_ctrl_c(tmp_path):
    """SIGTERM during `scenes synth`: exit 143, no hidden temp folder, no worker tracebacks; it can run again."""
    import signal

    out = tmp_path / "scenes"
    proc = subprocess.Popen([sys.executable, "-m", "spatialprobe.cli.main", "scenes", "synth", "--out", str(out), "--n", "100000", "--workers", "2", "--quiet"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for(lambda: any(p.name.startswith(".scenes.tmp-") and any(p.rglob("*.png")) for p in tmp_path.iterdir()))
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143 and "terminated" in err and "Traceback" not in err and "BrokenPipe" not in err, err
    assert list(tmp_path.iterdir()) == []


def test_workers_of_a_killed_parent_exit(tmp_path):
    """A parent killed outright (SIGKILL, OOM) leaves no worker training on."""
    import os
    import signal

    script = ("import time\nfrom spatialprobe.workers import Job, run\n"
              f"pids = {str(tmp_path / 'pids')!r}\n"
              "def job(i):\n    import os, time\n    open(pids, 'a').write(f'{os.getpid()}\\n')\n    time.sleep(300)\n"
              "if __name__ == '__main__':\n    import __main__\n    run([Job(__main__.job, {'i': i}) for i in range(2)], workers=2)\n")
    (tmp_path / "parent.py").write_text(script)
    proc = subprocess.Popen([sys.executable, str(tmp_path / "parent.py")], cwd=tmp_path)
    _wait_for(lambda: (tmp_path / "pids").exists() and len((tmp_path / "pids").read_text().split()) == 2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    children = [int(p) for p in (tmp_path / "pids").read_text().split()]

    def gone(pid):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return open(f"/proc/{pid}/stat").read().split()[2] == "Z"  # a zombie has exited

    _wait_for(lambda: all(gone(pid) for pid in children), seconds=15)


def _nap(seconds: float) -> float:
    import time

    time.sleep(seconds)
    return seconds


def test_a_busy_pool_reports_while_no_job_finishes():
    """Long steps are not silent: the runner prints a line every ``every`` seconds in which no step finished."""
    from spatialprobe.workers import Job, run

    beats = []
    assert run([Job(_nap, {"seconds": 2.0}), Job(_nap, {"seconds": 0.1})], workers=2, waiting=beats.append, every=0.25) == [2.0, 0.1]
    assert len(beats) >= 3 and beats == sorted(beats)
