"""Family 5: CategoricalAccuracy (beras/metrics.py) and OneHotEncoder (beras/onehot.py)."""
import numpy as np
from gradescope_utils.autograder_utils.decorators import number, tags, visibility, weight
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import judge
import strategies as S
from autograder.sandbox import StudentError
from replies import fetch
from feedback import OBSERVATION, Check, Hint, choose, describe_error, expect, expect_close, fail, show, stopped_at_import


@st.composite
def accuracy_case(draw):
    n, c = draw(S.batch_shape(max_batch=8, min_dim=2))
    # Small integers make ties common: argmax then takes the FIRST largest entry (numpy's rule).
    probs = draw(hnp.arrays(np.float64, (n, c), elements=st.integers(0, 3).map(float)))
    return {"probs": probs, "labels": draw(S.one_hot(n, c))}


ONE_HOT_VALUES = Hint("wrong-input", "you compared the predicted classes with the one-hot VALUES of the labels (0s "
                                     "and 1s), not with their classes: take argmax of the labels too.")


def without_argmax(probs, labels):
    """{hint: accuracy computed against the one-hot rows themselves}, when numpy can broadcast
    the predicted classes (N,) against the labels (N, C) at all (N == C, or one row)."""
    try:
        value = judge.value("accuracy_without_label_argmax", probs, labels)
    except ValueError:
        return {}
    return {ONE_HOT_VALUES: value}


def accuracy_mistakes(probs, labels):
    """{hint: what a typical wrong accuracy returns} on this input."""
    # An accuracy is a fraction k/N: on a few rows many formulas agree by chance, so a column
    # or a constant class is named only on 4 rows or more, and only when it alone gives the
    # value (value_hint also names nothing when two kinds of mistake give the same value).
    n, c = np.shape(labels)
    columns, constants = {}, {}
    for j in range(c if n >= 4 else 0):
        columns.setdefault(judge.value("accuracy_against_label_column", probs, labels, j), []).append(j)
        constants.setdefault(judge.value("accuracy_against_constant_class", probs, j), []).append(j)
    hits = judge.value("accuracy_hit_count", probs, labels)
    return {Hint("wrong-axis", "you took argmax over the batch axis (0); take it per row (axis -1)."):
            judge.value("accuracy_over_batch_axis", probs, labels),
            Hint("batch-mean", "you counted the hits; the accuracy is their fraction (the mean)."): hits,
            Hint("batch-mean", f"your accuracy is the number of hits divided by C = {c}, the number of classes: "
                               f"the fraction is over the N = {n} rows."):
            judge.apply(lambda h: h / c, hits) if c != n else judge.UNKNOWN,
            **without_argmax(probs, labels),
            **{Hint("wrong-input", f"your accuracy is that of comparing the predicted classes with column {js[0]} of "
                                   f"the one-hot labels: compare with each row's label class (where its 1 is)."):
               value for value, js in columns.items() if judge.known(value) and len(js) == 1},
            **{Hint("wrong-input", f"your accuracy is the fraction of rows predicted as class {ks[0]}, whatever their "
                                   f"labels: compare each row's predicted class with its own label class (where "
                                   f"its 1 is)."):
               value for value, ks in constants.items() if judge.known(value) and len(ks) == 1}}


def untied(probs):
    """probs with every tie broken in favour of the first largest entry (the order of
    different values, integers here, is kept): argmax is the same, with no tie left."""
    return probs - 1e-3 * np.arange(probs.shape[1]) / probs.shape[1]


def has_ties(probs):
    return bool(np.any(np.sum(probs == probs.max(axis=-1, keepdims=True), axis=-1) > 1))


def square_batch(c):
    """C rows, row j labelled and predicted j: N = C, so that predicted classes (N,) broadcast
    against one-hot rows (N, C), as a comparison without argmax of the labels does; every row
    right, so that a count of hits (C) is never a fraction."""
    label = judge.value("one_hot_encoding", np.arange(c), np.arange(c))
    if not judge.known(label):
        return None  # student kit, a size with no recorded answer: checked on Gradescope
    return 0.1 + 0.5 * label, label


def every_class_batch(c):
    """A batch that tells accuracy mistakes apart: j + 2 right rows of each class j, then one
    wrong row per class (predicted j + 1), so each class k is predicted k + 3 times, never as
    often as there are hits, N differs from C, and no row has a tie."""
    right = [j for j in range(c) for _ in range(j + 2)]
    label = np.array(right + list(range(c)))
    predicted = np.array(right + [(j + 1) % c for j in range(c)])
    predicted, label = (judge.value("one_hot_encoding", np.arange(c), v) for v in (predicted, label))
    if not (judge.known(predicted) and judge.known(label)):
        return None  # student kit, a size with no recorded answer: checked on Gradescope
    return 0.1 + 0.5 * predicted, label


ACCURACY = ("`CategoricalAccuracy()(probs, labels)` is the fraction of rows where argmax(probs) equals "
            "argmax(labels)")
TIES = " (ties: the first largest entry, as np.argmax)"
TIES_HINT = Hint(OBSERVATION, "your accuracy is right when each row has one largest entry, and wrong on rows "
                              "with ties: np.argmax takes the FIRST largest entry.", shows=("ties",))


@weight(2)
@number("5.1")
@visibility("visible")
@tags("metrics")
@given(case=accuracy_case())
def test_categorical_accuracy(beras, case):
    """categorical accuracy (ties as np.argmax)"""
    probs, labels = case["probs"], case["labels"]

    def on(p, y, shown):
        def run(title, hint):
            crash = None
            try:
                returned = fetch(beras.metrics.CategoricalAccuracy()(p, y))
            except StudentError as error:
                crash = error
            if crash is not None and stopped_at_import(crash):
                raise crash
            if crash is not None:  # shown with the input it happened on (outside the handler, see
                # test_optimizers.check_sequence: a verdict holding the crash as context shows the crash)
                fail(title, inputs=shown, detail=describe_error(crash),
                     hint=ONE_HOT_VALUES
                     if f"shapes ({p.shape[0]},) ({p.shape[0]},{p.shape[1]})" in crash.message else None)
            expect(np.size(returned) == 1, "`CategoricalAccuracy()(probs, labels)` returns one number.",
                   inputs=shown, detail=f"Returned `{show(returned)}`.",
                   hint=Hint("shape", "take the mean of the per-row hits."))
            expect_close(title, expected=judge.value("categorical_accuracy", p, y),
                         returned=float(np.asarray(returned, dtype=float).reshape(-1)[0]),
                         what="CategoricalAccuracy()(probs, labels)", inputs=shown, rtol=1e-9, atol=1e-9,
                         mistakes=accuracy_mistakes(p, y), hint=hint)
        return run

    # The sub-checks: the rows with every tie broken (when there are ties), the rows as drawn
    # under the tie-breaking rule, and a fixed batch of every class where mistakes differ in
    # value. The chooser shows the one whose title matches what the values show.
    plain = untied(probs) if has_ties(probs) else probs
    checks = [Check(ACCURACY + ".", on(plain, labels, {**case, "probs": plain}), size=len(probs))]
    if has_ties(probs):
        checks.append(Check(ACCURACY + TIES + ".", on(probs, labels, case), cause="ties", neutral=ACCURACY + ".",
                            contrast=ACCURACY + ".", hint=TIES_HINT, size=len(probs)))
    for title, block in ((" (on a batch with one row of each class).", square_batch(labels.shape[1])),
                         (" (on a batch with rows of every class).", every_class_batch(labels.shape[1]))):
        if block is not None:
            checks.append(Check(ACCURACY + title, on(*block, {"probs": block[0], "labels": block[1]}),
                                size=len(block[0])))
    choose(checks)


@weight(2)
@number("5.2")
@visibility("visible")
@tags("onehot")
@given(labels=S.label_sets(), data=st.data())
def test_one_hot_round_trip(beras, labels, data):
    """one-hot fit / forward / inverse round trip"""
    subset = data.draw(st.lists(st.sampled_from(labels.tolist()), min_size=1, max_size=6), label="encoded labels")
    subset = np.array(subset, dtype=np.int64)
    inputs = {"fit(labels) with labels": labels, "then encoded": subset}
    encoder = beras.onehot.OneHotEncoder()
    encoder.fit(labels)
    columns = len(set(labels.tolist()))  # one per distinct label seen by fit
    try:
        onehot = np.asarray(fetch(encoder(subset), (len(subset), columns)), dtype=float)
    except StudentError as error:
        if error.type_name == "IndexError" and subset.max() >= columns:
            fail("`OneHotEncoder` maps each label to a one-hot row with one column per distinct label seen by fit.",
                 inputs=inputs, detail=describe_error(error),
                 hint=Hint("wrong-input", f"a label ({int(subset.max())}) was used as a column index, but there are "
                                          f"only {columns} columns: labels need not be 0..k-1; columns follow "
                                          f"the SORTED distinct labels (np.unique)."))
        raise
    expected = judge.value("one_hot_encoding", labels, subset)
    expect_close("`OneHotEncoder` after `fit(labels)` maps each label to a one-hot row with one column per "
                 "distinct label seen by fit, in sorted order.",
                 expected=expected, returned=onehot, what="encoder(labels)", inputs=inputs, rtol=0, atol=1e-12,
                 hint=(Hint("wrong-input", "columns follow the SORTED distinct labels (np.unique), one per label "
                                           "seen by fit; labels need not be 0..k-1.")
                       if onehot.shape != (len(subset), columns) or not np.array_equal(onehot.sum(axis=-1), np.ones(len(subset)))
                       or np.array_equal(np.argmax(onehot, axis=-1), np.minimum(subset, onehot.shape[-1] - 1))
                       else None))
    back = fetch(encoder.inverse(onehot), len(subset))
    expect(np.shape(back) == subset.shape and np.array_equal(np.asarray(back), subset),
           "`inverse` undoes the encoding: inverse(encoder(labels)) == labels.", inputs=inputs,
           detail=f"inverse returned `{show(np.asarray(back))}`; expected `{show(subset)}`.",
           hint=Hint("wrong-input", "return the learned labels at the argmax of each row, not the column indices.")
           if np.shape(back) == subset.shape and np.array_equal(np.asarray(back), np.argmax(onehot, axis=-1)) else
           Hint("wrong-axis", f"your inverse returned {np.shape(back)[0]} labels, one per COLUMN of the one-hot "
                              f"matrix, for {len(subset)} rows: take the argmax of each row (the last axis).")
           if np.ndim(back) == 1 and np.shape(back)[0] == onehot.shape[-1] and (
               onehot.shape[-1] != len(subset) or np.array_equal(np.asarray(back), over_rows(labels, onehot)))
           else None)


def over_rows(labels, onehot):
    """The learned labels at the argmax of each COLUMN (over the rows): what an inverse that
    reduces over the wrong axis returns (the encoding itself passed its check above)."""
    return np.unique(labels)[np.argmax(onehot, axis=0)]
