"""A grading that does not finish still yields a row, marked as not graded, and says why."""
from __future__ import annotations

import csv
import json

import ta_support
from autograder.regrade.report import render


def test_a_grading_cut_short_is_a_not_graded_row(tmp_path):
    export = tmp_path / "export"
    ta_support.copy_submission(ta_support.REFERENCE, export / "slow_one")
    # Hangs on import, so no machine is fast enough to finish inside the timeout.
    with open(export / "slow_one" / "beras" / "__init__.py", "a") as handle:
        handle.write("\nimport time\ntime.sleep(120)\n")
    (export / "missing_one").mkdir()  # an empty folder: nothing to grade, still a row
    out = tmp_path / "out"
    # After one second grade() stops the child that is still waiting on the hung import.
    proc = ta_support.cli("regrade", export, "--out", out, "--jobs", 2, "--timeout", 1, "--public-only",
                          "--pytest-arg=-k", "--pytest-arg=test_dense_forward")
    assert proc.returncode == 1, proc.stderr  # some submissions could not be graded
    with open(out / "scores.csv", newline="") as handle:
        table = {row["submission_id"]: row for row in csv.DictReader(handle)}
    assert set(table) == {"missing_one", "slow_one"}
    assert table["slow_one"]["status"] == "not_graded" and table["slow_one"]["total"] == ""
    record = json.loads((out / "slow_one" / "regrade.json").read_text())
    assert "longer than --timeout 1 s" in record["error"], record
    summary = json.loads((out / "summary.json").read_text())
    assert summary["graded"] == sum(row["status"] == "graded" for row in table.values())
    assert "slow_one" in {entry["submission_id"] for entry in summary["not_graded"]}
    page = render(out)
    assert "longer than --timeout 1 s" in page[page.index('id="not-graded"'):]
