"""Hints derived from what the values show (issue 17, "Feedback"): a ratio, a power of |g|, a
standard deviation ratio, which layers get gradients, parameters right alone and wrong
together; and the case chooser that shows the sub-check whose title matches what was seen.
Unit tests of the suite's own functions on made-up values; no grading here."""
from types import SimpleNamespace

import numpy as np
import pytest

from conftest import load_module_from
from suite_support import GRADED_SUITE


@pytest.fixture(scope="module")
def suite():
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(GRADED_SUITE))
        modules = {name: load_module_from(GRADED_SUITE / path, f"graded_{name}_observed") for name, path in
                   (("feedback", "feedback.py"), ("optimizers", "public/test_optimizers.py"),
                    ("dense", "public/test_dense.py"), ("tape", "public/test_gradient_tape.py"),
                    ("metrics", "public/test_metrics_onehot.py"))}
        yield SimpleNamespace(**modules)


def test_a_ratio_of_n_over_c_is_a_mean_over_the_wrong_axis(suite):
    exp = np.arange(1.0, 7.0).reshape(3, 2)
    with pytest.raises(suite.feedback.Failed) as raised:
        suite.feedback.expect_close("P.", expected=exp, returned=exp * 3 / 2, batch=3)
    assert raised.value.extra_data["hints"] == ["wrong-axis"] and "N/C = 3/2" in str(raised.value)


def test_a_first_step_scaled_by_a_power_of_g_says_what_v_accumulates(suite):
    g = np.array([[0.1, 2.0, -4.0]])
    before = np.zeros((1, 3))
    expected = before - 0.01 * np.sign(g) / np.sqrt(0.1)  # RMSProp's first step: v = (1 - beta) g^2
    got = before - (before - expected) * np.abs(g) ** 0.5   # v = (1 - beta) |g|
    hint = suite.optimizers.gradient_power_hint("RMSProp", before, got, expected, g)
    assert hint.mistake == "wrong-formula" and "grows like |g|," in hint and "SQUARE" in hint
    assert suite.optimizers.gradient_power_hint("RMSProp", before, expected, expected, g) is None
    noisy = before - (before - expected) * np.array([[0.7, 1.3, 0.9]])  # no single power: nothing said
    assert suite.optimizers.gradient_power_hint("RMSProp", before, noisy, expected, g) is None
    assert suite.optimizers.gradient_power_hint("BasicOptimizer", before, got, expected, g) is None
    # One size of gradient: a constant factor would look like a power, so a second size decides.
    one = np.array([[1e-3, -1e-3]])
    wanted = before[:, :2] - 0.01 * np.sign(one) / np.sqrt(0.1)
    scaled = before[:, :2] - (before[:, :2] - wanted) * np.abs(one) ** 0.5
    assert suite.optimizers.gradient_power_hint("RMSProp", before[:, :2], scaled, wanted, one) is None
    big = 100 * one
    at_big = (before[:, :2], before[:, :2] - (before[:, :2] - wanted) * np.abs(big) ** 0.5, wanted, big)
    assert suite.optimizers.gradient_power_hint("RMSProp", before[:, :2], scaled, wanted, one,
                                                lambda: at_big).mistake == "wrong-formula"
    constant = (before[:, :2], before[:, :2] - (before[:, :2] - wanted) * np.sqrt(1e-3), wanted, big)
    assert suite.optimizers.gradient_power_hint("RMSProp", before[:, :2], scaled, wanted, one,
                                                lambda: constant) is None


def test_a_standard_deviation_one_over_root_3_of_the_right_one_is_a_uniform_draw(suite):
    m, r, n = 600, 200, 120_000
    sigma = np.sqrt(2 / (m + r))
    stds = dict(zip(suite.dense.STD_CANDIDATES, [np.sqrt(2 / (m + r)), np.sqrt(2 / m), np.sqrt(2 / r),
                                                 np.sqrt(1 / m), np.sqrt(1 / (m + r)), 1.0, np.sqrt(2 / m + r),
                                                 np.sqrt(1 / 3)]))
    hint = suite.dense.std_hint("xavier", sigma / np.sqrt(3), sigma, n, stds)
    assert hint.mistake == "wrong-formula" and "uniform" in hint and "sqrt(2" not in hint
    kaiming = suite.dense.std_hint("xavier", np.sqrt(2 / m), sigma, n, stds)
    assert kaiming.mistake == "wrong-input" and "kaiming's" in kaiming
    assert suite.dense.std_hint("xavier", sigma * 1.7, sigma, n, stds) is None


def test_which_layers_get_gradients_says_where_the_walk_stops(suite):
    tape = suite.tape
    expected = {name: np.full((2, 2), i + 1.0) for i, name in enumerate(tape.DEEP_WEIGHTS)}
    stops = [np.zeros((2, 2)) if name in ("w1", "c1", "s") else expected[name] for name in tape.DEEP_WEIGHTS]
    hint = tape.walk_hint(stops, expected)
    assert hint.mistake == "tape-recording" and "the walk stops there" in hint and "second Gate" in hint
    assert tape.walk_hint([expected[n] for n in tape.DEEP_WEIGHTS], expected) is None
    mixed = [np.ones((2, 2)) * 9 if name == "s" else expected[name] for name in tape.DEEP_WEIGHTS]
    assert tape.walk_hint(mixed, expected) is None  # a wrong value, not a missing one: nothing sure
    none = [np.zeros((2, 2))] * len(tape.DEEP_WEIGHTS)
    assert tape.walk_hint(none, expected, probe=lambda: "from the probe") == "from the probe"


class WrongAxisAccuracy:
    def __call__(self, probs, labels):
        return float(np.mean(np.argmax(probs, axis=0) == np.argmax(labels, axis=0)))


class LastOfTiesAccuracy:
    def __call__(self, probs, labels):
        last = probs.shape[1] - 1 - np.argmax(probs[:, ::-1], axis=-1)
        return float(np.mean(last == np.argmax(labels, axis=-1)))


def accuracy_feedback(suite, accuracy, probs, labels):
    beras = SimpleNamespace(metrics=SimpleNamespace(CategoricalAccuracy=accuracy))
    with pytest.raises(AssertionError) as raised:
        suite.metrics.test_categorical_accuracy.hypothesis.inner_test(beras=beras, case={"probs": probs,
                                                                                         "labels": labels})
    return raised.value


def test_an_all_ties_input_shows_the_tie_free_case_unless_only_ties_are_wrong(suite):
    probs = np.zeros((2, 3))
    labels = np.eye(3)[[1, 2]]
    shown = accuracy_feedback(suite, WrongAxisAccuracy, probs, labels)
    assert "ties" not in str(shown).split("\n\n")[0]
    assert "-0.000333" in str(shown)  # the input shown is the tie-free one
    assert shown.extra_data["hints"] == ["wrong-axis"]
    ties = accuracy_feedback(suite, LastOfTiesAccuracy, probs, labels)
    assert "(ties: the first largest entry, as np.argmax)" in str(ties).split("\n\n")[0]
    assert ties.extra_data["hints"] == ["observation"]
