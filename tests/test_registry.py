import sys

import pytest

from spatialprobe.registry import METRICS, SOURCES, Registry, UnknownNameError


def test_duplicates_are_refused_and_unknown_names_list_valid_ones():
    reg = Registry("widget")
    reg.register("a", 1)
    reg.register("a", 1)  # the same object again is harmless
    with pytest.raises(ValueError, match="already registered"):
        reg.register("a", 2)
    with pytest.raises(UnknownNameError, match="unknown widget 'b'; valid widgets: a"):
        reg.get("b")


def test_builtin_entries_are_discovered_without_importing_them(tmp_path, monkeypatch):
    pkg = tmp_path / "plugpkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "alpha.py").write_text("from spatialprobe.registry import Registry\nimport plugreg\nplugreg.REG.register('alpha', 42)\n")
    (pkg / "_private.py").write_text("")
    (tmp_path / "plugreg.py").write_text("from spatialprobe.registry import Registry\nREG = Registry('thing', 'plugpkg')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import plugreg

    assert plugreg.REG.names() == ["alpha"]
    assert "plugpkg.alpha" not in sys.modules
    assert plugreg.REG.get("alpha") == 42


def test_builtins_are_registered():
    assert "synthetic" in SOURCES.names()
    assert SOURCES.get("synthetic").name == "synthetic"
    assert {"IoU", "ACC@0.5", "Center_ACC", "accuracy"} <= set(METRICS.names())


def test_a_metrics_direction_comes_from_its_registration():
    from spatialprobe.metrics import sign
    from spatialprobe.registry import TASKS

    assert sign("point_l1") == sign("center_L1") == sign("center_L1[size=small]") == -1.0
    assert sign("ACC@0.5") == sign("IoU[view=cropped]") == sign("accuracy") == 1.0
    assert not METRICS.get("point_l1").higher_is_better
    for name in TASKS.names():  # every metric a task reports as its headline is registered with its direction
        task = TASKS.get(name)
        assert not task.metric_names or task.metric_names[0] in METRICS.names() or task.kind != "regression", name
