"""grpc.health.v1 Watch and List on the gateway (issue 15, item 3): a Watch stream gets the
current status, then a message on every change of the route table (static routes reloaded
with SIGHUP, and the registry's replicas dying and being deleted); an unknown service gets
SERVICE_UNKNOWN and the stream stays open; grpcio's client-side health checking (the channel's
`healthCheckConfig`) uses Watch to stop sending to a service that is not serving."""
from __future__ import annotations

import json
import os
import queue
import signal
import threading

import grpc
import pytest

import harness
from harness import binary, pb

UNKNOWN, SERVING, NOT_SERVING, SERVICE_UNKNOWN = 0, 1, 2, 3


class Watcher:
    """A Watch stream read on a thread: its statuses arrive in `statuses`, its end in `ended`."""

    def __init__(self, channel, service: str, timeout: float = 120):
        self.call = pb.health_grpc.HealthStub(channel).Watch(pb.health.HealthCheckRequest(service=service),
                                                             timeout=timeout)
        self.statuses: queue.Queue = queue.Queue()
        self.ended: grpc.RpcError | None = None
        self.done = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        try:
            for response in self.call:
                self.statuses.put(response.status)
        except grpc.RpcError as e:
            self.ended = e
        self.done.set()

    def next(self, timeout: float = 30) -> int:
        try:
            return self.statuses.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no Watch message within {timeout} s (ended: {self.ended})") from None

    def nothing_more(self, wait: float = 0.5) -> None:
        with pytest.raises(queue.Empty):
            self.statuses.get(timeout=wait)

    def cancel(self):
        self.call.cancel()
        self.done.wait(10)


@pytest.fixture
def static(procs):
    """A gateway on a static route file that the test rewrites (and reloads with SIGHUP)."""
    echo = procs.echo("iris", "1")
    path = procs.dir / "watched-routes.json"
    serving = {"iris": {"default": "1", "versions": {"1": [echo]}}}
    harness.write_routes(path, serving)
    gw = procs.start("gateway", [binary("byoc-gateway"), "--listen", "127.0.0.1:0", "--routes", str(path),
                                 "--workers", "2", "--grace-period-ms", "3000"])

    def reload(models):
        harness.write_routes(path, models)
        gw.send_signal(signal.SIGHUP)
    return gw, echo, serving, reload


def test_watch_sends_the_current_status_then_every_change(static, procs):
    gw, echo, serving, reload = static
    channel = procs.channel(gw.address)
    model = Watcher(channel, "iris")
    version = Watcher(channel, "iris/1")
    gateway = Watcher(channel, "")
    assert model.next() == SERVING and version.next() == SERVING and gateway.next() == SERVING

    reload({"iris": {"default": "1", "versions": {"1": []}}})
    assert model.next() == NOT_SERVING and version.next() == NOT_SERVING
    reload({"other": {"default": "1", "versions": {"1": [echo]}}})
    assert model.next() == SERVICE_UNKNOWN and version.next() == SERVICE_UNKNOWN
    reload(serving)
    assert model.next() == SERVING and version.next() == SERVING
    # A reload that changes nothing for the service sends nothing; the gateway stays SERVING.
    reload({**serving, "other": {"default": "1", "versions": {"1": []}}})
    model.nothing_more()
    gateway.nothing_more(0.1)
    for w in (model, version, gateway):
        assert not w.done.is_set(), f"a Watch stream ended: {w.ended}"
        w.cancel()


def test_watch_of_an_unknown_service_says_service_unknown_and_stays_open(static, procs):
    gw, echo, serving, reload = static
    w = Watcher(procs.channel(gw.address), "nope/3")
    assert w.next() == SERVICE_UNKNOWN
    w.nothing_more()
    assert not w.done.is_set(), f"the stream ended: {w.ended}"
    reload({**serving, "nope": {"default": "3", "versions": {"3": [echo]}}})
    assert w.next() == SERVING, "the service appeared"
    w.cancel()


def test_watch_ends_at_its_deadline_and_with_bad_requests(static, procs):
    gw, _, _, _ = static
    channel = procs.channel(gw.address)
    w = Watcher(channel, "iris", timeout=1.5)
    assert w.next() == SERVING
    assert w.done.wait(30), "the deadline did not end the stream"
    assert w.ended.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    raw = channel.unary_stream("/grpc.health.v1.Health/Watch")
    with pytest.raises(grpc.RpcError) as err:
        list(raw(b"\x0a\x05ab", timeout=10))  # a string field cut short
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "HealthCheckRequest" in err.value.details()


def test_graceful_shutdown_says_not_serving_then_ends_watches(static, procs):
    gw, _, _, _ = static
    w = Watcher(procs.channel(gw.address), "")
    assert w.next() == SERVING
    gw.send_signal(signal.SIGTERM)
    assert w.next() == NOT_SERVING
    assert w.done.wait(30), "the watch held the drain"
    assert w.ended.code() == grpc.StatusCode.UNAVAILABLE and "shutting down" in w.ended.details()
    assert gw.wait(30) == 0


def test_list(static, procs):
    gw, echo, _, reload = static
    reload({"iris": {"default": "1", "versions": {"1": [echo], "2": []}},
            "empty": {"default": "1", "versions": {"1": []}}})
    stub = pb.health_grpc.HealthStub(procs.channel(gw.address))
    expected = {"": SERVING, "byoc.v1.Inference": SERVING, "inference.GRPCInferenceService": SERVING,
                "iris": SERVING, "iris/1": SERVING, "iris/2": NOT_SERVING, "empty": NOT_SERVING, "empty/1": NOT_SERVING}

    def listed():
        return {k: v.status for k, v in stub.List(pb.health.HealthListRequest(), timeout=10).statuses.items()}
    assert harness.wait_until(lambda: listed() == expected, 30), listed()


def test_watch_follows_the_registry(procs):
    gw = procs.registry_gateway(extra=["--resync-ms", "500"])
    gw.register("w", "1", [binary("byoc-echo-model")])
    gw.wait_state("w", "1", "READY")
    w = Watcher(gw.channel, "w/1")
    assert w.next() == SERVING
    (replica,) = gw.wait_replica_count("w", "1", 1)
    os.kill(replica.pid, signal.SIGKILL)
    assert w.next() == NOT_SERVING, "the replica died: no ready endpoint"
    assert w.next(60) == SERVING, "the restarted replica is ready"
    gw.admin.DeleteModel(pb.admin.DeleteModelRequest(model="w"), timeout=20)
    assert w.next() == SERVICE_UNKNOWN
    w.cancel()


def _health_checked_channel(procs, address, service):
    config = {"loadBalancingConfig": [{"round_robin": {}}], "healthCheckConfig": {"serviceName": service}}
    return procs.channel(address, local_pool=True, options=[("grpc.service_config", json.dumps(config))])


def test_grpcio_client_side_health_checking(static, procs):
    """grpcio watches the configured service and sends calls only while it is SERVING (before
    Watch existed it logged "disabling health checks but assuming server is healthy" and sent
    them anyway)."""
    gw, echo, serving, reload = static
    oip = pb.oip
    stub = pb.oip_grpc.GRPCInferenceServiceStub(_health_checked_channel(procs, gw.address, "iris"))
    assert stub.ServerLive(oip.ServerLiveRequest(), timeout=10).live

    reload({"iris": {"default": "1", "versions": {"1": []}}})

    def refused():
        try:
            stub.ServerLive(oip.ServerLiveRequest(), timeout=2)
            return False
        except grpc.RpcError as e:
            assert e.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED), e
            return True
    assert harness.wait_until(refused, 30, interval=0.1), "the channel kept sending to a NOT_SERVING service"
    reload(serving)
    assert stub.ServerLive(oip.ServerLiveRequest(), timeout=30, wait_for_ready=True).live

    unknown = pb.oip_grpc.GRPCInferenceServiceStub(_health_checked_channel(procs, gw.address, "nope"))
    with pytest.raises(grpc.RpcError) as err:
        unknown.ServerLive(oip.ServerLiveRequest(), timeout=3)
    assert err.value.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
