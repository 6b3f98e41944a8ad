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
from feedback import OBSERVATION, Hint, describe_error, expect, expect_close, fail, show


@st.composite
def accuracy_case(draw):
    n, c = draw(S.batch_shape(max_batch=8, min_dim=2))
    # Small integers make ties common: argmax then takes the FIRST largest entry (numpy's rule).
    probs = draw(hnp.arrays(np.float64, (n, c), elements=st.integers(0, 3).map(float)))
    return {"probs": probs, "labels": draw(S.one_hot(n, c))}


def without_argmax(probs, labels):
    """{hint: accuracy computed against the one-hot rows themselves}, when numpy can broadcast
    the predicted classes (N,) against the labels (N, C) at all (N == C, or one row)."""
    try:
        value = judge.value("accuracy_without_label_argmax", probs, labels)
    except ValueError:
        return {}
    return {Hint("wrong-input", "you compared the predicted classes with the one-hot rows themselves: take "
                                "argmax of the labels too."): value}


def accuracy_mistakes(probs, labels):
    """{hint: what a typical wrong accuracy returns} on this input."""
    # An accuracy is a fraction k/N: on a few rows many formulas agree by chance, so a column
    # is named only on 4 rows or more, and only when one column alone gives the value.
    columns, seen = {}, []
    for j in range(np.shape(labels)[1] if len(labels) >= 4 else 0):
        value = judge.value("accuracy_against_label_column", probs, labels, j)
        if judge.known(value):
            seen.append(value)
            columns[value] = j
    columns = {value: j for value, j in columns.items() if seen.count(value) == 1}
    return {Hint("wrong-axis", "you took argmax over the batch axis (0); take it per row (axis -1)."):
            judge.value("accuracy_over_batch_axis", probs, labels),
            Hint("batch-mean", "you counted the hits; the accuracy is their fraction (the mean)."):
            judge.value("accuracy_hit_count", probs, labels),
            **without_argmax(probs, labels),
            **{Hint("wrong-input", f"your accuracy is that of comparing the predicted classes with column {j} of "
                                   f"the one-hot labels: compare with each row's label class (where its 1 is)."):
               value for value, j in columns.items()}}


def untied(probs):
    """probs with every tie broken in favour of the first largest entry (the order of
    different values, integers here, is kept): argmax is the same, with no tie left."""
    return probs - 1e-3 * np.arange(probs.shape[1]) / probs.shape[1]


def has_ties(probs):
    return bool(np.any(np.sum(probs == probs.max(axis=-1, keepdims=True), axis=-1) > 1))


ACCURACY = ("`CategoricalAccuracy()(probs, labels)` is the fraction of rows where argmax(probs) equals "
            "argmax(labels)")


@weight(2)
@number("5.1")
@visibility("visible")
@tags("metrics")
@given(case=accuracy_case())
def test_categorical_accuracy(beras, case):
    """categorical accuracy (ties as np.argmax)"""
    probs, labels = case["probs"], case["labels"]
    accuracy = beras.metrics.CategoricalAccuracy()
    returned = fetch(accuracy(probs, labels))
    expect(np.size(returned) == 1, "`CategoricalAccuracy()(probs, labels)` returns one number.", inputs=case,
           detail=f"Returned `{show(returned)}`.", hint=Hint("shape", "take the mean of the per-row hits."))
    got = float(np.asarray(returned, dtype=float).reshape(-1)[0])
    expected = judge.value("categorical_accuracy", probs, labels)
    if has_ties(probs):
        # The case shown is chosen by what it shows: wrong without ties too, the tie-free input
        # (and no word of ties); wrong only with ties, this one, under the tie-breaking rule.
        plain = untied(probs)
        plain_expected = judge.value("categorical_accuracy", plain, labels)
        if judge.known(expected) and judge.known(plain_expected) and not np.isclose(got, expected, rtol=1e-9, atol=1e-9):
            plain_got = np.asarray(fetch(accuracy(plain, labels)), dtype=float).reshape(-1)
            if plain_got.size == 1 and not np.isclose(plain_got[0], plain_expected, rtol=1e-9, atol=1e-9):
                expect_close(ACCURACY + ".", expected=plain_expected, returned=float(plain_got[0]),
                             what="CategoricalAccuracy()(probs, labels)", inputs={**case, "probs": plain},
                             rtol=1e-9, atol=1e-9, mistakes=accuracy_mistakes(plain, labels))
            expect_close(ACCURACY + " (ties: the first largest entry, as np.argmax).", expected=expected,
                         returned=got, what="CategoricalAccuracy()(probs, labels)", inputs=case, rtol=1e-9, atol=1e-9,
                         hint=Hint(OBSERVATION, "your accuracy is right when each row has one largest entry, and "
                                                "wrong on rows with ties: np.argmax takes the FIRST largest entry."))
    expect_close(ACCURACY + (" (ties: the first largest entry, as np.argmax)." if has_ties(probs) else "."),
                 expected=expected, returned=got,
                 what="CategoricalAccuracy()(probs, labels)", inputs=case, rtol=1e-9, atol=1e-9,
                 mistakes=accuracy_mistakes(probs, labels))


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
