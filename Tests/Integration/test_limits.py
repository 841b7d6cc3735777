"""Sizes and load: 64 MiB messages pass intact, --max-message-bytes is enforced, 2,000
concurrent calls succeed, and garbage bytes or a burst of 1,000 stream resets do not stop
the gateway from serving."""
from __future__ import annotations

import collections
import hashlib
import random
import socket
import time

import grpc
import h2.exceptions
import pytest

import h2raw
from harness import MiB, pb, predict_request, served_by

PREDICT = "/byoc.v1.Inference/Predict"


def _code(fn, *args, **kwargs):
    with pytest.raises(grpc.RpcError) as err:
        fn(*args, **kwargs)
    return err.value.code()


@pytest.fixture
def small(procs):
    """iris v1 on two echo servers behind one gateway."""
    a = procs.echo("iris", "1", id="iris-1-a")
    b = procs.echo("iris", "1", id="iris-1-b")
    gw = procs.gateway({"iris": {"default": "1", "versions": {"1": [a, b]}}})
    return gw, a, b


def _assert_serving(procs, gw, n=5):
    assert gw.alive, f"the gateway exited with {gw.returncode}"
    stub = pb.inference_grpc.InferenceStub(procs.channel(gw.address, local_pool=True))
    for i in range(n):
        resp = stub.Predict(predict_request("iris", "1", payload=b"ok%d" % i), timeout=10)
        assert (resp.model, resp.version, resp.payload) == ("iris", "1", b"ok%d" % i)


# ---------------------------------------------------------------------------- 64 MiB

@pytest.mark.timeout(240)
def test_64mib_request_passes_intact(small, procs):
    gw, _, _ = small
    stub = pb.inference_grpc.InferenceStub(procs.channel(gw.address))
    payload = random.Random(64).randbytes(64 * MiB - 1024)  # message just under the 64 MiB default
    req = predict_request("iris", "1", payload=payload)
    assert req.ByteSize() <= 64 * MiB
    resp = stub.Predict(req, timeout=120)
    assert (resp.model, resp.version) == ("iris", "1")
    assert len(resp.payload) == len(payload)
    assert hashlib.sha256(resp.payload).digest() == hashlib.sha256(payload).digest()


@pytest.mark.timeout(240)
def test_64mib_response_passes_intact(small, procs):
    gw, _, _ = small
    stub = pb.inference_grpc.InferenceStub(procs.channel(gw.address))
    n = 64 * MiB - 64  # the response message (payload + model + version) stays within 64 MiB
    resp = stub.Predict(predict_request("iris", "1", response_bytes=n), timeout=120)
    assert (resp.model, resp.version) == ("iris", "1")
    assert len(resp.payload) == n
    assert resp.payload == b"a" * n


@pytest.mark.timeout(240)
def test_just_over_the_64mib_default_is_resource_exhausted(small, procs):
    gw, _, _ = small
    stub = pb.inference_grpc.InferenceStub(procs.channel(gw.address))
    req = predict_request("iris", "1", payload=b"z" * (64 * MiB))
    assert req.ByteSize() > 64 * MiB
    assert _code(stub.Predict, req, timeout=120) == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert stub.Predict(predict_request("iris", "1", payload=b"after"), timeout=30).payload == b"after"


@pytest.mark.parametrize("routing", ["body", "header"])
def test_max_message_bytes_enforced(procs, routing):
    echo = procs.echo("iris", "1", id="iris-1-a")
    gw = procs.gateway({"iris": {"default": "1", "versions": {"1": [echo]}}},
                       extra=["--max-message-bytes", str(1 * MiB)])
    stub = pb.inference_grpc.InferenceStub(procs.channel(gw.address))
    md = [("byoc-model", "iris"), ("byoc-version", "1")] if routing == "header" else []
    ok = stub.Predict(predict_request("iris", "1", payload=b"x" * (512 * 1024)), metadata=md, timeout=30)
    assert len(ok.payload) == 512 * 1024
    code = _code(stub.Predict, predict_request("iris", "1", payload=b"x" * (2 * MiB)), metadata=md, timeout=30)
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
    ok = stub.Predict(predict_request("iris", "1", payload=b"y"), metadata=md, timeout=30)
    assert ok.payload == b"y"


# ---------------------------------------------------------------------------- concurrency

@pytest.mark.timeout(180)
def test_2000_concurrent_calls_over_20_connections(small, procs):
    gw, _, _ = small
    stubs = [pb.inference_grpc.InferenceStub(procs.channel(gw.address, local_pool=True)) for _ in range(20)]
    for s in stubs:
        s.Predict(predict_request("iris", "1"), timeout=10)
    t0 = time.monotonic()
    futures = [stubs[i % 20].Predict.future(predict_request("iris", "1", payload=b"%d" % i, delay_ms=50),
                                            timeout=90)
               for i in range(2000)]
    counts = collections.Counter()
    failures = []
    for i, f in enumerate(futures):
        try:
            resp = f.result()
            assert resp.payload == b"%d" % i
            counts[served_by(f)] += 1
        except grpc.RpcError as e:
            failures.append((i, e.code(), e.details()))
    elapsed = time.monotonic() - t0
    assert not failures, f"{len(failures)} of 2000 failed, first: {failures[:5]}"
    assert sum(counts.values()) == 2000
    assert set(counts) == {"iris-1-a", "iris-1-b"}, counts
    print(f"2000 calls (delay 50 ms) in {elapsed:.2f} s: {dict(counts)}")


# ---------------------------------------------------------------------------- abuse

def test_garbage_bytes_do_not_stop_the_gateway(small, procs):
    gw, _, _ = small
    host, port = gw.address.rsplit(":", 1)
    rnd = random.Random(7)
    garbage = [
        rnd.randbytes(64 * 1024),                                            # noise
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",                                # HTTP/1.1
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + rnd.randbytes(4096),           # preface + noise
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x06\x04\x00\x00\x00\x00\x00" + b"\xff" * 6
        + b"\xff\xff\xff\x01\x05\x00\x00\x00\x01" + rnd.randbytes(512),      # valid-looking frames
    ]
    held = []
    for g in garbage:
        s = socket.create_connection((host, int(port)), timeout=5)
        try:
            s.sendall(g)
        except OSError:
            pass  # the gateway may close as soon as it sees the garbage
        held.append(s)
    _assert_serving(procs, gw)       # while the garbage connections are still open
    for s in held:
        s.close()
    time.sleep(0.2)
    _assert_serving(procs, gw)


@pytest.mark.timeout(120)
def test_reset_burst_of_1000_streams(small, procs):
    """Open and reset 1,000 streams in a burst (headers route them, so upstream streams are
    opened too); the gateway may answer with GOAWAY but must keep serving everyone else."""
    gw, a, b = small
    frame = h2raw.grpc_frame(predict_request("iris", "1", delay_ms=1000).SerializeToString())
    sent = 0
    with h2raw.RawH2(gw.address) as h:
        h.pump(0.2)  # the server's SETTINGS
        try:
            for i in range(1000):
                sid = h.headers(PREDICT, extra=[("byoc-model", "iris"), ("byoc-version", "1")])
                if i % 2:
                    h.conn.send_data(sid, frame[:7])  # part of a message
                h.reset(sid)
                sent += 1
                if i % 50 == 49:
                    h.flush()
            h.flush()
        except (OSError, h2.exceptions.H2Error) as e:
            # the gateway may close the connection (rapid-reset protection)
            print(f"connection ended after {sent} resets: {e!r}; goaway={h.goaway}")
        h.pump(1.0)
        print(f"{sent} streams opened and reset; goaway={h.goaway}")
    assert sent >= 100, "the burst never got going"
    _assert_serving(procs, gw, n=10)
    assert a.alive and b.alive
    with h2raw.RawH2(gw.address) as h:
        st = h.wait(h.request(PREDICT, h2raw.grpc_frame(predict_request("iris", "1").SerializeToString())))
    assert st.grpc_status == 0, str(st)
