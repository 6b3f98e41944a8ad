"""The validation corpus is well-formed, and validate's bookkeeping is right (no grading here).

The end-to-end runs of `python -m autograder validate` are in test_validate_run.py.
"""
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from autograder import batch, template
from autograder.validate.corpus import Case, Corpus, CorpusError, Edit, Part, edit_span, load_corpus, materialise
from autograder.validate.figures import figures, kill_matrix
from autograder.validate.jobs import Graded, Job, run_jobs
from autograder.validate.suite import SuiteTest, matches, select
from autograder.validate.verdicts import (check_agreement, check_full, check_hostile, check_mutant, comparable,
                                          failure_cause, first_difference, headline, is_grader_error, secret_markers)
from conftest import load_module_from

PROJECT = Path(__file__).resolve().parents[2]
CORPUS_DIR = PROJECT / "validation"

# The attacks the corpus must keep (issue 5 and the engine issue), by a word of their id.
ATTACKS = ["exit-at-import", "os-exit-at-import", "exit-in-call", "os-exit-in-call", "infinite-loop",
           "sleep", "stdout-flood", "memory-bomb", "fork-bomb", "setsid-daemon", "forge-results",
           "read-secrets", "monkeypatch", "always-equal", "nan-and-inf", "huge-and-object",
           "forbidden-import-used", "forbidden-import-unused"]


@pytest.fixture(scope="module")
def corpus():
    return load_corpus(CORPUS_DIR)


@pytest.fixture(scope="module")
def bases(reference_dir, template_dir):
    return {"reference": reference_dir, "template": template_dir}


def test_corpus_sizes(corpus):
    assert len(corpus.of_kind("mutant")) >= 40
    assert len(corpus.of_kind("variant")) >= 6
    ids = [c.id for c in corpus.of_kind("hostile")]
    missing = [a for a in ATTACKS if not any(a in i for i in ids)]
    assert not missing, f"hostile cases missing: {missing}"


def test_every_case_applies_exactly_once_and_compiles(corpus, bases, tmp_path):
    for case in corpus.cases:
        dest = materialise(case, bases, tmp_path / case.id, {"@@COURSE_ROOT@@": "/c", "@@RESULTS_DIR@@": "/r"})
        changed = [e.file for e in case.edits
                   if (dest / e.file).read_text() == (bases[case.base] / e.file).read_text()]
        assert not changed, f"{case.id}: edits change nothing in {changed}"


def regions_of(base: Path) -> dict[str, list]:
    found = {}
    for path in sorted(base.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        regions = template.find_regions(path.read_text(), str(path))
        if regions:
            found[str(path.relative_to(base))] = regions
    return found


def edited_lines(case: Case, base: Path) -> list[tuple[str, int, int]]:
    """(file, first, last) of each edit, located in the file as the edits before it left it."""
    texts: dict[str, str] = {}
    spans = []
    for edit in case.edits:
        text = texts.get(edit.file, (base / edit.file).read_text())
        first, last, texts[edit.file] = edit_span(text, edit)
        spans.append((edit.file, first, last))
    return spans


def test_every_student_part_has_a_mutant_inside_it(corpus, reference_dir):
    """Every solution region of the reference (each student part) is changed by some mutant,
    and mutants change only student code (a mistake a student can make)."""
    regions = regions_of(reference_dir)
    hit = {(f, r.begin) for f, rs in regions.items() for r in rs}
    covered = set()
    for case in corpus.of_kind("mutant"):
        assert case.base == "reference" and not case.files, case.id
        for file, first, last in edited_lines(case, reference_dir):
            inside = [r for r in regions.get(file, []) if r.begin < first and last < r.end]
            assert inside, f"{case.id}: {file}:{first}-{last} is outside every solution region"
            covered.add((file, inside[0].begin))
    uncovered = sorted(hit - covered)
    assert not uncovered, f"student parts without a mutant: {uncovered}"


def test_every_part_has_mutants_and_the_quick_subset_spans_the_kinds(corpus):
    parts_hit = {c.part for c in corpus.of_kind("mutant")}
    assert set(corpus.parts) == parts_hit, f"parts without mutants: {set(corpus.parts) - parts_hit}"
    quick = [c for c in corpus.cases if c.quick]
    assert {c.kind for c in quick} == {"mutant", "variant", "hostile"}
    assert sum(c.determinism for c in corpus.of_kind("mutant")) == 3
    assert all(c.quick for c in corpus.of_kind("mutant") if c.determinism)


def test_ids_are_unique_and_descriptions_are_one_line(corpus):
    ids = [c.id for c in corpus.cases]
    assert len(ids) == len(set(ids))
    for case in corpus.cases:
        assert "\n" not in case.description and len(case.description) < 200, case.id


# ---------------------------------------------------------------- the edit rules


def test_substring_edit_must_occur_exactly_once():
    text = "a = 1\nb = a + 1\n"
    assert edit_span(text, Edit("f.py", "a + 1", "a - 1"))[2] == "a = 1\nb = a - 1\n"
    with pytest.raises(CorpusError, match="occurs 0 times"):
        edit_span(text, Edit("f.py", "c = 3", "c = 4"))
    with pytest.raises(CorpusError, match="occurs 2 times"):
        edit_span(text, Edit("f.py", "a", "z"))


def test_block_edit_finds_any_indentation_and_reindents():
    text = "def f(x):\n    if x:\n        y = 1\n        return y\n    return 0\n"
    first, last, out = edit_span(text, Edit("f.py", "y = 1\nreturn y\n", "return 2\n"))
    assert (first, last) == (3, 4)
    assert out == "def f(x):\n    if x:\n        return 2\n    return 0\n"
    # A single-line old with a multi-line new is a whole-line block, so the lines stay aligned.
    out = edit_span(text, Edit("f.py", "return 0", "print(x)\nreturn 0"))[2]
    assert out.endswith("    print(x)\n    return 0\n")
    # Deleting, and a block that is not whole lines.
    assert edit_span(text, Edit("f.py", "y = 1\nreturn y", ""))[2] == "def f(x):\n    if x:\n    return 0\n"
    with pytest.raises(CorpusError, match="occurs 0 times"):
        edit_span(text, Edit("f.py", "if x:\ny = 1", "pass"))


def test_malformed_corpora_are_rejected(tmp_path):
    def corpus_with(mutant: str, parts: str = "parts:\n  p: [tag:p]\n") -> Path:
        root = tmp_path / f"c{len(list(tmp_path.iterdir()))}"
        (root / "mutants").mkdir(parents=True)
        (root / "parts.yaml").write_text(parts)
        (root / "mutants" / "m.yaml").write_text("mutants:\n" + mutant)
        return root

    ok = "  - {id: m1, part: p, description: d, file: a.py, old: x, new: y}\n"
    assert len(load_corpus(corpus_with(ok)).cases) == 1
    for bad, why in [
        (ok.replace("part: p", "part: q"), "not in parts.yaml"),
        (ok + ok, "already used"),
        (ok.replace("id: m1", "id: M 1"), "lowercase"),
        (ok.replace("old: x, ", ""), "needs `file`, `old` and `new`"),
        (ok.replace(", file: a.py, old: x, new: y", ""), "must change something"),
        (ok.replace("part: p", "part: p, fails: [dense]"), "KIND:PATTERN"),
        (ok.replace("part: p", "part: p, fails: [nope:x]"), "KIND must be"),
        (ok.replace("description: d", "colour: red, description: d"), "unknown keys"),
    ]:
        with pytest.raises(CorpusError, match=re.escape(why)):
            load_corpus(corpus_with(bad))
    with pytest.raises(CorpusError, match="KIND:PATTERN"):
        load_corpus(corpus_with(ok, "parts:\n  p: [p]\n"))


def test_validate_exits_1_naming_a_malformed_corpus(tmp_path):
    (tmp_path / "parts.yaml").write_text("parts: {}\n")
    (tmp_path / "variants.yaml").write_text("variants:\n  - {id: v, description: d}\n")
    done = subprocess.run([sys.executable, "-m", "autograder", "validate", "--corpus", str(tmp_path)],
                          cwd=PROJECT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "variants.yaml[0] (v): a variant must change something" in done.stderr


# ---------------------------------------------------------------- selectors and verdicts


def t(number, tags, points=2.0, function=None, file="test_x.py"):
    function = function or f"test_{number.replace('.', '_')}"
    return SuiteTest(key=f"tests/{file}::{function}", name=function, number=number, tags=tuple(tags),
                     max_score=points, function=function, file=file)


SUITE = [t("1.1", ["dense", "forward"]), t("1.2", ["dense", "gradients"]), t("2.1", ["mse"], 3),
         t("2.2", ["mse", "gradients"], 3), t("9.1", ["end-to-end"], 5)]


def doc_for(scores: dict[str, float], output: str = "") -> dict:
    tests = [{"name": x.name, "number": x.number, "tags": list(x.tags), "max_score": x.max_score,
              "score": scores.get(x.number, x.max_score), "status": "passed", "output": "",
              "extra_data": {"nodeid": x.key}} for x in SUITE]
    return {"score": sum(e["score"] for e in tests), "execution_time": 1.0, "output": output,
            "tests": tests, "leaderboard": []}


def graded(scores: dict[str, float], output: str = "") -> Graded:
    return Graded(Job("x", Path("."), Path("x.json")), doc_for(scores, output), 1.0)


def test_selectors():
    assert [x.number for x in select(["tag:dense"], SUITE)] == ["1.1", "1.2"]
    assert [x.number for x in select(["tag:mse+gradients"], SUITE)] == ["2.2"]
    assert [x.number for x in select(["tag:mse+!gradients"], SUITE)] == ["2.1"]
    assert [x.number for x in select(["test:test_2_*", "number:9.*"], SUITE)] == ["2.1", "2.2", "9.1"]
    assert matches("file:test_x.py", SUITE[0]) and not matches("file:test_y*", SUITE[0])
    assert select(["tag:nothing"], SUITE) == []


def corpus_for_verdicts():
    return Corpus(Path("."), {"dense": Part("dense", ["tag:dense"]), "mse": Part("mse", ["tag:mse"])},
                  ["tag:end-to-end"], [])


def mutant(part="dense", fails=()):
    return Case(kind="mutant", id="m", description="d", source="s", part=part, fails=list(fails))


def test_mutant_kill_and_blame():
    corpus = corpus_for_verdicts()
    # Lost 2 in its part, 3 elsewhere, 5 in the integration test: killed, blame 2 / 5.
    result = check_mutant(mutant(), graded({"1.2": 0, "2.1": 0, "9.1": 0}), corpus, SUITE)
    assert result.killed and result.verdict.ok
    assert (result.own_lost, result.foreign_lost, result.integration_lost) == (2, 3, 5)
    assert result.blame == pytest.approx(0.4)
    # Lost points only outside its own tests: it survived, and that is a violation.
    result = check_mutant(mutant(fails=["tag:dense+forward"]), graded({"1.2": 0}), corpus, SUITE)
    assert not result.killed and not result.verdict.ok
    assert "survived" in result.verdict.problems[0] and "lost points elsewhere" in result.verdict.problems[0]
    # A part the suite does not test yet.
    result = check_mutant(mutant(fails=["tag:optimizers"]), graded({}), corpus, SUITE)
    assert not result.killed and "no test in the suite matches tag:optimizers" in result.verdict.problems[0]
    # A grader error is never a kill.
    result = check_mutant(mutant(), graded({"1.1": 0}, "**Grader error.** oops"), corpus, SUITE)
    assert not result.killed


def test_figures_and_matrix():
    corpus = corpus_for_verdicts()
    killed = check_mutant(mutant(), graded({"1.1": 0, "2.1": 0}), corpus, SUITE)
    alive = check_mutant(mutant("mse"), graded({}), corpus, SUITE)
    reference = check_full("reference", "reference", graded({}))
    variant = check_full("variant v", "variant", graded({"1.1": 0}))
    stats = figures([killed, alive], [reference, variant])
    assert stats["kill_rate"] == 0.5 and stats["killed"] == 1
    assert stats["blame_precision_mean"] == pytest.approx(2 / 5)
    assert stats["false_fail_rate"] == pytest.approx(1 / 10) and not variant.ok
    matrix = kill_matrix([killed, alive], SUITE)
    assert "m  killed Xx" in matrix and "m  ALIVE  .." in matrix  # columns: failed tests only
    assert "1.1 test_1_1" in matrix and "1.2" not in matrix


def hinted(scores: dict[str, float], hints: dict[str, list]) -> Graded:
    """A grading whose failed tests carry these hint classes in their extra_data."""
    g = graded(scores)
    for t in g.doc["tests"]:
        if t["number"] in hints:
            t["extra_data"]["hints"] = hints[t["number"]]
    return g


def test_diagnosis_needs_a_hint_of_the_declared_class_and_none_of_another():
    corpus = corpus_for_verdicts()
    corpus.neutral = ["observation"]
    case = mutant()
    case.mistake = "sign"
    right = check_mutant(case, hinted({"1.1": 0, "1.2": 0}, {"1.1": ["sign"], "1.2": ["observation"]}), corpus, SUITE)
    assert right.diagnosed and right.right_hints == [SUITE[0].key] and not right.false_hints
    # A hint of another class anywhere (here in another part's test) is a false hint.
    false = check_mutant(case, hinted({"1.1": 0, "2.1": 0}, {"1.1": ["sign"], "2.1": ["transpose"]}), corpus, SUITE)
    assert not false.diagnosed and false.false_hints == [(SUITE[2].key, "transpose")]
    # Neutral and untagged hints neither diagnose nor count against it.
    neutral = check_mutant(case, hinted({"1.1": 0}, {"1.1": ["observation", None]}), corpus, SUITE)
    assert not neutral.diagnosed and not neutral.false_hints and neutral.untagged_hints == [SUITE[0].key]
    # Hints of a test that passed (e.g. partial credit kept in full) are not feedback on a failure.
    passed = check_mutant(case, hinted({"1.1": 0}, {"1.2": ["transpose"], "1.1": ["sign"]}), corpus, SUITE)
    assert passed.diagnosed
    stats = figures([right, false, neutral, passed], [])
    assert (stats["diagnosed"], stats["diagnosable"], stats["false_hints"]) == (2, 4, 1)
    assert stats["diagnosis_rate"] == pytest.approx(0.5)


def test_every_mutant_declares_a_mistake_class_of_the_vocabulary(corpus, monkeypatch):
    # load_corpus enforces it; the suite's hints use the same vocabulary.
    monkeypatch.syspath_prepend(str(PROJECT / "tests" / "graded"))  # feedback imports the suite's judge
    feedback = load_module_from(PROJECT / "tests" / "graded" / "feedback.py", "graded_feedback_vocabulary")
    assert set(corpus.mistakes) == set(feedback.MISTAKES)
    assert set(corpus.neutral) == set(feedback.NEUTRAL)
    assert all(c.mistake in corpus.mistakes for c in corpus.of_kind("mutant"))


def test_a_mutant_without_a_known_mistake_class_is_rejected(tmp_path):
    root = tmp_path / "c"
    (root / "mutants").mkdir(parents=True)
    (root / "parts.yaml").write_text("parts:\n  p: [tag:p]\nmistakes:\n  sign: the sign is flipped\n")
    ok = "  - {id: m1, part: p, mistake: sign, description: d, file: a.py, old: x, new: y}\n"
    (root / "mutants" / "m.yaml").write_text("mutants:\n" + ok)
    assert load_corpus(root).cases[0].mistake == "sign"
    for bad in (ok.replace("mistake: sign, ", ""), ok.replace("mistake: sign", "mistake: colour")):
        (root / "mutants" / "m.yaml").write_text("mutants:\n" + bad)
        with pytest.raises(CorpusError, match="`mistake` must be one of parts.yaml's mistakes"):
            load_corpus(root)


def test_style_sensitive_exemption_is_explicit():
    exempt = select(["tag:mse+gradients"], SUITE)
    assert check_full("variant v", "variant", graded({"2.2": 1}), exempt).ok
    assert not check_full("variant v", "variant", graded({"2.1": 1}), exempt).ok


def hostile(**kw):
    return Case(kind="hostile", id="h", description="d", source="s", **kw)


def test_hostile_checks():
    ok = check_hostile(hostile(lose=["tag:mse"]), graded({"2.1": 0, "2.2": 0}), SUITE, [])
    assert ok.ok and ok.extra["cap"] == 9
    over = check_hostile(hostile(lose=["tag:mse"]), graded({"2.1": 0}), SUITE, [])
    assert any("earned points in tests it must lose" in p for p in over.problems)
    spill = check_hostile(hostile(lose=["tag:mse"], others_pass=True), graded({"2.1": 0, "2.2": 0, "1.1": 0}),
                          SUITE, [])
    assert any("also cost points elsewhere" in p for p in spill.problems)
    keep = check_hostile(hostile(min_score="full"), graded({"1.1": 1}), SUITE, [])
    assert any("under the 15 it must keep" in p for p in keep.problems)
    forged = graded({}, "HACKED-BY-SUBMISSION")
    assert any("forged" in p for p in check_hostile(hostile(max_score="full"), forged, SUITE, []).problems)
    leak = graded({}, "READ /x # BEGIN SOLUTION: ...")
    assert any("secret" in p for p in check_hostile(hostile(max_score="full"), leak, SUITE, ["# BEGIN SOLUTION"]).problems)
    ran = check_hostile(hostile(max_score="full", shows=["attack @@X@@ failed"]), graded({}, "attack /r failed"),
                        SUITE, [], {"@@X@@": "/r"})
    assert ran.ok
    silent = check_hostile(hostile(max_score="full", shows=["attack"]), graded({}), SUITE, [])
    assert any("left no trace" in p for p in silent.problems)
    lying = graded({})
    lying.doc["score"] = 1000
    assert any("not the sum" in p for p in check_hostile(hostile(max_score="full"), lying, SUITE, []).problems)
    broken = graded({})
    broken.doc["tests"][0]["status"] = "great"
    assert check_hostile(hostile(max_score="full"), broken, SUITE, []).problems


def test_secret_markers_name_hidden_tests_only(tmp_path):
    suite = tmp_path / "suite"
    (suite / "public").mkdir(parents=True)
    (suite / "hidden").mkdir()
    (suite / "public" / "test_a.py").write_text("def test_shown():\n    pass\n")
    (suite / "hidden" / "test_b.py").write_text("def test_secret():\n    pass\ndef test_shown():\n    pass\n")
    course = type("Course", (), {"suite": suite, "public_suite": suite / "public"})
    assert secret_markers(course, "reference") == ["def test_secret("]
    assert "# BEGIN SOLUTION" in secret_markers(course, "template")


def test_determinism_comparison_ignores_only_execution_time():
    a = doc_for({"1.1": 0})
    b = json.loads(json.dumps(a))
    b["execution_time"] = 99.0
    assert first_difference(comparable(a), comparable(b)) is None
    b["tests"][0]["output"] = "a different counterexample"
    assert first_difference(comparable(a), comparable(b)) == \
        "/tests/0/output (character 0): '' vs 'a different counterexample'"
    a["tests"][0]["output"] = "x" * 100 + "/tmp/box-1/f.py"
    b["tests"][0]["output"] = "x" * 100 + "/tmp/box-2/f.py"
    found = first_difference(comparable(a), comparable(b))
    assert found == "/tests/0/output (character 109): '" + "x" * 31 + "/tmp/box-1/f.py' vs '" + "x" * 31 + "/tmp/box-2/f.py'"


def test_mode_agreement_lists_every_test_whose_points_differ():
    same, differs = graded({"1.2": 0}), graded({"1.2": 0, "2.2": 1.5})
    unlisted = graded({})
    unlisted.doc["tests"] = unlisted.doc["tests"][:-1]
    unfinished = graded({}, "**Grading did not finish:** the grading process took longer than 900 s")
    unfinished.doc["tests"] = []
    rows, problems = check_agreement({"reference": (graded({}), graded({})), "mutant m": (same, differs),
                                      "variant v": (graded({}), unlisted), "mutant slow": (graded({}), unfinished)})
    assert rows == [{"submission": "mutant m", "test": "2.2", "sandboxed": 3.0, "portable": 1.5},
                    {"submission": "variant v", "test": "9.1", "sandboxed": 5.0, "portable": None}]
    assert problems[:2] == ["modes: mutant m: 2.2 earns 3 sandboxed but 1.5 portable",
                            "modes: variant v: 9.1 earns 5 sandboxed but nothing (not listed) portable"]
    assert len(problems) == 3 and problems[2].startswith("modes: mutant slow: the portable grading did not finish")


def test_compare_portable_grades_each_case_but_the_attacks_once_more_portable_in_the_same_mode(tmp_path):
    from types import SimpleNamespace
    from autograder.validate import run as validate_run

    cases = [Case(id=i, kind=k, description="", source="x.yaml", base="template" if k == "hostile" else "reference")
             for i, k in (("m", "mutant"), ("v", "variant"), ("d", "degenerate"), ("h", "hostile"))]
    args = SimpleNamespace(exact=False, compare_portable=True, no_determinism=False, timeout=900.0)
    v = SimpleNamespace(args=args, work=tmp_path, submission=lambda case: tmp_path / case.id,
                        course=SimpleNamespace(reference=tmp_path / "ref", template=tmp_path / "tpl"))
    v.job = lambda *a, **k: validate_run.Validation.job(v, *a, **k)
    jobs = validate_run.corpus_jobs(v, cases, [cases[0]], want_template=True)
    portable = {j.label: j for j in jobs if j.env}
    sandboxed = {j.label: j for j in jobs if not j.env and "-again" not in j.out.name}
    assert set(portable) == set(sandboxed) - {"hostile h"} == {"reference", "template", "mutant m", "variant v",
                                                                "degenerate d"}
    for label, twin in portable.items():
        assert twin.env == {"AUTOGRADER_PORTABLE": "1"} and twin.submission == sandboxed[label].submission
        assert twin.extra == sandboxed[label].extra and twin.out != sandboxed[label].out
    assert portable["mutant m"].extra[-2:] == ("--validation-mode", "fast") and portable["reference"].extra == ()
    args.compare_portable = False
    assert not any(j.env for j in validate_run.corpus_jobs(v, cases, [cases[0]], want_template=True))


def test_run_jobs_gives_each_slot_its_own_user_and_survives_a_broken_grading(monkeypatch):
    import threading
    import time

    monkeypatch.setattr(batch, "sweep_user", lambda user: None)
    active, clashes, lock = set(), [], threading.Lock()

    def fake_grade(submission, out, extra_pytest_args, timeout_s, sandbox_user="none"):
        with lock:
            if sandbox_user in active:
                clashes.append(sandbox_user)
            active.add(sandbox_user)
        time.sleep(0.02)
        with lock:
            active.discard(sandbox_user)
        if submission.name == "broken":
            raise RuntimeError("boom")
        return doc_for({})

    jobs = [Job(f"j{i}", Path("broken" if i == 3 else f"s{i}"), Path("x.json")) for i in range(8)]
    seen = []
    graded = run_jobs(jobs, 2, fake_grade, ["u1", "u2"], lambda g, done, count: seen.append(done))
    assert [g.job.label for g in graded] == [j.label for j in jobs] and sorted(seen) == list(range(1, 9))
    assert not clashes
    assert is_grader_error(graded[3].doc) and "RuntimeError: boom" in graded[3].doc["output"]


def test_failure_causes_separate_the_test_from_the_machinery():
    crash = "The process running your code stopped:\n\n```text\nWorkerCrashed: the process was killed by SIGKILL\n```"
    assert failure_cause(crash) == "crash"
    assert headline(crash) == "WorkerCrashed: the process was killed by SIGKILL"
    assert failure_cause("**Time limit:** this test took longer than 180 seconds") == "time limit"
    wrong = "**Property.** x\n\nWorst difference at index (0, 0): expected 1, returned 2"
    assert failure_cause(wrong) == "property" and headline(wrong).startswith("Worst difference")
