"""`python -m autograder validate`: prove that the grader grades right.

It grades, each in its own grading process (autograder.grading.grade):
  the reference          must earn full marks;
  the template           must earn nothing;
  every correct variant  must earn full marks (but for tests it declares style-sensitive);
  every mutant           must lose points in its own tests (a realistic student mistake);
  every hostile case     must leave a valid, truthful results.json within its score cap;
and prints a kill matrix (mutants x failed tests) with the kill rate, the false-fail rate
and blame precision (the share of a mutant's lost points that fall in its own part).
`--randomised` grades the reference under fresh Hypothesis seeds with more examples.

The corpus (default: <course root>/validation, format in its README.md) holds replacements
over the reference or the template, never full copies. The engine knows nothing about the
course: parts are named by the corpus, and tests are found by tag, name or number through
selectors resolved against the live suite (the tests the reference's results.json lists),
so renaming a test never silently changes what a mutant is checked against.

The package, by module:
  corpus.py      reads the corpus and materialises each case as a submission folder
  suite.py       the live suite (read from a results.json) and the selectors naming its tests
  jobs.py        grading many submissions at once, on slots with their own sandbox users
  verdicts.py    checks results against expectations: kill, blame, diagnosis, the hostile
                 checks, the schema, determinism
  figures.py     the figures (kill, blame, diagnosis, false-fail rates) and the kill matrix
  run.py         the command (configure/run) and the Validation that drives one run
  randomised.py  `--randomised`: the reference under fresh seeds

This __init__ is also a small pytest plugin (`-p autograder.validate`), loaded only into
validation grading runs (run.Validation.job passes it), that changes Hypothesis' settings
there:
  --validation-mode fast    no shrink/explain phases. Pass/fail is decided in the generate
                            phase, so scores are the same; only failure messages are less
                            minimal. Mutants and the template fail many tests, and shrinking
                            each through a worker costs seconds. The determinism check grades
                            in the real mode and also confirms that the scores agree.
  --validation-mode random  derandomize off (seed from --hypothesis-seed) and
                            --validation-examples examples per test: the randomised mode.
"""
from __future__ import annotations

import pytest
from hypothesis import Phase, settings


def pytest_addoption(parser) -> None:
    group = parser.getgroup("validation", "autograder validate (never used for real grades)")
    group.addoption("--validation-mode", choices=("fast", "random"), default=None,
                    help="fast: no shrinking; random: fresh seed (--hypothesis-seed), more examples")
    group.addoption("--validation-examples", type=int, default=None, help="examples per test (random mode)")


@pytest.hookimpl(trylast=True)
def pytest_configure(config) -> None:
    """After the engine's plugin loaded its reproducible profile, adjust it for this run."""
    mode = config.getoption("--validation-mode")
    if mode is None:
        return
    if mode == "fast":
        phases = tuple(p for p in settings.default.phases if p not in (Phase.shrink, Phase.explain))
        settings.register_profile("validation-fast", parent=settings.default, phases=phases)
        settings.load_profile("validation-fast")
        return
    extra = {}
    if config.getoption("--validation-examples"):
        extra["max_examples"] = config.getoption("--validation-examples")
    settings.register_profile("validation-random", parent=settings.default, derandomize=False, **extra)
    settings.load_profile("validation-random")
