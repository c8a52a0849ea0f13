"""Write docs/models.md's support matrix by running tests/test_families.py.

    .venv/bin/python scripts/support_matrix.py          # runs the family tests (~2 min), rewrites the table
    .venv/bin/python scripts/support_matrix.py --check  # fails if the table names a cell no test checks

A cell is ``verified`` when every test behind it passed on a tiny saved model of that family,
``failed`` when one did not, ``—`` when no test covers it; notes say where a family is partial.
Refused model types come from `spatialprobe.names.HF_NOT_YET`. tests/test_support_matrix.py runs
``--check``, so the table cannot claim what the tests do not check.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "models.md"
TESTS = (ROOT / "tests" / "test_families.py", ROOT / "tests" / "test_per_image_families.py")

COLUMNS = {
    "parity": ("test_every_vision_site_equals_the_models_own_outputs", "test_vlm_sites_equal_the_models_own_outputs",
               "test_per_image_sites_equal_the_models_own_outputs"),
    "layouts": ("test_layouts_fit_the_tensors_with_the_families_prefix", "test_vlm_layouts_fit_the_tensors", "test_per_image_layouts_fit_the_tensors"),
    "box geometry": ("test_a_box_lands_where_the_familys_own_processor_puts_it", "test_a_box_lands_where_a_vlms_own_processor_puts_it",
                     "test_a_bright_marker_lands_on_the_rows_each_sites_layout_names"),
    "batch invariance": ("test_a_scenes_features_do_not_depend_on_its_batch", "test_per_image_features_do_not_depend_on_the_batch"),
    "extract + probe + pools": ("test_extraction_probes_and_token_pools_run_on_every_family", "test_extraction_probes_and_pools_run_on_per_image_families"),
    "joint (connector trains)": ("test_the_trainable_connector_is_the_models_own_connector", "test_joint_training_changes_a_copy_of_the_connector_only"),
}
"""Column → the parametrised tests (one case per family) behind it."""
HEADER = ("| checkpoint kind (test id) | HF class | " + " | ".join(COLUMNS) + " | notes |")

CLASSES = {
    "clip": "CLIPVisionModel", "vit": "ViTModel", "beit": "BeitModel", "dinov2": "Dinov2Model",
    "dinov2-registers": "Dinov2WithRegistersModel", "siglip": "SiglipVisionModel", "flava": "FlavaImageModel",
    "blip-itm": "BlipForImageTextRetrieval", "blip2": "Blip2ForConditionalGeneration (OPT)",
    "blip2-t5": "Blip2ForConditionalGeneration (Flan-T5)", "instructblip": "InstructBlipForConditionalGeneration",
    "llava": "LlavaForConditionalGeneration", "llava-pad": "LlavaForConditionalGeneration + LlavaImageProcessor(do_pad)",
    "paligemma": "PaliGemmaForConditionalGeneration", "kosmos-2": "Kosmos2ForConditionalGeneration",
    "idefics": "IdeficsForVisionText2Text", "llava-next": "LlavaNextForConditionalGeneration",
    "llava-onevision": "LlavaOnevisionForConditionalGeneration",
    "qwen2-vl": "Qwen2VLForConditionalGeneration", "qwen2.5-vl": "Qwen2_5_VLForConditionalGeneration",
    "idefics3": "Idefics3ForConditionalGeneration", "smolvlm": "SmolVLMForConditionalGeneration",
    "idefics2": "Idefics2ForConditionalGeneration + splitting",
}
NOTES = {
    "dinov2": "grid from the 224-px crop, not config.image_size",
    "dinov2-registers": "register rows in the prefix",
    "siglip": "no CLS",
    "blip-itm": "class from config.architectures (ITM text→image sites)",
    "blip2-t5": "lm.* = the T5 encoder",
    "instructblip": "needs `?instruction=…`; connector.hidden = query rows only",
    "llava": "connector rows are patches; LM image rows keep their cells",
    "llava-pad": "pad-to-square mapped",
    "paligemma": "token_type_ids always passed; LM image rows keep their cells",
    "kosmos-2": "partial: the visual prompt enters without Kosmos-2's `<image>…</image>` wrapper tokens",
    "idefics": "partial: lm.* are text rows (gated cross-attention), read with texts only; connector.attn recomputed",
    "llava-next": "anyres frames (base + tiles) per image; LM rows: base grid, unpadded tiles, newlines; no trainable connector yet",
    "llava-onevision": "as LLaVA-NeXT on a SigLIP tower; a tile grid past anyres_max is shrunk by HF: those LM rows have no cell; one image per sample",
    "qwen2-vl": "a grid per image; merge-window row order; LM rows between vision markers; no trainable connector yet",
    "qwen2.5-vl": "as Qwen2-VL, blocks and merger in window order; no trainable connector yet",
    "idefics3": "crops + a global frame; connector.out pixel-shuffled (a grid per site); LM rows between row/col markers from the model's tokenizer",
    "smolvlm": "Idefics3's modules, splitting and prompt",
    "idefics2": "quadrants + the whole image, a grid per frame, padding patches dropped; connector.out and LM image rows are Perceiver latents (no cells)",
}


def cases() -> dict[str, dict[str, list[str]]]:
    """family → column → node ids of the tests that cover it, from pytest's collection."""
    import pytest

    class Collect:
        items: list = []

        def pytest_collection_finish(self, session):
            Collect.items = list(session.items)

    code = pytest.main(["--collect-only", "-q", "-p", "no:cacheprovider", *map(str, TESTS)], plugins=[Collect()])
    if code != 0:
        raise SystemExit(f"collecting {', '.join(t.name for t in TESTS)} failed ({code})")
    by_test = {t: column for column, tests in COLUMNS.items() for t in tests}
    out: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for item in Collect.items:
        column = by_test.get(item.originalname)
        if column and getattr(item, "callspec", None):
            out[item.callspec.id][column].append(item.nodeid)
    return out


def run() -> dict[str, str]:
    """node id → verified / failed, running the family tests."""
    import pytest

    seen: dict[str, str] = {}

    class Outcomes:
        def pytest_runtest_logreport(self, report):
            if report.failed:
                seen[report.nodeid] = "failed"
            elif report.when == "call":
                seen.setdefault(report.nodeid, "verified")

    pytest.main(["-q", "-p", "no:cacheprovider", *map(str, TESTS)], plugins=[Outcomes()])
    return seen


def table(covered, outcomes) -> str:
    from spatialprobe.names import HF_NOT_YET

    lines = [HEADER, "|" + "---|" * (len(COLUMNS) + 3)]
    for family in CLASSES:
        cells = []
        for column in COLUMNS:
            ids = covered.get(family, {}).get(column, [])
            cells.append("—" if not ids else ("verified" if all(outcomes.get(i) == "verified" for i in ids) else "**failed**"))
        lines.append(f"| {family} | `{CLASSES[family]}` | " + " | ".join(cells) + f" | {NOTES.get(family, '')} |")
    lines += ["", "Refused at load, with this reason (`spatialprobe models ls`):", ""]
    lines += [f"- `{model_type}`: {why}" for model_type, why in HF_NOT_YET.items()]
    return "\n".join(lines)


BEGIN, END = "<!-- support matrix: scripts/support_matrix.py -->", "<!-- end of support matrix -->"


def check(covered, doc: Path = DOC) -> list[str]:
    """Cells the document calls verified that no collected test covers, and families it lacks."""
    text = doc.read_text()
    problems = []
    rows = {m.group(1): m.group(0) for m in re.finditer(r"^\| ([\w.-]+) \| `.*$", text, re.M)}
    for family in covered:
        if family not in rows:
            problems.append(f"{family}: tested but missing from {DOC.name}")
    for family, row in rows.items():
        cells = [c.strip() for c in row.strip("|").split("|")][2 : 2 + len(COLUMNS)]
        for column, cell in zip(COLUMNS, cells):
            if cell == "verified" and not covered.get(family, {}).get(column):
                problems.append(f"{family}: {DOC.name} says {column} is verified, and no test in {TESTS[0].name} covers it")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "tests"))
    covered = cases()
    if args.check:
        problems = check(covered)
        print("\n".join(problems) or f"{DOC.name}: every verified cell has its test")
        return 1 if problems else 0
    body = table(covered, run())
    text = DOC.read_text()
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    DOC.write_text(text[:start] + "\n" + body + "\n" + text[end:])
    print(body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
