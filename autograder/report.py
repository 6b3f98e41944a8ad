"""One self-contained HTML page about a regraded class.

    python -m autograder report DIR [--out report.html] [--top 3]

DIR is a `regrade` (or `merge`) output folder. The page holds a score histogram, a per-test
pass-rate chart, the most common failure messages of each test, the slowest submissions and
those that could not be graded. Charts are matplotlib PNGs embedded as data: URIs, and a
Content-Security-Policy forbids every network fetch, so the page opens anywhere, offline.
Everything shown comes from results that student code influenced, so all text is escaped.
"""
from __future__ import annotations

import argparse
import base64
import collections
import html
import io
import re
import statistics
import sys
from pathlib import Path

from autograder.regrade import GRADED, Row, collect_rows, natural_key, summary, is_passed, write_text_atomic
from autograder.untrusted import clean

# Distinct chart colours (the page's own CSS uses none of them): the browser test looks
# for these pixels to prove that the charts, not just the text, are on screen.
HISTOGRAM_COLOR = "#3b6fb6"
PASS_COLOR = "#2e9e5b"
FAIL_COLOR = "#d9dde3"
MAX_MESSAGE = 200


def failure_message(test: dict) -> str:
    """The headline of a failed test's output: its first line with words, Markdown marks
    removed, numbers kept (they often say which case failed), whitespace collapsed."""
    for line in str(test.get("output") or "").splitlines():
        text = re.sub(r"^\s*(?:[#>]+\s*)+", "", line)  # heading and quote marks
        text = re.sub(r"\*\*|`+", "", text)  # bold and code marks; names keep their underscores
        text = re.sub(r"\s+", " ", text).strip(" -:")
        if re.search(r"[A-Za-z]", text):
            return text[:MAX_MESSAGE] + ("…" if len(text) > MAX_MESSAGE else "")
    return "(no message)"


def failures_by_test(rows: list[Row], top: int) -> list[tuple[str, int, int, list[tuple[str, int]]]]:
    """[(test, failed, seen, [(message, count), ...])], worst pass rate first."""
    counters: dict[str, collections.Counter] = {}
    seen: collections.Counter = collections.Counter()
    for row in rows:
        for label, test in row.tests():
            seen[label] += 1
            if not is_passed(test):
                counters.setdefault(label, collections.Counter())[failure_message(test)] += 1
    table = []
    for label, counter in counters.items():
        failed = sum(counter.values())
        ordered = sorted(counter.items(), key=lambda item: (-item[1], item[0]))
        table.append((label, failed, seen[label], ordered[:top]))
    table.sort(key=lambda entry: (-entry[1] / entry[2], natural_key(entry[0])))
    return table


def _png(figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(figure)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def histogram_chart(totals: list[float], max_score: float | None) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    figure, axes = plt.subplots(figsize=(8, 3.2))
    top = max_score if max_score else max(totals + [1.0])
    bins = [top * i / 20 for i in range(21)] if top > 0 else 10
    axes.hist(totals, bins=bins, color=HISTOGRAM_COLOR, edgecolor="white")
    axes.set_xlabel("total score")
    axes.set_ylabel("submissions")
    axes.yaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    axes.set_title(f"Score distribution ({len(totals)} graded)")
    axes.spines[["top", "right"]].set_visible(False)
    return _png(figure)


def pass_rate_chart(tests: list[dict]) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tests = [t for t in tests if t["pass_rate"] is not None]
    names = [t["name"] if len(t["name"]) <= 60 else t["name"][:57] + "..." for t in tests]
    rates = [100.0 * t["pass_rate"] for t in tests]
    figure, axes = plt.subplots(figsize=(8, max(2.0, 0.28 * len(tests) + 1.0)))
    positions = list(range(len(tests)))[::-1]  # first test at the top
    axes.barh(positions, [100.0] * len(tests), color=FAIL_COLOR, height=0.7)
    axes.barh(positions, rates, color=PASS_COLOR, height=0.7)
    axes.set_yticks(positions)
    axes.set_yticklabels(names, fontsize=8)
    axes.set_xlim(0, 100)
    axes.set_xlabel("% of graded submissions passing")
    axes.set_title("Pass rate per test")
    axes.spines[["top", "right"]].set_visible(False)
    return _png(figure)


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
.muted { color: #666; }
"""


def _e(value) -> str:
    # Student text (through results.json) is data: no control character, no live markup.
    return html.escape(clean("" if value is None else str(value)), quote=True)


def _num(value) -> str:
    if value is None:
        return "–"
    return f"{value:.4g}" if isinstance(value, float) and value != int(value) else f"{value:g}"


def _people(row: Row) -> str:
    people = row.record.get("submitters") or []
    return ", ".join(str(p.get("name") or p.get("email") or "") for p in people)


def render(out_dir: Path, top: int = 3, slowest: int = 10) -> str:
    rows = collect_rows(Path(out_dir))
    stats = summary(rows)
    graded = [r for r in rows if r.status == GRADED]
    totals = [r.total() for r in graded]
    max_score = stats["max_score"] if isinstance(stats["max_score"], (int, float)) else None
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        # Nothing on this page may reach the network: images are data: URIs, styles inline.
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src data:; "
        "style-src 'unsafe-inline'\">",
        f"<title>Regrade report: {_e(Path(out_dir).resolve().name)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>Regrade report <span class=\"muted\">{_e(Path(out_dir).resolve().name)}</span></h1>",
        '<p class="stats">',
        f"<span><b>{stats['submissions']}</b> submissions</span>",
        f"<span><b>{stats['graded']}</b> graded</span>",
        f"<span><b>{len(stats['not_graded'])}</b> not graded</span>",
    ]
    if stats["score"]:
        score = stats["score"]
        parts += [f"<span>mean <b>{_num(score['mean'])}</b></span>",
                  f"<span>median <b>{_num(score['median'])}</b></span>",
                  f"<span>full marks <b>{score['full_marks']}</b></span>",
                  f"<span>out of <b>{_e(_num(max_score) if max_score is not None else stats['max_score'])}</b></span>"]
    parts.append("</p>")

    parts.append('<h2 id="histogram">Score histogram</h2>')
    if totals:
        parts.append(f'<img id="score-histogram" alt="Histogram of total scores" src="{histogram_chart(totals, max_score)}">')
    else:
        parts.append("<p>No submission could be graded.</p>")

    parts.append('<h2 id="pass-rates">Pass rate per test</h2>')
    if stats["tests"] and graded:
        parts.append(f'<img id="pass-rate-chart" alt="Pass rate of each test" src="{pass_rate_chart(stats["tests"])}">')
    else:
        parts.append("<p>No test results.</p>")

    parts.append('<h2 id="failures">Most common failure messages</h2>')
    failures = failures_by_test(graded, top)
    if not failures:
        parts.append("<p>Every graded submission passed every test.</p>")
    else:
        parts.append('<table><tr><th>test</th><th class="n">failed</th><th>message</th><th class="n">count</th></tr>')
        for label, failed, seen, messages in failures:
            for index, (message, count) in enumerate(messages):
                head = (f'<td rowspan="{len(messages)}">{_e(label)}</td>'
                        f'<td class="n" rowspan="{len(messages)}">{failed}/{seen}</td>') if index == 0 else ""
                parts.append(f"<tr>{head}<td><code>{_e(message)}</code></td><td class=\"n\">{count}</td></tr>")
        parts.append("</table>")

    parts.append('<h2 id="slowest">Slowest submissions</h2>')
    timed = sorted(rows, key=lambda r: -(r.record.get("duration_s") or 0))[:slowest]
    parts.append('<table><tr><th>submission</th><th>students</th><th>status</th>'
                 '<th class="n">grading wall time (s)</th><th class="n">tests\' execution time (s)</th></tr>')
    for row in timed:
        execution = (row.results or {}).get("execution_time")
        parts.append(f"<tr><td>{_e(row.submission_id)}</td><td>{_e(_people(row))}</td><td>{_e(row.status)}</td>"
                     f"<td class=\"n\">{_num(row.record.get('duration_s'))}</td>"
                     f"<td class=\"n\">{_num(execution) if isinstance(execution, (int, float)) else '–'}</td></tr>")
    parts.append("</table>")

    parts.append('<h2 id="not-graded">Submissions that could not be graded</h2>')
    if stats["not_graded"]:
        parts.append("<table><tr><th>submission</th><th>students</th><th>status</th><th>reason</th></tr>")
        by_id = {r.submission_id: r for r in rows}
        for entry in stats["not_graded"]:
            row = by_id[entry["submission_id"]]
            parts.append(f"<tr><td>{_e(row.submission_id)}</td><td>{_e(_people(row))}</td>"
                         f"<td>{_e(entry['status'])}</td><td><code>{_e(entry['error'])}</code></td></tr>")
        parts.append("</table>")
    else:
        parts.append("<p>None: every submission was graded.</p>")
    if totals:
        parts.append(f'<p class="muted">Standard deviation {_num(statistics.pstdev(totals))}. '
                     "Generated by <code>python -m autograder report</code>.</p>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def configure(parser: argparse.ArgumentParser, command: str) -> None:
    parser.description = "Write one self-contained HTML page about a regrade output folder."
    parser.add_argument("dir", type=Path, help="output folder of `regrade` or `merge`")
    parser.add_argument("--out", type=Path, default=None, help="the page to write (default: DIR/report.html)")
    parser.add_argument("--top", type=int, default=3, help="failure messages shown per test (default 3)")


def run(args, command: str) -> int:
    if not args.dir.is_dir():
        print(f"report: {args.dir} is not a folder", file=sys.stderr)
        return 2
    page = render(args.dir, top=max(1, args.top))
    out = args.out or args.dir / "report.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out, page)
    print(f"report: wrote {out}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder report")
    configure(parser, "report")
    return run(parser.parse_args(argv), "report")


if __name__ == "__main__":
    sys.exit(main())
