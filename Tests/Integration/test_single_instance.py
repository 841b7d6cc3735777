"""One gateway per address and per registry file (issue 17, item 5).

SO_REUSEPORT lets the gateway's own workers share a port; a second process on the same
address must be refused ("address already in use"), not silently split traffic with the
first. A second gateway on the same registry file must exit naming the holder, before it
touches the first one's replicas.
"""
from __future__ import annotations

import subprocess
import time

import harness
from harness import binary, free_port


def run_to_exit(argv: list[str], timeout: float = 20.0) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=harness.child_env())


def served_by_first(gw) -> None:
    """The first gateway still answers (health SERVING)."""
    resp = gw.health.Check(harness.pb.health.HealthCheckRequest(service=""), timeout=5)
    assert resp.status == 1


def test_second_gateway_on_the_same_address_exits_1(procs, tmp_path):
    first = procs.registry_gateway(workers=2)
    address = first.address
    started = time.monotonic()
    second = run_to_exit([binary("byoc-gateway"), "--listen", address, "--state-dir", str(tmp_path / "other"),
                          "--db", str(tmp_path / "other.sqlite"), "--workers", "2"])
    assert second.returncode == 1, (second.returncode, second.stdout, second.stderr)
    assert "address already in use" in second.stderr.lower(), second.stderr
    assert "listening on" not in second.stdout
    assert time.monotonic() - started < 15
    served_by_first(first)
    # Every connection still reaches the first gateway (nothing left bound by the second).
    for _ in range(20):
        ch = harness.make_channel(address)
        try:
            stub = harness.pb.health_grpc.HealthStub(ch)
            assert stub.Check(harness.pb.health.HealthCheckRequest(service=""), timeout=5).status == 1
        finally:
            ch.close()


def test_second_gateway_on_the_same_routes_address_exits_1(procs):
    first = procs.gateway({}, workers=2)
    second = run_to_exit([binary("byoc-gateway"), "--listen", first.address, "--routes",
                          str(harness.write_routes(procs.dir / "routes-b.json", {})), "--workers", "1"])
    assert second.returncode == 1, (second.stdout, second.stderr)
    assert "address already in use" in second.stderr.lower(), second.stderr


def test_second_tls_listener_on_the_same_address_exits_1(procs, tmp_path):
    tls_port = free_port()
    first = procs.registry_gateway(extra=["--tls-listen", f"127.0.0.1:{tls_port}"])
    assert first.proc.wait_for_log(r"\(tls\)", timeout=10)
    second = run_to_exit([binary("byoc-gateway"), "--listen", "127.0.0.1:0", "--tls-listen", f"127.0.0.1:{tls_port}",
                          "--state-dir", str(tmp_path / "other"), "--db", str(tmp_path / "other.sqlite")])
    assert second.returncode == 1, (second.stdout, second.stderr)
    assert "address already in use" in second.stderr.lower(), second.stderr
    served_by_first(first)


def test_second_gateway_on_the_same_registry_exits_1_naming_the_holder(procs, tmp_path):
    first = procs.registry_gateway()
    first.register("echo", "1", [binary("byoc-echo-model")])
    first.wait_state("echo", "1", "READY")
    replicas = first.replicas("echo", "1")
    assert len(replicas) == 1
    second = run_to_exit([binary("byoc-gateway"), "--listen", "127.0.0.1:0", "--state-dir", str(first.state_dir),
                          "--db", str(first.db)])
    assert second.returncode == 1, (second.stdout, second.stderr)
    assert "in use by another byoc-gateway" in second.stderr, second.stderr
    assert f"pid {first.pid}" in second.stderr, second.stderr
    assert "listening on" not in second.stdout
    # The first gateway's replica was not touched, and it still serves.
    assert [r.ident for r in first.replicas("echo", "1")] == [r.ident for r in replicas]
    assert first.predict("echo", "1").version == "1"


def test_registry_lock_is_released_when_the_holder_dies(procs, tmp_path):
    first = procs.registry_gateway()
    first.proc.kill()
    first.proc.wait(10)
    again = procs.registry_gateway(name="gateway-2")
    served_by_first(again)
