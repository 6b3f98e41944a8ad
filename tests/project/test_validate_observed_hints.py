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


# ---------------------------------------------------------------------------- the case chooser

def failing(suite, title, hint=None):
    def run(shown_title, _hint):
        suite.feedback.fail(shown_title, detail="wrong", hint=hint)
    return run


def passing(title, hint):
    return None


def test_the_chooser_shows_a_cause_only_where_the_values_show_it(suite):
    fb = suite.feedback
    plain = fb.Check("P.", failing(suite, "P."), size=5)
    ties = fb.Check("P (ties).", failing(suite, "P (ties)."), cause="ties", neutral="P (shown plain).",
                    contrast="P.", hint=fb.Hint(fb.OBSERVATION, "ties!", shows=("ties",)), size=1)
    with pytest.raises(fb.Failed) as raised:  # both fail: the plain property, though its input is larger
        fb.choose([ties, plain])
    assert str(raised.value).startswith("**Property.** P.") and "ties" not in str(raised.value)
    with pytest.raises(fb.Failed) as raised:  # only the cause's input fails: the cause, with its hint
        fb.choose([ties, fb.Check("P.", passing)])
    assert "P (ties)." in str(raised.value) and "ties!" in str(raised.value)
    assert raised.value.extra_data["hints"] == ["observation"]
    epsilon = fb.Check("Q, where epsilon matters.", failing(suite, "Q", fb.Hint("sign", "signs")),
                       cause="epsilon-placement", neutral="Q (tiny).")
    with pytest.raises(fb.Failed) as raised:  # alone, a cause not seen is shown under its neutral title
        fb.choose([epsilon])
    assert "Q (tiny)." in str(raised.value) and "epsilon" not in str(raised.value)
    assert raised.value.extra_data["hints"] == ["sign"]
    seen = fb.Check("Q, where epsilon matters.",
                    failing(suite, "Q", fb.Hint("epsilon-placement", "inside the root")),
                    cause="epsilon-placement", neutral="Q (tiny).", size=9)
    with pytest.raises(fb.Failed) as raised:  # a cause the values show beats a smaller plain input
        fb.choose([plain, seen])
    assert "where epsilon matters" in str(raised.value)
    diagnosed = fb.Check("R.", failing(suite, "R.", fb.Hint("batch-mean", "a divisor")), size=20)
    with pytest.raises(fb.Failed) as raised:  # a plain failure that names a mistake beats one that names none
        fb.choose([plain, diagnosed])
    assert raised.value.extra_data["hints"] == ["batch-mean"]
    fb.choose([fb.Check("S.", passing)])  # nothing fails: nothing raised


class ClassesDivisorAccuracy:
    def __call__(self, probs, labels):
        return float(np.sum(np.argmax(probs, axis=-1) == np.argmax(labels, axis=-1)) / probs.shape[1])


class MaxForArgmaxAccuracy:
    def __call__(self, probs, labels):
        return float(np.mean(np.argmax(probs, axis=-1) == np.max(labels, axis=-1)))


def test_one_row_names_no_accuracy_mistake_that_a_batch_of_every_class_tells_apart(suite):
    probs, labels = np.array([[0.0, -0.0005]]), np.array([[1.0, 0.0]])
    # On one row of two classes, hits / C and "compared with the one-hot row" are both 0.5.
    divided = accuracy_feedback(suite, ClassesDivisorAccuracy, probs, labels)
    assert divided.extra_data["hints"] == ["batch-mean"] and "divided by C = 2" in str(divided)
    assert "rows of every class" in str(divided).split("\n\n")[0]
    maximum = accuracy_feedback(suite, MaxForArgmaxAccuracy, probs, labels)
    assert maximum.extra_data["hints"] == ["wrong-input"] and (
        "predicted as class 1" in str(maximum) or "one-hot VALUES" in str(maximum))


def test_value_hint_names_nothing_when_two_kinds_of_mistake_give_the_value(suite):
    fb = suite.feedback
    both = {fb.Hint("batch-mean", "a"): 0.5, fb.Hint("wrong-input", "b"): 0.5}
    assert fb.value_hint(np.array(1.0), np.array(0.5), None, both, 1e-9, 1e-9) is None
    same = {fb.Hint("batch-mean", "a"): 0.5, fb.Hint("batch-mean", "c"): 0.5}
    assert fb.value_hint(np.array(1.0), np.array(0.5), None, same, 1e-9, 1e-9) == "a"


def test_on_one_row_a_factor_is_read_at_a_second_batch_size(suite):
    fb = suite.feedback
    # A loss summed over the batch axis and averaged over C = 2: on one row, half the answer,
    # like a mean over all N*C entries; on 3 rows, 3/2 of it: a mean over the wrong axis.
    over_all = {fb.Hint("batch-mean", "you averaged over all N*C entries"): 0.5}
    hint = fb.value_hint(np.array(1.0), np.array(0.5), 1, over_all, 1e-7, 1e-7, classes=2,
                         second=lambda: (np.array(2.0), np.array(3.0), 3))
    assert hint.mistake == "wrong-axis" and "second input with N = 3" in hint
    hint = fb.value_hint(np.array(1.0), np.array(0.5), 1, over_all, 1e-7, 1e-7, classes=2,
                         second=lambda: (np.array(2.0), np.array(1.0), 3))
    assert hint.mistake == "batch-mean"


def test_a_standard_deviation_that_is_the_square_of_the_right_one_is_the_variance(suite):
    m, r, n = 600, 200, 120_000
    stds = dict(zip(suite.dense.STD_CANDIDATES, [np.sqrt(2 / (m + r)), np.sqrt(2 / m), np.sqrt(2 / r),
                                                 np.sqrt(1 / m), np.sqrt(1 / (m + r)), 1.0, np.sqrt(2 / m + r),
                                                 np.sqrt(1 / 3)]))
    sigma = np.sqrt(2 / m)
    hint = suite.dense.std_hint("kaiming", sigma ** 2, sigma, n, stds)
    assert hint.mistake == "wrong-formula" and "variance" in hint
    assert suite.dense.std_hint("normal", 1.0, 1.0, n, stds) is None


def test_weights_spread_evenly_are_named_uniform_with_the_bounds_seen(suite):
    rng = np.random.default_rng(0)
    hint = suite.dense.distribution_hint(rng.random((600, 200)))
    assert hint.mistake == "wrong-formula" and "between 0.000 and 1.000" in hint and "distribution" in hint.shows
    assert suite.dense.distribution_hint(rng.normal(size=(600, 200))) is None


def test_nan_exactly_where_the_gradient_is_negative_is_a_negative_second_moment(suite):
    opt = suite.optimizers
    g = np.array([[0.5, -0.2, 3.0]])
    got = np.array([[0.1, np.nan, 0.2]])
    hint = opt.negative_root_hint("RMSProp", got, g, None)
    assert hint.mistake == "wrong-formula" and "negative" in hint
    assert opt.negative_root_hint("RMSProp", np.full((1, 3), np.nan), g, None) is None  # nan everywhere: no
    assert opt.negative_root_hint("BasicOptimizer", got, g, None) is None
    one = np.array([[-0.1]])
    finite_flipped = lambda: (None, np.array([[0.03]]), None, -one)
    nan_flipped = lambda: (None, np.array([[np.nan]]), None, -one)
    assert opt.negative_root_hint("Adam", np.array([[np.nan]]), one, finite_flipped).mistake == "wrong-formula"
    assert opt.negative_root_hint("Adam", np.array([[np.nan]]), one, nan_flipped) is None


def test_an_extra_outer_axis_of_one_is_a_list_around_the_array(suite):
    fb = suite.feedback
    exp = np.arange(6.0).reshape(2, 3)
    with pytest.raises(fb.Failed) as raised:
        fb.expect_close("P.", expected=exp, returned=exp[None], batch=2)
    assert raised.value.extra_data["hints"] == ["shape"] and "a list" in str(raised.value)


class WithoutLabelArgmaxAccuracy:
    def __call__(self, probs, labels):
        return float(np.mean(np.argmax(probs, axis=-1) == labels))


def test_one_hot_rows_compared_with_classes_are_named_where_the_batch_is_square(suite):
    probs, labels = np.array([[0.0, -0.0005]]), np.array([[1.0, 0.0]])
    shown = accuracy_feedback(suite, WithoutLabelArgmaxAccuracy, probs, labels)
    assert shown.extra_data["hints"] == ["wrong-input"] and "one row of each class" in str(shown)
    assert "one-hot VALUES" in str(shown)


def test_a_crash_in_one_sub_check_does_not_hide_another_ones_verdict(suite):
    fb = suite.feedback

    def crashes(title, hint):
        raise ValueError("operands could not be broadcast")

    with pytest.raises(fb.Failed):
        fb.choose([fb.Check("P.", failing(suite, "P.")), fb.Check("Q.", crashes)])
    with pytest.raises(ValueError):
        fb.choose([fb.Check("P.", passing), fb.Check("Q.", crashes)])


def test_on_one_row_a_listed_mistake_stands_when_no_factor_of_n_shows_at_the_second_size(suite):
    fb = suite.feedback
    two = {fb.Hint("constant-factor", "the factor 2 from the square is missing."): np.array([[0.5, 1.0]])}
    hint = fb.value_hint(np.array([[1.0, 2.0]]), np.array([[0.5, 1.0]]), 1, two, 1e-7, 1e-7,
                         second=lambda: (np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([[0.5, 1.0], [1.5, 2.0]]), 2))
    assert hint.mistake == "constant-factor"
