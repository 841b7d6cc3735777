"""Scale to zero with request holding (issue 13) on the local runtime, through grpcio clients:
a version with min_replicas 0 and scale_to_zero_after_seconds goes IDLE with no replica process
left, the next call is held in the gateway while a replica starts and then answered; bursts,
deadlines, failed and slow wakes, a full hold queue, calls around the idle boundary, restarts
and a stopping gateway; every call kind after a cold start; the same wake path on the fake Kubernetes API."""
from __future__ import annotations

import os
import random
import re
import signal
import threading
import time

import grpc
import pytest

import harness
from harness import binary, pb
from test_lifecycle import Load, autoscaling, echo_cmd, events

UNAVAILABLE = grpc.StatusCode.UNAVAILABLE
IDLE_AFTER = 2


def register_idle(gw, model="m", command=None, idle_after=IDLE_AFTER, max_replicas=1, target=0):
    """Registers a version that scales to zero after `idle_after` s and waits until it is IDLE."""
    v = gw.register(model, "1", command or echo_cmd(), min_replicas=0, max_replicas=max_replicas,
                    autoscaling=autoscaling(target=target, to_zero=idle_after))
    assert v.min_replicas == 0 and v.autoscaling.scale_to_zero_after_seconds == idle_after
    gw.wait_state(model, "1", "READY")
    gw.wait_predict_ok(model, "1")
    wait_idle(gw, model)


def wait_idle(gw, model="m", timeout=60):
    v = gw.wait_state(model, "1", "IDLE", timeout=timeout)
    gw.wait_replica_count(model, "1", 0, timeout=30)
    return v


def slow_start_cmd(seconds: float) -> list[str]:
    """An echo model that needs `seconds` before it listens (a model loading its weights)."""
    return ["sh", "-c", f"sleep {seconds}; exec {binary('byoc-echo-model')}"]


def metric(gw, name: str, model="m", version="1") -> float | None:
    """A per-version sample of /metrics (None when the series is absent)."""
    text = _scrape(gw)
    pattern = re.compile(rf'^{re.escape(name)}\{{[^}}]*model="{model}"[^}}]*version="{version}"[^}}]*\}} (\S+)$', re.M)
    m = pattern.search(text)
    return float(m.group(1)) if m else None


def count(gw, name: str, model="m", version="1") -> float:
    """A per-version gauge or counter whose series is left out while it is 0: its value, 0 when
    the series is absent; the family itself must be exported (a renamed metric fails)."""
    assert re.search(rf"^# TYPE {re.escape(name)} ", _scrape(gw), re.M), f"{name} is not exported"
    return metric(gw, name, model, version) or 0.0


def _scrape(gw) -> str:
    import urllib.request
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(f"http://{gw.address}/metrics", timeout=10) as resp:
        return resp.read().decode()


def test_idle_after_the_period_with_no_process_left_and_one_call_wakes_it(procs):
    gw = procs.registry_gateway()
    register_idle(gw)
    v = gw.get_version("m", "1")
    assert v.ready_replicas == 0 and v.desired_replicas == 0
    # Its calls will be served: health and ModelReady say so (a client checking first still calls).
    check = gw.health.Check(pb.health.HealthCheckRequest(service="m/1"), timeout=10)
    assert check.status == pb.health.HealthCheckResponse.SERVING
    oip = pb.oip_grpc.GRPCInferenceServiceStub(gw.channel)
    assert oip.ModelReady(pb.oip.ModelReadyRequest(name="m", version="1"), timeout=10).ready
    # Stays idle: nothing restarts it without a call.
    time.sleep(1.5)
    assert gw.replicas("m", "1") == [] and harness.state_name(gw.get_version("m", "1").state) == "IDLE"
    started = time.monotonic()
    resp = gw.predict("m", "1", timeout=30, payload=b"wake")
    print(f"wake on one call answered in {(time.monotonic() - started) * 1000:.0f} ms")
    assert resp.payload == b"wake"
    gw.wait_state("m", "1", "READY", ready=1)
    assert len(gw.replicas("m", "1")) == 1
    kinds = [e.message for e in events(gw, "m", "1", "autoscaled")]
    assert any("scaled to zero: no call for 2s" in m for m in kinds), kinds
    assert any("woken by a call" in m for m in kinds), kinds
    assert metric(gw, "byoc_wake_latency_seconds_count") >= 1
    assert count(gw, "byoc_held_calls") == 0
    # And idle again after the period.
    wait_idle(gw)


def test_byocctl_get_shows_idle(procs):
    from test_byocctl import ctl
    gw = procs.registry_gateway()
    url = f"http://{gw.address}"
    ctl("register", "m", "1", "--min", "0", "--max", "1", "--scale-to-zero-after", "2s", "--",
        binary("byoc-echo-model"), server=url, check=True)
    wait_idle(gw)
    out = ctl("get", "m", server=url, check=True).stdout
    assert "IDLE" in out, out


def test_a_burst_of_300_calls_from_zero_all_succeed(procs):
    gw = procs.registry_gateway()
    register_idle(gw, max_replicas=3, target=50)
    futures = [gw.inference.Predict.future(harness.predict_request("m", "1", payload=str(i).encode()), timeout=60)
               for i in range(300)]
    errors, ok = [], 0
    for i, f in enumerate(futures):
        try:
            assert f.result().payload == str(i).encode()
            ok += 1
        except grpc.RpcError as e:
            errors.append(f"{e.code()} {e.details()}")
    print(f"burst from zero: {ok} ok, {len(errors)} errors, replicas {len(gw.replicas('m', '1'))}")
    assert errors == [], errors[:5]
    assert len(gw.replicas("m", "1")) <= 3


def test_a_held_call_past_its_deadline_is_deadline_exceeded_and_leaves_the_queue(procs):
    gw = procs.registry_gateway()
    marker = procs.dir / "slow"
    cmd = ["sh", "-c", f"if [ -f {marker} ]; then sleep 4; fi; exec {binary('byoc-echo-model')}"]
    register_idle(gw, command=cmd)
    marker.write_text("1")
    with pytest.raises(grpc.RpcError) as info:
        gw.predict("m", "1", timeout=1)
    assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert harness.wait_until(lambda: count(gw, "byoc_held_calls") == 0, 10)
    # The wake it started goes on: the next call is served.
    assert gw.predict("m", "1", timeout=30) is not None


def test_a_failed_wake_answers_every_held_call_unavailable_with_the_reason(procs):
    gw = procs.registry_gateway()
    marker = procs.dir / "broken"
    cmd = ["sh", "-c", f"if [ -f {marker} ]; then echo 'weights file missing' >&2; exit 3; fi; "
                       f"exec {binary('byoc-echo-model')}"]
    register_idle(gw, command=cmd)
    marker.write_text("1")
    futures = [gw.inference.Predict.future(harness.predict_request("m", "1"), timeout=60) for _ in range(5)]
    for f in futures:
        with pytest.raises(grpc.RpcError) as info:
            f.result()
        assert info.value.code() == UNAVAILABLE, info.value.details()
        assert "weights file missing" in info.value.details(), info.value.details()
        print("failed wake:", info.value.details())
    # Fixed: after the idle period it goes idle again, and the next call wakes it.
    marker.unlink()
    wait_idle(gw)
    assert gw.predict("m", "1", timeout=30) is not None


def slow_waking(procs, hold_max_calls: int, start_seconds: float, connections: int):
    """A gateway (2 workers) holding at most `hold_max_calls` calls per version, its IDLE version
    m/1 whose next start takes `start_seconds` (while `marker` exists), and `connections` stubs
    on connections of their own (spread over both workers): (gateway, marker, stubs)."""
    gw = procs.registry_gateway(extra=["--hold-max-calls", str(hold_max_calls)], workers=2)
    marker = procs.dir / "slow"
    register_idle(gw, command=slow_when(marker, start_seconds))
    marker.write_text("1")
    stubs = [pb.inference_grpc.InferenceStub(harness.make_channel(gw.address, local_pool=True)) for _ in range(connections)]
    return gw, marker, stubs


def slow_when(marker, seconds: float) -> list[str]:
    """An echo model that needs `seconds` before it listens while `marker` exists."""
    return ["sh", "-c", f"if [ -f {marker} ]; then sleep {seconds}; fi; exec {binary('byoc-echo-model')}"]


def test_a_full_hold_queue_is_unavailable_hold_queue_full(procs):
    # Five connections (spread over both workers): the bound is the whole gateway's.
    gw, _, stubs = slow_waking(procs, hold_max_calls=3, start_seconds=2, connections=5)
    futures = [stubs[i % 5].Predict.future(harness.predict_request("m", "1"), timeout=60) for i in range(10)]
    ok, full = 0, []
    for f in futures:
        try:
            f.result()
            ok += 1
        except grpc.RpcError as e:
            assert e.code() == UNAVAILABLE, (e.code(), e.details())
            full.append(e.details())
    assert ok == 3 and len(full) == 7, (ok, full)
    assert all("hold queue full" in d for d in full), full
    assert count(gw, "byoc_hold_rejections_total") == 7


def test_streams_that_send_only_headers_take_no_hold_and_wake_nothing(procs):
    """Twenty streams naming an IDLE version by header that never send their message: they are
    neither held (the 3-call hold budget stays free) nor in flight, and wake nothing; a real
    call is then held, wakes the version and is served (issue 18's first-message guard holds
    for held calls too)."""
    import h2attacks
    gw = procs.registry_gateway(extra=["--hold-max-calls", "3"], workers=1)
    register_idle(gw)
    conn = h2attacks.Conn(gw.address)
    block = h2attacks.request_block(gw.address, model="m", version="1")
    conn.send(b"".join(h2attacks.frame(h2attacks.HEADERS, h2attacks.END_HEADERS, conn.new_stream(), block)
                       for _ in range(20)))
    time.sleep(1.0)
    assert count(gw, "byoc_held_calls") == 0 and count(gw, "byoc_requests_in_flight") == 0
    assert gw.replicas("m", "1") == [] and harness.state_name(gw.get_version("m", "1").state) == "IDLE"
    for _ in range(3):
        assert gw.predict("m", "1", timeout=30, payload=b"real").payload == b"real"
    assert count(gw, "byoc_hold_rejections_total") == 0, "no call was refused"
    conn.sock.close()


def test_a_wake_slower_than_the_wake_timeout_is_unavailable_with_the_reason(procs):
    gw = procs.registry_gateway(extra=["--wake-timeout-ms", "1000"])
    marker = procs.dir / "slow"
    cmd = ["sh", "-c", f"if [ -f {marker} ]; then sleep 6; fi; exec {binary('byoc-echo-model')}"]
    register_idle(gw, command=cmd)
    marker.write_text("1")
    started = time.monotonic()
    with pytest.raises(grpc.RpcError) as info:
        gw.predict("m", "1", timeout=30)
    assert info.value.code() == UNAVAILABLE
    assert "did not become ready within 1000 ms" in info.value.details(), info.value.details()
    assert time.monotonic() - started < 20


def test_calls_spaced_around_the_idle_boundary_never_fail(procs):
    gw = procs.registry_gateway()
    register_idle(gw, idle_after=1)
    rng = random.Random(13)
    errors, calls = [], 0
    lock = threading.Lock()

    def call():
        nonlocal calls
        try:
            gw.predict("m", "1", timeout=30)
            with lock:
                calls += 1
        except grpc.RpcError as e:
            with lock:
                errors.append(f"{e.code()} {e.details()}")

    deadline = time.monotonic() + 60
    threads = []
    while time.monotonic() < deadline:
        # For a minute, gaps just under, at and just over the idle period (1 s; sampled once a second).
        time.sleep(rng.choice([0.3, 0.8, 0.95, 1.0, 1.05, 1.2, 1.5, 2.0, 2.1, 2.5]))
        for _ in range(rng.choice([1, 1, 2, 3])):
            t = threading.Thread(target=call)
            t.start()
            threads.append(t)
    for t in threads:
        t.join(60)
    idled = len([e for e in events(gw, "m", "1", "autoscaled") if "scaled to zero" in e.message])
    print(f"idle boundary: {calls} calls, {len(errors)} errors, went idle {idled} times")
    assert errors == [], errors[:5]
    assert idled >= 4, "the gaps took it to IDLE and back several times"


def test_a_version_deleted_while_calls_are_held_answers_them_not_found_and_frees_their_hold(procs):
    gw, marker, stubs = slow_waking(procs, hold_max_calls=4, start_seconds=30, connections=4)
    futures = [stub.Predict.future(harness.predict_request("m", "1"), timeout=60) for stub in stubs]
    assert harness.wait_until(lambda: count(gw, "byoc_held_calls") == 4, 10)
    started = time.monotonic()
    gw.admin.DeleteModel(pb.admin.DeleteModelRequest(model="m", version="1"), timeout=10)
    for f in futures:
        with pytest.raises(grpc.RpcError) as info:
            f.result()
        assert info.value.code() == grpc.StatusCode.NOT_FOUND, (info.value.code(), info.value.details())
        assert 'model "m" version "1" was deleted while the call waited for it' in info.value.details(), info.value.details()
    elapsed = time.monotonic() - started
    print(f"held calls of a deleted version answered in {elapsed * 1000:.0f} ms")
    assert elapsed < 5
    # Nothing leaks: the starting replica is stopped; registered again, the version counts no
    # call in flight and its whole hold budget is back (4 calls held at once, none refused).
    assert harness.wait_until(lambda: gw.replicas("m", "1") == [], 15), gw.replicas("m", "1")
    marker.unlink()
    register_idle(gw, command=slow_when(marker, 2))
    assert count(gw, "byoc_requests_in_flight") == 0
    marker.write_text("1")
    futures = [stub.Predict.future(harness.predict_request("m", "1"), timeout=60) for stub in stubs]
    assert harness.wait_until(lambda: count(gw, "byoc_held_calls") == 4, 10), count(gw, "byoc_held_calls")
    for f in futures:
        assert f.result() is not None
    assert count(gw, "byoc_hold_rejections_total") == 0


def test_held_calls_cancelled_by_their_clients_give_their_hold_back(procs):
    gw, _, stubs = slow_waking(procs, hold_max_calls=3, start_seconds=6, connections=3)
    futures = [stub.Predict.future(harness.predict_request("m", "1"), timeout=60) for stub in stubs]
    assert harness.wait_until(lambda: count(gw, "byoc_held_calls") == 3, 10)
    for f in futures:
        assert f.cancel()
    assert harness.wait_until(lambda: count(gw, "byoc_held_calls") == 0 and count(gw, "byoc_requests_in_flight") == 0, 5), \
        (count(gw, "byoc_held_calls"), count(gw, "byoc_requests_in_flight"))
    # The version is still waking (its replica starts in 6 s): three new calls are held, not
    # refused, and served once it is ready.
    futures = [stub.Predict.future(harness.predict_request("m", "1", payload=b"again"), timeout=60) for stub in stubs]
    assert harness.wait_until(lambda: count(gw, "byoc_held_calls") == 3, 5), count(gw, "byoc_held_calls")
    for f in futures:
        assert f.result().payload == b"again"
    assert count(gw, "byoc_hold_rejections_total") == 0


def test_hold_max_calls_0_holds_nothing_but_wakes_and_answers_unavailable_at_once(procs):
    """--hold-max-calls 0 turns holding off: a call to an IDLE version is answered UNAVAILABLE
    "holding is disabled" at once (for a client that retries) and wakes the version."""
    gw = procs.registry_gateway(extra=["--hold-max-calls", "0"])
    register_idle(gw)
    started = time.monotonic()
    with pytest.raises(grpc.RpcError) as info:
        gw.predict("m", "1", timeout=30)
    elapsed = time.monotonic() - started
    assert info.value.code() == UNAVAILABLE, info.value.details()
    assert "holding is disabled (--hold-max-calls 0)" in info.value.details(), info.value.details()
    assert elapsed < 1, f"answered after {elapsed:.2f} s"
    assert count(gw, "byoc_hold_rejections_total") == 1 and count(gw, "byoc_held_calls") == 0
    # The refused call woke it: ready without another call, then served.
    gw.wait_state("m", "1", "READY", ready=1, timeout=30)
    assert gw.predict("m", "1", timeout=10, payload=b"late").payload == b"late"


def test_a_wake_after_idle_starts_one_replica_not_the_count_before(procs):
    """Scaled up under load, then IDLE before the (long) scale-down delay: the autoscaler's
    count is forgotten, so one call wakes one replica, not the four it ran before."""
    gw = procs.registry_gateway(extra=["--resync-ms", "500"], workers=2)
    gw.register("m", "1", echo_cmd("--delay-ms", "200"), min_replicas=0, max_replicas=4,
                autoscaling=autoscaling(target=2, delay=600, to_zero=IDLE_AFTER))
    gw.wait_state("m", "1", "READY")
    gw.wait_predict_ok("m", "1")
    with Load(gw, "m", 8) as load:
        gw.wait_replica_count("m", "1", 4, timeout=30)
    assert not load.errors, load.errors[:5]
    wait_idle(gw)
    assert gw.predict("m", "1", timeout=30, payload=b"one").payload == b"one"
    v = gw.wait_state("m", "1", "READY", ready=1)
    time.sleep(1.5)
    assert len(gw.replicas("m", "1")) == 1 and gw.get_version("m", "1").desired_replicas == 1, \
        (len(gw.replicas("m", "1")), v.desired_replicas)


def test_a_restart_keeps_an_idle_version_idle(procs):
    state, db = procs.dir / "state", procs.dir / "registry.sqlite"
    gw = procs.registry_gateway(state_dir=state, db=db, name="gateway-1")
    register_idle(gw, idle_after=3)
    gw.proc.popen.terminate()
    assert gw.proc.wait(30) == 0
    gw2 = procs.registry_gateway(state_dir=state, db=db, name="gateway-2")
    time.sleep(2)
    assert gw2.replicas("m", "1") == [], "an IDLE version is not started at boot"
    assert harness.state_name(gw2.get_version("m", "1").state) == "IDLE"
    assert gw2.predict("m", "1", timeout=30) is not None
    gw2.wait_state("m", "1", "READY")


def test_a_stopping_gateway_answers_held_calls_unavailable(procs):
    gw = procs.registry_gateway()
    marker = procs.dir / "slow"
    cmd = ["sh", "-c", f"if [ -f {marker} ]; then sleep 30; fi; exec {binary('byoc-echo-model')}"]
    register_idle(gw, command=cmd)
    marker.write_text("1")
    future = gw.inference.Predict.future(harness.predict_request("m", "1"), timeout=60)
    assert harness.wait_until(lambda: count(gw, "byoc_held_calls") == 1, 10)
    gw.proc.send_signal(signal.SIGTERM)
    with pytest.raises(grpc.RpcError) as info:
        future.result()
    assert info.value.code() == UNAVAILABLE
    assert "gateway is stopping" in info.value.details(), info.value.details()
    assert gw.proc.wait(30) == 0


# -- Kubernetes (the fake API server) --------------------------------------------------------

def test_kubernetes_idle_is_replicas_0_and_a_held_call_wakes_it(procs, tmp_path):
    from test_kubernetes import FakeKube, admin, start_gateway, wait_state
    fake = FakeKube(procs)
    gw = start_gateway(procs, fake, tmp_path / "registry.sqlite")
    stub = admin(procs, gw)
    a = pb.admin
    stub.RegisterModel(a.RegisterModelRequest(model="m", version="1", image="example/m:1", min_replicas=0, max_replicas=2,
                                              autoscaling=autoscaling(to_zero=IDLE_AFTER)), timeout=10)
    wait_state(stub, "m", "1", "READY", timeout=30)
    assert "m-1" not in fake.names("horizontalpodautoscalers"), "the gateway owns a scale-to-zero version's replicas"
    wait_state(stub, "m", "1", "IDLE", timeout=60)
    assert fake.objects("deployments")["m-1"]["spec"]["replicas"] == 0
    assert harness.wait_until(lambda: not [p for p in fake.pods() if p["deployment"] == "m-1"], 20), fake.pods()
    inference = pb.inference_grpc.InferenceStub(procs.channel(gw.address))
    started = time.monotonic()
    resp = inference.Predict(harness.predict_request("m", "1", payload=b"k"), timeout=60)
    print(f"kubernetes wake answered in {(time.monotonic() - started) * 1000:.0f} ms")
    assert resp.payload == b"k"
    assert fake.objects("deployments")["m-1"]["spec"]["replicas"] == 1
    wait_state(stub, "m", "1", "READY", timeout=30)


def test_kubernetes_a_follower_holds_the_call_and_wakes_the_leader(procs, tmp_path):
    from test_kubernetes import FakeKube, admin, start_gateway, wait_state
    fake = FakeKube(procs)
    db = tmp_path / "registry.sqlite"
    leader = start_gateway(procs, fake, db, name="gateway-a", token="token-a")
    follower = start_gateway(procs, fake, db, name="gateway-b", token="token-b", leader=False)
    stub = admin(procs, leader)
    a = pb.admin
    stub.RegisterModel(a.RegisterModelRequest(model="m", version="1", image="example/m:1", min_replicas=0, max_replicas=2,
                                              autoscaling=autoscaling(to_zero=IDLE_AFTER)), timeout=10)
    wait_state(stub, "m", "1", "IDLE", timeout=60)
    assert harness.wait_until(lambda: not [p for p in fake.pods() if p["deployment"] == "m-1"], 20), fake.pods()
    routes = fake.objects("configmaps")["byoc-gateway-routes"]["data"]["routes.json"]
    assert '"wake"' in routes, routes
    # The follower holds the call, the wake reaches the leader, the pod comes, the call is served.
    inference = pb.inference_grpc.InferenceStub(procs.channel(follower.address))
    resp = inference.Predict(harness.predict_request("m", "1", payload=b"f"), timeout=60)
    assert resp.payload == b"f"
    assert fake.objects("deployments")["m-1"]["spec"]["replicas"] == 1
    assert any("woken by a call" in e.message for e in events_of(stub, "m"))


def events_of(stub, model):
    return stub.ListEvents(pb.admin.ListEventsRequest(model=model, limit=1000), timeout=10).events


def test_wake_model_version_takes_an_admin_token_or_a_predict_token_for_the_model(procs, tmp_path):
    from test_auth import AuthGateway, md, status_of
    from harness import make_token
    a = AuthGateway(procs, tmp_path, make_token())
    gw = a.gw
    admin_md = md(a.admin_token)
    gw.admin.RegisterModel(pb.admin.RegisterModelRequest(
        model="m", version="1", command=echo_cmd(), min_replicas=0, max_replicas=1,
        autoscaling=autoscaling(to_zero=IDLE_AFTER)), timeout=20, metadata=admin_md)
    gw.admin.RegisterModel(pb.admin.RegisterModelRequest(model="other", version="1", command=echo_cmd()),
                           timeout=20, metadata=admin_md)

    def state():
        m = gw.admin.GetModel(pb.admin.GetModelRequest(model="m"), timeout=20, metadata=admin_md)
        return harness.state_name(m.versions[0].state)

    assert harness.wait_until(lambda: state() == "IDLE", 60), state()
    _, for_other = a.create("predict", models=["other"])
    _, for_m = a.create("predict", models=["m"])
    wake = lambda token: status_of(gw.admin.WakeModelVersion, pb.admin.WakeModelVersionRequest(model="m", version="1"),  # noqa: E731
                                   timeout=20, metadata=md(token))
    assert wake(None)[0] == grpc.StatusCode.UNAUTHENTICATED
    assert wake(for_other)[0] == grpc.StatusCode.PERMISSION_DENIED
    code, _, resp = wake(for_m)
    assert code == grpc.StatusCode.OK and resp.woken, (code, resp)
    assert harness.wait_until(lambda: state() == "READY", 30), state()
    code, _, resp = wake(a.admin_token)
    assert code == grpc.StatusCode.OK and not resp.woken, "awake already"
    # A follower's activity report is authorized like a wake: a predict token for the model.
    report = pb.admin.WakeModelVersionRequest(model="m", version="1",
                                              report=pb.admin.ActivityReport(reporter="gateway-b", in_flight=1, last_called_ms_ago=0))
    assert status_of(gw.admin.WakeModelVersion, report, timeout=20, metadata=md(for_other))[0] == grpc.StatusCode.PERMISSION_DENIED
    assert status_of(gw.admin.WakeModelVersion, report, timeout=20, metadata=md(for_m))[0] == grpc.StatusCode.OK
    # A held call with a predict token is woken and served on its own.
    assert harness.wait_until(lambda: state() == "IDLE", 60), state()
    assert a.predict("m", for_m)[0] == grpc.StatusCode.OK


def test_a_call_whose_endpoints_are_all_gone_waits_for_the_version_instead_of_failing(procs):
    """The replica of a version that scales to zero dies; calls sent before the route table
    drops it find no reachable endpoint and are held until the restarted replica is ready."""
    gw = procs.registry_gateway(workers=1)
    gw.register("m", "1", echo_cmd(), min_replicas=0, max_replicas=1, autoscaling=autoscaling(to_zero=300))
    gw.wait_state("m", "1", "READY")
    gw.wait_predict_ok("m", "1")
    [replica] = gw.replicas("m", "1")
    os.kill(replica.pid, signal.SIGKILL)
    # Long enough for the worker to see its connection close, short of the runtime's next check
    # (100 ms) and the route table after it: the calls find the endpoint refusing connections.
    time.sleep(0.03)
    futures = [gw.inference.Predict.future(harness.predict_request("m", "1", payload=b"again"), timeout=30)
               for _ in range(5)]
    for f in futures:
        assert f.result().payload == b"again"
    print(f"connect failures {metric(gw, 'byoc_upstream_connect_failures_total')}, "
          f"wakes {metric(gw, 'byoc_wake_latency_seconds_count')}")
    # Usually they tried the dead endpoint first (connect failures 1); on a loaded machine the
    # runtime may drop it before they come, and they are held at once: both are fine.
    assert metric(gw, "byoc_wake_latency_seconds_count") >= 1, "the calls were held"


def test_kubernetes_calls_through_a_follower_alone_keep_the_version_awake(procs, tmp_path):
    from test_kubernetes import FakeKube, admin, start_gateway, wait_state
    fake = FakeKube(procs)
    db = tmp_path / "registry.sqlite"
    leader = start_gateway(procs, fake, db, name="gateway-a", token="token-a")
    follower = start_gateway(procs, fake, db, name="gateway-b", token="token-b", leader=False)
    stub = admin(procs, leader)
    a = pb.admin
    stub.RegisterModel(a.RegisterModelRequest(model="m", version="1", image="example/m:1", min_replicas=0, max_replicas=2,
                                              autoscaling=autoscaling(to_zero=3)), timeout=10)
    wait_state(stub, "m", "1", "READY", timeout=30)
    inference = pb.inference_grpc.InferenceStub(procs.channel(follower.address))
    deadline = time.monotonic() + 8
    while time.monotonic() < deadline:
        inference.Predict(harness.predict_request("m", "1"), timeout=30)
        time.sleep(0.5)
    idled = [e.message for e in events_of(stub, "m") if "scaled to zero" in e.message]
    assert idled == [], "the leader saw the follower's calls (reported once a second)"
    # Without calls it goes IDLE after its period.
    wait_state(stub, "m", "1", "IDLE", timeout=30)


def test_a_request_larger_than_the_flow_control_window_is_held_and_arrives_whole(procs):
    """The held call's body waits within HTTP/2 flow control (the client stops at the window)
    and flows once the version is awake."""
    gw = procs.registry_gateway()
    register_idle(gw)
    payload = bytes(range(256)) * (16 * 1024)  # 4 MiB
    resp = gw.predict("m", "1", timeout=60, payload=payload)
    assert resp.payload == payload


def test_every_call_kind_works_after_a_cold_start(procs, tmp_path):
    """Streaming calls from IDLE (knative/serving#3239): unary, server, client and
    bidirectional streaming calls of a custom service each wake the version and are served."""
    import sys
    from test_custom_service import CUSTOM_MODEL, methods
    script = tmp_path / "custom_model.py"
    script.write_text(CUSTOM_MODEL)
    gw = procs.registry_gateway()
    gw.register("tools", "1", [sys.executable, str(script), "a"], min_replicas=0, max_replicas=1,
                autoscaling=autoscaling(to_zero=IDLE_AFTER))
    gw.wait_state("tools", "1", "READY")
    upper, count, join, chat = methods(procs.channel(gw.address))
    md = (("byoc-model", "tools"),)
    calls = [
        ("unary", lambda: upper(b"cold", metadata=md, timeout=60), b"COLD"),
        ("server streaming", lambda: list(count(b"3", metadata=md, timeout=60)), [b"0", b"1", b"2"]),
        ("client streaming", lambda: join(iter([b"x", b"y"]), metadata=md, timeout=60), b"x+y@a"),
        ("bidi streaming", lambda: list(chat(iter([b"1", b"2"]), metadata=md, timeout=60)), [b"re:1", b"re:2"]),
    ]
    for kind, call, expected in calls:
        wait_idle(gw, "tools")
        assert call() == expected, kind
