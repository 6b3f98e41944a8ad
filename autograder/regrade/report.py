"""One self-contained HTML page about a regraded class.

    python -m autograder report DIR [--out report.html] [--top 3] [--title TEXT]

DIR is a `regrade` (or `merge`) output folder. The page is titled after the assignment (the
export's, recorded in run.json) and holds a score histogram, a per-test pass-rate chart
(informative 0-point tests have no pass rate and are listed apart), the zeros that look like
a packaging mistake with their reason, the scores that changed since Gradescope's export,
the most common failure messages of each test, the slowest submissions and those that could
not be graded. Charts are PNGs embedded as data: URIs, and a Content-Security-Policy
forbids every network fetch, so the page opens anywhere, offline. Everything shown comes
from results that student code influenced, so all text is escaped.
"""
from __future__ import annotations

import argparse
import html
import re
import sys
from pathlib import Path

from autograder.atomic import read_json, write_text_atomic
from autograder.regrade.charts import histogram_chart, pass_rate_chart
from autograder.regrade.findings import failures_by_test, import_failure
from autograder.regrade.layout import GRADED, RUN_NAME
from autograder.regrade.tables import Row, collect_rows, summary
from autograder.results import format_points
from autograder.untrusted import clean

CHANGED_SHOWN = 25  # rows of the "changed since the export" table

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto; max-width: 60em;
       color: #222; background: #fff; line-height: 1.4; padding: 0 1em; }
h1 { font-size: 1.6em; } h2 { font-size: 1.25em; margin-top: 2em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; width: 100%; font-size: 0.9em; }
th, td { text-align: left; padding: 0.25em 0.5em; border-bottom: 1px solid #eee; vertical-align: top; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
.stats span { display: inline-block; margin-right: 2em; }
img { max-width: 100%; }
code, pre { font-family: ui-monospace, monospace; font-size: 0.85em; white-space: pre-wrap; }
ul.reasons { margin: 0; padding-left: 1.2em; }
.muted { color: #666; }
"""

# A Markdown code span: a run of backticks, text, the same run (CommonMark's rule).
_CODE_SPAN = re.compile(r"(?<!`)(`+)(?!`)(.+?)(?<!`)\1(?!`)", re.DOTALL)


def _e(value) -> str:
    # Student text (through results.json) is data: no control character, no live markup.
    return html.escape(clean("" if value is None else str(value)), quote=True)


def render_name(name: str) -> str:
    """A test name (ours; its Markdown code spans are names) as HTML: each code span a
    <code>, everything escaped."""
    parts, position = [], 0
    for match in _CODE_SPAN.finditer(name):
        inner = match.group(2)
        if inner.startswith(" ") and inner.endswith(" ") and inner.strip():
            inner = inner[1:-1]
        parts += [_e(name[position:match.start()]), f"<code>{_e(inner)}</code>"]
        position = match.end()
    return "".join(parts) + _e(name[position:])


def _stat(value) -> str:
    """A class statistic (mean, median, deviation): four figures say enough, where points
    themselves are shown exactly (format_points)."""
    return "–" if value is None else f"{value:.4g}"


def _points(value) -> str:
    return "–" if value is None else format_points(value)


def _seconds(value) -> str:
    return f"{value:.1f}" if isinstance(value, (int, float)) else "–"


def _people(row: Row) -> str:
    return ", ".join(str(p.get("name") or p.get("email") or "") for p in row.record.get("submitters") or [])


def assignment_title(out_dir: Path) -> str | None:
    """The assignment the regrade graded, as regrade (or merge) recorded it from the export."""
    run = read_json(Path(out_dir) / RUN_NAME)
    title = run.get("assignment") if isinstance(run, dict) else None
    return str(title) if title else None


def _table(head: list[str], rows: list[list[str]], numeric: set[int] = frozenset()) -> str:
    """Cells are HTML already; columns in `numeric` align right."""
    cls = lambda i: ' class="n"' if i in numeric else ""  # noqa: E731
    lines = ["<table><tr>" + "".join(f"<th{cls(i)}>{h}</th>" for i, h in enumerate(head)) + "</tr>"]
    lines += ["<tr>" + "".join(f"<td{cls(i)}>{c}</td>" for i, c in enumerate(row)) + "</tr>" for row in rows]
    return "\n".join(lines) + "</table>"


def _header(title: str, out_dir: Path, stats: dict) -> list[str]:
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        # Nothing on this page may reach the network: images are data: URIs, styles inline.
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src data:; "
        "style-src 'unsafe-inline'\">",
        f"<title>{_e(title)}: regrade report</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>{_e(title)}: regrade report</h1>",
        f'<p class="muted">From <code>{_e(Path(out_dir).resolve())}</code>.</p>',
        '<p class="stats">',
        f"<span><b>{stats['submissions']}</b> submissions</span>",
        f"<span><b>{stats['graded']}</b> graded</span>",
        f"<span><b>{len(stats['not_graded'])}</b> not graded</span>",
    ]
    score, maximum = stats["score"], stats["max_score"]
    if score:
        out_of = _points(maximum) if isinstance(maximum, (int, float)) else ", ".join(map(_points, maximum))
        parts += [f"<span>mean <b>{_stat(score['mean'])}</b></span>",
                  f"<span>median <b>{_stat(score['median'])}</b></span>",
                  f"<span>full marks <b>{score['full_marks']}</b></span>",
                  f"<span>out of <b>{_e(out_of)}</b></span>"]
    exported = stats["exported_score"]
    if exported:
        parts.append(f"<span><b>{exported['changed']}</b> of {exported['compared']} scores differ from "
                     f"Gradescope's at export (mean change {_stat(exported['mean_change'])})</span>")
    return parts + ["</p>"]


def _pass_rates(stats: dict, graded: list[Row]) -> list[str]:
    parts = ['<h2 id="pass-rates">Pass rate per test</h2>']
    rated = [t for t in stats["tests"] if t["pass_rate"] is not None]
    if rated and graded:
        parts.append(f'<img id="pass-rate-chart" alt="Pass rate of each test" src="{pass_rate_chart(rated)}">')
    else:
        parts.append("<p>No test results.</p>")
    informative = [t for t in stats["tests"] if t["informative"]]
    if informative:
        parts.append('<p id="informative">Informative tests (0 points; they report, so a pass rate would '
                     "mean nothing):</p>")
        parts.append(_table(["test", "submissions", "pass rate"],
                            [[render_name(t["name"]), str(t["submissions"]), "n.a. (informative)"]
                             for t in informative], numeric={1}))
    return parts


def _packaging(rows: list[Row]) -> list[str]:
    parts = ['<h2 id="packaging">Zeros that look like a packaging mistake</h2>']
    flagged = [(row, reasons) for row in rows if row.status == GRADED for reasons in [import_failure(row)] if reasons]
    if not flagged:
        return parts + ["<p>None: every zero came from code that could be imported.</p>"]
    parts.append("<p>These scored 0 because nothing of them could be imported: often files nested in a "
                 "folder, or a package missing or misnamed. Worth a look before the grades go out.</p>")
    cells = [[_e(row.submission_id), _e(_people(row)),
              '<ul class="reasons">' + "".join(f"<li>{_e(r)}</li>" for r in reasons) + "</ul>"]
             for row, reasons in flagged]
    return parts + [_table(["submission", "students", "reason (from its results.json)"], cells)]


def _changed_since_export(rows: list[Row]) -> list[str]:
    parts = ['<h2 id="exported">Changed since the export</h2>']
    compared = [r for r in rows if r.status == GRADED and r.exported_score is not None]
    if not compared:
        return parts + ["<p>The export holds no scores to compare with.</p>"]
    changed = sorted((r for r in compared if abs(r.total() - r.exported_score) > 1e-9),
                     key=lambda r: (-abs(r.total() - r.exported_score), r.submission_id))
    if not changed:
        return parts + [f"<p>None: all {len(compared)} regraded scores equal Gradescope's at export.</p>"]
    cells = [[_e(r.submission_id), _e(_people(r)), _points(r.exported_score), _points(r.total()),
              ("+" if r.total() > r.exported_score else "-") + _points(abs(r.total() - r.exported_score))]
             for r in changed[:CHANGED_SHOWN]]
    more = len(changed) - CHANGED_SHOWN
    note = f'<p class="muted">... and {more} more (<code>python -m autograder diff --against-export</code>).</p>'
    return parts + [_table(["submission", "students", "Gradescope at export", "regrade", "change"], cells,
                           numeric={2, 3, 4})] + ([note] if more > 0 else [])


def _failures(graded: list[Row], top: int) -> list[str]:
    parts = ['<h2 id="failures">Most common failure messages</h2>']
    failures = failures_by_test(graded, top)
    if not failures:
        return parts + ["<p>Every graded submission passed every test.</p>"]
    parts.append('<table><tr><th>test</th><th class="n">failed</th><th>message</th><th class="n">count</th></tr>')
    for label, failed, seen, messages in failures:
        for index, (message, count) in enumerate(messages):
            head = (f'<td rowspan="{len(messages)}">{render_name(label)}</td>'
                    f'<td class="n" rowspan="{len(messages)}">{failed}/{seen}</td>') if index == 0 else ""
            parts.append(f"<tr>{head}<td><code>{_e(message)}</code></td><td class=\"n\">{count}</td></tr>")
    return parts + ["</table>"]


def _slowest(rows: list[Row], slowest: int) -> list[str]:
    timed = sorted(rows, key=lambda r: -(r.record.get("duration_s") or 0))[:slowest]
    cells = [[_e(r.submission_id), _e(_people(r)), _e(r.status), _seconds(r.record.get("duration_s")),
              _seconds((r.results or {}).get("execution_time"))] for r in timed]
    return ['<h2 id="slowest">Slowest submissions</h2>',
            _table(["submission", "students", "status", "grading wall time (s)", "tests' execution time (s)"],
                   cells, numeric={3, 4})]


def _not_graded(rows: list[Row], stats: dict) -> list[str]:
    parts = ['<h2 id="not-graded">Submissions that could not be graded</h2>']
    if not stats["not_graded"]:
        return parts + ["<p>None: every submission was graded.</p>"]
    by_id = {r.submission_id: r for r in rows}
    cells = [[_e(e["submission_id"]), _e(_people(by_id[e["submission_id"]])), _e(e["status"]),
              f"<code>{_e(e['error'])}</code>"] for e in stats["not_graded"]]
    return parts + [_table(["submission", "students", "status", "reason"], cells)]


def render(out_dir: Path, top: int = 3, slowest: int = 10, title: str | None = None) -> str:
    rows = collect_rows(Path(out_dir))
    stats = summary(rows)
    graded = [r for r in rows if r.status == GRADED]
    totals = [r.total() for r in graded]
    max_score = stats["max_score"] if isinstance(stats["max_score"], (int, float)) else None
    parts = _header(title or assignment_title(out_dir) or "Regrade", out_dir, stats)
    parts.append('<h2 id="histogram">Score histogram</h2>')
    if totals:
        parts.append(f'<img id="score-histogram" alt="Histogram of total scores" src="{histogram_chart(totals, max_score)}">')
    else:
        parts.append("<p>No submission could be graded.</p>")
    parts += _pass_rates(stats, graded)
    parts += _packaging(rows)
    parts += _changed_since_export(rows)
    parts += _failures(graded, top)
    parts += _slowest(rows, slowest)
    parts += _not_graded(rows, stats)
    if totals:
        parts.append(f'<p class="muted">Standard deviation {_stat(stats["score"]["stdev"])}. '
                     "Generated by <code>python -m autograder report</code>.</p>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def configure(parser: argparse.ArgumentParser, command: str) -> None:
    parser.description = "Write one self-contained HTML page about a regrade output folder."
    parser.add_argument("dir", type=Path, help="output folder of `regrade` or `merge`")
    parser.add_argument("--out", type=Path, default=None, help="the page to write (default: DIR/report.html)")
    parser.add_argument("--top", type=int, default=3, help="failure messages shown per test (default 3)")
    parser.add_argument("--title", default=None,
                        help="the assignment's name for the page (default: the one regrade read from the export)")


def run(args, command: str) -> int:
    if not args.dir.is_dir():
        print(f"report: {args.dir} is not a folder", file=sys.stderr)
        return 2
    page = render(args.dir, top=max(1, args.top), title=args.title)
    out = args.out or args.dir / "report.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out, page)
    print(f"report: wrote {out}", file=sys.stderr)
    return 0
