"""One row per bad input a user has given (or will): the command, its exit code, a phrase of the message.

Every user error exits 2 with ``spatialprobe: error: …`` (or argparse's usage error) naming the file,
field or option, never a traceback. Add a row with every new bug.
"""

from __future__ import annotations

import json

import pytest

from spatialprobe.cli.main import main

PROBE = "model: toy:tiny-qformer\ndata: {data}\nsites: [connector.out]\ntasks: [region_cell]\nprobes: [ridge]\nout: {tmp}/probe-out\n"


def _edit_scenes(root, edit) -> None:
    lines = (root / "scenes.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    edit(records)
    (root / "scenes.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))


def _image(root, size) -> None:
    from PIL import Image

    record = json.loads((root / "scenes.jsonl").read_text().splitlines()[0])
    Image.new("RGB", size).save(root / record["image"])


def _truncate(root) -> None:
    record = json.loads((root / "scenes.jsonl").read_text().splitlines()[0])
    data = (root / record["image"]).read_bytes()
    (root / record["image"]).write_bytes(data[: len(data) // 2])


def _probe(extra: str):
    """A damage that writes the row's probe config with ``extra`` replacing the fields it names."""

    def damage(root) -> None:
        named = {line.split(":")[0] for line in extra.splitlines()}
        base = [line for line in PROBE.format(data=root, tmp=root.parent).splitlines() if line.split(":")[0] not in named]
        (root.parent / "p.yaml").write_text("\n".join(base) + "\n" + extra)

    return damage


def _stored(damage):
    """Extract the dataset into ``{tmp}/store`` (``{tmp}/s`` links to the store), then damage it."""

    def run(root) -> None:
        main([a.format(data=root, tmp=root.parent) for a in EXTRACT])
        store = next((root.parent / "store").iterdir())
        (root.parent / "s").symlink_to(store)
        damage(store)

    return run


def _lab(text: str):
    """A damage that writes ``{tmp}/lab.yaml`` for the dataset with ``text`` added."""

    def damage(root) -> None:
        (root.parent / "lab.yaml").write_text(f"data: {root}\n{text}")

    return damage


SYNTH = ["scenes", "synth", "--out", "{tmp}/new", "--quiet", "--workers", "1", "--n", "4"]
EXTRACT = ["extract", "--model", "toy:tiny-qformer", "--data", "{data}", "--sites", "connector.out", "--store", "{tmp}/store", "--quiet"]
ROWS = [
    # scenes synth: every numeric option is checked before anything is written
    (SYNTH + ["--seed", "-1"], None, "--seed: expected an integer ≥ 0"),
    (SYNTH + ["--noise", "nan"], None, "--noise: expected a standard deviation"),
    (SYNTH + ["--noise", "-1"], None, "--noise"),
    (SYNTH + ["--n", "0"], None, "--n: expected an integer ≥ 1"),
    (SYNTH + ["--size", "8"], None, "--size: expected an integer ≥ 16"),
    (SYNTH + ["--overlap", "0.95"], None, "--overlap: expected a fraction"),
    (SYNTH + ["--coverage", "1.5"], None, "--coverage: expected a fraction"),
    (SYNTH + ["--duplicates", "nan"], None, "--duplicates: expected a fraction"),
    (SYNTH + ["--min-objects", "5", "--max-objects", "2"], None, "--min-objects: 5 is more than --max-objects 2"),
    (SYNTH + ["--margin", "0.95"], None, "--margin"),
    (SYNTH + ["--clutter", "-2"], None, "--clutter: expected ≥ 0"),
    (SYNTH + ["--workers", "0"], None, "argument --workers: expected a positive integer, got 0"),
    (SYNTH + ["--n", "many"], None, "argument --n: invalid int value"),
    # scenes validate / sheet
    (["scenes", "validate", "{tmp}/nothing"], None, "no such dataset directory"),
    (["scenes", "validate", "{data}", "--quiet"], lambda root: (root / "dataset.json").write_text("{oops"), "dataset.json: not valid JSON"),
    (["scenes", "validate", "{data}", "--quiet"], lambda root: (root / "dataset.json").unlink(), "dataset.json: missing"),
    (["scenes", "validate", "{data}", "--quiet"], lambda root: _edit_scenes(root, lambda r: r[0].update(expresions=r[0].pop("expressions"))),
     "scenes.jsonl:1: expresions: unknown scene field; did you mean 'expressions'?"),
    (["scenes", "validate", "{data}", "--quiet"], lambda root: _edit_scenes(root, lambda r: r[0]["objects"][0].update(colour="red")),
     "objects[0].colour: unknown object field"),
    (["scenes", "validate", "{data}", "--quiet"], lambda root: _edit_scenes(root, lambda r: r[1].update(id=r[0]["id"])),
     "scenes.jsonl:2: id: duplicate scene id"),
    (["scenes", "validate", "{data}", "--quiet"], lambda root: _edit_scenes(root, lambda r: r[0].update(split="training")), "unknown split 'training'"),
    (["scenes", "validate", "{data}", "--quiet"], lambda root: _edit_scenes(root, lambda r: r[0].update(width=0)), "width/height: must be positive"),
    (["scenes", "validate", "{data}", "--quiet"], lambda root: _edit_scenes(root, lambda r: r[0]["objects"][0].update(box={"xyxy": [0, 0, 999, 9]})), "outside"),
    (["scenes", "validate", "{data}", "--quiet"], lambda root: _edit_scenes(root, lambda r: r[0].update(image="../../etc/passwd")), "is outside"),
    (["scenes", "validate", "{data}", "--quiet"], lambda root: _edit_scenes(root, lambda r: r[0].update(image="/etc/hostname")), "is outside"),
    (["scenes", "validate", "{data}", "--quiet"], lambda root: _edit_scenes(root, lambda r: r[0].update(image="images/none.png")), "image: file"),
    (["scenes", "validate", "{data}", "--quiet"], lambda root: _image(root, (32, 48)), "is 32×48 px, the record says 64×64"),
    (["scenes", "validate", "{data}", "--quiet"], _truncate, "image: cannot decode"),
    (["scenes", "validate", "{data}", "--quiet"], lambda root: _edit_scenes(root, lambda r: r.append(dict(r[0], id="extra"))), "dataset.json says"),
    (["scenes", "sheet", "{data}", "--out", "{tmp}/sheet.png", "--n", "0"], None, "argument --n: expected a positive integer"),
    # extract
    (EXTRACT + ["--limit", "0"], None, "argument --limit: expected a positive integer, got 0"),
    (EXTRACT + ["--limit", "-3"], None, "argument --limit: expected a positive integer, got -3"),
    (EXTRACT + ["--batch-size", "0"], None, "argument --batch-size: expected a positive integer"),
    (EXTRACT + ["--shard-size", "0"], None, "argument --shard-size: expected a positive integer"),
    (EXTRACT + ["--threads", "0"], None, "argument --threads: expected a positive integer"),
    (EXTRACT + ["--device", "banana"], None, "device 'banana': not a torch device"),
    (EXTRACT + ["--device", "cuda"], None, "device 'cuda': not available"),
    (EXTRACT + ["--dtype", "float8"], None, "unknown dtype 'float8'"),
    (EXTRACT + ["--shard", "5/4"], None, "need 0 ≤ i < n"),
    (EXTRACT + ["--shard", "x"], None, "argument --shard: expected i/n"),
    (EXTRACT + ["--split", "training"], None, "no scenes in split 'training'"),
    (["extract", "--model", "toy:tiny-qformer", "--data", "{tmp}/nothing", "--sites", "connector.out"], None, "no such dataset directory"),
    (["extract", "--model", "toy:no-such-preset", "--data", "{data}", "--sites", "connector.out"], None, "no-such-preset"),
    (["extract", "--model", "toy:tiny-qformer", "--data", "{data}", "--sites", "vision.nothing"], None, "vision.nothing"),
    # plans, runs, reports, stores
    (["run", "{tmp}/missing.yaml"], None, "missing.yaml"),
    (["demo", "--workers", "0"], None, "argument --workers: expected a positive integer"),
    (["demo", "--threads", "-1"], None, "argument --threads: expected a positive integer"),
    (["demo", "--quick", "--set", "probe_seed=[0, 1]", "--runs", "{tmp}/runs"], None, "--set probe_seed: no field 'probe_seed' at the top; did you mean 'probe_seeds'"),
    (["demo", "--set", "probe_seeds"], None, "argument --set: expected key=value"),
    (["report", "{tmp}/nothing"], None, "nothing"),
    (["store", "verify", "{tmp}/nothing"], None, "nothing"),
    (["store", "verify", "{tmp}/s"], _stored(lambda d: (d / "layouts.json").write_text("[1")), "layouts.json: unusable"),
    (["store", "verify", "--repair", "{tmp}/s"], _stored(lambda d: (d / "key.json").write_text("{}")), "cannot be repaired"),
    (["store", "rm", "{data}"], None, "not a feature store (no key.json); nothing removed"),
    (["lab", "train", "{tmp}/lab.yaml", "--quiet"], _lab("split: training\n"), "lab.split: 'training' is not a split of"),
    (["lab", "train", "{tmp}/lab.yaml", "--quiet"], _lab("epochs: 3\n"), "lab.epochs: unknown field; did you mean"),
    (["lab", "train", "{tmp}/lab.yaml", "--quiet"], _lab("encoders: [contrastiv]\n"), "unknown objective 'contrastiv'"),
    (["probe", "{tmp}/missing.yaml"], None, "missing.yaml"),
    (["probe", "--threads", "0", "{tmp}/p.yaml"], None, "argument --threads: expected a positive integer"),
    (["probe", "{tmp}/p.yaml"], _probe("batch_size: big\n"), "batch_size"),
    (["probe", "{tmp}/p.yaml"], _probe("bootstrap: 0\n"), "bootstrap"),
    (["probe", "{tmp}/p.yaml"], _probe("seeds: [-1]\n"), "seeds"),
    (["probe", "{tmp}/p.yaml"], _probe("neural: {max_epoch: 3}\n"), "max_epoch"),
    (["probe", "{tmp}/p.yaml"], _probe("neural: {epochs: 0}\n"), "epochs"),
    (["probe", "{tmp}/p.yaml"], _probe("tasks: [{name: region_cell, grid: banana}]\n"), "grid"),
    (["probe", "{tmp}/p.yaml"], _probe("tasks: [{name: region_cell, gird: 8}]\n"), "did you mean 'grid'"),
    (["probe", "{tmp}/p.yaml"], _probe("probs: [ridge]\n"), "did you mean 'probes'"),
    (["scenes", "sheet", "{data}", "--out", "{tmp}/sheet.txt"], None, "a contact sheet is a PNG file"),
    (["models", "sites", "hf:/nonexistent/dir"], None, "the directory /nonexistent/dir does not exist"),
    (["scenes", "sheet", "{data}", "--out", "{data}/contact_sheet.png"], None, "exists; pass --force"),
]


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    from spatialprobe.scenes.sources.synthetic import SyntheticConfig, build

    return build(SyntheticConfig(n=8, seed=2), tmp_path_factory.mktemp("bad") / "scenes", workers=1, progress=False)


def _exit_code(argv) -> int:
    try:
        return main(argv)
    except SystemExit as stop:  # argparse's usage errors
        return stop.code


@pytest.mark.parametrize("argv, damage, phrase", ROWS, ids=[" ".join(r[0][:2]) + f" [{i}]" for i, r in enumerate(ROWS)])
def test_bad_input_is_a_clear_user_error(argv, damage, phrase, pristine, tmp_path, capsys):
    import shutil

    data = tmp_path / "data"
    shutil.copytree(pristine, data)
    (tmp_path / "p.yaml").write_text(PROBE.format(data=data, tmp=tmp_path))
    if damage is not None:
        damage(data)
    assert _exit_code([a.format(data=data, tmp=tmp_path) for a in argv]) == 2
    err = capsys.readouterr().err
    assert phrase in err and "Traceback" not in err, err


def test_the_table_covers_forty_inputs():
    assert len(ROWS) >= 40
