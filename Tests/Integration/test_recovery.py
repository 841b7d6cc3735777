"""Rebuild after a crash: SIGKILL the gateway with versions registered and READY, start it
again on the same --state-dir/--db, and everything comes back: same registry rows, every
version READY within 30 s on new replica processes that serve, and no process left over from
before (the old replicas die with the gateway through PR_SET_PDEATHSIG).
"""
from __future__ import annotations

import os
import signal
import time

import grpc
import pytest

import harness
from harness import binary, pb, state_name

pytestmark = pytest.mark.timeout(240)

RECOVERY_SECONDS = 30
VOLATILE = ("state", "ready_replicas", "message", "desired_replicas")


def echo_cmd(*extra: str) -> list[str]:
    return [binary("byoc-echo-model"), *extra]


def rows(gw) -> dict:
    """ListModels as {model: (default, {version: ModelVersion without the observed fields})}."""
    out = {}
    for m in gw.admin.ListModels(pb.admin.ListModelsRequest(), timeout=20).models:
        versions = {}
        for v in m.versions:
            stable = pb.admin.ModelVersion()
            stable.CopyFrom(v)
            for f in VOLATILE:
                stable.ClearField(f)
            versions[v.version] = stable
        out[m.name] = (m.default_version, versions)
    return out


def served_port(gw, model, version) -> int:
    _, call = gw.predict(model, version, with_call=True)
    return int(harness.served_by(call).rsplit(":", 1)[1])


def start_pair(procs, name):
    state = procs.dir / "state"
    db = procs.dir / "registry.sqlite"
    return procs.registry_gateway(state_dir=state, db=db, name=name,
                                  extra=["--resync-ms", "500", "--grace-period-ms", "1000"])


def new_token() -> str:
    """A value for env BYOC_TEST_TOKEN that marks this test's model processes (other test
    sessions may run models with the same names at the same time)."""
    return f"recovery-{os.getpid()}-{time.monotonic_ns()}"


def tagged(token: str) -> list[harness.Replica]:
    """Live model processes (any parent) carrying `token`."""
    return [r for r in harness.model_processes() if harness.proc_environ(r.pid).get("BYOC_TEST_TOKEN") == token]


def register_two(gw, token):
    gw.register("alpha", "1", echo_cmd(), min_replicas=2, max_replicas=3, env={"WHO": "one", "BYOC_TEST_TOKEN": token})
    gw.register("alpha", "2", echo_cmd("--workers", "1"), env={"WHO": "two", "BYOC_TEST_TOKEN": token})
    gw.register("beta", "1.0", echo_cmd(), port=7000, env={"BYOC_TEST_TOKEN": token})
    gw.admin.SetDefaultVersion(pb.admin.SetDefaultVersionRequest(model="alpha", version="2"), timeout=20)
    expected = {("alpha", "1"): 2, ("alpha", "2"): 1, ("beta", "1.0"): 1}
    for (m, v), n in expected.items():
        gw.wait_state(m, v, "READY", timeout=60, ready=n)
    return expected


def wait_recovered(gw, expected, started: float):
    """Every version READY with its replicas, each replica a child of `gw` that serves."""
    for (m, v), n in expected.items():
        remaining = max(1.0, RECOVERY_SECONDS - (time.monotonic() - started))
        gw.wait_state(m, v, "READY", timeout=remaining, ready=n)
        replicas = gw.wait_replica_count(m, v, n, timeout=max(1.0, RECOVERY_SECONDS - (time.monotonic() - started)))
        ports = {r.port for r in replicas}
        seen = set()
        deadline = started + RECOVERY_SECONDS + 10
        while seen != ports:
            try:
                seen.add(served_port(gw, m, v))
            except grpc.RpcError as e:
                assert time.monotonic() < deadline, f"{m}/{v} does not serve after restart: {e.code()} {e.details()}"
                time.sleep(0.1)
                continue
            assert seen <= ports, f"{m}/{v} answered from {seen}, its replicas listen on {ports}"
            assert time.monotonic() < deadline, f"{m}/{v}: calls reach {seen}, replicas listen on {ports}"
    elapsed = time.monotonic() - started
    assert elapsed <= RECOVERY_SECONDS + 10, f"recovery took {elapsed:.1f} s"
    return elapsed


def test_sigkill_gateway_and_restart_on_the_same_database(procs):
    token = new_token()
    gw1 = start_pair(procs, "gateway-1")
    expected = register_two(gw1, token)
    before = rows(gw1)
    assert set(before) == {"alpha", "beta"} and before["alpha"][0] == "2"
    old_mine = tagged(token)
    assert len(old_mine) == 4 and all(r.ppid == gw1.pid for r in old_mine), old_mine
    assert gw1.predict("alpha").version == "2"

    # SIGKILL the gateway process alone (not its group): the replicas must die with it
    gw1.proc.popen.send_signal(signal.SIGKILL)
    assert gw1.proc.wait(10) == -signal.SIGKILL
    assert harness.wait_until(lambda: not [r for r in old_mine if r.alive()], 10, 0.05), \
        f"replicas outlived the SIGKILLed gateway (orphans): {[r for r in old_mine if r.alive()]}"

    started = time.monotonic()
    gw2 = start_pair(procs, "gateway-2")
    elapsed = wait_recovered(gw2, expected, started)
    after = rows(gw2)
    assert after == before, f"registry rows changed across the crash:\nbefore {before}\nafter  {after}"
    assert gw2.predict("alpha").version == "2", "the default version was lost"

    # no orphan from before: every model process now is a child of the new gateway
    now = tagged(token)
    old_ids = {r.ident for r in old_mine}
    assert not [r for r in now if r.ident in old_ids], "old replica processes still running"
    strays = [r for r in now if r.ppid != gw2.pid]
    assert not strays, f"model processes not owned by the new gateway: {strays}"
    assert sorted((r.model, r.version) for r in now) == \
        sorted([("alpha", "1")] * 2 + [("alpha", "2"), ("beta", "1.0")])
    print(f"recovered in {elapsed:.1f} s")


def test_restart_twice_in_a_row(procs):
    """A second crash right after the restart (replicas maybe not ready yet) also recovers."""
    token = new_token()
    gw1 = start_pair(procs, "gateway-1")
    expected = register_two(gw1, token)
    before = rows(gw1)
    gw1.proc.popen.send_signal(signal.SIGKILL)
    gw1.proc.wait(10)

    gw2 = start_pair(procs, "gateway-2")
    # crash again as soon as the new gateway has started its replicas
    assert harness.wait_until(lambda: len(gw2.replicas()) >= 1, 15, 0.02), \
        "the restarted gateway started no replica within 15 s"
    second = gw2.replicas()
    gw2.proc.popen.send_signal(signal.SIGKILL)
    gw2.proc.wait(10)
    assert harness.wait_until(lambda: not any(r.alive() for r in second), 10, 0.05), \
        [r for r in second if r.alive()]

    started = time.monotonic()
    gw3 = start_pair(procs, "gateway-3")
    wait_recovered(gw3, expected, started)
    assert rows(gw3) == before
    strays = [r for r in tagged(token) if r.ppid != gw3.pid]
    assert not strays, f"model processes not owned by the newest gateway: {strays}"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_stop_signal_stops_replicas_and_restart_recovers(procs, sig):
    gw1 = start_pair(procs, "gateway-1")
    expected = register_two(gw1, new_token())
    before = rows(gw1)
    old = gw1.replicas()
    assert len(old) == 4
    gw1.proc.popen.send_signal(sig)
    rc = gw1.proc.wait(30)
    assert rc == 0, f"gateway exit status {rc} after {sig.name}"
    assert not [r for r in old if r.alive()], f"{sig.name} left replicas running"
    # The registry was closed: SQLite folds the write-ahead log back and removes it on close.
    assert not (procs.dir / "registry.sqlite-wal").exists(), "the registry was not closed"

    started = time.monotonic()
    gw2 = start_pair(procs, "gateway-2")
    wait_recovered(gw2, expected, started)
    assert rows(gw2) == before


def test_changes_after_a_crash_are_kept(procs):
    """Deletes and scales made before the crash are what comes back, not the original registration."""
    gw1 = start_pair(procs, "gateway-1")
    gw1.register("gamma", "1", echo_cmd())
    gw1.register("gamma", "2", echo_cmd())
    gw1.register("gamma", "3", echo_cmd())
    gw1.admin.ScaleModelVersion(pb.admin.ScaleModelVersionRequest(model="gamma", version="2", min_replicas=2),
                                timeout=20)
    gw1.admin.DeleteModel(pb.admin.DeleteModelRequest(model="gamma", version="3"), timeout=20)
    gw1.wait_state("gamma", "2", "READY", timeout=60, ready=2)
    gw1.wait_state("gamma", "1", "READY", timeout=60, ready=1)
    before = rows(gw1)
    gw1.proc.popen.send_signal(signal.SIGKILL)
    gw1.proc.wait(10)

    started = time.monotonic()
    gw2 = start_pair(procs, "gateway-2")
    wait_recovered(gw2, {("gamma", "1"): 1, ("gamma", "2"): 2}, started)
    assert rows(gw2) == before
    assert sorted(before["gamma"][1]) == ["1", "2"]
    assert gw2.replicas("gamma", "3") == []
    with pytest.raises(grpc.RpcError) as info:
        gw2.predict("gamma", "3", timeout=10)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND


def test_sigkill_leaves_no_orphan_of_a_wrapper_command(procs):
    """A model started through a wrapper (`sh -c "server; ..."`) is two processes: the shell
    (the runtime's child, with PDEATHSIG) and the server (the shell's child, in the replica's
    process group, without PDEATHSIG). After the gateway is SIGKILLed and started again, no
    process of the old replica may be left: it would keep running (and holding its port)
    forever, unknown to the new gateway."""
    token = new_token()
    try:
        gw1 = start_pair(procs, "gateway-1")
        gw1.register("wrapped", "1", ["/bin/sh", "-c", f"{binary('byoc-echo-model')}; exit 0"],
                     env={"BYOC_TEST_TOKEN": token})
        gw1.wait_state("wrapped", "1", "READY", timeout=60)
        old = tagged(token)
        assert len(old) == 2, f"expected the shell and the echo model: {old}"
        gw1.proc.popen.send_signal(signal.SIGKILL)
        gw1.proc.wait(10)

        started = time.monotonic()
        gw2 = start_pair(procs, "gateway-2")
        wait_recovered(gw2, {("wrapped", "1"): 1}, started)
        assert harness.wait_until(lambda: not [r for r in old if r.alive()], 10, 0.05), \
            f"processes of the old replica still run after the restart (orphans): {[r for r in old if r.alive()]}"
    finally:
        # whatever the gateway left behind: only processes carrying this test's token
        for r in tagged(token):
            try:
                os.kill(r.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

