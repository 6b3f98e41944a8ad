"""Hypothesis draws the same examples whatever else of ours is loaded (autograder/reproducible.py).

Hypothesis mixes literals from the source of loaded local modules into its examples. The
engine is such a module, so without the plugin's fix a grade would depend on every number
written anywhere in the engine, and on which of our modules a run happens to load."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ENGINE_ROOT = Path(__file__).resolve().parents[2]

DRAW = """
import json, sys
sys.path.insert(0, sys.argv[1])
from hypothesis import given, settings, strategies as st
if sys.argv[2] == "fixed":
    from autograder.reproducible import ignore_source_constants
    ignore_source_constants()
if sys.argv[3] == "with-module":
    import many_constants  # a local module full of literals, as the engine is
seen = []

@settings(derandomize=True, database=None, max_examples=300)
@given(st.floats(-1000, 1000), st.integers(0, 1000))
def draw(x, n):
    seen.append([x, n])

draw()
print(json.dumps(seen))
"""


def draws(tmp_path: Path, fixed: bool, with_module: bool) -> list:
    local = tmp_path / "local"
    local.mkdir(exist_ok=True)
    literals = ", ".join([f"{i * 37.0625 + 0.5}" for i in range(40)] + [str(i * 23 + 7) for i in range(40)])
    (local / "many_constants.py").write_text(f"VALUES = [{literals}]\n")
    done = subprocess.run(
        [sys.executable, "-c", DRAW, str(local), "fixed" if fixed else "plain",
         "with-module" if with_module else "alone"],
        cwd=ENGINE_ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


def test_loaded_local_modules_change_hypothesis_examples_by_default(tmp_path):
    # The hazard itself: if this stops holding, Hypothesis no longer harvests constants and
    # autograder/reproducible.py may be dropped (it would raise first if the hook vanished).
    assert draws(tmp_path, fixed=False, with_module=False) != draws(tmp_path, fixed=False, with_module=True)


def test_with_the_plugins_fix_the_examples_do_not_depend_on_loaded_modules(tmp_path):
    assert draws(tmp_path, fixed=True, with_module=False) == draws(tmp_path, fixed=True, with_module=True)
