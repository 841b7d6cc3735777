"""Shadow traffic (issue 14, item 3): a percent of the calls that name no version is copied
to the shadow version; its answers are dropped and its slowness or failure never reaches the
caller. A pure router (--routes) with byoc-echo-model servers, the shadow made slow
(--delay-ms), failing (--fail) or killed."""
from __future__ import annotations

import json
import time

import harness
from harness import binary
from test_metrics import samples, scrape, value


def start(procs, shadow_extra=(), percent=100, split=None):
    primary = procs.echo("iris", "1")
    shadow = procs.start("echo-shadow", [binary("byoc-echo-model"), "--listen", "127.0.0.1:0", "--model", "iris",
                                         "--version", "2", *shadow_extra])
    model = {"default": "1", "versions": {"1": [primary.address], "2": [shadow.address]},
             "shadow": {"version": "2", "percent": percent}}
    if split:
        model["split"] = split
    routes = procs.dir / "routes-shadow.json"
    routes.write_text(json.dumps({"models": {"iris": model}}))
    gw = procs.start("gateway", [binary("byoc-gateway"), "--listen", "127.0.0.1:0", "--routes", str(routes), "--workers", "2"])
    stub = harness.pb.inference_grpc.InferenceStub(procs.channel(gw.address))
    return gw, stub, shadow


def served_version(call) -> str | None:
    return dict(call.initial_metadata() or ()).get("byoc-served-version")


def shadow_count(gw, code="OK") -> float:
    return value(samples(scrape(gw.address)), "byoc_shadow_requests_total", model="iris", version="2", code=code) or 0


def test_every_call_is_copied_and_the_copy_never_answers(procs):
    gw, stub, _ = start(procs)
    for i in range(200):
        resp, call = stub.Predict.with_call(harness.predict_request("iris", payload=b"x" * i), timeout=10)
        assert resp.version == "1" and served_version(call) == "1"
        assert resp.payload == b"x" * i
    assert harness.wait_until(lambda: shadow_count(gw) == 200, timeout=10), shadow_count(gw)
    parsed = samples(scrape(gw.address))
    assert value(parsed, "byoc_requests_total", model="iris", version="1", code="OK") == 200
    assert value(parsed, "byoc_requests_total", model="iris", version="2", code="OK") is None, "copies are not primary calls"
    # A call naming a version is never shadowed.
    for _ in range(10):
        stub.Predict(harness.predict_request("iris", "1"), timeout=10)
    time.sleep(0.5)
    assert shadow_count(gw) == 200


def test_shadow_percent(procs):
    gw, stub, _ = start(procs, percent=25)
    for _ in range(1000):
        stub.Predict(harness.predict_request("iris"), timeout=10)
    assert harness.wait_until(lambda: shadow_count(gw) > 0 and shadow_count(gw) == shadow_count(gw), timeout=5)
    time.sleep(0.5)
    copies = shadow_count(gw)
    print(f"25 % shadow: {copies} copies of 1000 calls")
    assert 180 <= copies <= 320, copies


def test_a_slow_shadow_does_not_slow_the_caller(procs):
    gw, stub, _ = start(procs, shadow_extra=["--delay-ms", "500"])
    started = time.monotonic()
    latencies = []
    for _ in range(20):
        t = time.monotonic()
        assert stub.Predict(harness.predict_request("iris"), timeout=10).version == "1"
        latencies.append(time.monotonic() - t)
    total = time.monotonic() - started
    print(f"slow shadow (500 ms): 20 calls in {total:.2f} s, slowest {max(latencies) * 1000:.0f} ms")
    assert total < 5, f"20 calls took {total:.1f} s: the caller waited for the 500 ms shadow"
    assert harness.wait_until(lambda: shadow_count(gw) == 20, timeout=10)


def test_a_failing_shadow_does_not_fail_the_caller(procs):
    gw, stub, _ = start(procs, shadow_extra=["--fail", "13"])
    for _ in range(30):
        _, call = stub.Predict.with_call(harness.predict_request("iris"), timeout=10)
        assert call.code().name == "OK"
    assert harness.wait_until(lambda: shadow_count(gw, "INTERNAL") == 30, timeout=10)


def test_a_killed_shadow_does_not_fail_the_caller(procs):
    gw, stub, shadow = start(procs, shadow_extra=["--delay-ms", "200"])
    for _ in range(5):
        stub.Predict(harness.predict_request("iris"), timeout=10)
    futures = [stub.Predict.future(harness.predict_request("iris"), timeout=10) for _ in range(20)]
    shadow.kill()
    for f in futures:
        assert f.result().version == "1"
    for _ in range(20):
        assert stub.Predict(harness.predict_request("iris"), timeout=10).version == "1"
    parsed = samples(scrape(gw.address))
    dropped = value(parsed, "byoc_shadow_dropped_total", model="iris", version="2", reason="unavailable") or 0
    failed = sum(v for (name, labels), v in parsed.items()
                 if name == "byoc_shadow_requests_total" and dict(labels).get("code") not in (None, "OK"))
    print(f"killed shadow: {dropped} copies dropped (no endpoint), {failed} copies failed")
    assert dropped + failed >= 20, parsed


def test_the_shadow_gets_the_whole_streamed_request(procs):
    """A large request flows to both; the copy's answer (the same bytes) is dropped."""
    gw, stub, _ = start(procs)
    payload = bytes(range(256)) * 4096  # 1 MiB
    resp = stub.Predict(harness.predict_request("iris", payload=payload), timeout=30)
    assert resp.payload == payload
    assert harness.wait_until(lambda: shadow_count(gw) == 1, timeout=10)


def test_a_stalled_shadow_does_not_hold_a_large_request(procs):
    """A 4 MiB request copied to a shadow that answers after 50 s: the caller is served at
    once. (The drop of a copy that stops reading, `reason="behind"`, needs a model that stops
    reading its request; the echo model reads everything first.)"""
    gw, stub, _ = start(procs, shadow_extra=["--delay-ms", "50000"])
    payload = b"z" * (4 << 20)
    resp = stub.Predict(harness.predict_request("iris", payload=payload), timeout=30)
    assert resp.payload == payload


def test_copies_beyond_the_in_flight_bound_are_dropped_behind(procs):
    """`--shadow-max-in-flight 2` with one worker and a shadow that answers after 2 s: of 10
    concurrent calls, 2 get a copy and 8 are counted as dropped "behind"; every caller is
    served at once, and a call after the copies end gets a copy again."""
    primary = procs.echo("iris", "1")
    shadow = procs.start("echo-shadow", [binary("byoc-echo-model"), "--listen", "127.0.0.1:0", "--model", "iris",
                                         "--version", "2", "--delay-ms", "2000"])
    routes = procs.dir / "routes-shadow-bound.json"
    routes.write_text(json.dumps({"models": {"iris": {
        "default": "1", "versions": {"1": [primary.address], "2": [shadow.address]},
        "shadow": {"version": "2", "percent": 100}}}}))
    gw = procs.start("gateway", [binary("byoc-gateway"), "--listen", "127.0.0.1:0", "--routes", str(routes),
                                 "--workers", "1", "--shadow-max-in-flight", "2"])
    stub = harness.pb.inference_grpc.InferenceStub(procs.channel(gw.address))
    futures = [stub.Predict.future(harness.predict_request("iris"), timeout=10) for _ in range(10)]
    assert all(f.result().version == "1" for f in futures)

    def behind():
        return value(samples(scrape(gw.address)), "byoc_shadow_dropped_total", model="iris", version="2",
                     reason="behind") or 0
    assert behind() == 8, behind()
    assert harness.wait_until(lambda: shadow_count(gw) == 2, timeout=10), shadow_count(gw)
    stub.Predict(harness.predict_request("iris"), timeout=10)
    assert harness.wait_until(lambda: shadow_count(gw) == 3, timeout=10), shadow_count(gw)
    assert behind() == 8
