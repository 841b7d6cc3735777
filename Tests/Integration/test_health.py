"""Health and readiness: grpc.health.v1 Check, the Open Inference Protocol's ServerLive /
ServerReady / ModelReady / ServerMetadata answered by the gateway, and tritonclient."""
from __future__ import annotations

import json
import subprocess
import sys

import grpc
import pytest

from harness import HERE, child_env, pb

SERVING = 1
NOT_SERVING = 2


@pytest.fixture
def health_cluster(procs):
    iris1 = procs.echo("iris", "1", id="iris-1-a")
    iris2 = procs.echo("iris", "2", id="iris-2-a")
    gw = procs.gateway({
        "iris": {"default": "1", "versions": {"1": [iris1], "2": [iris2]}},
        "empty": {"default": "1", "versions": {"1": []}},
    })
    return gw, iris1, iris2


def _check(channel, service):
    stub = pb.health_grpc.HealthStub(channel)
    return stub.Check(pb.health.HealthCheckRequest(service=service), timeout=5).status


@pytest.mark.parametrize("service", ["", "iris", "iris/1", "iris/2"])
def test_gateway_health_serving(health_cluster, procs, service):
    gw, _, _ = health_cluster
    assert _check(procs.channel(gw.address), service) == SERVING


@pytest.mark.parametrize("service", ["empty", "empty/1"])
def test_gateway_health_not_serving_without_endpoints(health_cluster, procs, service):
    gw, _, _ = health_cluster
    assert _check(procs.channel(gw.address), service) == NOT_SERVING


@pytest.mark.parametrize("service", ["nope", "nope/1", "iris/9"])
def test_gateway_health_unknown_is_not_found(health_cluster, procs, service):
    gw, _, _ = health_cluster
    with pytest.raises(grpc.RpcError) as err:
        _check(procs.channel(gw.address), service)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


def test_gateway_health_answers_at_once_without_models(procs):
    gw = procs.gateway({})
    assert _check(procs.channel(gw.address), "") == SERVING


@pytest.mark.parametrize("service", ["", "iris"])
def test_echo_model_health(procs, service):
    echo = procs.echo("iris", "1")
    assert _check(procs.channel(echo.address), service) == SERVING


def test_open_inference_protocol_answered_by_gateway(health_cluster, procs):
    gw, _, _ = health_cluster
    oip = pb.oip
    stub = pb.oip_grpc.GRPCInferenceServiceStub(procs.channel(gw.address))
    assert stub.ServerLive(oip.ServerLiveRequest(), timeout=5).live is True
    assert stub.ServerReady(oip.ServerReadyRequest(), timeout=5).ready is True
    assert stub.ModelReady(oip.ModelReadyRequest(name="iris"), timeout=5).ready is True
    assert stub.ModelReady(oip.ModelReadyRequest(name="iris", version="2"), timeout=5).ready is True
    assert stub.ModelReady(oip.ModelReadyRequest(name="empty"), timeout=5).ready is False
    # Like Triton, an unknown model is simply not ready (OK status, ready=false).
    assert stub.ModelReady(oip.ModelReadyRequest(name="nope"), timeout=5).ready is False
    stub.ServerMetadata(oip.ServerMetadataRequest(), timeout=5)


def test_echo_model_open_inference_protocol(procs):
    echo = procs.echo("iris", "3")
    oip = pb.oip
    stub = pb.oip_grpc.GRPCInferenceServiceStub(procs.channel(echo.address))
    assert stub.ServerLive(oip.ServerLiveRequest(), timeout=5).live is True
    assert stub.ModelReady(oip.ModelReadyRequest(name="iris"), timeout=5).ready is True
    req = oip.ModelInferRequest(model_name="iris", model_version="3")
    req.inputs.add(name="IN", datatype="INT64", shape=[2]).contents.int64_contents.extend([7, 8])
    resp = stub.ModelInfer(req, timeout=5)
    assert (resp.model_name, resp.model_version) == ("iris", "3")
    assert [o.name for o in resp.outputs] == ["IN"]
    assert list(resp.outputs[0].contents.int64_contents) == [7, 8]
    assert stub.ModelMetadata(oip.ModelMetadataRequest(name="iris"), timeout=5).name == "iris"


def test_tritonclient(health_cluster):
    gw, _, _ = health_cluster
    out = subprocess.run([sys.executable, str(HERE / "triton_probe.py"), gw.address,
                          "iris", "iris/2", "empty", "nope"],
                         capture_output=True, text=True, timeout=60, env=child_env())
    assert out.returncode == 0, out.stderr
    res = json.loads(out.stdout)
    assert res["is_server_live"] == {"value": True}, res
    assert res["is_server_ready"] == {"value": True}, res
    ready = res["is_model_ready"]
    assert ready["iris"] == {"value": True}, res
    assert ready["iris/2"] == {"value": True}, res
    assert ready["empty"] == {"value": False}, res
    # An unknown model is not ready (as Triton answers): is_model_ready returns False.
    assert ready["nope"] == {"value": False}, res
