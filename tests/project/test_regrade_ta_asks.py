"""What TAs asked of the regrade tools (issue 13), on a real regrade of the engine's test
course: the score Gradescope had at export beside the regraded one (scores.csv, diff, the
report), `diff` of a regrade against the export itself, zeros that look like a packaging
mistake flagged with their reason, informative 0-point tests without a pass rate, and a
page titled after the assignment rather than the output folder."""
from __future__ import annotations

import csv
import json
import re
import shutil

import pytest

import ta_support
from engine_cases import harness

EXPORT_NAME = "assignment_77_export"  # how Gradescope names the download after the assignment
# id: (how it is made, Gradescope's score at export or None)
SUBMISSIONS = {
    "submission_1": ("correct", 10.0),  # unchanged
    "submission_2": ("wrong", 10.0),  # a stricter test took points since the export
    "submission_3": ("misnamed package", 0.0),  # calc/ uploaded as calculator/: nothing imports
    "submission_4": ("syntax error", 0.0),  # no file's top level parses: nothing imports
    "submission_5": ("correct", None),  # never scored on Gradescope
}


def build_export(root):
    folder = root / EXPORT_NAME
    lines = []
    for sub_id, (kind, score) in SUBMISSIONS.items():
        target = folder / sub_id
        harness.make_submission(target, base="wrong" if kind == "wrong" else "correct")
        if kind == "misnamed package":
            (target / "calc").rename(target / "calculator")
        elif kind == "syntax error":
            # Module-level: a broken function alone would be set aside (autograder/partial.py);
            # in every file: one file that cannot be read costs only the tests that need it
            # (sandbox/inside/partial_import.py), and calc/vec.py needs nothing of calc/__init__.py.
            for name in ("__init__.py", "vec.py"):
                with open(target / "calc" / name, "a") as handle:
                    handle.write("\nbroken = (\n")
        number = sub_id.split("_")[1]
        lines += [f"{sub_id}:", "  :submitters:", f"  - :name: Student {number}", f"    :sid: '{number}'",
                  f"    :email: s{number}@example.edu", "  :created_at: 2026-10-01 12:00:00.000000000 -04:00",
                  f"  :score: {'' if score is None else score}"]
    (folder / "submission_metadata.yml").write_text("\n".join(lines) + "\n")
    return root  # unzipped with its wrapping folder, as TAs often have it


@pytest.fixture(scope="module")
def regraded(tmp_path_factory):
    root = tmp_path_factory.mktemp("ta-asks")
    export = build_export(root / "download")
    out = root / "out"
    env = {"AUTOGRADER_CONFIG": str(harness.COURSE_CFG)}
    proc = ta_support.cli("regrade", export, "--out", out, "--jobs", 2, "--timeout", 300, env=env)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return export, out


def table(out):
    with open(out / "scores.csv", newline="") as handle:
        return {row["submission_id"]: row for row in csv.DictReader(handle)}


def test_scores_csv_has_the_exported_score_beside_the_regraded_total(regraded):
    _, out = regraded
    rows = table(out)
    header = list(next(iter(rows.values())))
    assert header.index("exported_score") + 1 == header.index("total")
    assert {k: r["exported_score"] for k, r in rows.items()} == \
        {"submission_1": "10", "submission_2": "10", "submission_3": "0", "submission_4": "0", "submission_5": ""}
    assert rows["submission_1"]["total"] == rows["submission_5"]["total"] == "10"
    assert float(rows["submission_2"]["total"]) < 10
    summary = json.loads((out / "summary.json").read_text())
    assert summary["exported_score"]["compared"] == 4 and summary["exported_score"]["changed"] == 1


def test_diff_against_the_export_shows_what_changed_from_what_students_saw(regraded, tmp_path):
    export, out = regraded
    lost = 10 - float(table(out)["submission_2"]["total"])
    direct = ta_support.cli("diff", export, out, "--json", tmp_path / "direct.json")
    assert direct.returncode == 1, direct.stdout + direct.stderr  # a student lost points
    assert direct.stdout.startswith("2 of 5 submissions changed; 2 exceed")
    assert f"submission_2 (Student 2, s2@example.edu): 10 -> {10 - lost:g} (-{lost:g})" in direct.stdout
    assert "submission_5 (Student 5, s5@example.edu): - -> 10 (n/a) [no_score -> graded]" in direct.stdout
    assert "submission_1" not in direct.stdout and "submission_3" not in direct.stdout
    # The same comparison from the regrade's own exported_score column.
    column = ta_support.cli("diff", "--against-export", out / "scores.csv", "--json", tmp_path / "column.json")
    assert column.returncode == 1 and column.stdout == direct.stdout
    assert json.loads((tmp_path / "column.json").read_text()) == json.loads((tmp_path / "direct.json").read_text())
    tolerant = ta_support.cli("diff", "--against-export", out, "--threshold", f"{lost:g}", "--max-students", 1)
    assert tolerant.returncode == 0, tolerant.stdout  # only the never-scored one exceeds
    assert ta_support.cli("diff", export).returncode == 2  # one side alone needs --against-export


def test_diff_of_two_regrades_names_the_exported_score(regraded, tmp_path):
    _, out = regraded
    changed = tmp_path / "changed.csv"
    changed.write_text((out / "scores.csv").read_text().replace("submission_1,Student 1,s1@example.edu,1,graded,10,10",
                                                                "submission_1,Student 1,s1@example.edu,1,graded,10,9"))
    proc = ta_support.cli("diff", out, changed)
    assert "submission_1 (Student 1, s1@example.edu): 10 -> 9 (-1) [Gradescope had 10]" in proc.stdout


def section(page: str, anchor: str) -> str:
    start = page.index(f'id="{anchor}"')
    following = [page.index(m) for m in re.findall(r'<h2 id="[^"]+"', page) if page.index(m) > start]
    return page[start:min(following, default=len(page))]


def test_report_flags_packaging_zeros_with_their_reason_and_names_the_assignment(regraded, tmp_path):
    _, out = regraded
    page_path = tmp_path / "report.html"
    assert ta_support.cli("report", out, "--out", page_path).returncode == 0
    page = page_path.read_text()
    assert "<title>assignment 77: regrade report</title>" in page
    assert "<h1>assignment 77: regrade report</h1>" in page
    assert f"<title>{out.name}" not in page
    packaging = section(page, "packaging")
    assert "submission_3" in packaging and "submission_4" in packaging
    assert "submission_2" not in packaging and "submission_1" not in packaging
    assert "Your submission has no calc.py or calc/, which this test needs." in packaging
    assert re.search(r"calc/(__init__|vec)\.py line \d+: SyntaxError", packaging), packaging
    assert "Python cannot read this file" in packaging
    changed = section(page, "exported")
    assert re.search(r"submission_2</td><td>Student 2</td><td class=\"n\">10</td><td class=\"n\">[\d.]+</td>"
                     r"<td class=\"n\">-[\d.]+</td>", changed), changed
    assert "submission_1" not in changed  # unchanged, and submission_5 had nothing to compare
    titled = ta_support.cli("report", out, "--out", page_path, "--title", "Calc <homework>")
    assert titled.returncode == 0 and "<title>Calc &lt;homework&gt;: regrade report</title>" in page_path.read_text()


def test_an_informative_test_has_no_pass_rate(regraded):
    _, out = regraded
    summary = json.loads((out / "summary.json").read_text())
    tests = {t["name"]: t for t in summary["tests"]}
    leaderboard = tests["1.5 Leaderboard: the SPEED constant"]  # 0 points in the engine's course
    assert leaderboard["informative"] and leaderboard["pass_rate"] is None and leaderboard["submissions"] == 5
    assert all(t["pass_rate"] is not None for name, t in tests.items() if t["max_score"] > 0)
    assert ta_support.cli("report", out).returncode == 0
    page = (out / "report.html").read_text()
    informative = section(page, "pass-rates")
    assert "1.5 Leaderboard: the SPEED constant</td><td class=\"n\">5</td><td>n.a. (informative)" in informative
    assert "Leaderboard" not in section(page, "failures")  # it loses no points


def test_resume_keeps_the_tables_and_takes_the_exported_scores_of_a_newer_download(regraded, tmp_path):
    export, out = regraded
    again = tmp_path / "again"
    shutil.copytree(out, again)
    env = {"AUTOGRADER_CONFIG": str(harness.COURSE_CFG)}
    proc = ta_support.cli("regrade", export, "--out", again, "--timeout", 300, env=env)
    assert proc.returncode == 0 and json.loads((again / "run.json").read_text())["attempted"] == 0
    assert (again / "scores.csv").read_text() == (out / "scores.csv").read_text()
    assert json.loads((again / "run.json").read_text())["assignment"] == "assignment 77"
    # A later download: the same files, but a TA gave submission_1 a manual score of 7 since.
    newer = tmp_path / "newer"
    shutil.copytree(export, newer)
    metadata = newer / EXPORT_NAME / "submission_metadata.yml"
    text = metadata.read_text()
    metadata.write_text(text.replace("Student 1", "Student One").replace(":score: 10.0", ":score: 7.0", 1))
    proc = ta_support.cli("regrade", newer, "--out", again, "--timeout", 300, env=env)
    assert proc.returncode == 0 and json.loads((again / "run.json").read_text())["attempted"] == 0
    row = table(again)["submission_1"]
    assert (row["names"], row["exported_score"], row["total"]) == ("Student One", "7", "10")
