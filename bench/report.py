"""The bench's figures as a Markdown table, and the README's generated Performance section."""
from __future__ import annotations

from typing import List, Optional

import phases

START, END = "<!-- bench:start -->", "<!-- bench:end -->"
MB = 1024 * 1024
GRADESCOPE_VCPU = 0.5
CORES_TARGETED = 2

# (key, label, target, direction): "le" the value must be at most the target, "lt" below it,
# "ge" at least it.
TARGETS = (
    ("wall", "full grade of the reference, wall", 20.0, "le", "s"),
    ("total_over_floor", "total / floor (time inside student code)", 3.0, "le", "x"),
    ("isolated_over_in_process", "isolated / in-process", 1.5, "le", "x"),
    ("peak_rss_mb", "peak RSS, whole tree (sum over processes)", 700.0, "le", "MB"),
    ("round_trip_us", "round trip of a small call (median)", 200.0, "lt", "µs"),
    ("regrade_speedup", "regrade speed-up, 1 -> 2 jobs", 1.8, "ge", "x"),
)


def headline(fig: dict) -> dict:
    runs, iso = fig["runs"], fig["breakdown"].get("isolated", {})
    floor = iso.get("floor") or 0.0
    regrades = {r["jobs"]: r for r in fig["regrade"]}
    one, two = regrades.get(1), regrades.get(2)
    return {
        "wall": runs["isolated"]["wall"],
        "total_over_floor": runs["isolated"]["wall"] / floor if floor else float("inf"),
        "isolated_over_in_process": runs["isolated"]["wall"] / runs["in-process"]["wall"],
        "peak_rss_mb": runs["isolated"]["peak"]["rss"] / MB,
        "round_trip_us": fig["latency"]["isolated"]["median_us"],
        "regrade_speedup": (two["per_minute"] / one["per_minute"]) if one and two and one["per_minute"] else 0.0,
    }


def met(value: float, target: float, direction: str) -> bool:
    return {"le": value <= target, "lt": value < target, "ge": value >= target}[direction]


def gap(value: float, target: float, direction: str) -> str:
    if met(value, target, direction):
        return "yes"
    if direction == "ge":
        return f"**no**: {target - value:.2g} short ({value / target - 1:+.0%})"
    return f"**no**: {value / target - 1:+.0%}"


def _fmt(value: float, unit: str) -> str:
    if unit == "x":
        return f"{value:.2f}x"
    if unit == "MB":
        return f"{value:.0f} MB"
    if unit == "µs":
        return f"{value:.0f} µs"
    return f"{value:.1f} s"


def markdown(fig: dict) -> str:
    m, cfg, runs = fig["machine"], fig["config"], fig["runs"]
    iso, inp = runs["isolated"], runs["in-process"]
    b_iso, b_inp = fig["breakdown"].get("isolated"), fig["breakdown"].get("in-process")
    head = headline(fig)
    lines: List[str] = []
    lines.append(f"Measured by `python3 dev.py run bench/run.py{' --quick' if cfg['name'] == 'quick' else ''}` "
                 f"on {m['date']}: {m['cores']} cores ({m['cpu'] or 'unknown CPU'}), Python {m['python']}, "
                 f"{'as root (workers run as the sandbox user)' if m['root'] else 'not root'}, "
                 f"load average {m['load']:.1f} at the start "
                 f"{'(other work shared the machine, so wall times are inflated; ratios and CPU times are steadier)' if m['load'] > (m['cores'] or 1) else ''}."
                 .replace(" .", "."))
    data = "MNIST test set (8,000 train / 2,000 test)" if fig.get("mnist") else "no MNIST (fallback digits)"
    lines.append(f"Configuration `{cfg['name']}`; data: {data}.")
    lines.append("")

    lines.append("**Targets**")
    lines.append("")
    lines.append("| measure | value | target | met |")
    lines.append("|---|---:|---:|---|")
    for key, label, target, direction, unit in TARGETS:
        sign = {"le": "<=", "lt": "<", "ge": ">="}[direction]
        lines.append(f"| {label} | {_fmt(head[key], unit)} | {sign} {_fmt(target, unit)} | "
                     f"{gap(head[key], target, direction)} |")
    lines.append("")

    lines.append("**Where the time goes**: the reference graded through `run_autograder` in a relocated "
                 "tree (isolated), and the same suite in the benchmark-only in-process mode. Phases are "
                 "disjoint and add up to the totals; CPU counts every process of the tree.")
    lines.append("")
    lines.append("| phase | isolated wall | share | isolated CPU | in-process wall | in-process CPU |")
    lines.append("|---|---:|---:|---:|---:|---:|")

    def cells(b, key, sub=None):
        if not b:
            return "", ""
        if sub is None:
            return f"{b['wall'][key]:.2f} s", f"{b['cpu'][key]:.2f} s"
        return f"{b['training'][sub]:.2f} s", f"{b['training_cpu'][sub]:.2f} s"

    if b_iso:
        for key, label in phases.PHASES:
            w, c = cells(b_iso, key)
            wi, ci = cells(b_inp, key)
            lines.append(f"| {label} | {w} | {b_iso['wall'][key] / b_iso['total']:.0%} | {c} | {wi} | {ci} |")
            if key == "training":
                for part, text in (("student", "student code"), ("roundtrips", "serialisation and round trips"),
                                   ("workers", "worker start-up"), ("trusted", "trusted side")):
                    w, c = cells(b_iso, key, part)
                    wi, ci = cells(b_inp, key, part)
                    lines.append(f"| &nbsp;&nbsp;of which {text} | {w} | | {c} | {wi} | {ci} |")
        tw, tc = f"{b_iso['total']:.2f} s", f"{b_iso['cpu_total']:.2f} s"
        twi, tci = (f"{b_inp['total']:.2f} s", f"{b_inp['cpu_total']:.2f} s") if b_inp else ("", "")
        lines.append(f"| **total** | **{tw}** | 100% | **{tc}** | **{twi}** | **{tci}** |")
        fwi, fci = (f"{b_inp['floor']:.2f} s", f"{b_inp['floor_cpu']:.2f} s") if b_inp else ("", "")
        lines.append(f"| floor: all student code, training included | {b_iso['floor']:.2f} s | "
                     f"{b_iso['floor'] / b_iso['total']:.0%} | {b_iso['floor_cpu']:.2f} s | {fwi} | {fci} |")
        if b_iso["floor"] and b_iso["floor_cpu"]:
            lines.append(f"| total / floor | {b_iso['total'] / b_iso['floor']:.2f}x | | "
                         f"{b_iso['cpu_total'] / b_iso['floor_cpu']:.2f}x | "
                         + (f"{b_inp['total'] / b_inp['floor']:.2f}x | {b_inp['cpu_total'] / b_inp['floor_cpu']:.2f}x |"
                            if b_inp and b_inp["floor"] and b_inp["floor_cpu"] else " | |"))
    lines.append(f"| score | {iso['score']:g} / {iso['max_score']:g} | | | {inp['score']:g} / {inp['max_score']:g} | |")
    lines.append("")
    if b_iso:
        lines.append(f"{b_iso['tests']} tests, {b_iso['examples']} Hypothesis examples, {b_iso['round_trips']:,} "
                     f"round trips to workers. On Gradescope's default {GRADESCOPE_VCPU} vCPU, expect about "
                     f"{iso['cpu'] / GRADESCOPE_VCPU:.0f} s (the CPU time / {GRADESCOPE_VCPU}). In-process runs "
                     f"student code with one BLAS thread, as the worker does.")
        lines.append("")

    if b_iso and b_iso.get("slowest") and isinstance(b_iso["slowest"][0], dict):
        lines.append("**Costliest tests** (isolated; CPU of grader and worker together)")
        lines.append("")
        lines.append("| test | wall | CPU | of which student | Hypothesis | round trips | requests | examples |")
        lines.append("|---|---:|---:|---:|---:|---:|---:|---:|")
        for r in b_iso["slowest"]:
            name = r["nodeid"].rsplit("/", 1)[-1]
            lines.append(f"| `{name}` | {r['wall']:.2f} s | {r['cpu']:.2f} s | {r['student_cpu']:.2f} s | "
                         f"{r['hypothesis_cpu']:.2f} s | {r['roundtrips_cpu']:.2f} s | {r['requests']:,} | {r['examples']} |")
        lines.append("")

    pk = iso["peak"]
    roles = ", ".join(f"{name} {size / MB:.0f} MB" for name, size in sorted(pk["by_role"].items()))
    lines.append("**Memory** (sampled from /proc every 20 ms over the whole tree)")
    lines.append("")
    lines.append("| run | peak RSS (sum) | peak PSS (sum) | processes at the peak |")
    lines.append("|---|---:|---:|---:|")
    for label in [k for k in ("isolated", "in-process", "template", "hanging", "hanging-import") if k in runs]:
        p = runs[label]["peak"]
        lines.append(f"| {label} | {p['rss'] / MB:.0f} MB | {p['pss'] / MB:.0f} MB | {p['processes']} |")
    lines.append("")
    lines.append(f"At the isolated peak: {roles}. RSS counts the pages a worker shares with its zygote "
                 f"once per process; PSS splits them, and is what a container's limit charges.")
    lines.append("")

    lat, lat_in = fig["latency"]["isolated"], fig["latency"]["in_process"]
    lines.append("**Round trips and workers**")
    lines.append("")
    lines.append("| | isolated | in-process |")
    lines.append("|---|---:|---:|")
    lines.append(f"| small call, median ({lat['calls']:,} calls) | {lat['median_us']:.0f} µs | {lat_in['median_us']:.0f} µs |")
    lines.append(f"| small call, 90th percentile | {lat['p90_us']:.0f} µs | {lat_in['p90_us']:.0f} µs |")
    lines.append(f"| fresh worker: fork, set up, one import, stop (median) | {lat['worker_cycle_ms']:.1f} ms | "
                 f"{lat_in['worker_cycle_ms']:.2f} ms |")
    lines.append("")

    lines.append("**Regrade** (`python -m autograder regrade`, one grading process per submission)")
    lines.append("")
    lines.append("| jobs | submissions | wall | per minute | graded |")
    lines.append("|---:|---:|---:|---:|---:|")
    for r in fig["regrade"]:
        lines.append(f"| {r['jobs']} | {r['submissions']} ({cfg['regrade_kind']}) | {r['wall']:.1f} s | "
                     f"{r['per_minute']:.1f} | {r['graded']} |")
    lines.append(f"| speed-up | | | {head['regrade_speedup']:.2f}x | |")
    lines.append("")

    tmpl = runs["template"]
    limit = fig["call_timeout_s"]
    lines.append("**Failing submissions** (through `run_autograder`; the budget of a hanging one is the "
                 "reference's time plus one call limit per test it stops)")
    lines.append("")
    lines.append("| submission | wall | CPU | score | calls stopped | refused at once | within budget |")
    lines.append("|---|---:|---:|---:|---:|---:|---|")
    lines.append(f"| template (every part raises NotImplementedError) | {tmpl['wall']:.1f} s | {tmpl['cpu']:.1f} s | "
                 f"{tmpl['score']:g} / {tmpl['max_score']:g} | | | <= the reference's {iso['wall']:.1f} s: "
                 f"{'yes' if tmpl['wall'] <= iso['wall'] * 1.1 else '**no**'} |")
    for label, key, text in (("hanging", "hang", "`Sigmoid.forward` never returns"),
                             ("hanging-import", "hang_import", "`beras/activations.py` loops at import")):
        if label not in runs:
            continue
        run, h = runs[label], fig[key]
        budget = iso["wall"] + h["timed_out_tests"] * limit
        within = run["wall"] <= budget * 1.15 + 5
        lines.append(f"| {text} | {run['wall']:.1f} s | {run['cpu']:.1f} s | {run['score']:g} / {run['max_score']:g} | "
                     f"{h['timed_out_tests']} x {limit:g} s | {h.get('refused_tests', 0)} | {budget:.0f} s: "
                     f"{'yes' if within else '**no**'} |")
    lines.append("")
    notes = gaps_explained(fig, head)
    if notes:
        lines.append("**Targets missed, and why**")
        lines.append("")
        lines += [f"- {n}" for n in notes]
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def gaps_explained(fig: dict, head: dict) -> List[str]:
    """A sentence per missed target, from the figures themselves."""
    notes = []
    runs, m = fig["runs"], fig["machine"]
    iso = runs["isolated"]
    b = fig["breakdown"].get("isolated")
    labels = dict(phases.PHASES)
    loaded = m["load"] > (m["cores"] or 1)
    if not met(head["wall"], 20.0, "le"):
        why = (f"the whole tree used {iso['cpu']:.1f} s of CPU; ")
        if loaded:
            why += (f"the machine's load average was {m['load']:.1f} on {m['cores']} cores, so the grading "
                    f"waited for CPU much of the time")
        elif b:
            top = max(((v, k) for k, v in b["wall"].items()))
            why += f"the largest phase is {labels[top[1]]} ({top[0]:.1f} s)"
        notes.append(f"Wall time {head['wall']:.1f} s is {head['wall'] / 20 - 1:.0%} over 20 s: {why}.")
    if b and not met(head["total_over_floor"], 3.0, "le"):
        overhead = sorted(((v, k) for k, v in b["wall"].items() if k != "student"), reverse=True)[:3]
        cpu_ratio = b["cpu_total"] / b["floor_cpu"] if b["floor_cpu"] else float("inf")
        notes.append(f"total/floor is {head['total_over_floor']:.2f} (in CPU time {cpu_ratio:.2f}): student code "
                     f"is only {b['floor']:.1f} s of {b['total']:.1f} s; the largest other phases are "
                     + ", ".join(f"{labels[k]} ({v:.1f} s)" for v, k in overhead) + ".")
    if not met(head["isolated_over_in_process"], 1.5, "le"):
        notes.append(f"isolated/in-process is {head['isolated_over_in_process']:.2f}: see the worker and round-trip "
                     f"rows of the phase table for the isolation's share.")
    if not met(head["peak_rss_mb"], 700, "le"):
        notes.append(f"peak RSS {head['peak_rss_mb']:.0f} MB exceeds 700 MB (PSS {iso['peak']['pss'] / MB:.0f} MB).")
    if not met(head["round_trip_us"], 200, "lt"):
        notes.append(f"the round trip median is {head['round_trip_us']:.0f} µs"
                     + (f"; with load average {m['load']:.1f} each reply waits for the scheduler" if loaded else "") + ".")
    if not met(head["regrade_speedup"], 1.8, "ge"):
        notes.append(f"regrade speed-up is {head['regrade_speedup']:.2f}x: two gradings share {m['cores']} cores"
                     + (f" with other work (load average {m['load']:.1f})" if loaded else "")
                     + "; each grading is itself two busy processes (grader and worker) part of the time.")
    return notes


def replace_block(readme: str, table: str) -> str:
    """README.md with the text between the bench markers replaced by `table` (the markers and
    a Performance heading are appended at the end when absent)."""
    block = f"{START}\n{table.rstrip()}\n{END}"
    if START in readme and END in readme and readme.index(START) < readme.index(END):
        before, rest = readme.split(START, 1)
        after = rest.split(END, 1)[1]
        return before + block + after
    return readme.rstrip() + "\n\n## Performance\n\n" + block + "\n"
