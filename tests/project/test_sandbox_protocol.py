"""The wire format on its own: strict decoding of whatever an untrusted peer may send."""
import json
import socket

import numpy as np
import pytest

from autograder.sandbox import protocol
from autograder.sandbox.protocol import ProtocolError


def no_tags(tag, body):
    raise ProtocolError(f"tag {tag} not allowed here")


def round_trip(value, leaf=None):
    enc = protocol.Encoder(leaf or (lambda obj, e, path: e.array(obj)), 1 << 30)
    wire = json.loads(json.dumps(enc.encode(value)))
    return protocol.decode_value(wire, bytearray(enc.payload()), no_tags)


def test_values_and_arrays_round_trip():
    value = {"a": [1, 2.5, None, True, "s"], "t": (np.arange(6).reshape(2, 3), np.float32([1.5]))}
    back = round_trip(value)
    assert back["a"] == value["a"] and type(back["t"]) is tuple
    assert back["t"][0].tolist() == [[0, 1, 2], [3, 4, 5]] and back["t"][1].dtype == np.float32


def test_rebuilt_array_is_fresh_writable_and_independent_of_the_payload():
    payload = bytearray(np.arange(4.0).tobytes())
    arr = protocol.array_from_wire(["<f8", [4], 0, 32], payload)
    assert type(arr) is np.ndarray and arr.flags.writeable and arr.flags.owndata
    payload[:8] = b"\0" * 8
    assert arr[0] == 0.0 and arr[1] == 1.0
    arr[3] = 9.0
    assert np.frombuffer(bytes(payload), "<f8")[3] == 3.0


@pytest.mark.parametrize("spec, match", [
    (["|O", [1], 0, 8], "dtype object"),
    (["<c16", [1], 0, 16], "complex128"),
    (["<U1", [1], 0, 4], "only bool, int"),
    (["V8", [1], 0, 8], "only bool, int"),
    (["<f8", [3], 0, 16], "does not match"),
    (["<f8", [-1], 0, 8], "malformed shape"),
    (["<f8", [2], 8, 16], "out of range"),
    (["<f8", [1.5], 0, 8], "malformed shape"),
    (["<f8", [1]], "malformed array"),
    (["not-a-dtype", [1], 0, 8], "malformed dtype"),
])
def test_malformed_arrays_are_refused(spec, match):
    with pytest.raises(ProtocolError, match=match):
        protocol.array_from_wire(spec, bytearray(16))


@pytest.mark.parametrize("wire, match", [
    ({"x": 1}, "unknown value tag"),
    ({"l": 1}, "malformed sequence"),
    ({"d": [[1, 2]]}, "keys must be strings"),
    ({"l": [], "t": []}, "malformed value"),
    ([1, 2], "malformed value"),
    ({"r": [1, "Foo"]}, "not allowed here"),
])
def test_malformed_values_are_refused(wire, match):
    with pytest.raises(ProtocolError, match=match):
        protocol.decode_value(wire, b"", no_tags)


def test_nesting_depth_is_capped():
    wire = 0
    for _ in range(protocol.MAX_DEPTH + 5):
        wire = {"l": [wire]}
    with pytest.raises(ProtocolError, match="deeper"):
        protocol.decode_value(wire, b"", no_tags)


def test_encoder_refuses_objects_and_non_string_keys():
    def leaf(obj, enc, path):
        raise ProtocolError(f"{path} refused")
    with pytest.raises(ProtocolError, match=r"value\[1\] refused"):
        round_trip([1, object()], leaf)
    with pytest.raises(ProtocolError, match="key of type int"):
        round_trip({1: 2})


def test_frame_caps_are_checked_before_allocating():
    prefix = protocol.PREFIX.pack(protocol.MAGIC, 10, 1 << 40)
    with pytest.raises(ProtocolError, match="exceeds the cap"):
        protocol.parse_prefix(prefix, 1 << 20)
    with pytest.raises(ProtocolError, match="header"):
        protocol.parse_prefix(protocol.PREFIX.pack(protocol.MAGIC, 1 << 30, 0), 1 << 20)
    with pytest.raises(ProtocolError, match="garbled"):
        protocol.parse_prefix(b"print('hi')\n\0\0\0\0", 1 << 20)


def test_headers_that_are_not_json_objects_are_refused():
    for raw in (b"[1]", b"{", "9" * 5000, b"\xff"):
        with pytest.raises(ProtocolError):
            protocol.parse_header(raw if isinstance(raw, bytes) else raw.encode())


def test_frames_cross_a_socket_intact():
    a, b = socket.socketpair()
    with a, b:
        protocol.send_frame(a, {"op": "x", "n": float("nan")}, b"\x01\x02")
        header, payload = protocol.recv_frame(b, 1 << 20)
    assert header["op"] == "x" and np.isnan(header["n"]) and bytes(payload) == b"\x01\x02"
