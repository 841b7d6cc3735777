"""The Open Inference Protocol's REST API (issue 15, item 2) with stock clients:
tritonclient.http, curl (HTTP/1.1 and h2) and plain JSON, against a gateway routing to
byoc-echo-model servers (which answer ModelInfer with their inputs as outputs, over gRPC only)."""
from __future__ import annotations

import json
import subprocess
import urllib.request

import numpy as np
import pytest

import harness

tritonhttp = pytest.importorskip("tritonclient.http")


@pytest.fixture
def gw(procs):
    echo1 = procs.echo("iris", "1")
    echo2 = procs.echo("iris", "2")
    return procs.gateway({"iris": {"default": "1", "versions": {"1": [echo1.address], "2": [echo2.address]}},
                          "empty": {"default": "1", "versions": {"1": []}}},
                         extra=["--max-message-bytes", str(1 << 20)])


def rest(address: str, method: str, path: str, body=None, headers=None, raw: bytes | None = None):
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    req = urllib.request.Request(f"http://{address}{path}", data=data, method=method,
                                 headers={"Content-Type": "application/json", **(headers or {})})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(req, timeout=30) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def rest_json(address, method, path, body=None, **kw):
    status, headers, payload = rest(address, method, path, body, **kw)
    return status, json.loads(payload or b"null")


def test_health_and_metadata_with_tritonclient_http(gw):
    client = tritonhttp.InferenceServerClient(url=gw.address)
    assert client.is_server_live()
    assert client.is_server_ready()
    meta = client.get_server_metadata()
    assert meta["name"] == "byoc-gateway"
    assert client.is_model_ready("iris")
    assert client.is_model_ready("iris", "2")
    assert not client.is_model_ready("empty"), "no ready endpoint: not ready"
    assert not client.is_model_ready("nope")
    model = client.get_model_metadata("iris", "2")
    assert model["name"] == "iris" and model["versions"] == ["2"] and model["platform"] == "byoc-echo"


@pytest.mark.parametrize("binary", [False, True])
def test_infer_fp32_int64_bytes_with_tritonclient_http(gw, binary):
    client = tritonhttp.InferenceServerClient(url=gw.address)
    a = np.arange(6, dtype=np.float32).reshape(2, 3) / 4
    b = np.array([[1, -2, 3_000_000_000_000]], dtype=np.int64)
    c = np.array([b"hello", b"", "wörld".encode()], dtype=np.object_)
    inputs = [tritonhttp.InferInput("a", list(a.shape), "FP32"), tritonhttp.InferInput("b", list(b.shape), "INT64"),
              tritonhttp.InferInput("c", list(c.shape), "BYTES")]
    inputs[0].set_data_from_numpy(a, binary_data=binary)
    inputs[1].set_data_from_numpy(b, binary_data=binary)
    inputs[2].set_data_from_numpy(c, binary_data=binary)
    outputs = [tritonhttp.InferRequestedOutput(name, binary_data=binary) for name in ("a", "b", "c")]
    result = client.infer("iris", inputs, model_version="2", outputs=outputs, request_id="req-7")
    np.testing.assert_array_equal(result.as_numpy("a"), a)
    np.testing.assert_array_equal(result.as_numpy("b"), b)
    got = [v if isinstance(v, bytes) else v.encode() for v in result.as_numpy("c").reshape(-1)]
    assert got == list(c)  # JSON carries BYTES as strings, the binary extension as bytes
    response = result.get_response()
    assert response["model_name"] == "iris" and response["model_version"] == "2" and response["id"] == "req-7"


ALL_TYPES = [
    ("BOOL", [True, False, True]), ("UINT8", [0, 200, 255]), ("UINT16", [0, 65535, 7]), ("UINT32", [0, 4_000_000_000, 1]),
    ("UINT64", [0, 2**62, 9]), ("INT8", [-128, 0, 127]), ("INT16", [-32768, 5, 32767]), ("INT32", [-2**31, 0, 2**31 - 1]),
    ("INT64", [-2**62, 0, 2**62]), ("FP16", [0.5, -2.0, 1024.0]), ("FP32", [0.25, -1.5, 3.0]), ("FP64", [0.1, -1e300, 2.5]),
    ("BYTES", ["a", "", "ccc"]),
]


@pytest.mark.parametrize("datatype,data", ALL_TYPES, ids=[t for t, _ in ALL_TYPES])
def test_every_datatype_round_trips_as_json(gw, datatype, data):
    body = {"inputs": [{"name": "x", "shape": [3], "datatype": datatype, "data": data}], "parameters": {"k": "v"}}
    status, answer = rest_json(gw.address, "POST", "/v2/models/iris/infer", body)
    assert status == 200, answer
    (output,) = answer["outputs"]
    assert output["name"] == "x" and output["datatype"] == datatype and output["shape"] == [3]
    assert output["data"] == data
    assert answer["model_version"] == "1", "no version in the path: the default"


def test_nested_data_and_http2(gw):
    body = {"inputs": [{"name": "m", "shape": [2, 2], "datatype": "INT32", "data": [[1, 2], [3, 4]]}]}
    out = subprocess.run(["curl", "-s", "--http2-prior-knowledge", "-X", "POST", "-H", "content-type: application/json",
                          "--data", json.dumps(body), f"http://{gw.address}/v2/models/iris/versions/2/infer"],
                         capture_output=True, text=True, timeout=30)
    answer = json.loads(out.stdout)
    assert answer["outputs"][0]["data"] == [1, 2, 3, 4] and answer["model_version"] == "2", answer
    out = subprocess.run(["curl", "-s", f"http://{gw.address}/v2/health/live"], capture_output=True, text=True, timeout=30)
    assert json.loads(out.stdout) == {"live": True}


@pytest.mark.parametrize("body,status,words", [
    ({"inputs": [{"name": "x", "shape": [2], "datatype": "FP32", "data": [1.0]}]}, 400, ["shape [2] has 2 elements, data has 1"]),
    ({"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": ["a"]}]}, 400, ["FP32 needs numbers", "string"]),
    ({"inputs": [{"name": "x", "shape": [1], "datatype": "FLOAT", "data": [1]}]}, 400, ["unknown datatype \"FLOAT\""]),
    ({"inputs": [{"name": "x", "shape": [1], "datatype": "UINT8", "data": [256]}]}, 400, ["not a UINT8"]),
    ({"inputs": []}, 400, ["non-empty list"]),
    ({"inputs": [{"shape": [1], "datatype": "FP32", "data": [1]}]}, 400, ["name is required"]),
    ({"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}], "bogus": 1}, 400, ["unknown field \"bogus\""]),
])
def test_bad_infer_requests(gw, body, status, words):
    got, answer = rest_json(gw.address, "POST", "/v2/models/iris/infer", body)
    assert got == status, answer
    assert set(answer) == {"error"}, "KServe's error shape"
    for w in words:
        assert w in answer["error"], answer


def test_infer_errors_from_routing_keep_their_status(gw):
    body = {"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}]}
    status, answer = rest_json(gw.address, "POST", "/v2/models/nope/infer", body)
    assert status == 404 and "nope" in answer["error"], answer
    status, answer = rest_json(gw.address, "POST", "/v2/models/iris/versions/9/infer", body)
    assert status == 404 and "9" in answer["error"], answer
    status, answer = rest_json(gw.address, "POST", "/v2/models/empty/infer", body)
    assert status == 503 and "no ready endpoint" in answer["error"], answer
    status, _, payload = rest(gw.address, "POST", "/v2/models/iris/infer", raw=b"{not json")
    assert status == 400 and json.loads(payload) == {"error": "the request body is not valid JSON"}


def test_large_bodies_are_bounded_by_max_message_bytes(gw):
    big = {"inputs": [{"name": "x", "shape": [300_000], "datatype": "FP32", "data": [0.5] * 300_000}]}
    status, _, payload = rest(gw.address, "POST", "/v2/models/iris/infer", big)
    assert status == 413, payload[:200]
    # Under the limit (1 MiB here), bigger than the JSON API's own 1 MiB... is refused too; a
    # 200 KiB body passes.
    ok = {"inputs": [{"name": "x", "shape": [40_000], "datatype": "FP32", "data": [0.5] * 40_000}]}
    status, answer = rest_json(gw.address, "POST", "/v2/models/iris/infer", ok)
    assert status == 200 and len(answer["outputs"][0]["data"]) == 40_000


def test_binary_extension_errors(gw):
    header = json.dumps({"inputs": [{"name": "x", "shape": [2], "datatype": "FP32", "parameters": {"binary_data_size": 8}}]}).encode()
    raw = np.array([1.5, 2.5], dtype=np.float32).tobytes()
    status, headers, payload = rest(gw.address, "POST", "/v2/models/iris/infer", raw=header + raw,
                                    headers={"Inference-Header-Content-Length": str(len(header)),
                                             "Content-Type": "application/octet-stream"})
    assert status == 200, payload
    assert json.loads(payload)["outputs"][0]["data"] == [1.5, 2.5]
    status, _, payload = rest(gw.address, "POST", "/v2/models/iris/infer", raw=header + raw[:4],
                              headers={"Inference-Header-Content-Length": str(len(header))})
    assert status == 400 and "binary_data_size" in json.loads(payload)["error"]
    status, _, payload = rest(gw.address, "POST", "/v2/models/iris/infer", raw=header + raw,
                              headers={"Inference-Header-Content-Length": "999999"})
    assert status == 400 and "inference-header-content-length" in json.loads(payload)["error"]
