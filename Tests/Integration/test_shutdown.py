"""Graceful shutdown: SIGTERM drains in-flight calls, then the process exits 0."""
from __future__ import annotations

import signal
import socket
import subprocess
import time

import grpc
import pytest

from harness import pb, predict_request, wait_until


def _gateway(procs, extra=()):
    a = procs.echo("iris", "1", id="iris-1-a")
    b = procs.echo("iris", "1", id="iris-1-b")
    gw = procs.gateway({"iris": {"default": "1", "versions": {"1": [a, b]}}}, extra=list(extra))
    return gw, a, b


@pytest.mark.timeout(60)
def test_sigterm_drains_50_in_flight_calls(procs):
    grace_ms = 5000
    gw, _, _ = _gateway(procs, extra=["--grace-period-ms", str(grace_ms)])
    stubs = [pb.inference_grpc.InferenceStub(procs.channel(gw.address, local_pool=True)) for _ in range(5)]
    for s in stubs:  # connections up and pools warm, so the 50 calls start at once
        s.Predict(predict_request("iris", "1"), timeout=10)
    done_at = {}

    def finished(i):
        return lambda _f: done_at.__setitem__(i, time.monotonic())

    futures = []
    for i in range(50):
        f = stubs[i % 5].Predict.future(predict_request("iris", "1", payload=b"%d" % i, delay_ms=1000),
                                        timeout=20)
        f.add_done_callback(finished(i))
        futures.append(f)
    time.sleep(0.3)  # all 50 have reached the gateway and its upstreams
    assert not any(f.done() for f in futures)
    t_term = time.monotonic()
    gw.send_signal(signal.SIGTERM)
    results = []
    for i, f in enumerate(futures):
        try:
            results.append((i, f.result().payload == b"%d" % i, None))
        except grpc.RpcError as e:
            results.append((i, False, f"{e.code()} {e.details()}"))
    bad = [r for r in results if not r[1]]
    assert not bad, f"{len(bad)} of 50 in-flight calls failed after SIGTERM: {bad[:5]}"
    rc = gw.wait(timeout=grace_ms / 1000 + 5)
    exited = time.monotonic()
    assert rc == 0
    assert exited - t_term <= grace_ms / 1000 + 1.0
    assert max(done_at.values()) <= exited, "the gateway exited before its calls completed"


def test_sigterm_idle_gateway_exits_promptly(procs):
    gw, _, _ = _gateway(procs)
    ch = procs.channel(gw.address)
    pb.inference_grpc.InferenceStub(ch).Predict(predict_request("iris", "1"), timeout=10)  # an idle open connection
    t0 = time.monotonic()
    gw.send_signal(signal.SIGTERM)
    assert gw.wait(timeout=5) == 0
    assert time.monotonic() - t0 < 3.0, "nothing was in flight: no need to wait for the grace period"
    host, port = gw.address.rsplit(":", 1)
    with pytest.raises(OSError):
        socket.create_connection((host, int(port)), timeout=2).close()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_gateway_stops_on_signal(procs, sig):
    gw = procs.gateway({})
    gw.send_signal(sig)
    assert gw.wait(timeout=5) == 0


def test_echo_model_exits_0_on_sigterm(procs):
    echo = procs.echo("iris", "1")
    pb.inference_grpc.InferenceStub(procs.channel(echo.address)).Predict(predict_request("iris", "1"), timeout=10)
    echo.send_signal(signal.SIGTERM)
    assert echo.wait(timeout=10) == 0
