"""The sandbox API on well-behaved code: values, arrays, handles, errors (real worker processes)."""
import operator
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from autograder.sandbox import (BadValue, Remote, Sandbox, SandboxConfig, StudentError,
                                WorkerCrashed, fetch, safe_text)

CASES = Path(__file__).parent / "sandbox_cases"
PROJECT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module", params=["isolated", "in_process"])
def box(request):
    with Sandbox(CASES / "basic", SandboxConfig(in_process=request.param == "in_process")) as b:
        yield b


@pytest.fixture
def shapes(box):
    with box.worker() as w:
        yield w, w.import_module("shapes")


ARRAYS = [
    np.arange(12.0).reshape(3, 4),
    np.arange(12.0).reshape(3, 4)[:, ::2],          # not contiguous
    np.array([True, False]),
    np.arange(5, dtype=np.int8) - 2,
    np.arange(5, dtype=np.uint16),
    np.linspace(0, 1, 7, dtype=np.float32),
    np.array(3.5),                                   # 0-d
    np.zeros((0, 3)),                                # empty
    np.arange(6, dtype=">f8").reshape(2, 3),         # big-endian in, native out
]


@pytest.mark.parametrize("arr", ARRAYS, ids=lambda a: f"{a.dtype.str}{a.shape}")
def test_arrays_round_trip_exactly_as_plain_ndarrays(shapes, arr):
    w, m = shapes
    args, _ = fetch(m.echo(arr))
    back = args[0]
    assert type(back) is np.ndarray
    assert back.dtype == arr.dtype.newbyteorder("=") and back.shape == arr.shape
    assert np.array_equal(back, arr)
    assert back.flags.writeable and back.flags.owndata or back.base is not None


def test_plain_values_round_trip_with_their_types(shapes):
    w, m = shapes
    value = [None, True, 0, -7, 2 ** 70, 1.5, float("inf"), "héllo\n", (1, (2.5, "x")), {"k": [1, {"n": None}]}]
    args, kwargs = fetch(m.echo(*value, key=np.float32(2.5), flag=np.bool_(True)))
    assert list(args) == value
    assert type(args[8]) is tuple and type(args[9]) is dict
    assert kwargs == {"key": 2.5, "flag": True}
    assert type(kwargs["key"]) is float and type(kwargs["flag"]) is bool


def test_nan_passes_through_as_a_value(shapes):
    w, m = shapes
    args, _ = fetch(m.echo(float("nan"), np.array([np.nan, -np.inf])))
    assert np.isnan(args[0]) and np.isnan(args[1][0]) and args[1][1] == -np.inf


def test_subclass_comes_back_as_plain_ndarray_and_numpy_scalars_as_python_numbers(shapes):
    w, m = shapes
    g = m.Scaler(2.0, bias=1.0)(np.arange(3.0))
    assert w.type_name(g) == "Grid" and fetch(g.label) == "grid"
    arr = fetch(g)
    assert type(arr) is np.ndarray and np.array_equal(arr, [1.0, 3.0, 5.0])
    assert type(fetch(g.sum())) is np.ndarray              # numpy keeps the subclass, 0-d
    s = fetch(w.import_module("numpy").float64(9.0))
    assert type(s) is float and s == 9.0
    assert type(fetch(w.import_module("numpy").int16(-3))) is int
    assert type(fetch(g.shape[0])) is int


def test_container_subclasses_come_back_as_plain_containers(shapes):
    # Student code returns defaultdict / OrderedDict / Counter / namedtuple histories and
    # numpy-scalar metrics: the worker sends them as plain dict, list, tuple and float.
    w, m = shapes
    collections = w.import_module("collections")
    history = collections.defaultdict(w.import_module("builtins").list)
    history["loss"] = [w.import_module("numpy").float64(0.5)]
    ordered = collections.OrderedDict()
    ordered["acc"] = w.import_module("numpy").float32(0.25)
    counter = collections.Counter()
    counter["n"] = 3
    pair = collections.namedtuple("Pair", "metrics predictions")(ordered, [1.5])
    got = fetch([history, ordered, counter, pair])
    assert got == [{"loss": [0.5]}, {"acc": 0.25}, {"n": 3}, ({"acc": 0.25}, [1.5])]
    assert [type(v) for v in got] == [dict, dict, dict, tuple]
    assert type(got[0]["loss"]) is list and type(got[0]["loss"][0]) is float
    assert type(got[3][0]) is dict and type(got[3][1]) is list
    nested = collections.OrderedDict()
    nested["self"] = nested  # a cycle through subclasses still hits the depth cap, not a crash
    with pytest.raises(BadValue, match="nested deeper"):
        fetch(nested)


def test_handles_keep_identity_in_the_worker(shapes):
    w, m = shapes
    scaler = m.Scaler(1.0)
    key = m.Grid([1.0, 2.0])
    assert scaler.remember(key, "first") == 1
    assert fetch(scaler.lookup(key)) == "first"          # same object, same id() in the worker
    assert scaler.remember(m.Grid([1.0, 2.0]), "other") == 2
    assert scaler.factor is scaler.factor or fetch(scaler.factor) == 1.0
    again = scaler.seen                                    # the same worker object twice
    assert again is scaler.seen                            # ... is the same Remote here


def test_remotes_nested_in_arguments_are_sent_as_handles(shapes):
    w, m = shapes
    a, b = m.Grid(np.ones(2)), m.Grid(np.full(3, 2.0))
    assert fetch(m.total([a, (b,)][0:1] + [b])) == 8.0
    assert fetch(m.describe({"a": a, "pair": (a, b), "n": 3})) == {"a": "Grid", "pair": "tuple", "n": "int"}
    args, kwargs = fetch(m.echo([a], k={"b": b}))
    assert np.array_equal(args[0][0], [1.0, 1.0]) and np.array_equal(kwargs["k"]["b"], [2.0, 2.0, 2.0])


def test_attributes_items_and_setters(shapes):
    w, m = shapes
    s = m.Scaler(3.0)
    w.setattr(s, "factor", 10.0)
    assert fetch(w.getattr(s, "factor")) == 10.0
    s.bias = 0.5                                            # plain assignment is remote too
    assert fetch(s(np.array([1.0]))) == pytest.approx([10.5])
    g = m.Grid(np.arange(6.0).reshape(2, 3))
    assert fetch(g[1]) .tolist() == [3.0, 4.0, 5.0]
    assert fetch(g[:, 1:]).tolist() == [[1.0, 2.0], [4.0, 5.0]]
    assert fetch(g[..., 0]).tolist() == [0.0, 3.0]
    g[0, 0] = 7.0
    w.setitem(g, (1, 2), 9.0)
    assert fetch(g).tolist() == [[7.0, 1.0, 2.0], [3.0, 4.0, 9.0]]
    assert fetch(g.astype(np.float32).dtype.name) == "float32"
    assert len(g) == 2 and bool(g.any())
    assert fetch((g @ np.ones(3)) * 2 - 1).tolist() == [19.0, 31.0]
    assert [fetch(row.sum()) for row in g] == [10.0, 16.0]


def test_context_manager_runs_remotely_and_cannot_swallow_our_exceptions(shapes):
    w, m = shapes
    rec = m.Recorder()
    with rec as inside:
        assert inside is rec
        assert m.Recorder.active is rec
    assert fetch(rec.log) == ["exit"]
    with pytest.raises(KeyError):
        with m.Recorder():
            raise KeyError("trusted-side failure")


def test_student_exception_names_type_file_line_and_source(shapes):
    w, m = shapes
    with pytest.raises(StudentError) as info:
        m.Scaler(1.0).divide(np.ones(4), 0)
    err = info.value
    assert type(err) is StudentError and err.type_name == "ValueError"
    assert err.message == "cannot divide 4 values by zero"
    assert [(f.file, f.function) for f in err.frames] == [("shapes/core.py", "divide"), ("shapes/core.py", "fail")]
    assert err.location.line == 38 and "raise ValueError" in err.location.source
    md = err.markdown()
    assert "`ValueError`" in md and "`shapes/core.py` line 38" in md and "```text" in md
    assert "autograder" not in md and "worker_main" not in md   # no grader internals
    assert fetch(m.Scaler(2.0).divide(np.ones(1), 2)).tolist() == [0.5]  # the worker goes on


HELPER = """
def own_crash(values):
    return values[10]


def calls_student(scaler, values):
    return scaler.divide(values, 0)
"""


def test_a_crash_in_code_the_grader_compiled_into_the_worker_says_so(shapes):
    """Code the trusted side compiles in the worker as "<grader: NAME>" (a test's helpers) is
    no student file: a crash in it, or below it in the student's code, says where it was."""
    w, m = shapes
    builtins = w.import_module("builtins")
    namespace = builtins.dict()
    builtins.exec(builtins.compile(HELPER, "<grader: helper.py>", "exec"), namespace)
    with pytest.raises(StudentError) as info:
        namespace["own_crash"]([1, 2])
    assert info.value.frames == [] and info.value.type_name == "IndexError"
    assert info.value.test_code == ("<grader: helper.py>", 3, "own_crash", 0)
    with pytest.raises(StudentError) as info:
        namespace["calls_student"](m.Scaler(1.0), np.ones(4))
    assert [f.function for f in info.value.frames] == ["divide", "fail"]
    assert info.value.test_code == ("<grader: helper.py>", 7, "calls_student", 2)
    with pytest.raises(StudentError) as info:
        m.Scaler(1.0).divide(np.ones(4), 0)
    assert info.value.test_code is None


def test_import_error_is_a_student_error(shapes):
    w, m = shapes
    with pytest.raises(StudentError) as info:
        w.import_module("shapes.missing")
    assert info.value.type_name == "ModuleNotFoundError"


def test_output_is_captured_and_escaped(shapes):
    w, m = shapes
    assert m.chatty(3) == 3                                 # plain scalars come back directly
    out = w.output()
    assert out.startswith("line 0\nline 1\nline 2\n")
    assert "\x1b" not in out and "\\x1b[31mred" in out


def test_output_cap_keeps_the_start_and_counts_the_rest():
    with Sandbox(CASES / "basic", SandboxConfig(output_kb=1)) as b, b.worker() as w:
        assert w.import_module("shapes").chatty(2000) == 2000
        out = w.output()
    assert out.startswith("line 0\n") and len(out) < 1200
    assert "more bytes of output not shown" in out


def test_each_worker_starts_from_fresh_student_state(box):
    for _ in range(2):
        with box.worker() as w:
            m = w.import_module("shapes")
            m.Scaler(1.0)(np.ones(1))
            assert m.count() == 1


def test_one_worker_serves_many_calls_in_one_process(shapes):
    w, m = shapes
    os_mod = w.import_module("os")
    pids = {os_mod.getpid() for _ in range(50)}
    assert len(pids) == 1
    scaler = m.Scaler(2.0)
    x = np.ones((8, 8))
    start = time.perf_counter()
    for _ in range(200):
        scaler(x)
    per_call = (time.perf_counter() - start) / 200
    assert per_call < 0.005, f"{per_call * 1e6:.0f} µs per call"


def test_fetch_of_several_values_is_one_round_trip_and_plain_values_pass(shapes):
    w, m = shapes
    s = m.Scaler(2.0, bias=1.0)
    factor, (bias, name) = fetch([s.factor, (s.bias, "plain")])
    assert (factor, bias, name) == (2.0, 1.0, "plain")
    assert fetch({"x": np.arange(2)})["x"].tolist() == [0, 1]
    with pytest.raises(BadValue):
        fetch(object())


def test_unsendable_arguments_are_refused_here(shapes):
    w, m = shapes
    with pytest.raises(TypeError, match="cannot cross"):
        m.echo(lambda: 1)
    with pytest.raises(TypeError, match="dtype object"):
        m.echo(np.array([object()]))


def test_remote_dunder_probes_stay_local(shapes):
    w, m = shapes
    g = m.Grid([1.0])
    with pytest.raises(AttributeError):
        g.__array_interface__
    assert repr(g).startswith("<Remote Grid")
    assert isinstance(g, Remote) and hash(g) == hash(g)


def test_dead_worker_says_so_and_the_next_one_works(box):
    with box.worker() as w:
        m = w.import_module("shapes")
        if box.config.in_process:
            return  # no process to crash in the benchmark mode
        with pytest.raises(WorkerCrashed):
            w.import_module("os")._exit(1)
        assert not w.alive
        with pytest.raises(WorkerCrashed, match="already stopped"):
            m.count()
    with box.worker() as w:
        assert w.import_module("shapes").count() == 0


def test_safe_text_escapes_control_characters():
    assert safe_text(b"a\rb\x00\x1b[2J\xff\n") == "a\nb\\x00\\x1b[2J\ufffd\n"


def test_worker_operators_match_python(shapes):
    w, m = shapes
    g = m.Grid(np.array([1.0, 2.0]))
    for name in ("add", "sub", "mul", "truediv"):
        assert fetch(w.op(name, g, 2.0)).tolist() == getattr(operator, name)(np.array([1.0, 2.0]), 2.0).tolist()
    assert fetch(2.0 - g).tolist() == [1.0, 0.0]
    assert fetch(-g).tolist() == [-1.0, -2.0]


def test_an_in_process_worker_gives_back_the_real_modules_its_stand_ins_shadowed():
    """The host (a benchmark, a TA's in-process grading) keeps one copy of each library: a
    report drawn with matplotlib after an in-process worker must not meet a second copy."""
    import matplotlib.artist
    import matplotlib.figure

    before = {name: module for name, module in sys.modules.items() if name.partition(".")[0] == "matplotlib"}
    with Sandbox(CASES / "basic", SandboxConfig(in_process=True)) as box, box.worker() as w:
        w.import_module("matplotlib.pyplot")
        assert sys.modules["matplotlib"] is not before["matplotlib"]  # the worker got the stand-in
    after = {name: module for name, module in sys.modules.items() if name.partition(".")[0] == "matplotlib"}
    assert after == before
    assert issubclass(sys.modules["matplotlib.figure"].Figure, sys.modules["matplotlib.artist"].Artist)


# `obj.name(...)`: the read and the call travel as one request, and nothing else changes.
JOURNAL_EXPRESSIONS = {
    "a method": lambda j: j.a(1),
    "nested calls": lambda j: j.a(j.b(1), j.c(2)),
    "a call inside a call's arguments, and its result": lambda j: j.a(j.b(j.c(3)) + 1),
    "read now, called later": lambda j: (lambda f: (j.b(2), f(1)))(j.a),
    "an attribute the call needs": lambda j: j.a(j.number),
    "a missing method": lambda j: j.missing(1),
    "a missing method whose argument needs the worker": lambda j: j.missing(j.b(1)),
    "a missing method in an argument": lambda j: j.a(j.missing(1)),
    "a plain value called": lambda j: j.number(1),
    "an argument that fails in the grader": lambda j: j.a(1 / 0),
}
# Where the two orders do differ: an argument that fails in the grader, before any request,
# stops the call; the method is read before the next request instead, and if reading it
# fails too, the test reports the grader's error rather than the read's.


def _outcome(expression, journal):
    try:
        return "returned", fetch(expression(journal))
    except StudentError as err:  # the worker's AttributeError, as the student's code raised it
        return "raised", err.type_name, err.message
    except Exception as exc:  # raised by Python here, the same as in-process
        return "raised", type(exc).__name__, str(exc)


@pytest.mark.parametrize("expression", JOURNAL_EXPRESSIONS.values(), ids=JOURNAL_EXPRESSIONS.keys())
def test_a_method_call_reads_and_calls_in_the_order_and_with_the_errors_of_python(shapes, expression):
    w, m = shapes
    local = type(sys)("journal_here")  # the same class, in this process
    exec((CASES / "basic" / "shapes" / "core.py").read_text(), local.__dict__)
    here = local.Journal()
    remote = m.Journal()
    outcome_here = _outcome(expression, here)
    outcome_there = _outcome(expression, remote)
    assert outcome_there == outcome_here
    assert fetch(remote.log) == here.log


def test_a_method_call_is_one_round_trip(shapes):
    from autograder import timing
    w, m = shapes
    journal = m.Journal()
    requests = lambda: timing.count("sandbox.request")
    before = requests()
    journal.a(1), journal.b(2), journal.c(3)
    assert requests() - before == 3
    before = requests()
    journal.a(journal.b(2))  # a is read before b runs: a read, b read and called, a called
    assert requests() - before == 3
    before = requests()
    journal.a  # not called: read at once, a request of its own
    assert requests() - before == 1
