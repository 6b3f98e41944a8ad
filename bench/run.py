"""The grading benchmark: one command, one table.

    python3 dev.py run bench/run.py [--quick] [--update-readme] [--out FILE] [--keep]
    python3 dev.py run bench/run.py --compare REV [--quick] [--reps N] [--only NAMES] [--update-readme]

Measures, side by side in one run (see bench/README.md for what each figure means):
  1. a full grade of the reference through run_autograder in a relocated Gradescope tree,
     broken down by phase (bench/phases.py);
  2. the floor (time inside student code) and total/floor;
  3. the same grade in the benchmark-only in-process mode, and isolated/in-process;
  4. the peak memory of the whole process tree (bench/memory.py);
  5. the round trip of one small remote call, in microseconds;
  6. TA regrade throughput with 1 and 2 jobs, and the speed-up;
and the grading of the 0% template and of a submission that hangs.

--compare REV measures REV against this working tree instead, side by side and interleaved
in one run (bench/compare.py): the reference's full grade isolated and in-process, peak
memory, a small call's round trip, a fresh worker's start. Its table goes to stdout, to --out
(default bench/compare-results.md for full runs; the figures beside it as .json), and with
--update-readme into README's Performance section, above the main table.

--quick is the CI configuration: a few tests (-k), a 2-second call timeout, two template
submissions for the regrade. It checks that the bench works, not the targets.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(1, str(BENCH.parent))

import compare  # noqa: E402
import phases  # noqa: E402
import report  # noqa: E402
import scenarios  # noqa: E402

QUICK_TESTS = "sigmoid_forward or dense_forward or tensor_and_variable"
DEFAULT_OUT = BENCH / "results.md"
DEFAULT_COMPARE_OUT = BENCH / "compare-results.md"


def config(quick: bool) -> dict:
    if quick:
        return {"name": "quick", "pytest_args": f"-k '{QUICK_TESTS}'", "call_timeout_s": 2,
                "regrade_submissions": 2, "regrade_kind": "template", "calls": 500}
    return {"name": "full", "pytest_args": "", "call_timeout_s": None,
            "regrade_submissions": 4, "regrade_kind": "reference", "calls": 5000}


def mnist_dir() -> str | None:
    for candidate in (os.environ.get("BERAS_MNIST_DIR"), "/work/shared/data/mnist"):
        if candidate and Path(candidate).is_dir():
            return candidate
    return None


def machine() -> dict:
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            model = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), "")
    except OSError:
        pass
    return {"cores": os.cpu_count(), "cpu": model, "python": platform.python_version(),
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "load": os.getloadavg()[0], "root": os.geteuid() == 0}


def log(text: str) -> None:
    print(f"bench: {text}", file=sys.stderr, flush=True)


def run(quick: bool, workdir: Path) -> dict:
    cfg = config(quick)
    mnist = mnist_dir()
    facts = {"config": cfg, "machine": machine(), "mnist": mnist}
    overrides = {"sandbox": {"call_timeout_s": str(cfg["call_timeout_s"])}} if cfg["call_timeout_s"] else None
    log(f"{cfg['name']} configuration; building the relocated Gradescope tree in {workdir}")
    tree = scenarios.Tree.build(workdir, overrides)
    reference, template = tree.source / "reference", tree.source / "student_template"
    args = cfg["pytest_args"]
    loads = {}  # 1-minute load average as each scenario starts: the machine may be shared

    def note_load(label):
        loads[label] = os.getloadavg()[0]

    log("grading the reference through run_autograder (isolated)")
    note_load("isolated")
    isolated = scenarios.run_autograder(tree, reference, "isolated", pytest_args=args, mnist_dir=mnist)
    log(f"  {isolated.wall:.1f} s, {isolated.score:g}/{isolated.max_score:g}")
    log("grading the reference in-process (benchmark-only mode)")
    note_load("in-process")
    # The worker runs with one BLAS thread (its environment says so); student code in this
    # mode gets the same, or the comparison would measure thread oversubscription instead.
    in_process = scenarios.run_autograder(tree, reference, "in-process", in_process=True,
                                          pytest_args=args, mnist_dir=mnist,
                                          env={v: "1" for v in scenarios.THREAD_VARS})
    log(f"  {in_process.wall:.1f} s, {in_process.score:g}/{in_process.max_score:g}")
    log("grading the template (0%)")
    note_load("template")
    template_run = scenarios.run_autograder(tree, template, "template", pytest_args=args, mnist_dir=mnist)
    log(f"  {template_run.wall:.1f} s, {template_run.score:g}/{template_run.max_score:g}")
    log("grading a submission whose Sigmoid.forward never returns")
    note_load("hanging")
    hanging = scenarios.hanging_submission(reference, workdir / "hanging")
    hang_run = scenarios.run_autograder(tree, hanging, "hanging", pytest_args=args, mnist_dir=mnist)
    log(f"  {hang_run.wall:.1f} s, {hang_run.score:g}/{hang_run.max_score:g}")
    log("grading a submission whose beras/activations.py never finishes importing")
    note_load("hanging-import")
    hanging_import = scenarios.hanging_submission(reference, workdir / "hanging-import", at_import=True)
    import_run = scenarios.run_autograder(tree, hanging_import, "hanging-import", pytest_args=args, mnist_dir=mnist)
    log(f"  {import_run.wall:.1f} s, {import_run.score:g}/{import_run.max_score:g}")
    log("grading a submission whose Sigmoid.forward returns 256 MB (the grader's own peak, beside the reference's)")
    note_load("huge-reply")
    huge = scenarios.huge_reply_submission(reference, workdir / "huge-reply")
    huge_run = scenarios.run_autograder(tree, huge, "huge-reply", pytest_args=args, mnist_dir=mnist)
    log(f"  {huge_run.wall:.1f} s, {huge_run.score:g}/{huge_run.max_score:g}, "
        f"grader's own peak {huge_run.peak.grader_hwm / 2**20:.0f} MB (reference {isolated.peak.grader_hwm / 2**20:.0f} MB)")

    log(f"round trips: {cfg['calls']} small calls, isolated and in-process")
    note_load("latency")
    latency = scenarios.round_trip(reference, False, cfg["calls"])
    latency_in = scenarios.round_trip(reference, True, cfg["calls"])

    kind = reference if cfg["regrade_kind"] == "reference" else template
    export = scenarios.make_export(workdir / "export", [kind] * cfg["regrade_submissions"])
    regrade_args = ["-k", QUICK_TESTS] if quick else []
    regrades = []
    for jobs in (1, 2):
        log(f"regrading {cfg['regrade_submissions']} submissions ({cfg['regrade_kind']}) with {jobs} job(s)")
        note_load(f"regrade-{jobs}")
        regrades.append(scenarios.regrade(tree, export, workdir / f"regrade-{jobs}", jobs,
                                          pytest_args=regrade_args, mnist_dir=mnist))
        log(f"  {regrades[-1].wall:.1f} s")

    timeout_s = tree.sandbox_setting("call_timeout_s", 20.0)
    note_load("end")
    return {
        **facts,
        "loads": loads,
        "call_timeout_s": timeout_s,
        "runs": {r.label: summarize(r) for r in (isolated, in_process, template_run, hang_run, import_run, huge_run)},
        "breakdown": {r.label: asdict(phases.breakdown(r.timings, r.started, r.ended, r.cpu,
                                                       in_process=r is in_process))
                      for r in (isolated, in_process, template_run) if r.timings},
        "latency": {"isolated": asdict(latency), "in_process": asdict(latency_in)},
        "regrade": [asdict(r) | {"per_minute": r.per_minute} for r in regrades],
        "hang": hang_figures(hang_run, timeout_s),
        "hang_import": hang_figures(import_run, timeout_s),
    }


def hang_figures(run: scenarios.GradeRun, timeout_s: float) -> dict:
    return {"timed_out_tests": run.count_outputs(f"did not finish within {timeout_s:g} s;"),
            "refused_tests": run.count_outputs("so it was not tried again"),
            "test_time_limit": run.count_outputs("**Time limit:**")}


def summarize(run: scenarios.GradeRun) -> dict:
    tests = run.results.get("tests", [])
    return {"wall": run.wall, "cpu": run.cpu, "score": run.score, "max_score": run.max_score,
            "tests": len(tests), "passed": sum(1 for t in tests if t.get("status") == "passed"),
            "output": str(run.results.get("output", ""))[:300],
            "peak": asdict(run.peak)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="bench/run.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="the small CI configuration")
    parser.add_argument("--out", type=Path, default=None,
                        help=f"write the table here (default: {DEFAULT_OUT.relative_to(BENCH.parent)}, "
                             f"full runs only) and the figures beside it as .json")
    parser.add_argument("--update-readme", action="store_true",
                        help="regenerate README.md's Performance section from this run")
    parser.add_argument("--from-json", type=Path, default=None,
                        help="do not measure: render the table from a previous run's .json")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument("--compare", metavar="REV", default=None,
                        help="measure REV (a temporary git worktree) against this working tree, "
                             "interleaved in one run")
    parser.add_argument("--reps", type=int, default=None,
                        help="--compare: repetitions per side (default 5; 2 with --quick)")
    parser.add_argument("--only", default=None,
                        help=f"--compare: comma-separated measurements, of {','.join(compare.MEASUREMENTS)}")
    args = parser.parse_args(argv)
    if args.compare or (args.from_json and "samples" in json.loads(args.from_json.read_text())):
        return main_compare(args)
    if args.reps is not None or args.only is not None:
        parser.error("--reps and --only go with --compare")

    if args.from_json:
        figures = json.loads(args.from_json.read_text())
    else:
        workdir = Path(tempfile.mkdtemp(prefix="beras-bench-"))
        try:
            figures = run(args.quick, workdir)
        finally:
            if not args.keep:
                import shutil
                shutil.rmtree(workdir, ignore_errors=True)
            else:
                log(f"work directory kept: {workdir}")
    return publish(args, figures, report, DEFAULT_OUT)


def main_compare(args) -> int:
    if args.from_json:
        figures = json.loads(args.from_json.read_text())
    else:
        if args.reps is not None and args.reps < 1:
            raise SystemExit("bench/run.py: --reps must be at least 1")
        only = [n.strip() for n in args.only.split(",") if n.strip()] if args.only else None
        try:
            figures = compare.measure(args.compare, machine(), quick=args.quick, reps=args.reps,
                                      only=only, quick_tests=QUICK_TESTS)
        except ValueError as err:
            raise SystemExit(f"bench/run.py: {err}")
    return publish(args, figures, compare, DEFAULT_COMPARE_OUT)


def publish(args, figures: dict, renderer, default_out: Path) -> int:
    """Print the table; write it (and its figures) to --out or the default; --update-readme
    puts it into README's Performance section. `renderer` is report or compare."""
    table = renderer.markdown(figures)
    print(table)
    out = args.out if args.out is not None else (None if args.quick or args.from_json else default_out)
    if out is not None:
        out.write_text(table)
        if not args.from_json:
            out.with_suffix(".json").write_text(json.dumps(figures, indent=1, sort_keys=True) + "\n")
        log(f"table written to {out}")
    if args.update_readme:
        readme = BENCH.parent / "README.md"
        readme.write_text(renderer.replace_block(readme.read_text(), table))
        log(f"{readme} Performance section updated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
