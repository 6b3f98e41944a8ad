"""bench/run.py --compare: two revisions side by side in one run (bench/compare.py).

The end-to-end test compares HEAD with itself on the small call only, once: it checks the
table's shape, that both sides were measured through their own checkout, and that the
temporary worktree is gone afterwards. It asserts no timing: figures on a shared machine
are the bench's to report, not a test's to judge.
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]
BENCH = PROJECT_ROOT / "bench"


def git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=PROJECT_ROOT, check=True, capture_output=True,
                          text=True).stdout.strip()


def leftovers() -> set:
    return {p.name for p in Path(tempfile.gettempdir()).glob("beras-bench-compare-*")}


@pytest.fixture(scope="module")
def compare_module():
    sys.path.insert(0, str(BENCH))
    try:
        import compare
        yield compare
    finally:
        sys.path.remove(str(BENCH))
        for name in ("compare", "memory"):
            sys.modules.pop(name, None)


def test_compare_head_with_head_on_the_small_call(tmp_path):
    worktrees, temp = git("worktree", "list", "--porcelain"), leftovers()
    out = tmp_path / "compare.md"
    proc = subprocess.run([sys.executable, str(BENCH / "run.py"), "--compare", "HEAD", "--quick",
                           "--only", "small-call", "--reps", "1", "--out", str(out)],
                          cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    # the temporary worktree is gone, from git's list and from the disk
    assert git("worktree", "list", "--porcelain") == worktrees
    assert leftovers() <= temp

    table = out.read_text()
    assert proc.stdout.strip() == table.strip()
    head = git("log", "-1", "--format=%h")
    assert f"- **before**: `{head} " in table and f"- **after**: `{head} " in table
    assert "1 repetitions" in table
    rows = [line for line in table.splitlines() if line.startswith("| ")]
    assert rows[0] == "| measure | before | after | after / before | per repetition |"
    body = rows[1:]
    assert [r.split(" | ")[0] for r in body] == [
        "| small call's round trip, median", "| &nbsp;&nbsp;90th percentile",
        "| fresh worker: fork, set up, one import, stop", "| sandbox start: zygote and first worker"]
    for row in body:
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert len(cells) == 5 and cells[3].endswith("x") and cells[4].endswith("x"), row
        float(cells[3][:-1]), float(cells[4][:-1])
    assert "Isolated / in-process" not in table  # not measured with --only small-call

    figures = json.loads(out.with_suffix(".json").read_text())
    assert figures["measurements"] == ["small-call"] and figures["config"]["reps"] == 1
    for side in ("before", "after"):
        (sample,) = figures["samples"]["small-call"][side]
        assert sample["calls"] == 500 and sample["cycles"] == 5
        assert 0 < sample["round_trip_us"] <= sample["round_trip_p90_us"]
        assert sample["worker_ms"] > 0 and sample["sandbox_start_ms"] > 0


def test_an_unknown_measurement_is_refused_before_any_checkout():
    worktrees = git("worktree", "list", "--porcelain")
    proc = subprocess.run([sys.executable, str(BENCH / "run.py"), "--compare", "HEAD", "--only", "grades"],
                          cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and "unknown measurement" in proc.stderr
    assert git("worktree", "list", "--porcelain") == worktrees


def synthetic(compare, grade_before, grade_after, in_before, in_after):
    def runs(walls):
        return [{"wall": w, "cpu": w, "rss_mb": 200.0, "pss_mb": 150.0, "score": 100.0,
                 "max_score": 100.0, "tests": 53} for w in walls]
    return {"config": {"name": "full", "reps": len(grade_before)},
            "machine": {"date": "2026-11-29 19:00 UTC", "cores": 2, "cpu": "X", "python": "3.11", "root": True},
            "revisions": {"before": "abc1234 (2026-11-26) old", "after": "def5678 (2026-11-29) new"},
            "loads": [1.0, 2.0], "measurements": ["grade", "grade-in-process"],
            "samples": {"grade": {"before": runs(grade_before), "after": runs(grade_after)},
                        "grade-in-process": {"before": runs(in_before), "after": runs(in_after)}}}


def test_table_gives_medians_spread_ratio_and_the_isolation_target(compare_module):
    fig = synthetic(compare_module, [6.0, 7.0, 8.0], [8.0, 9.0, 10.0], [5.0, 5.0, 5.0], [5.0, 6.0, 7.0])
    table = compare_module.markdown(fig)
    wall = next(line for line in table.splitlines() if line.startswith("| full grade of the reference, isolated"))
    assert wall == ("| full grade of the reference, isolated: wall | 7.00 s (6.00 s-8.00 s, ±14%) "
                    "| 9.00 s (8.00 s-10.00 s, ±11%) | 1.29x | 1.29x (1.25-1.33x) |")
    assert "after 1.50x, before 1.40x; target <= 1.5x: yes" in table
    worse = compare_module.markdown(synthetic(compare_module, [7.0], [9.3], [5.0], [6.0]))
    assert "after 1.55x, before 1.40x; target <= 1.5x: **no**" in worse
    assert "Scores: before grade: 100/100 in 53 tests" in table


def test_readme_comparison_goes_above_the_main_table_then_is_replaced(compare_module):
    readme = "# T\n\n## Performance\n\n<!-- bench:start -->\nmain\n<!-- bench:end -->\n"
    first = compare_module.replace_block(readme, "| one |\n")
    assert first.index(compare_module.START) < first.index("<!-- bench:start -->")
    assert first.count("## Performance") == 1
    second = compare_module.replace_block(first, "| two |\n")
    assert "| two |" in second and "| one |" not in second and "\nmain\n" in second
    assert second.count(compare_module.START) == second.count(compare_module.END) == 1
