"""A submission that cannot be imported at all gets one message at the top of the results and
a short line per test, not the same traceback (with an irrelevant input and "start with 1.1")
once per test (issue 20 #6)."""
from __future__ import annotations

import shutil

import pytest

from suite_support import graded


def unimportable_outputs(doc: dict) -> tuple[str, list[str]]:
    return doc["output"], [t["output"] for t in doc["tests"] if t["status"] != "passed"]


@pytest.mark.parametrize("breakage", ["module-level syntax error", "missing file", "wrong folder"])
def test_one_message_at_the_top_not_one_per_test(template_dir, tmp_path, breakage):
    sub = tmp_path / "sub"
    shutil.copytree(template_dir, sub)
    if breakage == "module-level syntax error":
        core = sub / "beras/core.py"
        core.write_text("x = (\n" + core.read_text())
        needle = "was never closed"
    elif breakage == "missing file":
        (sub / "beras/core.py").unlink()
        needle = "beras/core.py"
    else:
        shutil.rmtree(sub)
        (sub / "notes").mkdir(parents=True)
        (sub / "notes/readme.txt").write_text("my homework is elsewhere")
        needle = "beras"
    doc, _ = graded(sub, public_only=True)
    top, outputs = unimportable_outputs(doc)
    # A file Python cannot read is set aside at import like any module that raises there
    # (sandbox/inside/partial_import.py): one item at the top, and the tests that do not need it run.
    opening = ("**Part of your code stopped while it was imported**" if breakage == "module-level syntax error"
               else "**Your code could not be imported**")
    assert top.count(opening) == 1, top
    assert needle in top.split(opening)[1]
    short = [o for o in outputs if o.startswith("**Not graded:** ")]
    for text in short:
        assert "Input" not in text and "Traceback" not in text and len(text) < 300
    if breakage != "wrong folder":
        # The handout's optimizers.py imports nothing of core.py: its tests run, and its own
        # stubs fail them; every other failing test needs core.py and says so.
        others = [o for o in outputs if o not in short]
        assert all("beras/core.py" in o or "NotImplementedError" in o for o in others), others
        assert len(short) >= len(outputs) - len(others) and len(short) > 30
        return
    assert len(short) >= len(outputs) - 2, outputs  # at most a couple of tests fail otherwise
    assert "Where to start" not in top
