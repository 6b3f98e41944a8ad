"""`regrade`, `merge`, `diff` and `report` end to end, on the real engine.

One synthetic Gradescope export of 30 submissions (reference copies, handouts, mutants and
hybrids, with Gradescope's YAML metadata) is graded in one `--jobs 2` run. Eight of them, as
an unpacked export, are graded once more with `--jobs 2` and once as two `--shard K/2
--jobs 1` runs side by side, then merged: job counts and sharding are compared there, where
the property needs no more submissions. The tests below share those outputs.
"""
from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import pytest

import ta_support
from autograder.regrade.layout import GRADED
from autograder.regrade.progress import Progress
from test_report import assert_charts_on_screen


@pytest.fixture(scope="module")
def graded():
    graded = ta_support.graded_class()
    procs = graded.procs
    for proc in [procs["single"], procs["small_single"], *procs["small_shards"], procs["merge"]]:
        assert proc.returncode == 0, f"{proc.args}\n{proc.stderr[-4000:]}"
    return graded


def rows(folder: Path) -> list[dict]:
    with open(folder / "scores.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def test_every_submission_is_graded_and_named_from_the_metadata(graded):
    table = {row["submission_id"]: row for row in rows(graded.single)}
    assert list(table) == [sub.id for sub in graded.planned]  # natural order, all 30
    for number, sub in enumerate(graded.planned):
        row = table[sub.id]
        assert row["status"] == GRADED, (sub.id, row)
        assert row["exported_score"] == str(number % 10 * 10)  # ta_support.metadata_yaml's score
        assert row["names"] == "; ".join(p["name"] for p in sub.submitters)
        assert row["emails"] == "; ".join(p["email"] for p in sub.submitters)
        assert (graded.single / sub.id / "results.json").is_file()
    group = next(sub for sub in graded.planned if sub.detail == "group")
    assert len(table[group.id]["emails"].split("; ")) == 2


def failures(sub_dir: Path) -> list:
    results = json.loads((sub_dir / "results.json").read_text())
    return [(t["name"], t.get("output", "")[:1500]) for t in results["tests"] if t["score"] < t["max_score"]]


def test_scores_match_what_each_submission_is(graded):
    table = {row["submission_id"]: row for row in rows(graded.single)}
    header = list(next(iter(table.values())))
    tests = header[header.index("max_score") + 1:]
    assert len(tests) == len(ta_support.SUBSET_TESTS), "one column per test (and every subset test still exists)"
    max_score = float(next(iter(table.values()))["max_score"])
    assert max_score > 0
    for sub in graded.planned:
        row = table[sub.id]
        total = float(row["total"])
        assert total == pytest.approx(sum(float(row[t]) for t in tests))
        if sub.kind == "reference":  # clutter, a nested folder and a group change nothing
            assert total == max_score, (sub.id, sub.detail, total, failures(graded.single / sub.id))
        elif sub.kind == "template":
            assert total == 0, (sub.id, total)
        elif sub.kind == "mutant":
            assert 0 < total < max_score, (sub.id, sub.detail, total)
        else:
            assert total < max_score, (sub.id, sub.detail, total)
    assert len({row["total"] for row in table.values()}) >= 5, "the export should spread over many scores"


def per_test(results_path: Path) -> list:
    results = json.loads(results_path.read_text())
    return [(t["name"], t["score"], t["max_score"], t.get("status")) for t in results["tests"]]


def test_jobs_2_gives_the_same_scores_as_jobs_1(graded):
    # The shards graded one submission at a time; the single runs two at a time.
    assert (graded.small_single / "scores.csv").read_text() == (graded.small_merged / "scores.csv").read_text()
    for sub in graded.small_planned:
        assert per_test(graded.small_merged / sub.id / "results.json") == \
            per_test(graded.small_single / sub.id / "results.json"), sub.id
    # ... and the same rows as in the 30-submission run: a neighbour changes nothing.
    big = (graded.single / "scores.csv").read_text().splitlines()
    small = (graded.small_merged / "scores.csv").read_text().splitlines()
    assert small[0] == big[0] and set(small[1:]) <= set(big[1:])
    assert len(small) == 1 + len(graded.small_planned) == 9
    for folder, jobs in ((graded.single, 2), (graded.small_shards[0], 1)):
        run = json.loads((folder / "run.json").read_text())
        assert run["jobs"] == jobs and run["graded"] == run["attempted"] > 0
    slots = {json.loads((graded.single / s.id / "regrade.json").read_text())["slot"] for s in graded.planned}
    assert slots == {1, 2}  # both slots really worked


def test_shards_plus_merge_equal_a_single_run(graded):
    assigned = [json.loads((shard / "run.json").read_text())["assigned"] for shard in graded.small_shards]
    assert len(assigned[0]) == len(assigned[1]) == 4
    assert not set(assigned[0]) & set(assigned[1])
    assert sorted(assigned[0] + assigned[1]) == sorted(s.id for s in graded.small_planned)
    for shard, ids in zip(graded.small_shards, assigned):  # a shard grades only its slice
        assert sorted(p.name for p in shard.iterdir() if p.is_dir()) == sorted(ids)
    for name in ("scores.csv", "summary.json"):
        assert (graded.small_merged / name).read_text() == (graded.small_single / name).read_text(), name
    summary = json.loads((graded.small_merged / "summary.json").read_text())
    assert summary["submissions"] == summary["graded"] == 8 and summary["not_graded"] == []


def test_merge_reports_a_missing_shard(graded, tmp_path):
    proc = ta_support.cli("merge", graded.small_shards[0], "--out", tmp_path / "partial")
    assert proc.returncode == 1
    assert "missing shard(s) 2/2" in proc.stderr
    assert len(rows(tmp_path / "partial")) == 4


def test_plain_log_lines_when_not_on_a_terminal(graded):
    log = graded.single_proc.stderr
    assert "regrade: 30 submissions in the export" in log
    lines = [line for line in log.splitlines() if line.startswith("regrade: [")]
    assert len(lines) == 30 and lines[-1].startswith("regrade: [30/30]") and "ETA" in lines[0]
    assert "\r" not in log


def test_progress_bar_with_eta_on_a_terminal():
    stream = io.StringIO()
    progress = Progress(4, stream, tty=True)
    for n in range(4):
        progress.update({"submission_id": f"submission_{n}", "status": GRADED, "total": 10, "duration_s": 1})
    progress.close()
    frames = stream.getvalue().split("\r")[1:]
    assert len(frames) == 4 and "\n" not in "".join(frames[:-1])
    assert frames[1].startswith("[###############---------------] 2/4 ETA 00:00")


def test_resume_skips_complete_results_and_regrades_the_rest(graded, tmp_path):
    out = tmp_path / "resumed"
    shutil.copytree(graded.single, out)
    before = (out / "scores.csv").read_text()
    again = ta_support.cli("regrade", graded.export, "--out", out, "--jobs", 2, *ta_support.GRADING_ARGS)
    run = json.loads((out / "run.json").read_text())
    assert again.returncode == 0 and run["attempted"] == 0 and len(run["skipped"]) == 30
    # An interrupted run leaves a folder without results, or a damaged file: only those are redone.
    lost, damaged = graded.planned[3].id, graded.planned[17].id
    (out / lost / "results.json").unlink()
    (out / damaged / "results.json").write_text('{"tests": [')
    again = ta_support.cli("regrade", graded.export, "--out", out, "--jobs", 2, *ta_support.GRADING_ARGS)
    run = json.loads((out / "run.json").read_text())
    assert again.returncode == 0, again.stderr
    assert sorted(run["assigned"]) == sorted(s.id for s in graded.planned)
    assert sorted(set(run["assigned"]) - set(run["skipped"])) == sorted([lost, damaged])
    assert run["graded"] == 2
    assert (out / "scores.csv").read_text() == before
    # --force regrades even complete results (here the one submission of shard 1/30).
    forced = ta_support.cli("regrade", graded.export, "--out", out, "--shard", "1/30", "--force",
                            *ta_support.GRADING_ARGS)
    run = json.loads((out / "run.json").read_text())
    assert forced.returncode == 0 and run["attempted"] == 1 and run["skipped"] == []


def test_diff_of_two_equal_regrades_passes_and_of_a_changed_one_explains_it(graded, tmp_path):
    same = ta_support.cli("diff", graded.small_single / "scores.csv", graded.small_merged / "scores.csv")
    assert same.returncode == 0 and same.stdout.startswith("0 of 8 submissions changed")
    # A stricter test would take one test's marks from submission 0: a hand-edited copy.
    changed = tmp_path / "changed.csv"
    table = rows(graded.single)
    header = list(table[0])
    target = next(r for r in table if r["submission_id"] == graded.planned[0].id)
    changed_test = next(t for t in header[header.index("max_score") + 1:] if float(target[t]) > 0)
    lost = float(target[changed_test])
    target[changed_test] = "0"
    target["total"] = f"{float(target['total']) - lost:g}"
    with open(changed, "w", newline="") as handle:
        writer = csv.DictWriter(handle, header, lineterminator="\n")
        writer.writeheader()
        writer.writerows(table)
    proc = ta_support.cli("diff", graded.single / "scores.csv", changed)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert proc.stdout.startswith("1 of 30 submissions changed; 1 exceed")
    assert f"{graded.planned[0].id} ({graded.planned[0].submitters[0]['name']}" in proc.stdout
    assert f"{-lost:+g}  {changed_test}: {lost:g} -> 0" in proc.stdout
    tolerant = ta_support.cli("diff", graded.single / "scores.csv", changed, "--threshold", f"{lost:g}")
    assert tolerant.returncode == 0


def test_report_of_the_class_renders_with_its_charts(graded, tmp_path):
    page = tmp_path / "class.html"
    proc = ta_support.cli("report", graded.single, "--out", page)
    assert proc.returncode == 0, proc.stderr
    text = page.read_text()
    assert "<b>30</b> submissions" in text and "<b>30</b> graded" in text
    failures = text[text.index('id="failures"'):text.index('id="slowest"')]
    assert "NotImplementedError" in failures  # the handouts' unfinished parts, counted
    assert "None: every submission was graded." in text
    assert_charts_on_screen(page, tmp_path)
