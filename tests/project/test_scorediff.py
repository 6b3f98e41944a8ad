"""`python -m autograder diff`: who changed, by how much, which tests explain it, exit codes."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from autograder.regrade.diff import compare, parse_threshold, read_scores

REPO = Path(__file__).resolve().parents[2]

OLD = """\
submission_id,names,emails,sids,status,total,max_score,1.1 dense forward,1.2 dense backward,2.1 softmax
submission_1,Ada Lovelace,ada@example.edu,100,graded,10,10,4,4,2
submission_2,Grace Hopper; Alan Turing,grace@example.edu; alan@example.edu,200; 201,graded,6,10,4,0,2
submission_3,Emmy Noether,emmy@example.edu,300,graded,8,10,4,4,0
submission_4,Kurt Goedel,kurt@example.edu,400,graded,4,10,4,0,0
submission_5,Hedy Lamarr,hedy@example.edu,500,graded,10,10,4,4,2
"""

# A test fix: dense backward now gives partial credit (+2 for two students), softmax is
# stricter for one student (-2), one submission can no longer be graded, one vanished.
NEW = """\
submission_id,names,emails,sids,status,total,max_score,1.1 dense forward,1.2 dense backward,2.1 softmax
submission_1,Ada Lovelace,ada@example.edu,100,graded,10,10,4,4,2
submission_2,Grace Hopper; Alan Turing,grace@example.edu; alan@example.edu,200; 201,graded,8,10,4,2,2
submission_3,Emmy Noether,emmy@example.edu,300,not_graded,,,,,
submission_4,Kurt Goedel,kurt@example.edu,400,graded,6.5,10,4,2.5,0
submission_6,Mary Somerville,mary@example.edu,600,graded,0,10,0,0,0
"""


@pytest.fixture
def scores(tmp_path):
    old, new = tmp_path / "old.csv", tmp_path / "new.csv"
    old.write_text(OLD)
    new.write_text(NEW)
    return old, new


def diff_cli(*args):
    return subprocess.run([sys.executable, "-m", "autograder", "diff", *map(str, args)], cwd=REPO,
                          capture_output=True, text=True, timeout=60)


def test_changes_are_found_and_explained_by_tests(scores):
    changes = {c.key: c for c in compare(read_scores(scores[0]), read_scores(scores[1]))}
    assert set(changes) == {"submission_2", "submission_3", "submission_4", "submission_5", "submission_6"}
    assert changes["submission_2"].delta == 2
    assert [(t.test, t.old, t.new) for t in changes["submission_2"].tests] == [("1.2 dense backward", 0, 2)]
    assert changes["submission_4"].delta == 2.5
    assert changes["submission_3"].kind == "graded -> not_graded" and changes["submission_3"].exceeds
    assert changes["submission_5"].kind == "missing from NEW" and changes["submission_5"].exceeds
    assert changes["submission_6"].kind == "new in NEW" and not changes["submission_6"].exceeds


def test_threshold_in_points_and_percent(scores):
    old, new = read_scores(scores[0]), read_scores(scores[1])
    exceeding = lambda *t: sorted(c.key for c in compare(old, new, *t) if c.exceeds)
    assert exceeding(0.0, False) == ["submission_2", "submission_3", "submission_4", "submission_5"]
    assert exceeding(2.0, False) == ["submission_3", "submission_4", "submission_5"]  # 2.5 > 2
    assert exceeding(25.0, True) == ["submission_3", "submission_5"]  # 25% of 10 points
    assert parse_threshold("2%") == (2.0, True) and parse_threshold("0.5") == (0.5, False)
    with pytest.raises(ValueError):
        parse_threshold("lots")


def test_identical_files_report_nothing_and_exit_zero(scores):
    proc = diff_cli(scores[0], scores[0])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("0 of 5 submissions changed")


def test_cli_lists_students_deltas_and_tests_and_fails_over_threshold(scores, tmp_path):
    proc = diff_cli(scores[0], scores[1], "--threshold", "3", "--max-students", "1", "--json", tmp_path / "d.json")
    assert proc.returncode == 1, proc.stdout + proc.stderr  # 2 changes exceed (3 -> not graded, 5 missing)
    out = proc.stdout
    assert "submission_2 (Grace Hopper; Alan Turing" in out and "6 -> 8 (+2)" in out
    assert "+2  1.2 dense backward: 0 -> 2" in out
    assert "submission_4 (Kurt Goedel" in out and "+2.5" in out
    assert "[graded -> not_graded]" in out and "[missing from NEW]" in out
    data = json.loads((tmp_path / "d.json").read_text())
    assert {d["key"]: d["delta"] for d in data}["submission_4"] == 2.5


def test_cli_passes_when_all_changes_are_within_the_threshold(tmp_path):
    old, new = tmp_path / "old.csv", tmp_path / "new.csv"
    old.write_text(OLD)
    new.write_text(OLD.replace("submission_4,Kurt Goedel,kurt@example.edu,400,graded,4,10,4,0,0",
                               "submission_4,Kurt Goedel,kurt@example.edu,400,graded,4.5,10,4,0.5,0"))
    assert diff_cli(old, new, "--threshold", "0.5").returncode == 0
    assert diff_cli(old, new).returncode == 1


def test_matching_on_emails_across_two_exports(tmp_path):
    old, new = tmp_path / "old.csv", tmp_path / "new.csv"
    old.write_text(OLD)
    # Another export: new submission ids, same students (emails in another case).
    new.write_text(re.sub(r"submission_(\d)", r"sub_\1", OLD).replace("ada@example.edu", "ADA@example.edu"))
    assert diff_cli(old, new, "--key", "emails").returncode == 0
    assert diff_cli(old, new).returncode == 1  # by id, everyone "vanished"


def test_not_a_scores_file_is_a_usage_error(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    proc = diff_cli(bad, bad)
    assert proc.returncode == 2 and "not a regrade scores.csv" in proc.stderr
