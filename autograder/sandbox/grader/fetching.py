"""fetch(): the only way a value comes back from a worker as data. What arrives must be
plain (see protocol.decode_value), and may not hold a handle: a worker (whose encoder the
student may have patched) cannot slip a live Remote into "plain" data."""
import numpy as np

from .. import protocol
from .errors import BadValue
from .remote import Remote


# What a fetch may bring back unless the test says more (`budget_for`): plenty for the numbers,
# flags and small arrays a test computes on small inputs, and a small bound on what one reply
# can cost the trusted process (a test that reads more says so).
DEFAULT_BUDGET = 1024 * 1024


def budget_for(*shapes, dtype=np.float64, slack=2):
    """A fetch budget from the shapes a test expects back: `slack` times their bytes as
    `dtype`, plus room for the message around them (so a float64 answer fits where float32
    was expected, and a Tensor's metadata too)."""
    count = sum(int(np.prod(shape, dtype=np.int64)) for shape in shapes)
    return slack * count * np.dtype(dtype).itemsize + 64 * 1024


def fetch(value, worker=None, *, budget=DEFAULT_BUDGET):
    """Bring a value back from the worker as plain, validated data (one round trip):
    None/bool/int/float/str, lists, tuples, str-keyed dicts, and np.ndarray (exactly that
    type) of bool/int/uint/float. Remotes anywhere inside `value` are fetched too.

    `budget` is the most bytes the reply may take (see `budget_for`): the worker refuses a
    larger value (BadValue, naming its shape and dtype), and the trusted side refuses a larger
    frame from its header, before reading any of it."""
    workers = set()
    _find_workers(value, workers, 0)
    if worker is not None:
        workers.add(worker)
    if len(workers) > 1:
        raise ValueError("fetch() got Remotes from different workers")
    if not workers:
        return _plain_copy(value)
    (w,) = workers
    return w._request("fetch", [], value=value, fetching=True, what=f"reading the value of {_describe(value)}",
                      budget=budget)


def _find_workers(value, found, depth):
    if depth > protocol.MAX_DEPTH:
        return
    if isinstance(value, Remote):
        found.add(value._w)
    elif type(value) in (list, tuple):
        for v in value:
            _find_workers(v, found, depth + 1)
    elif type(value) is dict:
        for v in value.values():
            _find_workers(v, found, depth + 1)


def _plain_copy(value):
    enc = protocol.Encoder(lambda obj, e, path: e.array(np.asarray(obj)) if type(obj) is np.ndarray
                           else _reject(obj, path), 1 << 62)
    try:
        wire = enc.encode(value)
    except protocol.ProtocolError as exc:
        raise BadValue("BadValue", str(exc)) from None
    return protocol.decode_value(wire, enc.payload(), _no_tags)


def _reject(obj, path):
    raise protocol.ProtocolError(f"{path} is a {type(obj).__qualname__}")


def _no_tags(tag, body):
    raise protocol.ProtocolError("unexpected tag")


def _describe(value):
    if isinstance(value, Remote):
        return value._n
    if type(value) in (list, tuple, dict):
        return f"a {type(value).__name__} of values"
    return "a value"
