"""`python -m autograder report`: one self-contained page, escaped, with real charts.

The page about a real regrade (the engine grading the 30-submission export) is checked in
test_regrade_engine.py, which owns that expensive fixture; here a small regrade folder is
written directly, so every number on the page is known in advance.
"""
from __future__ import annotations

import html.parser
import re
import subprocess
import sys
from pathlib import Path

import numpy as np

import ta_support
from autograder.atomic import write_json_atomic
from autograder.regrade.charts import HISTOGRAM_COLOR, PASS_COLOR
from autograder.regrade.findings import failure_message
from autograder.regrade.layout import GRADED, NOT_GRADED, RECORD_NAME, RESULTS_NAME
from autograder.regrade.report import render, render_name
from autograder.regrade.tables import write_tables

REPO = Path(__file__).resolve().parents[2]


def test(name, score, max_score, output=""):
    return {"name": name, "number": name.split()[0], "score": score, "max_score": max_score,
            "status": "passed" if score >= max_score else "failed", "output": output}


test.__test__ = False  # a helper that builds a results entry, not a pytest test


def write_submission(out: Path, sub_id: str, tests: list | None, duration: float, people=("Ada",), error=None):
    record = {"submission_id": sub_id, "status": GRADED if tests is not None else NOT_GRADED, "error": error,
              "duration_s": duration, "options": {}, "submitters": [{"name": p, "email": f"{p.lower()}@x.edu",
                                                                      "sid": "1"} for p in people]}
    if tests is not None:
        write_json_atomic(out / sub_id / RESULTS_NAME,
                          {"score": sum(t["score"] for t in tests), "tests": tests, "execution_time": duration / 2})
    write_json_atomic(out / sub_id / RECORD_NAME, record)


def small_class(out: Path) -> Path:
    hostile = "**Wrong shape** <script>alert('pwned')</script> <img src=http://evil.example/x.png>"
    write_submission(out, "submission_1", [test("1.1 dense forward", 5, 5), test("1.2 dense backward", 5, 5)], 10.0)
    write_submission(out, "submission_2", [test("1.1 dense forward", 0, 5, hostile),
                                           test("1.2 dense backward", 0, 5, "`dW` is wrong\nexpected x.T @ J")], 42.5,
                     people=("Grace", "Alan"))
    write_submission(out, "submission_3", [test("1.1 dense forward", 0, 5, hostile),
                                           test("1.2 dense backward", 5, 5)], 12.0)
    write_submission(out, "submission_4", None, 3.0, error="RuntimeError: grading process exited with -9")
    write_tables(out)
    return out


def test_page_holds_every_section_with_the_right_numbers(tmp_path):
    page = render(small_class(tmp_path / "regrade"))
    assert page.count('src="data:image/png;base64,') == 2  # histogram and pass rates
    for anchor in ("histogram", "pass-rates", "failures", "slowest", "not-graded"):
        assert f'id="{anchor}"' in page
    assert "<b>4</b> submissions" in page and "<b>3</b> graded" in page and "<b>1</b> not graded" in page
    # The most common failure comes first, counted once per submission.
    failures = page[page.index('id="failures"'):page.index('id="slowest"')]
    assert re.search(r"1\.1 dense forward</td><td class=\"n\" rowspan=\"1\">2/3</td>", failures)
    assert "1.2 dense backward" in failures and "dW is wrong" in failures
    slowest = page[page.index('id="slowest"'):page.index('id="not-graded"')]
    assert slowest.index("submission_2") < slowest.index("submission_3") < slowest.index("submission_1")
    assert "Grace, Alan" in slowest
    assert "grading process exited with -9" in page[page.index('id="not-graded"'):]


def test_test_names_render_code_spans_as_code_and_stay_escaped():
    assert render_name("`Dense.forward` returns `x @ w + b`") == \
        "<code>Dense.forward</code> returns <code>x @ w + b</code>"
    assert render_name("`` a`b `` <b>") == "<code>a`b</code> &lt;b&gt;"
    assert render_name("`<script>alert(1)</script>`") == "<code>&lt;script&gt;alert(1)&lt;/script&gt;</code>"
    assert render_name("an unclosed ` stays") == "an unclosed ` stays"


def test_page_renders_test_names_and_gives_informative_tests_no_pass_rate(tmp_path):
    out = tmp_path / "regrade"
    named = "`Dense.forward` returns `x @ w + b`"
    informative = {"name": "predictions.npy (informative)", "number": "9.9", "score": 0, "max_score": 0,
                   "status": "passed", "output": "predictions.npy was not submitted"}
    write_submission(out, "submission_1", [test(f"1.3 {named}", 0, 5, "wrong"), informative], 1.0)
    write_submission(out, "submission_2", [test(f"1.3 {named}", 5, 5), informative], 1.0)
    write_tables(out)
    page = render(out)
    failures = page[page.index('id="failures"'):page.index('id="slowest"')]
    assert "1.3 <code>Dense.forward</code> returns <code>x @ w + b</code></td>" in failures
    assert "`" not in failures and "predictions.npy" not in failures
    rates = page[page.index('id="pass-rates"'):page.index('id="packaging"')]
    assert "9.9 predictions.npy (informative)</td><td class=\"n\">2</td><td>n.a. (informative)</td>" in rates
    assert "100" not in rates
    assert "<title>Regrade: regrade report</title>" in page  # no run.json: no assignment, and not the folder


def linked_urls(page: str) -> list[str]:
    """Every URL the browser would load or follow: src/href attributes of real tags."""
    found = []

    class Collector(html.parser.HTMLParser):
        def handle_starttag(self, tag, attrs):
            found.extend(value or "" for name, value in attrs if name in ("src", "href", "srcset", "action"))

    Collector().feed(page)
    return found


def test_student_output_is_escaped_and_the_page_never_reaches_the_network(tmp_path):
    page = render(small_class(tmp_path / "regrade"))
    assert "<script" not in page
    assert "&lt;script&gt;alert(&#x27;pwned&#x27;)&lt;/script&gt;" in page
    assert all(value.startswith(("data:", "#")) for value in linked_urls(page)), linked_urls(page)
    assert "default-src 'none'" in page  # the CSP forbids fetching anything at all


def test_failure_message_is_the_first_line_with_words_without_markdown():
    assert failure_message({"output": "\n---\n**Dense.forward** returned `None`\n\nmore"}) == \
        "Dense.forward returned None"
    assert failure_message({"output": ""}) == "(no message)"
    assert len(failure_message({"output": "x" * 1000})) <= 201


def test_cli_writes_the_page(tmp_path):
    out = small_class(tmp_path / "regrade")
    proc = subprocess.run([sys.executable, "-m", "autograder", "report", str(out), "--out", str(tmp_path / "r.html")],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "r.html").read_text().startswith("<!DOCTYPE html>")
    assert subprocess.run([sys.executable, "-m", "autograder", "report", str(tmp_path / "nope")], cwd=REPO,
                          capture_output=True, timeout=60).returncode == 2


def assert_charts_on_screen(page: Path, tmp_path: Path) -> None:
    """Chromium shows both charts: their colours cover real areas of the screenshot, in page
    order, and vanish when the images are removed (so the pixels are the charts)."""
    shot = ta_support.screenshot(page, tmp_path / "report.png")
    histogram = ta_support.colour_mask(shot, HISTOGRAM_COLOR)
    passing = ta_support.colour_mask(shot, PASS_COLOR)
    assert histogram.sum() > 500, f"no histogram bars on screen ({histogram.sum()} px)"
    assert passing.sum() > 500, f"no pass-rate bars on screen ({passing.sum()} px)"
    rows_h, rows_p = np.nonzero(histogram.any(axis=1))[0], np.nonzero(passing.any(axis=1))[0]
    assert rows_h.max() < rows_p.min(), "the histogram should be above the pass-rate chart"
    pixels = __import__("matplotlib.image", fromlist=["imread"]).imread(str(shot))[..., :3]
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 50  # a real page, not a blank one

    bare = tmp_path / "no-images.html"
    bare.write_text(re.sub(r"<img [^>]*>", "", page.read_text()))
    control = ta_support.screenshot(bare, tmp_path / "no-images.png")
    assert ta_support.colour_mask(control, HISTOGRAM_COLOR).sum() < 20
    assert ta_support.colour_mask(control, PASS_COLOR).sum() < 20


def test_page_renders_with_its_charts_in_headless_chromium(tmp_path):
    page = tmp_path / "report.html"
    page.write_text(render(small_class(tmp_path / "regrade")))
    assert_charts_on_screen(page, tmp_path)
