"""The figures validate prints and reports: kill rate, blame precision, diagnosis rate and
false-fail rate over the mutants and the correct submissions, and the kill matrix."""
from __future__ import annotations

from typing import Any

from autograder.validate.suite import SuiteTest
from autograder.validate.verdicts import MutantResult, Verdict


def figures(mutants: list[MutantResult], correct: list[Verdict]) -> dict[str, Any]:
    killed = sum(1 for m in mutants if m.killed)
    blames = [m.blame for m in mutants if m.killed and m.blame is not None]
    own = sum(m.own_lost for m in mutants if m.killed)
    foreign = sum(m.foreign_lost for m in mutants if m.killed)
    integ = sum(m.integration_lost for m in mutants if m.killed)
    declared = [m for m in mutants if m.killed and m.case.mistake]
    diagnosed = sum(1 for m in declared if m.diagnosed)
    tests_run = sum(len(verdict_scores(v)) for v in correct)
    tests_failed = sum(len(v.lost) - len(v.extra.get("exempt_lost", {})) for v in correct)
    return {
        "mutants": len(mutants), "killed": killed,
        "kill_rate": killed / len(mutants) if mutants else None,
        "blame_precision_mean": sum(blames) / len(blames) if blames else None,
        "blame_precision_pooled": own / (own + foreign) if own + foreign > 0 else None,
        "blame_precision_with_integration": own / (own + foreign + integ) if own + foreign + integ > 0 else None,
        "diagnosed": diagnosed, "diagnosable": len(declared),
        "diagnosis_rate": diagnosed / len(declared) if declared else None,
        "false_hints": sum(len(m.false_hints) for m in mutants),
        "correct_submissions": len(correct), "correct_test_runs": tests_run,
        "false_failures": tests_failed,
        "false_fail_rate": tests_failed / tests_run if tests_run else None,
    }


def verdict_scores(verdict: Verdict) -> dict:
    return verdict.extra.get("scores", {})


def pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def kill_matrix(mutants: list[MutantResult], suite: list[SuiteTest], width: int = 120) -> str:
    """Rows: mutants. Columns: every test some mutant failed, in suite order. Cells:
    'X' lost points in its own part, 'i' in an integration test, 'x' elsewhere, '.' passed."""
    failed_keys = {k for m in mutants for k in m.verdict.lost}
    columns = [t for t in suite if t.key in failed_keys]
    if not columns:
        return "(no mutant failed any test)"
    labels = [t.label() for t in columns]
    name_w = min(max(len(m.case.id) for m in mutants), 40)
    height = max(len(l) for l in labels)
    lines = []
    for row in range(height):
        cells = "".join((l.rjust(height)[row]) for l in labels)
        lines.append(" " * (name_w + 9) + cells)
    lines.append(" " * (name_w + 9) + "-" * len(columns))
    for m in mutants:
        own = {t.key for t in m.part_tests} | {t.key for t in m.own_tests}
        integ = {t.key for t in m.integration}
        cells = "".join(("X" if t.key in own else "i" if t.key in integ else "x") if t.key in m.verdict.lost else "."
                        for t in columns)
        status = "killed" if m.killed else "ALIVE "
        lines.append(f"{m.case.id[:name_w]:<{name_w}}  {status} {cells}")
    lines.append("")
    lines.append("X lost points in its own part, i in an integration test, x elsewhere; columns are test numbers:")
    legend = [f"{t.label()} {t.function}" for t in columns]
    col_w = max(len(s) for s in legend) + 2
    per_line = max(1, width // col_w)
    for i in range(0, len(legend), per_line):
        lines.append("  " + "".join(s.ljust(col_w) for s in legend[i:i + per_line]).rstrip())
    return "\n".join(lines)


def mutant_records(mutants: list[MutantResult]) -> list[dict]:
    """What the JSON report says of each mutant."""
    return [
        {"id": m.case.id, "part": m.case.part, "description": m.case.description, "killed": m.killed,
         "own_tests": [t.label() for t in m.own_tests], "lost": m.verdict.lost,
         "blame": m.blame, "own_lost": m.own_lost, "foreign_lost": m.foreign_lost,
         "integration_lost": m.integration_lost, "mistake": m.case.mistake, "diagnosed": m.diagnosed,
         "right_hints": m.right_hints, "false_hints": [list(f) for f in m.false_hints],
         "untagged_hints": m.untagged_hints} for m in mutants]


def mutant_lines(mutants: list[MutantResult], suite: list[SuiteTest]) -> list[str]:
    """The kill matrix, then the mutants that survived, blamed elsewhere, or went undiagnosed."""
    if not mutants:
        return []
    lines = ["", "Kill matrix", kill_matrix(mutants, suite)]
    alive = [m for m in mutants if not m.killed]
    if alive:
        lines += ["", f"Surviving mutants ({len(alive)}):"]
        for m in alive:
            lines.append(f"  {m.case.id} [{m.case.part}]: {m.case.description}")
            lines.append(f"      {'; '.join(m.verdict.problems)}")
    mis = [m for m in mutants if m.killed and m.blame is not None and m.blame < 1]
    if mis:
        lines += ["", "Mutants that also lost points outside their part:"]
        for m in mis:
            own = {t.key for t in m.part_tests} | {t.key for t in m.own_tests} | {t.key for t in m.integration}
            elsewhere = [k for k in m.verdict.lost if k not in own]
            lines.append(f"  {m.case.id} [{m.case.part}] blame {pct(m.blame)}: also {', '.join(elsewhere)}")
    undiagnosed = [m for m in mutants if m.killed and m.case.mistake and not m.diagnosed]
    if undiagnosed:
        lines += ["", "Mutants whose feedback does not name their mistake:"]
        for m in undiagnosed:
            said = ([f"false: {k} says {c}" for k, c in m.false_hints]
                    + ([f"untagged in {', '.join(sorted(set(m.untagged_hints)))}"] if m.untagged_hints else [])
                    + ([] if m.right_hints or m.false_hints else ["no hint of its class"]))
            lines.append(f"  {m.case.id} ({m.case.mistake}): {'; '.join(said)}")
    return lines


def figure_lines(stats: dict, correct: list[Verdict]) -> list[str]:
    lines = [
        "", "Figures",
        f"  kill rate          {pct(stats['kill_rate'])}  ({stats['killed']} of {stats['mutants']} mutants "
        f"lose points in their own tests)",
        f"  blame precision    {pct(stats['blame_precision_mean'])} mean over killed mutants, "
        f"{pct(stats['blame_precision_pooled'])} pooled over their lost points "
        f"({pct(stats['blame_precision_with_integration'])} counting integration tests as elsewhere)",
        f"  diagnosis rate     {pct(stats['diagnosis_rate'])}  ({stats['diagnosed']} of {stats['diagnosable']} "
        f"killed mutants get a hint of their mistake class and none of another; "
        f"{stats['false_hints']} false hints)",
        f"  false-fail rate    {pct(stats['false_fail_rate'])}  ({stats['false_failures']} failed of "
        f"{stats['correct_test_runs']} tests run on {stats['correct_submissions']} correct submissions)"]
    exempt = [(v.label, k) for v in correct for k in v.extra.get("exempt_lost", {})]
    for label, key in exempt:
        lines.append(f"  (declared style-sensitive, not counted: {label} lost points in {key})")
    return lines
