"""`python -m autograder validate` end to end: real gradings of real submissions.

- The whole corpus passes (CI runs it): the reference earns 100, the template 0, every
  variant 100, every mutant is killed in its own part (kill rate 100%, blame precision at
  least 90%), every attack stays within its cap, and the reference and three mutants grade
  identically twice; feedback names the real mistake of at least 85% of the mutants, and no
  hint names another. The reference, the template and the quick entries but the attacks are
  also graded in the portable sandbox (a student's `check` on macOS and Windows), and every
  test earns the same points in both modes (issue 20; test_mode_agreement.py shows that a
  difference is caught; `validate --compare-portable` compares the whole corpus).
- validate fails when it must: a mutant that changes nothing survives, a "variant" that is
  wrong loses points, and each is named.
- The Hypothesis modes of validation runs do what they claim (a tiny suite, no grading).
"""
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from autograder.validate.corpus import load_corpus


PROJECT = Path(__file__).resolve().parents[2]


def validate(*args: str, timeout: float = 900) -> tuple[subprocess.CompletedProcess, dict]:
    report = Path(os.environ.get("TMPDIR", "/tmp")) / f"validate-report-{os.getpid()}-{abs(hash(args))}.json"
    done = subprocess.run([sys.executable, "-m", "autograder", "validate", "--report", str(report), *args],
                          cwd=PROJECT, capture_output=True, text=True, timeout=timeout)
    try:
        doc = json.loads(report.read_text())
    except (OSError, ValueError):
        doc = {}
    finally:
        report.unlink(missing_ok=True)
    return done, doc


def test_the_whole_corpus_validates(mnist_dir, capsys):
    # The portable twins of the quick entries only: all of them doubled CI's time, past its
    # 90 minutes on a machine half as fast as usual (`validate --compare-portable` grades them all).
    done, report = validate("--compare-portable=quick", timeout=3600)
    with capsys.disabled():  # the corpus figures belong in every CI log, passed or not
        figures_at = done.stdout.find("Figures")
        print("\n" + (done.stdout[figures_at:] if figures_at >= 0 else done.stdout[-3000:]))
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]
    verdicts = {v["label"]: v for v in report["verdicts"]}
    assert verdicts["reference"]["ok"] and verdicts["reference"]["score"] == verdicts["reference"]["max_score"] > 0
    assert verdicts["template"]["ok"] and verdicts["template"]["score"] == 0
    kinds = {k: [v for v in verdicts.values() if v["kind"] == k] for k in ("variant", "mutant", "hostile")}
    assert len(kinds["mutant"]) >= 40 and len(kinds["variant"]) >= 6 and kinds["hostile"]
    assert all(v["ok"] for vs in kinds.values() for v in vs)
    figures = report["figures"]
    assert figures["kill_rate"] == 1.0 and figures["false_fail_rate"] == 0.0
    assert figures["blame_precision_mean"] >= 0.9 and figures["blame_precision_pooled"] >= 0.9
    assert figures["diagnosis_rate"] >= 0.85 and figures["false_hints"] == 0
    assert not report["untested_parts"]
    determinism = report["determinism"]
    assert len(determinism) == 4 and all(row["identical"] for row in determinism)
    assert all(row["fast_mode_scores_agree"] for row in determinism if row["label"] != "reference")
    assert "Kill matrix" in done.stdout and "kill rate          100.0%" in done.stdout
    # Portable and sandboxed: every quick non-hostile grading compared, test by test.
    modes = report["modes"]
    assert modes["disagreements"] == [], modes["disagreements"]
    quick = {f"{c.kind} {c.id}" for c in load_corpus(PROJECT / "validation").cases if c.quick}
    assert set(modes["compared"]) == {label for label, v in verdicts.items()
                                      if v["kind"] != "hostile" and (label in quick or v["kind"] in ("reference", "template"))}
    assert {v["kind"] for label, v in verdicts.items() if label in modes["compared"]} >= {"variant", "mutant"}


def test_validation_fails_on_a_surviving_mutant_and_a_wrong_variant(tmp_path, mnist_dir):
    corpus = tmp_path / "corpus"
    (corpus / "mutants").mkdir(parents=True)
    (corpus / "parts.yaml").write_text("parts:\n  dense: [tag:dense]\nintegration: [tag:end-to-end]\n")
    (corpus / "mutants" / "m.yaml").write_text(textwrap.dedent("""\
        mutants:
          - id: equivalent-rewrite
            part: dense
            description: x @ w + b written as b + x @ w, which changes nothing.
            file: beras/layers.py
            old: 'return x @ self.w + self.b'
            new: 'return self.b + x @ self.w'
        """))
    (corpus / "variants.yaml").write_text(textwrap.dedent("""\
        variants:
          - id: wrong-committee
            description: Not a correct variant at all; the committee sums.
            file: committee.py
            old: 'return np.mean([np.asarray(member(x)) for member in self.members], axis=0)'
            new: 'return np.sum([np.asarray(member(x)) for member in self.members], axis=0)'
        """))
    done, report = validate("--corpus", str(corpus), "--only", "equivalent-*", "--only", "wrong-*",
                            "--no-determinism")
    assert done.returncode == 1, done.stdout[-4000:]
    problems = {v["label"]: v["problems"] for v in report["verdicts"] if not v["ok"]}
    assert set(problems) == {"mutant equivalent-rewrite", "variant wrong-committee"}
    assert "survived: no points lost in" in problems["mutant equivalent-rewrite"][0]
    assert "lost points in" in problems["variant wrong-committee"][0]
    assert report["figures"]["kill_rate"] == 0.0
    assert "VALIDATION FAILED: 2 violation(s)" in done.stdout


HYPOTHESIS_PROBE = '''
import json, os
from hypothesis import Phase, given, settings, strategies as st

seen = []

@given(st.integers(0, 10**9))
def test_probe(n):
    seen.append(n)
    assert n >= 0

def test_zz_report():
    s = settings.default
    with open(os.environ["PROBE_OUT"], "w") as f:
        json.dump({"derandomize": s.derandomize, "max_examples": s.max_examples,
                   "shrink": Phase.shrink in s.phases, "draws": seen}, f)
'''

GRADING_LIKE_CONFTEST = '''
from hypothesis import settings
settings.register_profile("grading", derandomize=True, database=None, max_examples=10)
settings.load_profile("grading")

def pytest_configure(config):  # like the engine's plugin: reproducible settings at configure time
    settings.register_profile("engine", parent=settings.default, derandomize=True)
    settings.load_profile("engine")
'''


def probe(tmp_path: Path, *args: str) -> dict:
    (tmp_path / "test_probe.py").write_text(HYPOTHESIS_PROBE)
    (tmp_path / "conftest.py").write_text(GRADING_LIKE_CONFTEST)
    out = tmp_path / "probe.json"
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "autograder.validate",
                           str(tmp_path), *args], cwd=PROJECT, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PROBE_OUT": str(out)})
    assert done.returncode == 0, done.stdout[-3000:]
    return json.loads(out.read_text())


def test_validation_modes_change_hypothesis_settings_as_documented(tmp_path):
    plain = probe(tmp_path)
    assert plain["derandomize"] and plain["shrink"] and plain["max_examples"] == 10
    assert probe(tmp_path)["draws"] == plain["draws"]  # derandomised: the same examples every run
    fast = probe(tmp_path, "--validation-mode", "fast")
    assert fast["derandomize"] and not fast["shrink"] and fast["draws"] == plain["draws"]
    seeded = [probe(tmp_path, "--validation-mode", "random", "--validation-examples", "30",
                    f"--hypothesis-seed={seed}") for seed in (1, 2, 1)]
    assert all(not s["derandomize"] and s["max_examples"] == 30 for s in seeded)
    assert seeded[0]["draws"] != seeded[1]["draws"] and seeded[0]["draws"] == seeded[2]["draws"]
    assert seeded[0]["draws"] != plain["draws"]
