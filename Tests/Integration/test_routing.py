"""Routing: Predict and ModelInfer reach the right model and version; header and body routes
agree; calls are balanced over a version's endpoints."""
from __future__ import annotations

import collections

import grpc
import pytest

from harness import pb, predict_request, served_by

IRIS1 = {"iris-1-a", "iris-1-b"}


def _tensor():
    return pb.inference.Tensor(dtype=pb.inference.FLOAT32, shape=[1, 3], floats=[1.5, 2.5, 3.5])


@pytest.mark.parametrize("model,version,served", [
    ("iris", "1", IRIS1),
    ("iris", "2", {"iris-2-a"}),
    ("wine", "1", {"wine-1-a"}),
], ids=["iris-1", "iris-2", "wine-1"])
def test_predict_reaches_model_and_version(cluster, model, version, served):
    stub = cluster.stub()
    req = predict_request(model, version, payload=b"hello " + model.encode())
    req.inputs["x"].CopyFrom(_tensor())
    resp, call = stub.Predict.with_call(req, timeout=10)
    assert (resp.model, resp.version) == (model, version)
    assert resp.payload == b"hello " + model.encode()
    assert dict(resp.outputs) == dict(req.inputs), "the echo model returns its inputs as outputs"
    assert served_by(call) in served


@pytest.mark.parametrize("model,version,served", [
    ("iris", "1", IRIS1),
    ("wine", "1", {"wine-1-a"}),
], ids=["iris", "wine"])
def test_empty_version_reaches_default(cluster, model, version, served):
    resp, call = cluster.stub().Predict.with_call(predict_request(model, ""), timeout=10)
    assert (resp.model, resp.version) == (model, version)
    assert served_by(call) in served


@pytest.mark.parametrize("body,header,expect", [
    # header only: the body names nothing
    (("", ""), (("byoc-model", "iris"), ("byoc-version", "2")), ("iris", "2")),
    (("", ""), (("byoc-model", "wine"),), ("wine", "1")),
    (("", ""), (("byoc-model", "iris"),), ("iris", "1")),
    # header and body agree
    (("iris", "2"), (("byoc-model", "iris"), ("byoc-version", "2")), ("iris", "2")),
    # header wins when present
    (("iris", "1"), (("byoc-model", "iris"), ("byoc-version", "2")), ("iris", "2")),
    (("iris", "2"), (("byoc-model", "wine"), ("byoc-version", "1")), ("wine", "1")),
], ids=["header-only-iris-2", "header-only-wine", "header-only-iris-default", "agree-iris-2",
        "header-wins-version", "header-wins-model"])
def test_header_route(cluster, body, header, expect):
    stub = cluster.stub()
    resp = stub.Predict(predict_request(*body, payload=b"p"), metadata=header, timeout=10)
    assert (resp.model, resp.version) == expect
    assert resp.payload == b"p"


def test_header_route_agrees_with_body_route(cluster):
    """For every (model, version), the header route and the body route reach the same version."""
    stub = cluster.stub()
    for model, version in [("iris", "1"), ("iris", "2"), ("wine", "1"), ("iris", ""), ("wine", "")]:
        by_body = stub.Predict(predict_request(model, version), timeout=10)
        md = [("byoc-model", model)] + ([("byoc-version", version)] if version else [])
        by_header = stub.Predict(predict_request(), metadata=md, timeout=10)
        assert (by_body.model, by_body.version) == (by_header.model, by_header.version)


@pytest.mark.parametrize("version,expect", [("2", "2"), ("1", "1"), ("", "1")], ids=["v2", "v1", "default"])
def test_model_infer_routed(cluster, version, expect):
    oip = pb.oip
    stub = pb.oip_grpc.GRPCInferenceServiceStub(cluster.channel())
    req = oip.ModelInferRequest(model_name="iris", model_version=version, id="req-1")
    t = req.inputs.add(name="INPUT0", datatype="FP32", shape=[1, 2])
    t.contents.fp32_contents.extend([0.5, 1.5])
    resp = stub.ModelInfer(req, timeout=10)
    assert (resp.model_name, resp.model_version) == ("iris", expect)
    assert [(o.name, o.datatype, list(o.shape)) for o in resp.outputs] == [("INPUT0", "FP32", [1, 2])]
    assert list(resp.outputs[0].contents.fp32_contents) == [0.5, 1.5]


def test_model_metadata_routed(cluster):
    stub = pb.oip_grpc.GRPCInferenceServiceStub(cluster.channel())
    resp = stub.ModelMetadata(pb.oip.ModelMetadataRequest(name="wine"), timeout=10)
    assert resp.name == "wine"


def test_balance_1000_calls_over_4_connections(cluster):
    """Each of iris v1's two endpoints serves 30-70 % of 1,000 calls made over 4 connections."""
    channels = [cluster.channel(local_pool=True) for _ in range(4)]
    stubs = [pb.inference_grpc.InferenceStub(ch) for ch in channels]
    for s in stubs:  # open all four connections first
        s.Predict(predict_request("iris", "1"), timeout=10)
    counts = collections.Counter()
    total, wave = 1000, 40
    for start in range(0, total, wave):
        futures = [stubs[i % 4].Predict.future(predict_request("iris", "1", payload=b"%d" % i), timeout=30)
                   for i in range(start, min(start + wave, total))]
        for f in futures:
            resp = f.result()
            assert (resp.model, resp.version) == ("iris", "1")
            counts[served_by(f)] += 1
    assert sum(counts.values()) == total
    assert set(counts) == IRIS1, counts
    for endpoint in IRIS1:
        assert 300 <= counts[endpoint] <= 700, f"unbalanced: {dict(counts)}"
