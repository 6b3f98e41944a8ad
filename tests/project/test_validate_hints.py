"""Hints name the mistake they saw, and carry its class for validate's diagnosis rate.

Unit tests of the suite's feedback helpers (tests/graded/feedback.py, conftest.py) and of the
engine's pass-through of a failure's extra_data; no grading here. The measured diagnosis rate
over the corpus is validate's (test_validate_run.py runs it).
"""
import numpy as np
import pytest

from autograder.plugin.feedback import failure_extra_data
from conftest import load_module_from
from suite_support import GRADED_SUITE


@pytest.fixture(scope="module")
def feedback():
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(GRADED_SUITE))  # feedback imports the suite's judge
        return load_module_from(GRADED_SUITE / "feedback.py", "graded_feedback_hints")


def hint_of(feedback, expected, returned, **kw):
    with pytest.raises(feedback.Failed) as raised:
        feedback.expect_close("P.", expected=expected, returned=returned, **kw)
    return raised.value


def test_a_failure_carries_the_classes_of_its_hints_for_extra_data(feedback):
    error = hint_of(feedback, np.arange(1.0, 7.0).reshape(3, 2), -np.arange(1.0, 7.0).reshape(3, 2), batch=3)
    assert error.extra_data == {"hints": ["sign"]}
    assert "wrong sign" in str(error) and "sign\"" not in str(error)
    assert failure_extra_data(error) == {"hints": ["sign"]}
    # A plain-string hint names no class; the engine keeps the list as it is.
    plain = feedback.failure("P.", hint="a hint")
    assert plain.extra_data == {"hints": [None]}
    with pytest.raises(ValueError):
        feedback.Hint("no-such-class", "text")


def test_a_factor_of_n_is_named_only_when_the_input_tells_it_from_a_constant(feedback):
    exp = np.arange(1.0, 7.0).reshape(3, 2)
    error = hint_of(feedback, exp, 3 * exp, batch=3)  # N = 3, C = 2: only N fits
    assert error.extra_data["hints"] == ["batch-mean"] and "N = 3 (the batch size) times too large" in str(error)
    # N = 2 rows and C = 2 classes: a factor 2 may be N, C or a constant; no diagnosis.
    exp2 = np.arange(1.0, 5.0).reshape(2, 2)
    error = hint_of(feedback, exp2, 2 * exp2, batch=2)
    assert error.extra_data["hints"] == ["observation"] and "fits more than one mistake" in str(error)
    # With N = 2 and C = 3, a second input at N = 3 settles it: the factor follows N.
    exp3 = np.arange(1.0, 7.0).reshape(2, 3)
    bigger = np.arange(1.0, 10.0).reshape(3, 3)
    error = hint_of(feedback, exp3, 2 * exp3, batch=2, second=lambda: (bigger, 3 * bigger, 3))
    assert error.extra_data["hints"] == ["batch-mean"] and "N = 3" in str(error)
    # ... and a factor that stays 2 at N = 3 is not called a batch mean.
    error = hint_of(feedback, exp3, 2 * exp3, batch=2, second=lambda: (bigger, 2 * bigger, 3))
    assert error.extra_data["hints"] == ["observation"]


def test_a_ratio_needs_several_entries_to_mean_anything(feedback):
    error = hint_of(feedback, 0.5, 1.0, batch=2)  # one number: any two numbers have a ratio
    assert error.extra_data == {"hints": []} and "Hint" not in str(error)


def test_a_listed_mistake_wins_and_a_nonfinite_result_gets_its_own_hint(feedback):
    exp = np.ones((2, 3))
    wrong = feedback.Hint("missing-term", "you left out b.")
    error = hint_of(feedback, exp, 2 * exp, mistakes={wrong: 2 * exp}, hint=feedback.Hint("sign", "never"))
    assert error.extra_data["hints"] == ["missing-term"]
    error = hint_of(feedback, exp, np.full((2, 3), np.nan), hint=feedback.Hint("sign", "not for nan"),
                    nonfinite_hint=feedback.Hint("overflow", "exp overflows."))
    assert error.extra_data["hints"] == ["overflow"]


def test_none_is_a_missing_return_but_a_wrong_type_is_not(feedback):
    with pytest.raises(feedback.Failed) as raised:
        feedback.gradient_list(None, 1, "get_input_gradients()", "P.", None)
    assert raised.value.extra_data["hints"] == ["missing-return"]
    with pytest.raises(feedback.Failed) as raised:
        feedback.gradient_list(3.0, 1, "get_input_gradients()", "P.", None)
    assert raised.value.extra_data["hints"] == ["wrong-type"]
    assert "must return a list of 1; yours returned float" in str(raised.value)


def test_numpy_scalars_read_as_plain_numbers(feedback):
    assert feedback.show({"n": np.int64(1), "x": [np.float64(2.5)]}) == "{'n': 1, 'x': [2.5]}"
    assert feedback.show((2, 3)) == "(2, 3)"


def test_failed_unit_tests_are_listed_lowest_number_first(feedback, monkeypatch):
    monkeypatch.setattr(feedback, "FAILED_SO_FAR", [("4.10", "b", ("losses",)), ("4.2", "a", ()),
                                                     ("12.1", "train", ("end-to-end",)), ("4.2", "a", ())])
    assert feedback.failed_unit_tests() == [("4.2", "a"), ("4.10", "b")]


def test_a_crash_shows_its_input_in_the_usual_format_and_names_a_stub(feedback):
    conftest = load_module_from(GRADED_SUITE / "conftest.py", "graded_conftest_hints")
    block = conftest.example_block("case={'y_pred': array([[0., 1.]]),\n 'y_true': array([[1., 0.]])},\n"
                                   "Draw 1 (x): array([[2., 3.]])")
    assert "y_pred = [[0. 1.]]  (shape (1, 2))" in block and "x = [[2. 3.]]" in block and "case=" not in block
    assert "dtype" in conftest.example_block("x=array([1.], dtype=float32),")  # unparsed: shown as printed
    StudentError = conftest.StudentError
    stub = StudentError("NotImplementedError", "TODO: write it", [("beras/layers.py", 3, "forward", "raise")])
    assert conftest.crash_hint(stub).mistake == "not-implemented"
    given = StudentError("ValueError", "shapes", [("beras/layers.py", 9, "forward", ""),
                                                  ("beras/core.py", 143, "compose_input_gradients", "")])
    assert "your `get_input_gradients` returns" in conftest.crash_hint(given)
    assert conftest.crash_hint(StudentError("ValueError", "x", [("beras/layers.py", 3, "forward", "")])) is None


def test_crash_hints_read_what_the_error_says(feedback):
    conftest = load_module_from(GRADED_SUITE / "conftest.py", "graded_conftest_crashes")
    StudentError = conftest.StudentError
    for message in ("CategoricalCrossEntropy() takes no arguments",
                    "Loss.__init__() takes 1 positional argument but 3 were given"):
        hint = conftest.crash_hint(StudentError("TypeError", message, [("beras/model.py", 9, "batch_step", "")]))
        assert hint.mistake == "wrong-type" and "()`" in hint, message
    hint = conftest.crash_hint(StudentError("AttributeError", "'list' object has no attribute 'view'", []))
    assert hint.mistake == "wrong-type" and "np.asarray" in hint
    hint = conftest.crash_hint(StudentError("BadValue", "while reading the value of beras.gradient_tape.GradientTape(...)"
                                                        ".gradient(...): value has a key of type int (only str keys)"))
    assert hint.mistake == "wrong-type" and "`gradient` returned a dict keyed by int" in hint
    # What the message does not pin down gets no hint.
    assert conftest.crash_hint(StudentError("AttributeError", "'list' object has no attribute 'trainable'", [])) is None
    assert conftest.crash_hint(StudentError("TypeError", "f() takes 0 positional arguments but 2 were given",
                                            [])) is None


ENGINE_SUITE = '''
import pytest
from gradescope_utils.autograder_utils.decorators import number, visibility, weight


class Failed(AssertionError):
    def __init__(self, text):
        super().__init__(text)
        self.extra_data = {"hints": ["sign"], "outcome": "forged"}


@weight(1)
@number("12.1")
def test_end_to_end(request):
    request.node.user_properties.append(("fix_first_rank", 1))
    assert False, "training failed"


@weight(1)
@number("4.10")
def test_later_part():
    raise Failed("**Hint:** the sign")


@weight(1)
@number("4.2")
def test_lower_part():
    assert False, "wrong"


@weight(1)
@number("1.1")
def test_passes():
    pass


@weight(1)
@number("1.2")
@visibility("hidden")
def test_hidden_fails():
    assert False, "hidden"
'''


def test_the_engine_keeps_a_failures_extra_data_and_says_where_to_start(tmp_path):
    import json
    import os
    import subprocess
    import sys

    from engine_cases import harness

    (tmp_path / "test_suite.py").write_text(ENGINE_SUITE)
    results = tmp_path / "results.json"
    subprocess.run([sys.executable, "-m", "pytest", "-p", "autograder.plugin", "--results", str(results),
                    "-c", os.devnull, "--rootdir", str(tmp_path), "--confcutdir", str(tmp_path),
                    "-p", "no:cacheprovider", "--assert=plain", "-q", str(tmp_path)],
                   cwd=harness.REPO, capture_output=True, text=True, timeout=300)
    doc = harness.validate(json.loads(results.read_text()))
    tests = {t["number"]: t for t in doc["tests"]}
    assert tests["4.10"]["extra_data"]["hints"] == ["sign"]
    assert tests["4.10"]["extra_data"]["outcome"] == "failed"  # the suite cannot overwrite the engine's keys
    assert "hints" not in tests["4.2"]["extra_data"]
    # 4.2 before 4.10 (numbers, not strings), 12.1 declared itself last, and the hidden 1.2 is
    # not named while students cannot see it.
    assert "Start with test 4.2 (test_lower_part)" in doc["output"] and "3 tests lost points" in doc["output"]


def test_a_failure_that_an_earlier_failing_test_explains_says_so(feedback, monkeypatch):
    monkeypatch.setattr(feedback, "FAILED_SO_FAR", [("1.1", "Tensor(a)", ("tensor",)),
                                                     ("3.6", "Softmax Jacobian", ("activations", "softmax")),
                                                     ("8.2", "batch_step", ("model",))])
    assert feedback.upstream_failures(("tensor", "weighted"), "8.3") == [("1.1", "Tensor(a)")]
    assert feedback.upstream_failures(("model",), "8.2") == []  # never itself
    own = feedback.message("P.", detail="Worst difference ...", hint=feedback.Hint("training-mode", "own hint."))
    text = feedback.with_upstream_hint(own, [("1.1", "Tensor(a)")])
    paragraphs = text.split("\n\n")
    assert paragraphs[0] == "**Property.** P." and paragraphs[1] == "Worst difference ..."
    assert paragraphs[2].startswith("**Hint:** an earlier failing test explains this: 1.1 (Tensor(a)).")
    assert "fix 1.1 first" in paragraphs[2] and paragraphs[2].endswith("If it still fails after that: own hint.")
    assert text.count("**Hint:**") == 1


def test_tests_are_numbered_after_every_test_whose_failure_they_may_name(feedback):
    """The suite runs in numeric order; a test that may name the failures of the tests of some
    parts (@rests_on, @blames) must be numbered after every one of them, or the suite is
    refused at collection with the tests to renumber."""
    conftest = load_module_from(GRADED_SUITE / "conftest.py", "graded_conftest_upstream")

    class Item:
        def __init__(self, number, tags, rests=(), blamed=()):
            self.nodeid = f"test_{number}"

            def test():
                pass
            test.__number__, test.__tags__, test.__rests_on__, test.__blames__ = number, tags, rests, blamed
            self.obj = test

    good = [Item("1.1", ("tensor",)), Item("1.3", ("weighted",), ("tensor",)), Item("8.2", ("model",), ("tensor", "weighted")),
            Item("10.1", ("loop",), ("loop",)), Item("12.1", ("end-to-end",), (), ("model", "tensor")),
            Item("13.1", ("preprocess",))]
    assert conftest.order_problems(good) == []
    bad = good + [Item("8.10", ("tensor",)), Item("14.1", ("model",))]  # 8.10 runs after 8.2
    problems = conftest.order_problems(bad)
    assert problems == [f"{n} may name failures of {m}, which would run after it: renumber so that they come first"
                        for n, m in (("1.3", "8.10 (tensor)"), ("8.2", "8.10 (tensor)"), ("12.1", "14.1 (model)"))]
    with pytest.raises(pytest.UsageError, match="renumber so that they come first"):
        conftest.pytest_collection_modifyitems(None, None, bad)
    # The suite's own declarations: model and tape tests rest on the student's Tensor (the
    # test-provided layers hold the student's Variables), model tests also on Weighted, and
    # end-to-end training names the failed tests of the parts its training used.
    sources = {name: (GRADED_SUITE / "public" / name).read_text() for name in
               ("test_model.py", "test_gradient_tape.py", "test_tensor.py")}
    assert sources["test_model.py"].count('@rests_on("tensor", "weighted")') == \
        sources["test_model.py"].count("\ndef test_")
    assert sources["test_gradient_tape.py"].count('@rests_on("tensor")') == \
        sources["test_gradient_tape.py"].count("\ndef test_")
    assert "@blames(*sorted(TRAINING_PARTS))" in (GRADED_SUITE / "hidden" / "test_training.py").read_text()


def test_a_crash_in_given_code_called_by_the_tape_names_the_tape_not_get_input_gradients(feedback):
    conftest = load_module_from(GRADED_SUITE / "conftest.py", "graded_conftest_tape_crash")
    StudentError = conftest.StudentError
    crash = StudentError("ValueError", "operands could not be broadcast together",
                         [("beras/gradient_tape.py", 52, "gradient", "for inp, g in zip(...)"),
                          ("beras/core.py", 143, "compose_input_gradients", "")])
    hint = conftest.crash_hint(crash, ("gradient-tape",))
    assert hint.mistake == "tape-recording"
    assert "called by your `gradient` (`beras/gradient_tape.py`, line 52)" in hint
    assert "your `get_input_gradients` returns" not in hint
    # Elsewhere (the student's layers too) it names both, and claims no mistake.
    hint = conftest.crash_hint(crash, ("end-to-end",))
    assert hint.mistake == "reminder" and "`get_input_gradients`" in hint


def test_the_suite_says_which_earlier_failure_explains_a_failure_unless_its_own_hint_is_certain(feedback,
                                                                                               monkeypatch):
    conftest = load_module_from(GRADED_SUITE / "conftest.py", "graded_conftest_upstream_hook")
    graded_feedback = conftest.feedback
    monkeypatch.setattr(graded_feedback, "FAILED_SO_FAR", [("1.3", "trainable_variables", ("weighted",))])

    def test():
        pass
    test.__tags__, test.__rests_on__, test.__number__ = ("model",), ("tensor", "weighted"), "8.2"
    item = type("Item", (), {"obj": test, "fixturenames": ()})()

    def shown(error):
        hook = conftest.pytest_pyfunc_call(item)
        next(hook)
        with pytest.raises(AssertionError) as raised:
            hook.throw(error)
        return raised.value

    own = graded_feedback.failure("P.", detail="d", hint=graded_feedback.Hint("training-mode", "own."))
    upstream = shown(own)
    assert "an earlier failing test explains this: 1.3 (trainable_variables)" in str(upstream)
    assert upstream.extra_data == {"hints": ["reminder"]} and "If it still fails after that: own." in str(upstream)
    StudentError = conftest.StudentError
    stub = StudentError("NotImplementedError", "TODO", [("beras/model.py", 3, "batch_step", "raise")])
    certain = shown(stub)
    assert certain.extra_data == {"hints": ["not-implemented"]} and "earlier failing" not in str(certain)
    monkeypatch.setattr(graded_feedback, "FAILED_SO_FAR", [])
    assert shown(own) is own
