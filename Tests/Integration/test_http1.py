"""Plain HTTP/1.1 on the gRPC port: probes, the JSON API (every route and its errors), and the
server's limits (oversized headers, slow loris, request smuggling) without harm to others.

The gateway runs in registry mode (`--state-dir`, local runtime) and the echo model is
registered through the JSON API.
"""
from __future__ import annotations

import http.client
import json
import socket
import subprocess
import threading
import time

import pytest

import harness
from harness import binary, pb


# --------------------------------------------------------------------------- helpers

class Http:
    """HTTP/1.1 requests to the gateway on one keep-alive connection (reopened when closed)."""

    def __init__(self, address: str):
        self.host, port = address.rsplit(":", 1)
        self.port = int(port)
        self.conn = None

    def request(self, method: str, path: str, body=None, headers=None, raw: bytes | None = None):
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        hdrs = {"Accept": "application/json"}
        if data is not None:
            hdrs["Content-Type"] = "application/json"
        hdrs.update(headers or {})
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
            try:
                self.conn.request(method, path, body=data, headers=hdrs)
                r = self.conn.getresponse()
                payload = r.read()
                if r.getheader("Connection", "").lower() == "close":
                    self.conn.close()
                    self.conn = None
                return r.status, dict((k.lower(), v) for k, v in r.getheaders()), payload
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.conn.close()
                self.conn = None
                if attempt:
                    raise

    def json(self, method: str, path: str, body=None, **kw):
        status, headers, payload = self.request(method, path, body, **kw)
        assert headers.get("content-type", "").startswith("application/json"), (status, headers, payload)
        return status, json.loads(payload)


def api_error(status_and_body, status: int, code: str, contains: str = "") -> str:
    got_status, body = status_and_body
    assert got_status == status, body
    assert body["error"]["code"] == code, body
    assert contains in body["error"]["message"], body
    return body["error"]["message"]


def raw_exchange(address: str, data: bytes, timeout: float = 5.0) -> bytes:
    """Sends `data` on a fresh connection and reads until the server closes it."""
    host, port = address.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=timeout) as s:
        s.sendall(data)
        chunks = []
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)


def status_of(response: bytes) -> int:
    return int(response.split(b" ", 2)[1])


def wait_state(api: Http, model: str, version: str, state: str, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while True:
        status, body = api.json("GET", f"/api/v1/models/{model}/versions/{version}")
        if status == 200 and body["state"] == state:
            return body
        assert time.monotonic() < deadline, f"{model} v{version} not {state}: {body}"
        time.sleep(0.1)


@pytest.fixture
def gateway(procs, tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    return procs.start("gateway", [binary("byoc-gateway"), "--listen", "127.0.0.1:0",
                                   "--db", str(tmp_path / "registry.sqlite"), "--state-dir", str(state),
                                   "--workers", "2", "--http-header-timeout-ms", "1500"])


# --------------------------------------------------------------------------- probes

def test_probes_over_http1_and_h2c(gateway):
    for flags in (["--http1.1"], ["--http2-prior-knowledge"]):
        for path, body in [("/healthz", "ok\n"), ("/readyz", "ready\n")]:
            out = subprocess.run(["curl", "-sS", "--noproxy", "*", "-w", "\n%{http_code} %{http_version}", *flags,
                                  f"http://{gateway.address}{path}"], capture_output=True, text=True, timeout=10)
            text, code_line = out.stdout.rsplit("\n", 1)
            assert code_line.split()[0] == "200", out
            assert code_line.split()[1] == ("1.1" if flags == ["--http1.1"] else "2"), out
            assert text == body


def test_head_and_keep_alive(gateway):
    api = Http(gateway.address)
    status, headers, payload = api.request("HEAD", "/metrics")
    assert status == 200 and payload == b"" and int(headers["content-length"]) > 0
    first = api.conn.sock
    for _ in range(5):
        assert api.request("GET", "/healthz")[0] == 200
    assert api.conn.sock is first, "the connection was kept alive"
    status, headers, _ = api.request("GET", "/healthz", headers={"Connection": "close"})
    assert status == 200 and headers["connection"] == "close"


def test_unknown_paths_and_methods(gateway):
    api = Http(gateway.address)
    assert api.request("GET", "/nope")[0] == 404
    api_error(api.json("PUT", "/api/v1/models", {}), 405, "METHOD_NOT_ALLOWED")
    api_error(api.json("GET", "/api/v1/nothing"), 404, "NOT_FOUND")


def test_grpc_and_http1_share_the_port(gateway):
    # gRPC keeps working on the same listener, and a non-gRPC POST to a gRPC path is still 415.
    with harness.make_channel(gateway.address) as channel:
        pb.admin_grpc.AdminStub(channel).ListModels(pb.admin.ListModelsRequest(), timeout=10)
    out = subprocess.run(["curl", "-sS", "--noproxy", "*", "--http2-prior-knowledge", "-o", "/dev/null", "-w", "%{http_code}",
                          "-X", "POST", "-H", "content-type: application/json", "--data", "{}",
                          f"http://{gateway.address}/byoc.v1.Inference/Predict"], capture_output=True, text=True, timeout=10)
    assert out.stdout == "415", out


# --------------------------------------------------------------------------- JSON API

def test_every_api_route(gateway):
    api = Http(gateway.address)
    echo = binary("byoc-echo-model")

    status, info = api.json("GET", "/api/v1/info")
    assert status == 200 and info["mode"] == "registry" and info["authRequired"] is False
    assert api.json("GET", "/api/v1/models") == (200, {"models": []})

    # Register: validation and body errors are INVALID_ARGUMENT (400).
    api_error(api.json("POST", "/api/v1/models", {"model": "Bad_Name", "version": "1", "command": [echo]}),
              400, "INVALID_ARGUMENT", "lowercase")
    api_error(api.json("POST", "/api/v1/models", {"model": "echo", "version": "1"}), 400, "INVALID_ARGUMENT")
    api_error(api.json("POST", "/api/v1/models", raw=b"{not json"), 400, "INVALID_ARGUMENT", "not valid JSON")
    api_error(api.json("POST", "/api/v1/models", raw=b"[1]"), 400, "INVALID_ARGUMENT", "JSON object")
    api_error(api.json("POST", "/api/v1/models", {"model": "echo", "version": "1", "comand": [echo]}),
              400, "INVALID_ARGUMENT", "unknown field \"comand\"")
    api_error(api.json("POST", "/api/v1/models", {"model": "echo", "version": "1", "command": [echo], "port": "x"}),
              400, "INVALID_ARGUMENT", "\"port\" must be an integer")

    status, v1 = api.json("POST", "/api/v1/models", {"model": "echo", "version": "1", "command": [echo],
                                                    "minReplicas": 1, "maxReplicas": 1, "env": {"A": "b"}})
    assert status == 201, v1
    assert v1["model"] == "echo" and v1["version"] == "1" and v1["env"] == {"A": "b"}
    api_error(api.json("POST", "/api/v1/models", {"model": "echo", "version": "1", "command": [echo]}),
              409, "ALREADY_EXISTS")
    wait_state(api, "echo", "1", "READY")

    status, model = api.json("GET", "/api/v1/models/echo")
    assert status == 200 and model["defaultVersion"] == "1" and [v["version"] for v in model["versions"]] == ["1"]
    status, listing = api.json("GET", "/api/v1/models")
    assert [m["name"] for m in listing["models"]] == ["echo"]
    api_error(api.json("GET", "/api/v1/models/nope"), 404, "NOT_FOUND")
    api_error(api.json("GET", "/api/v1/models/echo/versions/9"), 404, "NOT_FOUND")
    api_error(api.json("GET", "/api/v1/models/BAD"), 400, "INVALID_ARGUMENT")

    # Predict through the gateway itself.
    status, out = api.json("POST", "/api/v1/models/echo/predict",
                           {"inputs": {"x": [[5.1, 3.5, 1.4, 0.2]], "flag": [True, False], "name": "iris"},
                            "parameters": {"k": "v"}})
    assert status == 200, out
    assert out["model"] == "echo" and out["version"] == "1" and out["latencyMs"] > 0
    assert out["outputs"]["x"]["dtype"] == "FLOAT32" and out["outputs"]["x"]["shape"] == [1, 4]
    assert out["outputs"]["x"]["values"] == [[5.1, 3.5, 1.4, 0.2]]
    assert out["outputs"]["flag"]["values"] == [True, False]
    assert out["outputs"]["name"]["values"] == "iris"
    status, typed = api.json("POST", "/api/v1/models/echo/predict",
                             {"version": "1", "inputs": {"ids": {"dtype": "INT64", "shape": [2, 1], "values": [7, 8]}}})
    assert status == 200 and typed["outputs"]["ids"]["values"] == [[7], [8]], typed
    api_error(api.json("POST", "/api/v1/models/echo/predict", {"inputs": {"x": [[1, 2], [3]]}}),
              400, "INVALID_ARGUMENT", "rectangular")
    api_error(api.json("POST", "/api/v1/models/nope/predict", {"inputs": {}}), 404, "NOT_FOUND")
    api_error(api.json("POST", "/api/v1/models/echo/predict", {"version": "9"}), 404, "NOT_FOUND")

    # A second version, default switching, scaling.
    status, _ = api.json("POST", "/api/v1/models", {"model": "echo", "version": "2", "command": [echo]})
    assert status == 201
    status, model = api.json("POST", "/api/v1/models/echo/default", {"version": "2"})
    assert status == 200 and model["defaultVersion"] == "2"
    api_error(api.json("POST", "/api/v1/models/echo/default", {"version": "9"}), 404, "NOT_FOUND")
    api_error(api.json("POST", "/api/v1/models/echo/default", {}), 400, "INVALID_ARGUMENT")
    status, scaled = api.json("POST", "/api/v1/models/echo/versions/1/scale", {"minReplicas": 2, "maxReplicas": 3})
    assert status == 200 and (scaled["minReplicas"], scaled["maxReplicas"]) == (2, 3), scaled
    api_error(api.json("POST", "/api/v1/models/echo/versions/1/scale", {"minReplicas": 3, "maxReplicas": 2}),
              400, "INVALID_ARGUMENT")
    api_error(api.json("POST", "/api/v1/models/echo/versions/9/scale", {"minReplicas": 1}), 404, "NOT_FOUND")

    # Deleting the default version while others remain: FAILED_PRECONDITION -> 409.
    api_error(api.json("DELETE", "/api/v1/models/echo/versions/2"), 409, "FAILED_PRECONDITION", "default")

    status, stats = api.json("GET", "/api/v1/stats")
    assert status == 200 and stats["intervalSeconds"] == 5 and isinstance(stats["series"], list)

    status, deleted = api.json("DELETE", "/api/v1/models/echo/versions/1")
    assert status == 200 and [v["version"] for v in deleted["deleted"]] == ["1"]
    api_error(api.json("DELETE", "/api/v1/models/echo/versions/1"), 404, "NOT_FOUND")
    status, deleted = api.json("DELETE", "/api/v1/models/echo")
    assert status == 200 and [v["version"] for v in deleted["deleted"]] == ["2"]
    api_error(api.json("DELETE", "/api/v1/models/echo"), 404, "NOT_FOUND")
    assert api.json("GET", "/api/v1/models") == (200, {"models": []})


def test_api_over_h2c(gateway):
    out = subprocess.run(["curl", "-sS", "--noproxy", "*", "--http2-prior-knowledge", "-w", "\n%{http_code}",
                          "-X", "POST", "-H", "content-type: application/json", "--data", '{"model": "Bad!"}',
                          f"http://{gateway.address}/api/v1/models"], capture_output=True, text=True, timeout=10)
    body, code = out.stdout.rsplit("\n", 1)
    assert code == "400" and json.loads(body)["error"]["code"] == "INVALID_ARGUMENT", out


def test_static_routes_mode_is_read_only(cluster):
    api = Http(cluster.address)
    status, listing = api.json("GET", "/api/v1/models")
    assert status == 200
    models = {m["name"]: m for m in listing["models"]}
    assert set(models) == {"iris", "wine"} and models["iris"]["defaultVersion"] == "1"
    iris1 = next(v for v in models["iris"]["versions"] if v["version"] == "1")
    assert iris1["state"] == "READY" and iris1["readyReplicas"] == 2
    api_error(api.json("POST", "/api/v1/models", {"model": "x", "version": "1"}), 501, "UNIMPLEMENTED", "--routes")
    status, out = api.json("POST", "/api/v1/models/wine/predict", {"inputs": {"x": [1.5]}})
    assert status == 200 and out["version"] == "1" and out["outputs"]["x"]["values"] == [1.5]


# --------------------------------------------------------------------------- limits

def test_oversized_headers_get_431_without_affecting_others(gateway):
    api = Http(gateway.address)
    assert api.request("GET", "/healthz")[0] == 200
    big = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n"
    response = raw_exchange(gateway.address, big)
    assert status_of(response) == 431, response[:200]
    many = b"GET /healthz HTTP/1.1\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(80)) + b"\r\n"
    assert status_of(raw_exchange(gateway.address, many)) == 431
    long_url = b"GET /" + b"u" * 9000 + b" HTTP/1.1\r\n\r\n"
    assert status_of(raw_exchange(gateway.address, long_url)) == 414
    big_body = b"POST /api/v1/models HTTP/1.1\r\nContent-Length: 2000000\r\n\r\n" + b"{" * 1000
    assert status_of(raw_exchange(gateway.address, big_body)) == 413
    assert api.request("GET", "/healthz")[0] == 200, "the keep-alive client is still served"


def test_request_smuggling_is_refused(gateway):
    api = Http(gateway.address)
    assert api.request("GET", "/healthz")[0] == 200
    smuggle = (b"POST /api/v1/models HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"0\r\n\r\nGET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    response = raw_exchange(gateway.address, smuggle)
    assert status_of(response) == 400, response
    assert response.count(b"HTTP/1.1 ") == 1, "nothing after the refused request was served"
    assert b"connection: close" in response.lower()
    # The other order, and a TE the gateway does not implement.
    reverse = (b"POST /api/v1/models HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n")
    assert status_of(raw_exchange(gateway.address, reverse)) == 400
    assert status_of(raw_exchange(gateway.address, b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n")) == 400
    assert api.request("GET", "/healthz")[0] == 200


def test_slow_loris_is_dropped_while_others_are_served(gateway):
    host, port = gateway.address.rsplit(":", 1)
    slow = socket.create_connection((host, int(port)), timeout=10)
    slow.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
    dropped_after = []

    def trickle():
        started = time.monotonic()
        try:
            while time.monotonic() - started < 8:
                slow.sendall(b"X")
                time.sleep(0.2)
                slow.settimeout(0.01)
                try:
                    data = slow.recv(4096)
                except socket.timeout:
                    continue
                if not data or data.startswith(b"HTTP/1.1 408"):
                    break
        except OSError:
            pass
        dropped_after.append(time.monotonic() - started)

    t = threading.Thread(target=trickle)
    t.start()
    api = Http(gateway.address)
    served = 0
    with harness.make_channel(gateway.address) as channel:
        admin = pb.admin_grpc.AdminStub(channel)
        while t.is_alive():
            t0 = time.monotonic()
            assert api.request("GET", "/healthz")[0] == 200
            admin.ListModels(pb.admin.ListModelsRequest(), timeout=5)
            assert time.monotonic() - t0 < 1.0, "another client was slowed down"
            served += 1
            time.sleep(0.05)
    t.join()
    slow.close()
    assert dropped_after and 1.2 < dropped_after[0] < 5, dropped_after   # --http-header-timeout-ms 1500
    assert served >= 10
    metrics = api.request("GET", "/metrics")[2].decode()
    assert 'byoc_http_refused_total{status="408"} 1' in metrics


def test_register_pod_options_through_the_json_api(gateway):
    api = Http(gateway.address)
    body = {"model": "iris", "version": "1", "command": [binary("byoc-echo-model")],
            "resources": {"gpus": 1, "gpuResource": "nvidia.com/gpu"}, "nodeSelector": {"pool": "gpu"},
            "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
            "imagePullSecrets": ["regcred"], "allowRoot": True}
    status, doc = api.json("POST", "/api/v1/models", body)
    assert status == 201, doc
    assert doc["resources"]["gpus"] == 1 and doc["resources"]["gpuResource"] == "nvidia.com/gpu"
    assert doc["nodeSelector"] == {"pool": "gpu"}
    assert doc["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists", "value": "", "effect": "NoSchedule"}]
    assert doc["imagePullSecrets"] == ["regcred"] and doc["allowRoot"] is True
    bad = dict(body, version="2", tolerations=[{"key": "k", "operator": "Exists", "value": "v"}])
    api_error(api.json("POST", "/api/v1/models", bad), 400, "INVALID_ARGUMENT", "tolerations[0].value")
    bad = dict(body, version="2", resources={"gpus": 1, "gpuResource": "gpu"})
    api_error(api.json("POST", "/api/v1/models", bad), 400, "INVALID_ARGUMENT", "resources.gpu_resource")
    bad = dict(body, version="2", resources={"gpu": 1})
    api_error(api.json("POST", "/api/v1/models", bad), 400, "INVALID_ARGUMENT", 'unknown field "resources.gpu"')
    bad = dict(body, version="2", allowRoot="yes")
    api_error(api.json("POST", "/api/v1/models", bad), 400, "INVALID_ARGUMENT", '"allowRoot" must be true or false')
