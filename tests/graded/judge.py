"""Expected values by name: the closed forms on the grader, recorded answers in the student kit.

Public tests never hold an answer. They name the computation they need:

    judge.value("softmax", x)                      the closed form at x
    judge.fd_gradient("mse", yp, yt, wrt=0)        float64 central differences of it
    judge.vjp_fd("sigmoid", x, upstream=J)         d <f(x), J> / dx, by differences
    judge.jacobian_fd("softmax", x)                per-row Jacobians, by differences

On the grader (the repository, Gradescope), the closed forms are importable from the hidden
folder (hidden/closed_forms.py) and computed exactly as the suite always did. With
$AUTOGRADER_RECORD naming a file, every answer is also recorded there at exit, keyed by the
name, the kind and a hash of the exact float64 bytes of the inputs: the build grades the
reference on the public suite that way and ships the table in the kit (RECORDED).

In the kit there are no closed forms. Hypothesis is derandomised with no database, so the
kit draws the examples the build drew, and the answer comes from the table. An input the
build never saw (Hypothesis shrinking a failure to new inputs) has no answer: UNKNOWN is
returned, `feedback.expect_close` skips that comparison, and a failure on such an input
says that its expected value is checked on Gradescope. Property checks still run.
"""
from __future__ import annotations

import atexit
import copy
import hashlib
import importlib.util
import io
import json
import os
import zipfile
from pathlib import Path
from typing import Any, Mapping

import numpy as np

import numerics

HERE = Path(__file__).resolve().parent
# Trusted-only; never in the kit (the build keeps folders holding hidden tests out).
CLOSED_FORMS = HERE / "hidden" / "closed_forms.py"
# The kit's recorded answers; the same path as `kit_recording` in autograder.cfg.
RECORDED = HERE / "recorded_answers.npz"
RECORD_ENV = "AUTOGRADER_RECORD"
# Kit only: with this set, how many answers came from the recording and how many were
# missing is written there at exit (JSON), so a test can see that the kit really checks values.
STATS_ENV = "BERAS_JUDGE_STATS"
UNRECORDED_NOTE = ("This input has no recorded expected value in your kit (it was not among the "
                   "examples recorded when the kit was built): its expected value is checked on Gradescope.")


class Unknown:
    """The answer for inputs the kit has no recording of."""

    def __repr__(self) -> str:
        return "judge.UNKNOWN"


UNKNOWN = Unknown()


def known(value: Any) -> bool:
    return value is not UNKNOWN


def is_unknown(value: Any) -> bool:
    return value is UNKNOWN


def apply(function, value):
    """function(value), or UNKNOWN for an unknown value (e.g. to shape an answer like the student's)."""
    return UNKNOWN if value is UNKNOWN else function(value)


# ---------------------------------------------------------------------------- the four kinds

def value(name: str, *args, **params):
    return _answer("value", name, args, params, lambda f: f(*args, **params))


def fd_gradient(name: str, *args, wrt: int = 0, **params):
    """d f(*args) / d args[wrt] by float64 central differences, f scalar-valued."""
    def compute(f):
        def at(z):
            return f(*args[:wrt], z, *args[wrt + 1:], **params)
        return numerics.gradient_fd(at, args[wrt])
    return _answer(f"fd_gradient{wrt}", name, args, params, compute)


def vjp_fd(name: str, *args, upstream, wrt: int = 0, **params):
    """d <f(*args), upstream> / d args[wrt] by float64 central differences."""
    def compute(f):
        def at(z):
            return f(*args[:wrt], z, *args[wrt + 1:], **params)
        return numerics.vjp_fd(at, args[wrt], upstream)
    return _answer(f"vjp_fd{wrt}", name, (*args, upstream), params, compute)


def jacobian_fd(name: str, x, **params):
    """Per-row Jacobians (N, n, k) of a row-wise f, by float64 central differences."""
    return _answer("jacobian_fd", name, (x,), params,
                   lambda f: numerics.jacobian_fd_rows(lambda z: f(z, **params), x))


# ---------------------------------------------------------------------------- grader or kit

_forms: dict | None = None
_table: dict | None = None
_records: dict[str, Any] = {}
_missed: set[str] = set()  # digests of the input arrays of every miss (outside Hypothesis)
_missed_in = None  # the Hypothesis example (its build context) of the latest miss
_stats = {"recorded": 0, "unrecorded": 0}


def _closed_forms() -> dict | None:
    global _forms
    if _forms is None:
        if not CLOSED_FORMS.is_file():
            _forms = {}
        else:
            spec = importlib.util.spec_from_file_location("_judge_closed_forms", CLOSED_FORMS)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            _forms = dict(module.FORMS)
    return _forms or None


def _answer(kind: str, name: str, args: tuple, params: dict, compute):
    key = digest(kind, name, args, params)
    forms = _closed_forms()
    if forms is not None:
        try:
            out = compute(forms[name])
        except ValueError as error:  # e.g. a mistake's formula that these shapes cannot take
            _record(key, Raised(str(error)))
            raise
        _record(key, copy.deepcopy(out))
        return out
    recorded = _recorded().get(key)
    if os.environ.get(STATS_ENV) and not any(_stats.values()):
        atexit.register(lambda path: Path(path).write_text(json.dumps(_stats)), os.environ[STATS_ENV])
    _stats["unrecorded" if recorded is None else "recorded"] += 1
    if isinstance(recorded, Raised):
        raise ValueError(recorded.message)
    if recorded is None:
        global _missed_in
        _missed.update(_array_digests(args))
        _missed_in = _example() or _missed_in
        return UNKNOWN
    return copy.deepcopy(recorded)  # a test may change what it gets; the table stays


def _record(key: str, out) -> None:
    if os.environ.get(RECORD_ENV):
        if not _records:
            atexit.register(_write_records, Path(os.environ[RECORD_ENV]))
        _records[key] = out


class Raised:
    """A computation that raised ValueError on the grader: the kit raises it again."""

    def __init__(self, message: str):
        self.message = message


def digest(kind: str, name: str, args: tuple, params: Mapping[str, Any]) -> str:
    h = hashlib.sha256()
    _feed(h, [kind, name, list(args), dict(params)])
    return h.hexdigest()[:32]


def _feed(h, value) -> None:
    if isinstance(value, dict):
        h.update(b"{")
        for k in sorted(value):
            _feed(h, str(k))
            _feed(h, value[k])
        h.update(b"}")
    elif isinstance(value, (list, tuple)):
        h.update(b"[")
        for item in value:
            _feed(h, item)
        h.update(b"]")
    elif isinstance(value, str):
        h.update(b"s%d:" % len(value) + value.encode())
    elif value is None:
        h.update(b"N")
    else:
        array = np.ascontiguousarray(np.asarray(value, dtype=np.float64))
        h.update(b"a%r" % (array.shape,))
        h.update(array.tobytes())


def _array_digests(args) -> set[str]:
    found = set()
    for arg in args:
        if isinstance(arg, (list, tuple)):
            found |= _array_digests(arg)
        elif isinstance(arg, np.ndarray) and arg.dtype.kind in "biuf":
            found.add(digest("input", "", (arg,), {}))
    return found


def recording() -> bool:
    """True while the build grades the reference to record the kit's answers."""
    return bool(os.environ.get(RECORD_ENV))


def unrecorded(inputs: Mapping[str, Any] | None) -> bool:
    """Whether a value check of the failing example was skipped for want of a recording (kit
    only). Inside Hypothesis: a miss in this very example (shrinking tries many inputs that
    share arrays with the one it reports); outside: a miss on one of these input arrays."""
    if not _missed:
        return False
    example = _example()
    if example is not None:
        return example is _missed_in
    return bool(inputs) and bool(_array_digests(list(inputs.values())) & _missed)


def _example():
    """The running Hypothesis example's build context (a new one per example), or None."""
    try:
        from hypothesis.control import current_build_context
        return current_build_context()
    except Exception:  # not inside a Hypothesis test (InvalidArgument), or no Hypothesis
        return None


# ---------------------------------------------------------------------------- the table's format
# One npz: "values", every answer's arrays flattened and concatenated (float64), and "index",
# JSON {key: [skeleton, [[offset, shape], ...]]}; a skeleton is a leaf number, a list of
# skeletons (answers may be nested lists of arrays) or {"raised": message}. No pickle.

def _flatten(value, leaves: list) -> Any:
    if isinstance(value, Raised):
        return {"raised": value.message}
    if isinstance(value, (list, tuple)):
        return [_flatten(item, leaves) for item in value]
    leaves.append(np.asarray(value, dtype=np.float64))
    return len(leaves) - 1


def _rebuild(skeleton, leaves: list):
    if isinstance(skeleton, dict):
        return Raised(skeleton["raised"])
    if isinstance(skeleton, list):
        return [_rebuild(item, leaves) for item in skeleton]
    leaf = leaves[skeleton]
    return leaf if leaf.ndim else float(leaf)


def save_table(path: Path, records: Mapping[str, Any]) -> None:
    index, chunks, offset = {}, [], 0
    for key in sorted(records):
        leaves: list = []
        skeleton = _flatten(records[key], leaves)
        spans = []
        for leaf in leaves:
            spans.append([offset, list(leaf.shape)])
            chunks.append(leaf.ravel())
            offset += leaf.size
        index[key] = [skeleton, spans]
    arrays = {"values": np.concatenate(chunks) if chunks else np.zeros(0),
              "index": np.array(json.dumps(index, separators=(",", ":")))}
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    # np.savez would stamp the current time: written by hand, the same answers give the same bytes.
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, array in arrays.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, array, allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", (2020, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, buffer.getvalue())
    tmp.replace(path)


def load_table(path: Path) -> dict:
    with np.load(path, allow_pickle=False) as data:
        values, index = data["values"], json.loads(str(data["index"]))
    table = {}
    for key, (skeleton, spans) in index.items():
        leaves = [values[start:start + int(np.prod(shape, dtype=np.int64))].reshape(shape) for start, shape in spans]
        table[key] = _rebuild(skeleton, leaves)
    return table


def _recorded() -> dict:
    global _table
    if _table is None:
        _table = load_table(RECORDED) if RECORDED.is_file() else {}
    return _table


def _write_records(path: Path) -> None:
    save_table(path, _records)
