"""/metrics in the Prometheus text format, over HTTP/1.1 and h2c, parsed with prometheus_client.

Counters are kept per worker and summed on scrape; `code` is the gRPC status code name.
"""
from __future__ import annotations

import subprocess

import grpc
import pytest
from prometheus_client.parser import text_string_to_metric_families

import harness
from harness import binary, pb


def scrape(address: str, http2: bool = False) -> str:
    flags = ["--http2-prior-knowledge"] if http2 else ["--http1.1"]
    out = subprocess.run(["curl", "-sS", "--fail", "--noproxy", "*", *flags, "-D", "-", f"http://{address}/metrics"],
                         capture_output=True, text=True, timeout=15)
    assert out.returncode == 0, out.stderr
    head, _, body = out.stdout.partition("\n\n")   # text mode turned CRLF into LF
    assert ("HTTP/2 200" if http2 else "HTTP/1.1 200") in head.splitlines()[0], head
    assert "text/plain; version=0.0.4" in head.lower(), head
    return body


def samples(text: str) -> dict:
    """{(sample name, frozenset(labels)): value} from the prometheus_client parser."""
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def value(parsed: dict, name: str, **labels) -> float | None:
    return parsed.get((name, frozenset(labels.items())))


def test_predict_counters_and_histogram(cluster):
    # 100 calls to iris (default version 1) over several connections (both workers), a few to
    # iris v2, and one unknown model.
    channels = [cluster.procs.channel(cluster.address, local_pool=True) for _ in range(4)]
    for i in range(100):
        harness.pb.inference_grpc.InferenceStub(channels[i % 4]).Predict(
            harness.predict_request("iris", payload=b"x"), timeout=10)
    stub = cluster.stub(channels[0])
    for _ in range(3):
        stub.Predict(harness.predict_request("iris", "2"), timeout=10)
    with pytest.raises(grpc.RpcError) as err:
        stub.Predict(harness.predict_request("nope"), timeout=10)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND

    h1 = scrape(cluster.address)
    h2 = scrape(cluster.address, http2=True)
    for text in (h1, h2):
        parsed = samples(text)
        assert value(parsed, "byoc_requests_total", model="iris", version="1", code="OK") == 100
        assert value(parsed, "byoc_requests_total", model="iris", version="2", code="OK") == 3
        assert value(parsed, "byoc_requests_total", model="", version="", code="NOT_FOUND") == 1
        assert value(parsed, "byoc_request_duration_seconds_count", model="iris", version="1") == 100
        assert value(parsed, "byoc_request_duration_seconds_bucket", model="iris", version="1", le="+Inf") == 100
        assert 0 < value(parsed, "byoc_request_duration_seconds_sum", model="iris", version="1") < 100
        bounds = ["0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5",
                  "1.0", "2.5", "5.0", "10.0", "+Inf"]
        counts = [value(parsed, "byoc_request_duration_seconds_bucket", model="iris", version="1", le=b) for b in bounds]
        assert None not in counts and counts == sorted(counts), counts
        assert value(parsed, "byoc_requests_in_flight", model="iris", version="1") == 0
        assert value(parsed, "byoc_route_table_generation") >= 1
        assert value(parsed, "byoc_registry_models") == 2 and value(parsed, "byoc_registry_versions") == 3
        assert value(parsed, "byoc_workers") == 2
        assert value(parsed, "byoc_open_connections", protocol="h2") >= 4
        # Unlabelled metrics always have a sample (a HELP/TYPE line alone does not count). The
        # per-model upstream counters have samples only once something failed or was retried:
        # test_upstream_connect_failures_and_retries requires those.
        for name in ("byoc_open_streams", "byoc_reconcile_runs_total", "byoc_reconcile_errors_total"):
            assert any(key[0] == name for key in parsed), \
                f"no sample line for {name} (a HELP/TYPE line alone does not count)"
        for name in ("byoc_upstream_connect_failures_total", "byoc_upstream_retries_total"):
            assert f"# TYPE {name} counter" in text, name
    # The h2c scrape itself is an open stream at the time it renders.
    assert value(samples(h2), "byoc_open_streams") >= 1


def test_upstream_connect_failures(procs):
    dead = harness.free_port()
    gw = procs.gateway({"gone": {"default": "1", "versions": {"1": [f"127.0.0.1:{dead}"]}}})
    stub = pb.inference_grpc.InferenceStub(procs.channel(gw.address))
    for _ in range(3):
        with pytest.raises(grpc.RpcError) as err:
            stub.Predict(harness.predict_request("gone"), timeout=10)
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    parsed = samples(scrape(gw.address))
    assert value(parsed, "byoc_upstream_connect_failures_total", model="gone", version="1") >= 1
    assert value(parsed, "byoc_requests_total", model="gone", version="1", code="UNAVAILABLE") == 3


def test_upstream_connect_failures_and_retries(procs):
    """A version with a dead and a live endpoint: calls that picked the dead one are retried on
    the live one, and both per-model counters get a parsed sample."""
    live = procs.echo("mixed", "1")
    gw = procs.gateway({"mixed": {"default": "1", "versions": {"1": [f"127.0.0.1:{harness.free_port()}", live]}}})
    stub = pb.inference_grpc.InferenceStub(procs.channel(gw.address))
    # Each call picks one of the two endpoints at random: call until one picked the dead one
    # (bounded; 10 calls would miss it about once in 1,024 runs).
    calls = 0
    while calls < 200:
        stub.Predict(harness.predict_request("mixed"), timeout=10)
        calls += 1
        if calls >= 10 and value(samples(scrape(gw.address)), "byoc_upstream_retries_total",
                                 model="mixed", version="1"):
            break
    parsed = samples(scrape(gw.address))
    failures = value(parsed, "byoc_upstream_connect_failures_total", model="mixed", version="1")
    retries = value(parsed, "byoc_upstream_retries_total", model="mixed", version="1")
    assert failures is not None and failures >= 1, f"no connect-failure sample for mixed/1: {failures}"
    assert retries is not None and retries >= 1, f"no retry sample for mixed/1 after {calls} calls: {retries}"
    assert value(parsed, "byoc_requests_total", model="mixed", version="1", code="OK") == calls


def test_registry_and_reconciler_metrics(procs, tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    gw = procs.start("gateway", [binary("byoc-gateway"), "--listen", "127.0.0.1:0", "--state-dir", str(state),
                                 "--workers", "2", "--resync-ms", "200"])
    with harness.make_channel(gw.address) as channel:
        admin = pb.admin_grpc.AdminStub(channel)
        for version in ("1", "2"):
            admin.RegisterModel(pb.admin.RegisterModelRequest(model="echo", version=version,
                                                              command=[binary("byoc-echo-model")]), timeout=10)

        def ready():
            return value(samples(scrape(gw.address)), "byoc_route_table_generation") >= 2 and all(
                v.state == pb.admin.READY for v in admin.GetModel(pb.admin.GetModelRequest(model="echo")).versions)
        assert harness.wait_until(ready, 60, interval=0.2)
        stub = pb.inference_grpc.InferenceStub(channel)
        for _ in range(10):
            stub.Predict(harness.predict_request("echo", "2"), timeout=10)
    parsed = samples(scrape(gw.address, http2=True))
    assert value(parsed, "byoc_registry_models") == 1
    assert value(parsed, "byoc_registry_versions") == 2
    assert value(parsed, "byoc_reconcile_runs_total") >= 2
    assert value(parsed, "byoc_reconcile_errors_total") == 0
    assert value(parsed, "byoc_requests_total", model="echo", version="2", code="OK") == 10
