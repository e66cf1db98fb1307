"""The wire carries plain data only; anything else stays behind as an inert handle."""

import math
import socket

import numpy as np
import pytest
import torch

from grader.worker import protocol


def round_trip(value):
    return protocol.decode(protocol.encode(value))


def test_plain_data_round_trips_exactly():
    value = {"a": [1, 2.5, None, True, "x"], "t": (1, (2, 3)), "b": b"\x00\xff", 3: "int key",
             "f": [math.inf, -math.inf], "__dunder": 1}
    assert round_trip(value) == value
    assert math.isnan(round_trip(float("nan")))
    assert type(round_trip(True)) is bool and type(round_trip(1)) is int


def test_arrays_and_tensors_keep_dtype_and_shape():
    a = np.arange(12, dtype=np.int16).reshape(3, 4)
    b = round_trip(a)
    assert b.dtype == a.dtype and b.shape == a.shape and (a == b).all()
    assert type(round_trip(np.float32(1.5))) is np.float32
    for t in (torch.randn(2, 3), torch.randn(4).to(torch.bfloat16), torch.nn.Parameter(torch.ones(2))):
        u = round_trip(t)
        assert type(u) is torch.Tensor and u.dtype == t.dtype and torch.equal(u, t.detach())
    for zero_dim in (torch.tensor(2.5), torch.tensor(3), np.array(1.5)):  # a loss, a count: a scalar stays 0-dim
        u = round_trip(zero_dim)
        assert type(u) is type(zero_dim) and u.shape == () and u == zero_dim, (zero_dim, u)


def test_objects_that_claim_equality_do_not_pass_as_numbers():
    class Rigged(float):
        def __eq__(self, other):
            return True

    kept = []
    encoded = protocol.encode([Rigged(1.0), object()], keep=lambda o: kept.append(o) or {"__handle__": len(kept)})
    assert encoded == [{"__handle__": 1}, {"__handle__": 2}]
    with pytest.raises(protocol.ProtocolError):
        protocol.decode(encoded)  # no handle factory: refused, not trusted
    with pytest.raises(protocol.ProtocolError):
        protocol.encode(np.array([object()], dtype=object))


def test_a_dict_that_looks_like_a_tag_is_still_a_dict():
    value = {"__handle__": 5, "__ndarray__": "<f8"}
    assert round_trip(value) == value


def test_malformed_frames_are_refused():
    left, right = socket.socketpair()
    with left, right:
        left.sendall((10).to_bytes(8, "big") + b"not json!!")
        with pytest.raises(protocol.ProtocolError):
            protocol.recv(right)
        left.sendall((protocol.MAX_MESSAGE + 1).to_bytes(8, "big"))
        with pytest.raises(protocol.ProtocolError):
            protocol.recv(right)
    bad = {"__ndarray__": "<f8", "shape": [3], "data": "AAAA"}
    with pytest.raises(protocol.ProtocolError):
        protocol.decode(bad)
    with pytest.raises((protocol.ProtocolError, TypeError)):
        protocol.decode({"__ndarray__": "|O", "shape": [1], "data": "AAAAAAAAAAA="})


def test_recv_looks_in_while_it_waits_and_keeps_its_deadline():
    import time

    left, right = socket.socketpair()
    with left, right:
        calls = []
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            protocol.recv(right, started + 0.3, waiting=lambda: calls.append(time.monotonic()))
        took = time.monotonic() - started
        assert 0.3 <= took < 0.5, "the deadline is kept"
        assert 5 <= len(calls) <= 0.3 / protocol.WAIT_SLICE + 1, "called every slice, no busy loop"
        protocol.send(left, {"a": [1, 2]})
        assert protocol.recv(right, time.monotonic() + 1, waiting=lambda: calls.append(0)) == {"a": [1, 2]}


def test_what_waiting_raises_ends_the_wait():
    left, right = socket.socketpair()
    with left, right:
        left.sendall((100).to_bytes(8, "big") + b"[1,")  # a frame that stops half-way

        def over():
            raise RuntimeError("over a limit")

        with pytest.raises(RuntimeError, match="over a limit"):
            protocol.recv(right, None, waiting=over)


def test_a_large_message_after_a_wait_is_sent_within_its_deadline_not_the_last_wait_slice():
    """recv with `waiting` leaves the socket's timeout at a wait slice (25 ms); a message larger
    than the socket's buffers, to a reader that takes longer than that to start reading (a busy
    worker), must still go through when the deadline allows it."""
    import threading
    import time

    left, right = socket.socketpair()
    with left, right:
        protocol.send(right, "ready")
        assert protocol.recv(left, time.monotonic() + 1, waiting=lambda: None) == "ready"
        array = np.arange(3_000_000, dtype=np.float32)
        big = protocol.encode(array)  # 16 MB as a frame
        got = []
        reader = threading.Thread(target=lambda: (time.sleep(0.3), got.append(protocol.recv(right, time.monotonic() + 10))))
        reader.start()
        protocol.send(left, big, time.monotonic() + 10)
        reader.join()
        assert np.array_equal(protocol.decode(got[0]), array)
        with pytest.raises(TimeoutError):
            protocol.send(left, big, time.monotonic() + 0.2)  # nobody reads: the deadline ends the send
