"""Lifecycle (issue 13; scale to zero with request holding: test_scale_to_zero.py): autoscaling settings and their validation,
the concurrency autoscaler on the local runtime, last-called times that survive a restart, and
garbage collection, through grpcio clients generated from Protos/ and byocctl, against a
registry gateway running byoc-echo-model replicas (`--delay-ms` keeps calls in flight)."""
from __future__ import annotations

import subprocess
import threading
import time

import grpc
import pytest

import harness
from harness import binary, pb
from test_admin import expect_error
from test_byocctl import ctl, parse_json
from test_traffic import set_alias, set_traffic

INVALID = grpc.StatusCode.INVALID_ARGUMENT
PRECONDITION = grpc.StatusCode.FAILED_PRECONDITION


def echo_cmd(*extra: str) -> list[str]:
    return [binary("byoc-echo-model"), *extra]


def now_ms() -> int:
    return int(time.time() * 1000)


def events(gw, model, version="", kind=None):
    resp = gw.admin.ListEvents(pb.admin.ListEventsRequest(model=model, version=version, limit=1000), timeout=10)
    return [e for e in resp.events if kind is None or e.kind == kind]


def autoscaling(target=0, delay=0, to_zero=0):
    return pb.admin.Autoscaling(target_concurrency=target, scale_down_delay_seconds=delay,
                                scale_to_zero_after_seconds=to_zero)


# -- validation ------------------------------------------------------------------------------

@pytest.mark.parametrize("settings,words", [
    (autoscaling(target=-1), ["autoscaling.target_concurrency", "-1"]),
    (autoscaling(target=10_001), ["autoscaling.target_concurrency", "10000"]),
    (autoscaling(target=4, delay=-5), ["autoscaling.scale_down_delay_seconds", "-5"]),
    (autoscaling(target=4, delay=86_401), ["autoscaling.scale_down_delay_seconds", "86400"]),
    (autoscaling(to_zero=-1), ["autoscaling.scale_to_zero_after_seconds"]),
    (autoscaling(to_zero=86_401), ["autoscaling.scale_to_zero_after_seconds", "86400"]),
], ids=["negative-target", "huge-target", "negative-delay", "huge-delay", "negative-idle", "huge-idle"])
def test_invalid_autoscaling_is_refused_naming_the_field(procs, settings, words):
    gw = procs.registry_gateway()
    expect_error(lambda: gw.register("m", "1", echo_cmd(), max_replicas=4, autoscaling=settings), INVALID, *words)
    assert gw.get_version("m", "1") is None, "a refused registration stored nothing"
    gw.register("m", "1", echo_cmd(), max_replicas=4)
    req = pb.admin.ScaleModelVersionRequest(model="m", version="1", min_replicas=1, max_replicas=4, autoscaling=settings)
    expect_error(lambda: gw.admin.ScaleModelVersion(req, timeout=10), INVALID, *words)
    assert not gw.get_version("m", "1").HasField("autoscaling")


def test_autoscaling_is_stored_shown_and_kept_by_a_scale_without_it(procs):
    gw = procs.registry_gateway()
    v = gw.register("m", "1", echo_cmd(), max_replicas=4, autoscaling=autoscaling(target=4, delay=10))
    assert v.autoscaling.target_concurrency == 4 and v.autoscaling.scale_down_delay_seconds == 10
    assert v.last_called_unix_ms == 0
    scaled = gw.admin.ScaleModelVersion(pb.admin.ScaleModelVersionRequest(model="m", version="1", min_replicas=1,
                                                                          max_replicas=6), timeout=10)
    assert scaled.max_replicas == 6 and scaled.autoscaling.target_concurrency == 4, "absent autoscaling = unchanged"
    url = f"http://{gw.address}"
    out = ctl("get", "m", server=url, check=True).stdout
    assert "last called: 1 never" in out
    assert "autoscaling: 1 target 4 (replicas 1-6, scale down after 10s)" in out
    doc = parse_json(ctl("get", "m", "-o", "json", server=url, check=True))
    assert doc["versions"][0]["autoscaling"]["targetConcurrency"] == 4
    # byocctl scale sets it; the event says what changed.
    ctl("scale", "m", "1", "--min", "1", "--max", "6", "--target-concurrency", "2", "--scale-down-delay", "1m",
        server=url, check=True)
    v = gw.get_version("m", "1")
    assert v.autoscaling.target_concurrency == 2 and v.autoscaling.scale_down_delay_seconds == 60
    scaled_events = [e.message for e in events(gw, "m", "1", "scaled")]
    assert any("autoscaling target 4, scale down after 10s -> target 2, scale down after 60s" in m for m in scaled_events), scaled_events
    ctl("register", "m", "2", "--min", "0", "--scale-to-zero-after", "5m", "--", binary("byoc-echo-model"),
        server=url, check=True)
    v = gw.get_version("m", "2")
    assert v.min_replicas == 0 and v.autoscaling.scale_to_zero_after_seconds == 300


# -- concurrency autoscaler ------------------------------------------------------------------

class Load:
    """`n` threads calling Predict back to back until stopped; counts failures."""

    def __init__(self, gw, model, n):
        self.gw, self.model, self.n = gw, model, n
        self.stop = threading.Event()
        self.errors = []
        self.calls = 0
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.run, daemon=True) for _ in range(n)]

    def run(self):
        while not self.stop.is_set():
            try:
                self.gw.predict(self.model, "1", timeout=20)
                with self.lock:
                    self.calls += 1
            except grpc.RpcError as e:
                with self.lock:
                    self.errors.append(f"{e.code()} {e.details()}")

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join(30)


def test_concurrency_scale_up_and_down_after_the_delay(procs):
    gw = procs.registry_gateway(extra=["--resync-ms", "500"], workers=2)
    gw.register("slow", "1", echo_cmd("--delay-ms", "200"), min_replicas=1, max_replicas=6,
                autoscaling=autoscaling(target=4, delay=3))
    gw.wait_state("slow", "1", "READY")
    gw.wait_predict_ok("slow", "1")
    assert len(gw.replicas("slow", "1")) == 1
    with Load(gw, "slow", 16) as load:
        # 16 calls of 200 ms in flight at target 4: four replicas (not more: max is 6).
        gw.wait_replica_count("slow", "1", 4, timeout=30)
        gw.wait_state("slow", "1", "READY", ready=4, timeout=30)
        time.sleep(3)
        assert len(gw.replicas("slow", "1")) == 4, "no flapping under steady load"
    assert not load.errors, load.errors[:5]
    assert load.calls > 50
    ups = [e.message for e in events(gw, "slow", "1", "autoscaled")]
    assert ups and ups[0].startswith("scaled 1 -> ") and "calls in flight, target 4" in ups[0], ups
    assert any(m.startswith("scaled") and m.split(":")[0].endswith("-> 4") for m in ups), ups
    # Idle now: after the 3 s delay (plus the 2 s window) back to the minimum, draining first.
    stopped_at = time.monotonic()
    gw.wait_replica_count("slow", "1", 1, timeout=30)
    assert time.monotonic() - stopped_at >= 2.5, "scaled down before the delay"
    downs = [e.message for e in events(gw, "slow", "1", "autoscaled")]
    assert " -> 1: " in downs[-1] and downs[-1].endswith("target 4"), downs
    gw.wait_predict_ok("slow", "1")


def test_a_version_without_target_keeps_its_minimum_under_load(procs):
    gw = procs.registry_gateway(extra=["--resync-ms", "500"])
    gw.register("fixed", "1", echo_cmd("--delay-ms", "200"), min_replicas=1, max_replicas=4)
    gw.wait_state("fixed", "1", "READY")
    gw.wait_predict_ok("fixed", "1")
    with Load(gw, "fixed", 12):
        time.sleep(4)
        assert len(gw.replicas("fixed", "1")) == 1
    assert not events(gw, "fixed", "1", "autoscaled")


# -- follower activity reports (WakeModelVersion with an ActivityReport) ----------------------

def report(gw, model, version, reporter="gateway-x", in_flight=0, ago=-1):
    """One follower's activity report, as a follower replica sends it to the leader."""
    req = pb.admin.WakeModelVersionRequest(model=model, version=version, report=pb.admin.ActivityReport(
        reporter=reporter, in_flight=in_flight, last_called_ms_ago=ago))
    return gw.admin.WakeModelVersion(req, timeout=10)


@pytest.mark.parametrize("fields,words", [
    (dict(reporter=""), ["report.reporter", "required"]),
    (dict(reporter="x" * 254), ["report.reporter", "253"]),
    (dict(in_flight=-1), ["report.in_flight", "-1"]),
    (dict(in_flight=1_000_001), ["report.in_flight", "1000000"]),
    (dict(ago=-2), ["report.last_called_ms_ago", "-2"]),
], ids=["no-reporter", "long-reporter", "negative-in-flight", "huge-in-flight", "bad-ago"])
def test_invalid_activity_reports_are_refused_naming_the_field(procs, fields, words):
    gw = procs.registry_gateway()
    gw.register("m", "1", echo_cmd())
    args = dict(reporter="gateway-x", in_flight=0, ago=-1) | fields
    expect_error(lambda: report(gw, "m", "1", **args), INVALID, *words)
    expect_error(lambda: report(gw, "m", "9"), grpc.StatusCode.NOT_FOUND, "9")


def test_reported_calls_count_like_the_gateways_own_and_expire(procs):
    """Reports alone (no call reaches this gateway) scale a version as calls in flight would,
    set its last call, and count no more 3 s after the last one."""
    gw = procs.registry_gateway(extra=["--resync-ms", "500"])
    gw.register("slow", "1", echo_cmd(), min_replicas=1, max_replicas=4, autoscaling=autoscaling(target=2, delay=1))
    gw.wait_state("slow", "1", "READY")
    before = now_ms()
    deadline = time.monotonic() + 30
    while len(gw.replicas("slow", "1")) < 4 and time.monotonic() < deadline:
        # Two followers, 5 + 3 calls in flight: 4 replicas at target 2.
        report(gw, "slow", "1", reporter="gateway-b", in_flight=5, ago=0)
        report(gw, "slow", "1", reporter="gateway-c", in_flight=3)
        last_report = time.monotonic()
        time.sleep(0.5)
    assert len(gw.replicas("slow", "1")) == 4, [e.message for e in events(gw, "slow", "1", "autoscaled")]
    ups = [e.message for e in events(gw, "slow", "1", "autoscaled")]
    assert ups and ups[0].startswith("scaled 1 -> ") and any(m.split(":")[0].endswith("-> 4") for m in ups), ups
    assert harness.wait_until(lambda: gw.get_version("slow", "1").last_called_unix_ms >= before - 50, 15), \
        "the reported call never reached last_called_unix_ms"
    # No more reports: 3 s after the last one they count no more, and the delay (1 s) later it
    # is back at 1 (measured from the last report, not from the end of the wait above).
    gw.wait_replica_count("slow", "1", 1, timeout=30)
    assert time.monotonic() - last_report >= 3, "old reports stopped counting too early"


# -- last called -----------------------------------------------------------------------------

def test_last_called_is_recorded_batched_and_survives_a_restart(procs):
    state, db = procs.dir / "state", procs.dir / "registry.sqlite"
    gw = procs.registry_gateway(state_dir=state, db=db, extra=["--resync-ms", "500"], name="gateway-1")
    for version in ("1", "2"):
        gw.register("m", version, echo_cmd())
        gw.wait_state("m", version, "READY")
    before = now_ms()
    gw.wait_predict_ok("m", "1")
    after = now_ms()
    assert harness.wait_until(lambda: gw.get_version("m", "1").last_called_unix_ms > 0, 15), "never written"
    first = gw.get_version("m", "1").last_called_unix_ms
    assert before - 50 <= first <= after + 50, (before, first, after)
    assert gw.get_version("m", "2").last_called_unix_ms == 0, "a version never called stays 0"
    # A call just before a stop is written at stop (not lost to the 5 s batching).
    time.sleep(0.05)
    gw.predict("m", "2")
    called_2 = now_ms()
    gw.proc.popen.terminate()
    assert gw.proc.wait(30) == 0
    gw2 = procs.registry_gateway(state_dir=state, db=db, extra=["--resync-ms", "500"], name="gateway-2")
    v1, v2 = gw2.get_version("m", "1"), gw2.get_version("m", "2")
    assert v1.last_called_unix_ms == first
    assert called_2 - 1000 <= v2.last_called_unix_ms <= called_2 + 50
    url = f"http://{gw2.address}"
    out = ctl("get", "m", server=url, check=True).stdout
    line = next(l for l in out.splitlines() if l.startswith("last called: "))
    assert "1 " in line and "s ago" in line and "never" not in line, line


# -- garbage collection ----------------------------------------------------------------------

def five_versions(gw, model="m"):
    """1 default, 2 named by an alias, 3 by the split, 4 by the shadow, 5 by nothing."""
    for version in ("1", "2", "3", "4", "5"):
        gw.register(model, version, echo_cmd())
    set_alias(gw, model, "stable", "2")
    set_traffic(gw, model, [("1", 50), ("3", 50)], shadow=("4", 10))
    for version in ("1", "2", "3", "4", "5"):
        gw.wait_state(model, version, "READY")


def test_gc_dry_run_and_collect_on_request(procs):
    gw = procs.registry_gateway(extra=["--resync-ms", "500"])
    url = f"http://{gw.address}"
    five_versions(gw)
    # GC is off on this gateway: CollectUnused needs a period.
    expect_error(lambda: gw.admin.CollectUnused(pb.admin.CollectUnusedRequest(dry_run=True), timeout=10),
                 PRECONDITION, "--gc-unused-after")
    expect_error(lambda: gw.admin.CollectUnused(pb.admin.CollectUnusedRequest(unused_after_seconds=-1), timeout=10),
                 INVALID, "unused_after_seconds")
    fresh = parse_json(ctl("gc", "--dry-run", "--unused-after", "1h", "-o", "json", server=url, check=True))
    assert not any(v["deleted"] for v in fresh["versions"])
    assert {v["version"]: v["reason"] for v in fresh["versions"]}["5"] == "never called, registered within the last 3600s"
    time.sleep(2.2)
    dry = parse_json(ctl("gc", "--dry-run", "--unused-after", "2s", "-o", "json", server=url, check=True))
    reasons = {v["version"]: (v["deleted"], v["reason"]) for v in dry["versions"]}
    assert reasons["1"] == (False, "the default version of model m")
    assert reasons["2"] == (False, "named by alias stable")
    assert reasons["3"][0] is False and reasons["3"][1].startswith("named by the traffic split")
    assert reasons["4"][0] is False and reasons["4"][1].startswith("named by the shadow")
    assert reasons["5"] == (True, "never called since it was registered more than 2s ago")
    table = ctl("gc", "--dry-run", "--unused-after", "2s", server=url, check=True).stdout
    assert "would delete" in table and "keep" in table
    assert gw.get_version("m", "5") is not None, "a dry run deletes nothing"
    assert not events(gw, "m", "5", "deleted")

    done = gw.admin.CollectUnused(pb.admin.CollectUnusedRequest(unused_after_seconds=2), timeout=10)
    assert [v.version for v in done.versions if v.deleted] == ["5"]
    assert gw.get_version("m", "5") is None
    assert [v.version for v in gw.admin.GetModel(pb.admin.GetModelRequest(model="m"), timeout=10).versions] == ["1", "2", "3", "4"]
    deleted = events(gw, "m", "5", "deleted")
    assert deleted and "garbage collection: never called since it was registered more than 2s ago" in deleted[-1].message
    harness.wait_until(lambda: not gw.replicas("m", "5"), 15)
    assert not gw.replicas("m", "5"), "the collected version's replica still runs"
    assert len(gw.replicas("m")) == 4


def test_gc_unused_after_deletes_only_what_it_may_in_the_background(procs):
    gw = procs.registry_gateway(extra=["--resync-ms", "500", "--gc-unused-after", "6s"])
    five_versions(gw)
    gw.register("m", "6", echo_cmd())
    gw.wait_state("m", "6", "READY")
    gw.wait_predict_ok("m", "6")
    # 6 is called every half second: kept; 5 is never called: deleted after 6 s.
    deadline = time.monotonic() + 30
    while gw.get_version("m", "5") is not None and time.monotonic() < deadline:
        gw.predict("m", "6")
        time.sleep(0.5)
    assert gw.get_version("m", "5") is None, "the unused version was not collected"
    for _ in range(6):
        gw.predict("m", "6")
        time.sleep(0.5)
    remaining = [v.version for v in gw.admin.GetModel(pb.admin.GetModelRequest(model="m"), timeout=10).versions]
    assert remaining == ["1", "2", "3", "4", "6"]
    deleted = events(gw, "m", "5", "deleted")
    assert len(deleted) == 1 and "more than 6s ago" in deleted[0].message
    dry = gw.admin.CollectUnused(pb.admin.CollectUnusedRequest(dry_run=True), timeout=10)
    assert dry.unused_after_seconds == 6
    assert {v.version: v.reason for v in dry.versions}["6"] == "called within the last 6s"


def test_gc_flag_is_validated(procs, tmp_path):
    for bad in ("7", "5x", "-1d", "0s"):
        out = subprocess.run([binary("byoc-gateway"), "--gc-unused-after", bad, "--state-dir", str(tmp_path)],
                                     capture_output=True, text=True, timeout=30)
        assert out.returncode != 0 and "--gc-unused-after" in out.stderr, (bad, out.stderr)


# -- JSON API (the console's register and scale forms) ---------------------------------------

def test_json_api_takes_and_shows_autoscaling_and_last_called(procs):
    from test_http1 import Http
    gw = procs.registry_gateway()
    api = Http(gw.address)
    status, v = api.json("POST", "/api/v1/models", {"model": "m", "version": "1", "command": echo_cmd(), "maxReplicas": 3,
                                                    "autoscaling": {"targetConcurrency": 2, "scaleDownDelaySeconds": 5}})
    assert status == 201, v
    assert v["autoscaling"] == {"targetConcurrency": 2, "scaleToZeroAfterSeconds": 0, "scaleDownDelaySeconds": 5}
    assert v["lastCalledUnixMs"] == 0
    status, err = api.json("POST", "/api/v1/models/m/versions/1/scale",
                           {"minReplicas": 1, "maxReplicas": 3, "autoscaling": {"scaleToZeroAfterSeconds": 100_000}})
    assert status == 400 and "scale_to_zero_after_seconds" in err["error"]["message"], err
    status, err = api.json("POST", "/api/v1/models/m/versions/1/scale", {"autoscaling": {"targetConcurrency": 1, "x": 1}})
    assert status == 400, err
    status, v = api.json("POST", "/api/v1/models/m/versions/1/scale", {"minReplicas": 1, "maxReplicas": 3})
    assert status == 200 and v["autoscaling"]["targetConcurrency"] == 2, v


# -- Kubernetes (fake API server): the leader writes the Deployment's replicas, no HPA ----------

def test_kubernetes_concurrency_scaled_version_has_no_hpa_and_follows_the_calls(procs, tmp_path):
    from test_kubernetes import FakeKube, admin, register, start_gateway, wait_state
    fake = FakeKube(procs)
    gw = start_gateway(procs, fake, tmp_path / "registry.sqlite")
    stub = admin(procs, gw)
    register(stub, "slow", "1", "example/slow:1", min_replicas=1, max_replicas=4,
             autoscaling=autoscaling(target=2, delay=2))
    register(stub, "cpu", "1", "example/cpu:1", min_replicas=1, max_replicas=3)
    wait_state(stub, "slow", "1", ready=1)
    assert harness.wait_until(lambda: "cpu-1" in fake.names("horizontalpodautoscalers"), 10), "the CPU version keeps its HPA"
    assert "slow-1" not in fake.names("horizontalpodautoscalers")
    assert fake.objects("deployments")["slow-1"]["spec"]["replicas"] == 1
    inference = pb.inference_grpc.InferenceStub(procs.channel(gw.address))
    stop = threading.Event()
    errors = []

    def call():
        while not stop.is_set():
            try:
                inference.Predict(harness.predict_request("slow", "1", b"x", delay_ms="300"), timeout=20)
            except grpc.RpcError as e:
                errors.append(f"{e.code()} {e.details()}")

    threads = [threading.Thread(target=call, daemon=True) for _ in range(8)]
    for t in threads:
        t.start()
    try:
        # 8 calls in flight at target 2: 4 replicas, written by the gateway into the Deployment.
        assert harness.wait_until(lambda: fake.objects("deployments")["slow-1"]["spec"].get("replicas") == 4, 30), \
            fake.objects("deployments")["slow-1"]["spec"].get("replicas")
        wait_state(stub, "slow", "1", ready=4, timeout=30)
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    assert not errors, errors[:5]
    assert harness.wait_until(lambda: fake.objects("deployments")["slow-1"]["spec"].get("replicas") == 1, 30)
    assert "slow-1" not in fake.names("horizontalpodautoscalers")
    msgs = [e.message for e in stub.ListEvents(pb.admin.ListEventsRequest(model="slow", version="1", limit=1000),
                                               timeout=10).events if e.kind == "autoscaled"]
    assert msgs and msgs[0].startswith("scaled 1 -> ") and " -> 1: " in msgs[-1], msgs


def test_kubernetes_calls_through_a_follower_alone_scale_the_deployment_and_keep_gc_away(procs, tmp_path):
    """Load sent only to a follower gateway: the leader, which sees none of it itself, scales
    the Deployment from the follower's reports; a version called only through the follower is
    not garbage collected (its last call reaches the leader's registry), one never called is."""
    from test_kubernetes import FakeKube, admin, register, start_gateway, wait_pods_serving, wait_state
    fake = FakeKube(procs)
    db = tmp_path / "registry.sqlite"
    leader = start_gateway(procs, fake, db, name="gateway-a", token="token-a", extra=["--gc-unused-after", "12s"])
    follower = start_gateway(procs, fake, db, name="gateway-b", token="token-b", leader=False)
    stub = admin(procs, leader)
    register(stub, "slow", "1", "example/slow:1", min_replicas=1, max_replicas=4, autoscaling=autoscaling(target=2, delay=2))
    register(stub, "slow", "2", "example/slow:2")  # never called: collected
    register(stub, "slow", "3", "example/slow:3")  # called through the follower only: kept
    for version in ("1", "3"):
        wait_state(stub, "slow", version, ready=1, timeout=30)
    wait_pods_serving(procs, follower, "slow", "1", 1)
    wait_pods_serving(procs, follower, "slow", "3", 1)
    inference = pb.inference_grpc.InferenceStub(procs.channel(follower.address))
    stop = threading.Event()
    errors = []

    def call(version, delay_ms):
        while not stop.is_set():
            try:
                inference.Predict(harness.predict_request("slow", version, b"x", delay_ms=delay_ms), timeout=20)
            except grpc.RpcError as e:
                errors.append(f"{e.code()} {e.details()}")
            if version == "3":
                time.sleep(0.5)

    threads = [threading.Thread(target=call, args=("1", "300"), daemon=True) for _ in range(8)]
    threads.append(threading.Thread(target=call, args=("3", "1"), daemon=True))
    for t in threads:
        t.start()
    try:
        # 8 calls in flight on the follower at target 2: the leader writes 4 replicas.
        assert harness.wait_until(lambda: fake.objects("deployments")["slow-1"]["spec"].get("replicas") == 4, 30), \
            fake.objects("deployments")["slow-1"]["spec"].get("replicas")
        # 2 is collected 12 s after its registration; 3 stays while the follower calls it.
        assert harness.wait_until(lambda: "2" not in [v.version for v in stub.GetModel(
            pb.admin.GetModelRequest(model="slow"), timeout=10).versions], 30), "the unused version was not collected"
        time.sleep(3)
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    assert not errors, errors[:5]
    versions = {v.version: v for v in stub.GetModel(pb.admin.GetModelRequest(model="slow"), timeout=10).versions}
    assert sorted(versions) == ["1", "3"], sorted(versions)
    assert versions["3"].last_called_unix_ms > 0 and versions["1"].last_called_unix_ms > 0
    ups = [e.message for e in stub.ListEvents(pb.admin.ListEventsRequest(model="slow", version="1", limit=1000),
                                              timeout=10).events if e.kind == "autoscaled"]
    assert ups and ups[0].startswith("scaled 1 -> "), ups
    # Without the follower's load, back to the minimum.
    assert harness.wait_until(lambda: fake.objects("deployments")["slow-1"]["spec"].get("replicas") == 1, 30)
