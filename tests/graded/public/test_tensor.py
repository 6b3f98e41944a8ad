"""Family 1: Tensor, Variable and Weighted (beras/core.py)."""
import numpy as np
from gradescope_utils.autograder_utils.decorators import number, tags, visibility, weight
from hypothesis import given
from hypothesis import strategies as st

import strategies as S
from replies import fetch
from feedback import Hint, expect, expect_close, rests_on, show


@weight(2)
@number("1.1")
@visibility("visible")
@tags("tensor")
@given(shape=S.batch_shape(), as_list=st.booleans(), data=st.data())
def test_tensor_and_variable_construction(beras, student, shape, as_list, data):
    """Tensor construction"""
    values = data.draw(S.array(shape), label="values")
    given_value = values.tolist() if as_list else values
    inputs = {"a": values, "passed as": "a list" if as_list else "an ndarray"}
    core = beras.core
    tensor = core.Tensor(given_value)
    prop = "`Tensor(a)` is `np.asarray(a)` viewed as a Tensor, with `trainable` True."
    expect_close(prop, expected=values, returned=fetch(tensor, values.shape), what="Tensor(a)", inputs=inputs)
    builtins = student.import_module("builtins")
    expect(fetch(builtins.isinstance(tensor, core.Tensor)), prop, inputs=inputs,
           detail="`Tensor(a)` is not an instance of Tensor.",
           hint=Hint("wrong-type", "return the array viewed as the class being constructed (an ndarray's `view` "
                                   "method), not a plain array."))
    expect(fetch(builtins.getattr(tensor, "trainable", None)) is True, prop, inputs=inputs,
           detail=f"`Tensor(a).trainable` is `{show(fetch(builtins.getattr(tensor, 'trainable', None)))}`.",
           hint=Hint("trainable-flag", "set `trainable = True` on the new Tensor."))
    # Variable and its `assign` are given code (Fall 2024's handout even has `Variable = Tensor`,
    # without `assign`): they are not graded, and no test relies on `assign`.


@weight(1)
@number("1.2")
@visibility("visible")
@tags("tensor")
@given(shape=S.batch_shape(), trainable=st.booleans(), data=st.data())
def test_trainable_flag_survives_views_and_arithmetic(beras, student, worker_side, shape, trainable, data):
    """trainable survives views and arithmetic"""
    values = data.draw(S.array(shape), label="values")
    tensor = beras.core.Tensor(values)
    student.setattr(tensor, "trainable", trainable)
    flags = fetch(worker_side("tensors").trainable_flags(tensor))
    wrong = {name: flag for name, flag in flags.items() if flag is not trainable}
    expect(not wrong,
           "Views of a Tensor and results of arithmetic on it keep its `trainable` flag.",
           inputs={"t": values, "t.trainable": trainable},
           detail="These keep the wrong flag: "
                  + ", ".join(f"`{name}` has trainable=`{show(flag)}`" for name, flag in wrong.items()),
           hint=Hint("trainable-flag", "numpy calls `__array_finalize__(self, obj)` on every new view or result: "
                "copy `obj.trainable` there (default True)."))


@weight(1.5)
@number("1.3")
@visibility("visible")
@rests_on("tensor")
@tags("weighted")
@given(flags=st.lists(st.booleans(), min_size=1, max_size=5))
def test_trainable_and_non_trainable_variables(student, worker_side, flags):
    """trainable_variables, non_trainable_variables"""
    holder = worker_side("probes").Holder([np.full((1, 2), float(i)) for i in range(len(flags))])
    weights = holder.weights
    for i, flag in enumerate(flags):
        student.setattr(weights[i], "trainable", flag)
    helpers = worker_side("tensors")
    all_ids = fetch(helpers.ids(weights))
    inputs = {"trainable flags of the weights, in order": flags}
    for prop_name, wanted in (("trainable_variables", True), ("non_trainable_variables", False)):
        got_ids = fetch(helpers.ids(student.getattr(holder, prop_name)))
        expected_ids = [i for i, f in zip(all_ids, flags) if f is wanted]
        got_positions = [all_ids.index(i) if i in all_ids else "a new object" for i in got_ids]
        expect(got_ids == expected_ids,
               f"`{prop_name}` lists the weights whose `trainable` is {wanted}, in order, "
               "as the same objects.",
               inputs=inputs,
               detail=f"Expected the weights at positions "
                      f"{[k for k, f in enumerate(flags) if f is wanted]}; returned {got_positions}.",
               hint=Hint("trainable-flag", "filter `self.weights` by each weight's `trainable` flag; return the weights "
                    "themselves, not copies."))


@weight(1.5)
@number("1.4")
@visibility("visible")
@rests_on("tensor")
@tags("weighted")
@given(flags=st.lists(st.booleans(), min_size=1, max_size=5), new_value=st.booleans())
def test_trainable_property_and_setter(student, worker_side, flags, new_value):
    """trainable getter and setter"""
    holder = worker_side("probes").Holder([np.zeros((2, 1)) for _ in flags])
    weights = holder.weights
    for i, flag in enumerate(flags):
        student.setattr(weights[i], "trainable", flag)
    inputs = {"trainable flags of the weights": flags}
    got = fetch(student.getattr(holder, "trainable"))
    expect(got in (True, False) and bool(got) is any(flags),
           "`trainable` is True when any weight is trainable, else False.",
           hint=Hint("trainable-flag", "use any(...) over the weights' flags: one trainable weight makes the "
                                       "whole thing trainable.")
           if got in (True, False) and bool(got) is all(flags) and any(flags) != all(flags) else None,
           inputs=inputs, detail=f"Returned `{show(got)}`; expected {any(flags)}.")
    student.setattr(holder, "trainable", new_value)
    after = [fetch(student.getattr(weights[i], "trainable")) for i in range(len(flags))]
    expect(all(bool(a) is new_value for a in after),
           "Setting `trainable` sets the flag of every weight.",
           inputs={**inputs, "set trainable to": new_value},
           detail=f"The weights' flags afterwards: `{show(after)}`.",
           hint=Hint("trainable-flag", "loop over `self.weights` and set each one's `trainable`."))
    expect(bool(fetch(student.getattr(holder, "trainable"))) is new_value,
           "After setting `trainable`, reading it gives the value set.",
           inputs={**inputs, "set trainable to": new_value})
