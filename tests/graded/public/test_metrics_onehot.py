"""Family 5: CategoricalAccuracy (beras/metrics.py) and OneHotEncoder (beras/onehot.py)."""
import numpy as np
from gradescope_utils.autograder_utils.decorators import number, tags, visibility, weight
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import judge
import strategies as S
from autograder.sandbox import fetch
from feedback import expect, expect_close, show


@st.composite
def accuracy_case(draw):
    n, c = draw(S.batch_shape(max_batch=8, min_dim=2))
    # Small integers make ties common: argmax then takes the FIRST largest entry (numpy's rule).
    probs = draw(hnp.arrays(np.float64, (n, c), elements=st.integers(0, 3).map(float)))
    return {"probs": probs, "labels": draw(S.one_hot(n, c))}


@weight(2)
@number("5.1")
@visibility("visible")
@tags("metrics")
@given(case=accuracy_case())
def test_categorical_accuracy(beras, case):
    """categorical accuracy (ties as np.argmax)"""
    probs, labels = case["probs"], case["labels"]
    returned = fetch(beras.metrics.CategoricalAccuracy()(probs, labels))
    expect(np.size(returned) == 1, "`CategoricalAccuracy()(probs, labels)` returns one number.", inputs=case,
           detail=f"Returned `{show(returned)}`.", hint="take the mean of the per-row hits.")
    expect_close("`CategoricalAccuracy()(probs, labels)` is the fraction of rows where argmax(probs) equals "
                 "argmax(labels) (ties: the first largest entry, as np.argmax).",
                 expected=judge.value("categorical_accuracy", probs, labels), returned=float(np.asarray(returned, dtype=float).reshape(-1)[0]),
                 what="CategoricalAccuracy()(probs, labels)", inputs=case, rtol=1e-9, atol=1e-9,
                 mistakes={"you took argmax over the batch axis (0); take it per row (axis -1).":
                           judge.value("accuracy_over_batch_axis", probs, labels),
                           "you counted the hits; the accuracy is their fraction (the mean).":
                           judge.value("accuracy_hit_count", probs, labels)})


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
    onehot = np.asarray(fetch(encoder(subset)), dtype=float)
    expected = judge.value("one_hot_encoding", labels, subset)
    expect_close("`OneHotEncoder` after `fit(labels)` maps each label to a one-hot row with one column per "
                 "distinct label seen by fit, in sorted order.",
                 expected=expected, returned=onehot, what="encoder(labels)", inputs=inputs, rtol=0, atol=1e-12,
                 hint="columns follow the SORTED distinct labels (np.unique); labels need not be 0..k-1.")
    back = fetch(encoder.inverse(onehot))
    expect(np.shape(back) == subset.shape and np.array_equal(np.asarray(back), subset),
           "`inverse` undoes the encoding: inverse(encoder(labels)) == labels.", inputs=inputs,
           detail=f"inverse returned `{show(np.asarray(back))}`; expected `{show(subset)}`.",
           hint="return the learned labels at the argmax of each row, not the column indices.")
