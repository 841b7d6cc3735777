"""byoc-gateway flags given as environment variables (CONTRACT.md: each flag also from
BYOC_<FLAG>), and a flag on the command line winning over its variable."""
from __future__ import annotations

import grpc
import pytest

from harness import binary, pb, predict_request, write_routes
from test_metrics import samples, scrape, value

MiB = 1 << 20


def _workers(address: str) -> float | None:
    """The gateway's worker event loops, as its metrics report them."""
    return value(samples(scrape(address)), "byoc_workers")


def _predict_code(stub, size: int):
    try:
        stub.Predict(predict_request("iris", "1", payload=b"x" * size), timeout=10)
        return grpc.StatusCode.OK
    except grpc.RpcError as e:
        return e.code()


def _routes(procs):
    echo = procs.echo("iris", "1")
    return write_routes(procs.dir / "routes-env.json", {"iris": {"default": "1", "versions": {"1": [echo]}}})


def test_router_flags_from_the_environment(procs):
    routes = _routes(procs)
    gw = procs.start("gateway-env", [binary("byoc-gateway")], env={
        "BYOC_LISTEN": "127.0.0.1:0", "BYOC_ROUTES": str(routes), "BYOC_WORKERS": "3",
        "BYOC_MAX_MESSAGE_BYTES": str(64 * 1024)})
    assert gw.host == "127.0.0.1" and gw.port > 0  # BYOC_LISTEN (port 0: the real port is logged)
    stub = pb.inference_grpc.InferenceStub(procs.channel(gw.address))
    assert _predict_code(stub, 1024) == grpc.StatusCode.OK  # BYOC_ROUTES
    assert _predict_code(stub, 128 * 1024) == grpc.StatusCode.RESOURCE_EXHAUSTED  # BYOC_MAX_MESSAGE_BYTES
    assert _workers(gw.address) == 3  # BYOC_WORKERS


def test_a_flag_wins_over_its_variable(procs):
    routes = _routes(procs)
    gw = procs.start("gateway-both", [binary("byoc-gateway"), "--listen", "127.0.0.1:0", "--workers", "1",
                                      "--max-message-bytes", str(1 * MiB)],
                     env={"BYOC_ROUTES": str(routes), "BYOC_WORKERS": "3", "BYOC_MAX_MESSAGE_BYTES": "1024"})
    stub = pb.inference_grpc.InferenceStub(procs.channel(gw.address))
    assert _predict_code(stub, 64 * 1024) == grpc.StatusCode.OK
    assert _workers(gw.address) == 1


def test_registry_flags_from_the_environment(procs, tmp_path):
    state, db = tmp_path / "env-state", tmp_path / "env-registry.sqlite"
    gw = procs.start("gateway-registry-env", [binary("byoc-gateway")], env={
        "BYOC_LISTEN": "127.0.0.1:0", "BYOC_DB": str(db), "BYOC_STATE_DIR": str(state), "BYOC_RUNTIME": "local",
        "BYOC_WORKERS": "1"})
    admin = pb.admin_grpc.AdminStub(procs.channel(gw.address))
    admin.RegisterModel(pb.admin.RegisterModelRequest(model="envy", version="1", command=[binary("byoc-echo-model")]),
                        timeout=20)
    assert db.exists(), "BYOC_DB names the registry file"
    assert state.is_dir(), "BYOC_STATE_DIR names the state directory"
    assert f"registry {db}, runtime local, state in {state}" in gw.log()


@pytest.mark.parametrize("name,value", [("BYOC_WORKERS", "zero"), ("BYOC_RUNTIME", "cloud")])
def test_a_bad_variable_is_refused_like_the_flag(procs, name, value):
    p = procs.start("gateway-bad-env", [binary("byoc-gateway"), "--listen", "127.0.0.1:0",
                                        "--routes", str(_routes(procs))], env={name: value}, wait=False)
    assert p.wait(timeout=20) != 0
    assert value in p.log(), p.log()


@pytest.mark.parametrize("argv,words", [
    # --require-auth with --runtime kubernetes works (test_kubernetes.py); an unreadable token
    # file is refused before anything starts.
    (["--runtime", "kubernetes", "--admin-token-file", "/nonexistent"], "--admin-token-file /nonexistent: cannot read the file"),
    (["--routes", "/nonexistent.json", "--require-auth"], "--require-auth with --routes needs --admin-token-file"),
], ids=["kubernetes-token-file", "routes-without-token-file"])
def test_auth_flag_combinations_that_cannot_work_are_refused(procs, argv, words):
    p = procs.start("gateway-bad-auth", [binary("byoc-gateway"), "--listen", "127.0.0.1:0", *argv], wait=False)
    assert p.wait(timeout=20) == 1, p.log()
    assert words in p.log(), p.log()
