"""The gateway's one-time re-exec that raises glibc's tcache (Sources/Executables/byoc-gateway/AllocatorTuning.swift)."""
from __future__ import annotations

import pytest

from harness import binary, pb, predict_request, proc_environ, write_routes

TUNABLE = "glibc.malloc.tcache_count=1024"


def _start(procs, env: dict):
    echo = procs.echo("iris", "1")
    routes = write_routes(procs.dir / "routes-alloc.json", {"iris": {"default": "1", "versions": {"1": [echo]}}})
    # Whatever the runner's environment says about the allocator, each case sets its own.
    clean = {"GLIBC_TUNABLES": None, "BYOC_MALLOC_TUNING": None, "BYOC_MALLOC_TUNED": None}
    gw = procs.start("gateway", [binary("byoc-gateway"), "--listen", "127.0.0.1:0", "--routes", str(routes),
                                 "--workers", "1"], env={**clean, **env})
    stub = pb.inference_grpc.InferenceStub(procs.channel(gw.address))
    reply = stub.Predict(predict_request("iris", "1", payload=b"x"), timeout=10)
    assert reply.payload == b"x"
    return gw


@pytest.mark.timeout(60)
def test_gateway_runs_with_the_tcache_tunable_under_its_own_pid(procs):
    gw = _start(procs, {})
    # The process the harness started is the one serving (execv keeps the pid), now with the tunable.
    env = proc_environ(gw.pid)
    assert env.get("GLIBC_TUNABLES") == TUNABLE
    assert env.get("BYOC_MALLOC_TUNED") == "1"


@pytest.mark.timeout(60)
def test_an_operators_other_tunables_are_kept(procs):
    # The gateway re-executes with "glibc.malloc.mxfast=0:glibc.malloc.tcache_count=1024" (the
    # marker says it did). glibc 2.36 rewrites the variable in place while parsing it and shows
    # only the first tunable in /proc/PID/environ afterwards, so only the operator's part is
    # checked there; `ld.so --list-tunables` confirms both apply with that value.
    gw = _start(procs, {"GLIBC_TUNABLES": "glibc.malloc.mxfast=0"})
    env = proc_environ(gw.pid)
    assert env.get("BYOC_MALLOC_TUNED") == "1"
    assert env.get("GLIBC_TUNABLES", "").startswith("glibc.malloc.mxfast=0")


@pytest.mark.timeout(60)
@pytest.mark.parametrize("env", [{"GLIBC_TUNABLES": "glibc.malloc.tcache_count=7"}, {"BYOC_MALLOC_TUNING": "off"}],
                         ids=["operator-sets-tcache", "opt-out"])
def test_no_reexec_when_the_operator_decided(procs, env):
    gw = _start(procs, env)
    seen = proc_environ(gw.pid)
    assert "BYOC_MALLOC_TUNED" not in seen, "no re-exec"
    assert seen.get("GLIBC_TUNABLES") == env.get("GLIBC_TUNABLES")
