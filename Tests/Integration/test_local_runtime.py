"""The local runtime behind `byoc-gateway --state-dir DIR`: replica processes, their
environment and logs, restart after a crash, FAILED for a command that cannot stay up, stop
with SIGTERM then SIGKILL, and the registry under 50 concurrent RegisterModel calls.
"""
from __future__ import annotations

import os
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import pytest

import harness
from harness import binary, pb, state_name

GRACE_MS = 1000


@pytest.fixture
def gw(procs):
    return procs.registry_gateway(extra=["--resync-ms", "500", "--grace-period-ms", str(GRACE_MS)])


def echo_cmd(*extra: str) -> list[str]:
    return [binary("byoc-echo-model"), *extra]


def predict_served_by(gw, model, version="") -> str:
    resp, call = gw.predict(model, version, with_call=True)
    assert resp.model == model
    return harness.served_by(call)


def test_replica_environment_and_log(gw):
    gw.register("envy", "3", echo_cmd(), env={"GREETING": "hello world", "EMPTY": ""}, min_replicas=2)
    gw.wait_state("envy", "3", "READY", timeout=60, ready=2)
    replicas = gw.wait_replica_count("envy", "3", 2)
    assert sorted(r.replica for r in replicas) == ["0", "1"]
    ports = set()
    for r in replicas:
        env = harness.proc_environ(r.pid)
        assert env["BYOC_MODEL"] == "envy" and env["BYOC_VERSION"] == "3"
        assert env["GREETING"] == "hello world" and env["EMPTY"] == ""
        assert 0 < int(env["PORT"]) < 65536
        assert env.get("PATH"), "the replica should inherit PATH"
        ports.add(int(env["PORT"]))
        # each replica leads its own process group
        assert os.getpgid(r.pid) == r.pid
        log = gw.state_dir / "logs" / "envy" / "3" / f"replica-{r.replica}.log"
        assert log.is_file() and log.stat().st_size > 0, f"{log} missing or empty"
    assert len(ports) == 2, "replicas must get distinct ports"
    served = {predict_served_by(gw, "envy") for _ in range(40)}
    assert {int(s.rsplit(":", 1)[1]) for s in served} == ports, served


def test_sigkilled_replica_recovers(gw):
    gw.register("crash", "1", echo_cmd())
    gw.wait_state("crash", "1", "READY", timeout=60, ready=1)
    assert gw.wait_predict_ok("crash").version == "1"
    [old] = gw.wait_replica_count("crash", "1", 1)

    os.kill(old.pid, signal.SIGKILL)
    assert harness.wait_until(lambda: not old.alive(), 10), f"{old} survived SIGKILL"

    def replaced():
        now = gw.replicas("crash", "1")
        return len(now) == 1 and now[0].ident != old.ident
    assert harness.wait_until(replaced, 30, 0.1), f"no new replica after killing {old}: {gw.replicas()}"
    [new] = gw.replicas("crash", "1")
    gw.wait_state("crash", "1", "READY", timeout=60, ready=1)

    # calls succeed again, on the new process
    deadline = time.monotonic() + 30
    while True:
        try:
            served = predict_served_by(gw, "crash")
            if served and served.endswith(f":{new.port}"):
                break
        except grpc.RpcError:
            pass
        assert time.monotonic() < deadline, "calls did not reach the restarted replica"
        time.sleep(0.1)
    for _ in range(20):
        assert gw.predict("crash").version == "1"
    log = (gw.state_dir / "logs" / "crash" / "1" / "replica-0.log").read_text(errors="replace")
    assert log.count("starting replica 0") >= 2, f"the log should show the restart:\n{log[-2000:]}"


def test_sigkilled_replica_of_two_recovers(gw):
    gw.register("pair", "1", echo_cmd(), min_replicas=2)
    gw.wait_state("pair", "1", "READY", timeout=60, ready=2)
    replicas = gw.wait_replica_count("pair", "1", 2)
    victim = replicas[0]
    os.kill(victim.pid, signal.SIGKILL)
    assert harness.wait_until(lambda: not victim.alive(), 10)

    def back():
        now = gw.replicas("pair", "1")
        return len(now) == 2 and victim.ident not in {r.ident for r in now}
    assert harness.wait_until(back, 30, 0.1), gw.replicas()
    gw.wait_state("pair", "1", "READY", timeout=60, ready=2)
    ports = {r.port for r in gw.replicas("pair", "1")}
    deadline = time.monotonic() + 30
    seen = set()
    while seen != ports:
        try:
            seen.add(int(predict_served_by(gw, "pair").rsplit(":", 1)[1]))
        except grpc.RpcError:
            pass
        assert time.monotonic() < deadline, f"calls reach {seen}, replicas listen on {ports}"


@pytest.mark.parametrize("command,status", [
    (["/bin/sh", "-c", "exit 3"], "3"),
    (["/nonexistent/model-server"], "127"),
], ids=["exit-3", "missing-program"])
def test_command_that_exits_at_once_fails_and_others_keep_serving(gw, command, status):
    gw.register("good", "1", echo_cmd())
    gw.register("bad", "1", command)
    mv = gw.wait_state("bad", "1", "FAILED", timeout=60)
    msg = mv.message
    assert status in msg and "exit" in msg.lower(), f"FAILED message should name the exit status {status}: {msg!r}"
    assert mv.ready_replicas == 0

    gw.wait_state("good", "1", "READY", timeout=60)
    assert gw.wait_predict_ok("good").version == "1"
    # the failed version has no ready endpoint: UNAVAILABLE, not a hang
    with pytest.raises(grpc.RpcError) as info:
        gw.predict("bad", "1", timeout=10)
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE, info.value
    # it stays FAILED while the gateway keeps answering everything else
    for _ in range(10):
        assert gw.predict("good").version == "1"
        time.sleep(0.1)
    health = gw.health.Check(pb.health.HealthCheckRequest(service=""), timeout=10)
    assert health.status == pb.health.HealthCheckResponse.SERVING
    assert state_name(gw.get_version("bad", "1").state) == "FAILED"
    assert state_name(gw.get_version("good", "1").state) == "READY"


def test_never_ready_version_is_deploying_and_unavailable(gw):
    gw.register("slow", "1", ["/bin/sleep", "300"])
    gw.wait_replica_count("slow", "1", 1, timeout=30)
    time.sleep(1.5)  # several probe intervals
    v = gw.get_version("slow", "1")
    assert state_name(v.state) == "DEPLOYING" and v.ready_replicas == 0, v
    with pytest.raises(grpc.RpcError) as info:
        gw.predict("slow", "1", timeout=10)
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE


def test_delete_kills_a_replica_that_ignores_sigterm(gw):
    gw.register("stubborn", "1", ["/bin/sh", "-c", "trap '' TERM; exec /bin/sleep 300"])
    [r] = gw.wait_replica_count("stubborn", "1", 1, timeout=30)
    def exec_done():
        try:
            return b"sleep" in Path(f"/proc/{r.pid}/cmdline").read_bytes()
        except OSError:
            return False
    assert harness.wait_until(exec_done, 10), "the shell did not exec sleep"
    t0 = time.monotonic()
    gw.admin.DeleteModel(pb.admin.DeleteModelRequest(model="stubborn", version="1"), timeout=20)
    assert harness.wait_until(lambda: not r.alive(), GRACE_MS / 1000 + 15, 0.05), \
        f"{r} (ignores SIGTERM) still alive {time.monotonic() - t0:.1f} s after delete"
    assert gw.get_version("stubborn", "1") is None


def test_scale_down_stops_the_extra_processes(gw):
    gw.register("shrink", "1", echo_cmd(), min_replicas=3)
    gw.wait_state("shrink", "1", "READY", timeout=60, ready=3)
    before = gw.wait_replica_count("shrink", "1", 3)
    gw.admin.ScaleModelVersion(pb.admin.ScaleModelVersionRequest(model="shrink", version="1", min_replicas=1),
                               timeout=20)
    after = gw.wait_replica_count("shrink", "1", 1, timeout=30)
    assert after[0].ident in {r.ident for r in before}, "scale-down must keep a running replica, not restart it"
    for r in before:
        if r.ident != after[0].ident:
            assert harness.wait_until(lambda: not r.alive(), 15), f"{r} still alive after scale-down"
    gw.wait_state("shrink", "1", "READY", timeout=30, ready=1)
    for _ in range(10):
        assert predict_served_by(gw, "shrink").endswith(f":{after[0].port}")


# --------------------------------------------------------------------------- concurrency

N = 50


def _concurrent(fn, n=N):
    """Runs fn(i) for i in range(n) on n threads released together; returns results/exceptions."""
    barrier = threading.Barrier(n)

    def run(i):
        barrier.wait(timeout=30)
        try:
            return fn(i)
        except grpc.RpcError as e:
            return e
    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(run, range(n)))


def _channels(gw, procs, k=10):
    return [pb.admin_grpc.AdminStub(procs.channel(gw.address, local_pool=True)) for _ in range(k)]


@pytest.mark.timeout(180)
def test_50_concurrent_registrations_of_distinct_versions(gw, procs):
    stubs = _channels(gw, procs)
    cmd = ["/bin/sleep", "300"]  # cheap replicas: this test is about the registry

    def register(i):
        return stubs[i % len(stubs)].RegisterModel(pb.admin.RegisterModelRequest(
            model="many", version=f"v{i}", command=cmd), timeout=60)
    results = _concurrent(register)
    errors = [r for r in results if isinstance(r, grpc.RpcError)]
    assert not errors, [f"{e.code()}: {e.details()}" for e in errors]
    assert sorted(r.version for r in results) == sorted(f"v{i}" for i in range(N))

    models = gw.admin.ListModels(pb.admin.ListModelsRequest(), timeout=30).models
    assert [m.name for m in models] == ["many"], [m.name for m in models]
    versions = [v.version for v in models[0].versions]
    assert len(versions) == N, f"{len(versions)} versions listed"
    assert sorted(versions) == sorted(f"v{i}" for i in range(N)), "duplicated or missing versions"
    assert models[0].default_version in versions
    got = gw.admin.GetModel(pb.admin.GetModelRequest(model="many"), timeout=30)
    assert sorted(v.version for v in got.versions) == sorted(versions)


@pytest.mark.timeout(180)
def test_50_concurrent_registrations_of_the_same_version(gw, procs):
    stubs = _channels(gw, procs)

    def register(i):
        return stubs[i % len(stubs)].RegisterModel(pb.admin.RegisterModelRequest(
            model="same", version="1", command=echo_cmd(), env={"WHO": str(i)}), timeout=60)
    results = _concurrent(register)
    ok = [r for r in results if not isinstance(r, grpc.RpcError)]
    errors = [r for r in results if isinstance(r, grpc.RpcError)]
    assert len(ok) == 1, f"{len(ok)} registrations succeeded"
    codes = {e.code() for e in errors}
    assert codes == {grpc.StatusCode.ALREADY_EXISTS}, [f"{e.code()}: {e.details()}" for e in errors
                                                        if e.code() != grpc.StatusCode.ALREADY_EXISTS][:5]
    assert len(errors) == N - 1
    models = gw.admin.ListModels(pb.admin.ListModelsRequest(), timeout=30).models
    assert [(m.name, [v.version for v in m.versions]) for m in models] == [("same", ["1"])]
    # the stored version is the one that won
    assert dict(models[0].versions[0].env) == dict(ok[0].env)
    gw.wait_state("same", "1", "READY", timeout=60, ready=1)
    gw.wait_replica_count("same", "1", 1)


@pytest.mark.timeout(180)
def test_concurrent_reads_and_writes_all_succeed(gw, procs):
    """50 registrations interleaved with 100 ListModels/GetModel calls, while the reconciler
    writes states back: no call may fail (e.g. INTERNAL from a busy database)."""
    stubs = _channels(gw, procs)
    cmd = ["/bin/sleep", "300"]

    def op(i):
        s = stubs[i % len(stubs)]
        if i % 3 == 0:
            return s.RegisterModel(pb.admin.RegisterModelRequest(model=f"m{i}", version="1", command=cmd),
                                   timeout=60).model
        if i % 3 == 1:
            return len(s.ListModels(pb.admin.ListModelsRequest(), timeout=60).models)
        try:
            return s.GetModel(pb.admin.GetModelRequest(model=f"m{i - 2}"), timeout=60).name
        except grpc.RpcError as e:
            if e.code() == grpc.StatusCode.NOT_FOUND:
                return None
            raise
    results = _concurrent(op, n=150)
    errors = [f"{e.code()}: {e.details()}" for e in results if isinstance(e, grpc.RpcError)]
    assert not errors, errors[:5]
    models = gw.admin.ListModels(pb.admin.ListModelsRequest(), timeout=30).models
    assert sorted(m.name for m in models) == sorted(f"m{i}" for i in range(0, 150, 3))
    assert all(m.default_version == "1" and len(m.versions) == 1 for m in models)


@pytest.mark.timeout(180)
def test_concurrent_scales_converge(gw, procs):
    gw.register("race", "1", echo_cmd())
    gw.wait_state("race", "1", "READY", timeout=60)
    stubs = _channels(gw, procs)
    wanted = [1 + (i * 7) % 4 for i in range(20)]

    def scale(i):
        return stubs[i % len(stubs)].ScaleModelVersion(pb.admin.ScaleModelVersionRequest(
            model="race", version="1", min_replicas=wanted[i]), timeout=60)
    results = _concurrent(scale, n=20)
    errors = [f"{e.code()}: {e.details()}" for e in results if isinstance(e, grpc.RpcError)]
    assert not errors, errors
    final = gw.get_version("race", "1")
    assert final.min_replicas in wanted and final.max_replicas == final.min_replicas
    n = final.min_replicas
    gw.wait_state("race", "1", "READY", timeout=60, ready=n)
    gw.wait_replica_count("race", "1", n, timeout=30)
    time.sleep(1)  # nothing more starts or stops once converged
    assert len(gw.replicas("race", "1")) == n


def test_deleting_a_failed_version_stops_its_restarts(gw):
    gw.register("doomed", "1", ["/bin/sh", "-c", "exit 3"])
    gw.wait_state("doomed", "1", "FAILED", timeout=60)
    gw.admin.DeleteModel(pb.admin.DeleteModelRequest(model="doomed"), timeout=20)
    log = gw.state_dir / "logs" / "doomed" / "1" / "replica-0.log"
    starts = log.read_text(errors="replace").count("starting replica")
    time.sleep(5)  # longer than the restart backoff at this point (2-4 s)
    assert log.read_text(errors="replace").count("starting replica") == starts, \
        "the deleted version was restarted"
    assert gw.replicas("doomed") == []


def test_replica_killed_repeatedly_after_ready_never_fails(gw):
    """Exits of replicas that had become ready do not count towards FAILED."""
    gw.register("phoenix", "1", echo_cmd())
    gw.wait_state("phoenix", "1", "READY", timeout=60)
    for round_ in range(4):
        [r] = gw.wait_replica_count("phoenix", "1", 1, timeout=60)
        os.kill(r.pid, signal.SIGKILL)

        def replaced():
            now = gw.replicas("phoenix", "1")
            return len(now) == 1 and now[0].ident != r.ident
        assert harness.wait_until(replaced, 60, 0.05), f"round {round_}: not restarted"
        v = gw.wait_state("phoenix", "1", "READY", timeout=60, ready=1)
        assert v.message == ""
    assert gw.wait_predict_ok("phoenix").version == "1"


@pytest.mark.timeout(180)
def test_scale_down_under_load_drops_no_calls(gw):
    """Scaling down is planned: no call may fail because it was routed to a replica that is
    already stopping (the echo model drains in-flight calls on SIGTERM, so a failure here
    means the gateway still sent new calls to a replica after stopping it)."""
    gw.register("load", "1", echo_cmd(), min_replicas=4)
    gw.wait_state("load", "1", "READY", timeout=60, ready=4)
    gw.wait_predict_ok("load")
    stop = threading.Event()
    ok = [0]
    failures: list[str] = []
    lock = threading.Lock()

    def load():
        with harness.make_channel(gw.address, local_pool=True) as ch:
            stub = pb.inference_grpc.InferenceStub(ch)
            while not stop.is_set():
                try:
                    stub.Predict(harness.predict_request("load"), timeout=10)
                    with lock:
                        ok[0] += 1
                except grpc.RpcError as e:
                    with lock:
                        failures.append(f"{e.code()}: {e.details()}")
    threads = [threading.Thread(target=load, daemon=True) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        for n in (1, 4, 1, 4, 1, 4, 1, 3, 1):
            gw.admin.ScaleModelVersion(pb.admin.ScaleModelVersionRequest(model="load", version="1", min_replicas=n),
                                       timeout=20)
            gw.wait_state("load", "1", "READY", timeout=60, ready=n)
            gw.wait_replica_count("load", "1", n, timeout=30)
            time.sleep(0.5)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=30)
    assert ok[0] > 100, f"only {ok[0]} calls succeeded"
    assert not failures, f"{len(failures)} of {ok[0] + len(failures)} calls failed during scale-down: {failures[:5]}"
