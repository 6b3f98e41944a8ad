"""The graded suite's bookkeeping: 100 points in all, and every test declares its weight,
number, visibility (matching its folder) and tags."""
import importlib.util
import re
import sys
from collections import Counter

import pytest

from autograder.plugin.metadata import function_chain
from suite_support import GRADED_SUITE

FOLDER_VISIBILITY = {"public": "visible", "hidden": "hidden"}


def metadata(fn, name):
    return next((getattr(f, name) for f in function_chain(fn) if hasattr(f, name)), None)


@pytest.fixture(scope="module")
def graded_tests():
    # The graded tests import their helpers (feedback, data, ...) as top-level modules: let
    # them, then take those names back so that no other test sees them.
    modules_before, path_before = set(sys.modules), list(sys.path)
    sys.path.insert(0, str(GRADED_SUITE))
    try:
        yield list(collect_graded_tests())
    finally:
        sys.path[:] = path_before
        for name in set(sys.modules) - modules_before:
            if name.startswith(("graded_", "hidden")) or name in {"feedback", "numerics", "strategies", "sgd", "data",
                                                                 "judge"}:
                del sys.modules[name]


def collect_graded_tests():
    found = []
    for path in sorted(GRADED_SUITE.glob("*/test_*.py")):
        spec = importlib.util.spec_from_file_location(f"graded_{path.parent.name}_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        for name, fn in vars(module).items():
            if name.startswith("test_") and callable(fn):
                found.append((path.parent.name, f"{path.parent.name}/{path.name}::{name}", fn))
    return found


def test_points_total_exactly_100(graded_tests):
    points = sum(metadata(fn, "__weight__") or 0 for _, _, fn in graded_tests)
    assert points == pytest.approx(100.0)


def test_every_test_declares_weight_number_visibility_and_tags(graded_tests):
    for folder, nodeid, fn in graded_tests:
        assert metadata(fn, "__weight__") is not None, f"{nodeid}: no @weight/@partial_credit"
        assert metadata(fn, "__number__"), f"{nodeid}: no @number"
        assert metadata(fn, "__tags__"), f"{nodeid}: no @tags"
        assert metadata(fn, "__visibility__") == FOLDER_VISIBILITY[folder], f"{nodeid}: visibility vs folder"


def test_numbers_are_unique(graded_tests):
    counts = Counter(metadata(fn, "__number__") for _, _, fn in graded_tests)
    assert not [n for n, c in counts.items() if c > 1]


def test_only_one_test_is_style_sensitive(graded_tests):
    style = [nodeid for _, nodeid, fn in graded_tests if "style-sensitive" in (metadata(fn, "__tags__") or ())]
    assert len(style) == 1 and "style" in style[0], style


def readme_points_table():
    """{number: (points, visibility)} from README.md's table of graded tests."""
    readme = (GRADED_SUITE.parents[1] / "README.md").read_text()
    rows = re.findall(r"^\| (\d+\.\d+) \| .* \| ([\d.]+) \| (\w+) \|$", readme, re.M)
    return {number: (float(points), visibility) for number, points, visibility in rows}


def test_readme_points_table_matches_the_decorators(graded_tests):
    declared = {metadata(fn, "__number__"): (float(metadata(fn, "__weight__")), metadata(fn, "__visibility__"))
                for _, _, fn in graded_tests}
    assert readme_points_table() == declared
