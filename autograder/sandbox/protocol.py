"""Framing and value codec shared by the trusted side and the worker (no pickle, ever).

This file is copied into the sandbox and imported by the worker, so it may use only the
standard library and numpy, and only relative imports.

A frame is a fixed prefix, a JSON header and a payload of raw array bytes:

    b"BRS1" | header length (u32 LE) | payload length (u64 LE) | header JSON | payload

Both lengths are checked against caps before anything is allocated, so neither side can
be made to swallow an unbounded message.

Values inside a header are JSON scalars (null, bools, ints, floats incl. NaN/Infinity,
strings) or one-key tagged objects, so decoding is never ambiguous:

    {"l": [...]}                      list
    {"t": [...]}                      tuple
    {"d": [[key, value], ...]}        dict with str keys
    {"a": [dtype, shape, off, n]}     ndarray: payload[off:off+n], dtype str like "<f8"
    {"n": [dtype, [], off, n]}        numpy scalar (trusted -> worker only)
    {"y": dtype}                      np.dtype (trusted -> worker only)
    {"s": [start, stop, step]}        slice (trusted -> worker only)
    {"e": 0}                          Ellipsis (trusted -> worker only)
    {"h": handle}                     a Remote sent back to the worker (trusted -> worker)
    {"r": [handle, type name]}        a new or known object in the worker (worker -> trusted)

Header keys. A request (trusted -> worker):

    "op"      what to do: import, getattr, setattr, call, method (getattr then call, for
              `obj.name(...)`), getitem, setitem, enter, exit, op, iter, fetch,
              substitutions, ping (worker_main.py)
    "args"    list of values; "kwargs" a {"d": ...} value (every op but fetch)
    "value"   the value to send back as plain data (fetch only)
    "max"     the fetch's budget: the most bytes (header JSON + payload) its reply may take;
              the worker answers "bad" rather than send more, and the trusted side refuses a
              larger frame from its prefix, before reading any of it (fetch only)
    "rel"     handles the trusted side no longer holds: the worker drops them first
    "blk"     names of submission modules whose import timed out in an earlier worker: the
              worker refuses to import them (import_watch.py); sent when the list changes

What the worker sends (worker -> trusted), one frame each:

    "hello"   its pid, once, when set up and before any student code (not a reply)
    "imp"     ["start" | "end", module name]: a submission import began or ended; or
              ["aside", module name, {"type", "message", "file", "line", "stopped",
              "unreadable"}]: it raised and was kept as far as it ran (partial_import.py);
              may come before any reply, any number of times (not a reply)
    a reply holds exactly one of:
    "ok"      the result: a value (handles as "r" tags; plain data only for fetch)
    "err"     student code raised: {"type", "message", "frames", "fatal", "memory",
              "stand_in", "timed_out_before"}
    "bad"     a value that may not cross (fetch of an object, over a cap), or a malformed request
    "proto"   the worker's own failure while handling the request (our bug, or student code
              that corrupted the worker): the trusted side ends that worker
    and, in every reply, the worker's own figures (benchmarks only, never grading):
    "t"       seconds inside student code, wall clock; "tc" the same in CPU seconds
    "c"       CPU seconds the whole request took in the worker
"""
import json
import struct

import numpy as np

MAGIC = b"BRS1"
PREFIX = struct.Struct("<4sIQ")
MAX_HEADER = 16 * 1024 * 1024
MAX_DEPTH = 64

# Array dtypes that may cross the boundary: plain numbers only, little-endian/native.
ALLOWED_KINDS = "biuf"
ALLOWED_ITEMSIZE = {"b": (1,), "i": (1, 2, 4, 8), "u": (1, 2, 4, 8), "f": (2, 4, 8)}


class ProtocolError(Exception):
    """A frame or value that breaks the protocol or its caps (the message says which)."""


# ---------------------------------------------------------------- framing

def pack_frame(header, payload=b"", max_payload=None):
    """(prefix + header bytes, payload parts). `payload` is bytes-like, or a list of them (an
    Encoder's parts(): the arrays' own memory, sent without being joined or copied)."""
    parts = [p for p in (payload if isinstance(payload, list) else [payload]) if len(p)]
    size = sum(len(p) for p in parts)
    head = json.dumps(header, separators=(",", ":"), allow_nan=True).encode("utf-8")
    if len(head) > MAX_HEADER:
        raise ProtocolError(f"message header of {len(head)} bytes exceeds the cap of {MAX_HEADER}")
    if max_payload is not None and size > max_payload:
        raise ProtocolError(f"message of {size} bytes exceeds the cap of {max_payload}")
    return PREFIX.pack(MAGIC, len(head), size) + head, parts


def parse_prefix(prefix, max_payload, budget=None):
    """The header and payload lengths of a frame, checked against the caps (and against
    `budget`, the most bytes the whole frame may take) before anything is allocated."""
    magic, head_len, payload_len = PREFIX.unpack(prefix)
    if magic != MAGIC:
        raise ProtocolError("garbled message (bad frame marker)")
    if head_len > MAX_HEADER:
        raise ProtocolError(f"message header of {head_len} bytes exceeds the cap of {MAX_HEADER}")
    if payload_len > max_payload:
        raise ProtocolError(
            f"message of {payload_len} bytes exceeds the cap of {max_payload} bytes")
    if budget is not None and head_len + payload_len > budget:
        raise ProtocolError(
            f"reply of {head_len + payload_len} bytes exceeds its budget of {budget} bytes")
    return head_len, payload_len


def parse_header(raw):
    try:
        header = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError) as exc:  # bad JSON, huge ints, absurd nesting
        raise ProtocolError(f"unreadable message header ({type(exc).__name__})") from None
    if not isinstance(header, dict):
        raise ProtocolError("message header is not an object")
    return header


def send_frame(sock, header, payload=b"", max_payload=None):
    prefix_and_head, parts = pack_frame(header, payload, max_payload)
    sock.sendall(prefix_and_head)
    for part in parts:
        sock.sendall(part)


def recv_exact(sock, n):
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        k = sock.recv_into(view[got:], n - got)
        if k == 0:
            raise EOFError("connection closed")
        got += k
    return buf


def recv_frame(sock, max_payload):
    """Blocking read of one frame (the worker's side; the trusted side reads with a deadline)."""
    head_len, payload_len = parse_prefix(bytes(recv_exact(sock, PREFIX.size)), max_payload)
    header = parse_header(bytes(recv_exact(sock, head_len)))
    payload = recv_exact(sock, payload_len) if payload_len else bytearray()
    return header, payload


# ---------------------------------------------------------------- arrays

def check_dtype(dtype_str):
    """The numpy dtype named by `dtype_str`, if it is a plain number type; else ProtocolError."""
    if not isinstance(dtype_str, str) or len(dtype_str) > 4:
        raise ProtocolError("array with a malformed dtype")
    try:
        dtype = np.dtype(dtype_str)
    except TypeError:
        raise ProtocolError(f"array with an unknown dtype {dtype_str[:8]!r}") from None
    if dtype.kind not in ALLOWED_KINDS or dtype.itemsize not in ALLOWED_ITEMSIZE[dtype.kind] \
            or dtype.fields is not None or dtype.subdtype is not None:
        raise ProtocolError(f"array of dtype {dtype} (only bool, int, uint and float arrays may cross)")
    return dtype.newbyteorder("<") if dtype.itemsize > 1 else dtype


def array_to_wire(arr, blobs, offset):
    """Describe plain ndarray `arr` and append its bytes; returns (tag, new offset)."""
    dtype = arr.dtype
    if dtype.kind not in ALLOWED_KINDS or dtype.itemsize not in ALLOWED_ITEMSIZE[dtype.kind]:
        raise ProtocolError(f"an array of dtype {dtype} (only bool, int, uint and float arrays may cross)")
    little = dtype.newbyteorder("<") if dtype.itemsize > 1 else dtype
    # The array's own memory when it is already contiguous and little-endian: no copy.
    data = memoryview(np.ascontiguousarray(arr, dtype=little).reshape(-1).view(np.uint8))
    blobs.append(data)
    tag = {"a": [little.str, [int(n) for n in arr.shape], offset, len(data)]}
    return tag, offset + len(data)


def array_from_wire(spec, payload):
    """A fresh, writable, plain np.ndarray rebuilt from raw bytes; ProtocolError if malformed."""
    if not (isinstance(spec, list) and len(spec) == 4):
        raise ProtocolError("malformed array description")
    dtype_str, shape, off, n = spec
    dtype = check_dtype(dtype_str)
    if not (isinstance(shape, list) and len(shape) <= 32
            and all(type(d) is int and d >= 0 for d in shape)):
        raise ProtocolError("array with a malformed shape")
    if not (type(off) is int and type(n) is int and 0 <= off and 0 <= n and off + n <= len(payload)):
        raise ProtocolError("array bytes out of range")
    count = 1
    for d in shape:
        count *= d
    if count * dtype.itemsize != n:
        raise ProtocolError("array size does not match its shape")
    flat = np.frombuffer(payload, dtype=dtype, count=count, offset=off)
    out = np.empty(tuple(shape), dtype=dtype.newbyteorder("=") if dtype.itemsize > 1 else dtype)
    out.reshape(-1)[...] = flat
    return out


# ---------------------------------------------------------------- values

PLAIN_SCALARS = (type(None), bool, int, float, str)
EXTENSION_TAGS = ("h", "r", "n", "y", "s", "e")


def decode_value(obj, payload, resolve, depth=0):
    """Rebuild a value from its JSON form. `resolve(tag, body)` handles "h"/"r" tags."""
    if depth > MAX_DEPTH:
        raise ProtocolError(f"value nested deeper than {MAX_DEPTH} levels")
    t = type(obj)
    if t in PLAIN_SCALARS:
        return obj
    if t is not dict or len(obj) != 1:
        raise ProtocolError("malformed value")
    (tag, body), = obj.items()
    if tag in ("l", "t"):
        if type(body) is not list:
            raise ProtocolError("malformed sequence")
        items = [decode_value(x, payload, resolve, depth + 1) for x in body]
        return items if tag == "l" else tuple(items)
    if tag == "d":
        if type(body) is not list:
            raise ProtocolError("malformed dict")
        out = {}
        for pair in body:
            if not (type(pair) is list and len(pair) == 2 and type(pair[0]) is str):
                raise ProtocolError("malformed dict entry (keys must be strings)")
            out[pair[0]] = decode_value(pair[1], payload, resolve, depth + 1)
        return out
    if tag == "a":
        return array_from_wire(body, payload)
    if tag in EXTENSION_TAGS:  # handles; numpy scalars, dtypes, slices (worker side only)
        return resolve(tag, body)
    raise ProtocolError(f"unknown value tag {str(tag)[:10]!r}")


def as_plain_container(value):
    """A plain list, tuple or dict with the items of a list, tuple or dict SUBCLASS (defaultdict,
    OrderedDict, Counter, a namedtuple...), or None. The worker's encoder sends student
    containers as what they are; the trusted side still accepts only the exact plain types.
    The base classes' own methods read the items, so an overridden `items` or `__iter__`
    cannot change what is sent."""
    if isinstance(value, dict):
        return dict(dict.items(value))
    if isinstance(value, list):
        return list.copy(value)
    if isinstance(value, tuple):
        return tuple(tuple.__iter__(value))
    return None


class Encoder:
    """Turns a value into its JSON form plus payload blobs. `leaf(obj, enc)` encodes anything
    that is not a plain scalar, list, tuple or str-keyed dict (or raises ProtocolError).
    With `plain_subclasses` (the worker's results), subclasses of list, tuple and dict are
    sent as the plain container (see as_plain_container)."""

    def __init__(self, leaf, max_payload, plain_subclasses=False):
        self.leaf = leaf
        self.max_payload = max_payload
        self.plain_subclasses = plain_subclasses
        self.blobs = []
        self.offset = 0

    def array(self, arr):
        tag, self.offset = array_to_wire(arr, self.blobs, self.offset)
        if self.offset > self.max_payload:
            raise ProtocolError(
                f"arrays totalling over {self.max_payload} bytes (the size cap)")
        return tag

    def encode(self, value, path="value", depth=0):
        if depth > MAX_DEPTH:
            raise ProtocolError(f"{path}: nested deeper than {MAX_DEPTH} levels")
        t = type(value)
        if t in PLAIN_SCALARS:
            return value
        if self.plain_subclasses and t not in (list, tuple, dict):
            plain = as_plain_container(value)
            if plain is not None:
                value, t = plain, type(plain)
        if t is list or t is tuple:
            items = [self.encode(x, f"{path}[{i}]", depth + 1) for i, x in enumerate(value)]
            return {"l" if t is list else "t": items}
        if t is dict:
            pairs = []
            for k, v in value.items():
                if type(k) is not str:
                    raise ProtocolError(f"{path} has a key of type {type(k).__name__} (only str keys)")
                pairs.append([k, self.encode(v, f"{path}[{k!r}]", depth + 1)])
            return {"d": pairs}
        return self.leaf(value, self, path)

    def payload(self):
        return b"".join(self.blobs)

    def parts(self):
        """The payload as the arrays' own buffers, in order (for pack_frame/send_frame)."""
        return list(self.blobs)
