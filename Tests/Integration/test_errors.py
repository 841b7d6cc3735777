"""Errors the gateway makes itself: NOT_FOUND, UNAVAILABLE, DEADLINE_EXCEEDED (with upstream
cancellation), INVALID_ARGUMENT, UNIMPLEMENTED, HTTP 415; and failover when an endpoint dies."""
from __future__ import annotations

import gzip
import signal
import sys
import time

import grpc
import pytest

import h2raw
from harness import free_port, pb, predict_request, served_by, wait_channel_ready

PREDICT = "/byoc.v1.Inference/Predict"
CANCELLED = r"^cancelled /byoc\.v1\.Inference/Predict"


def _code(fn, *args, **kwargs):
    with pytest.raises(grpc.RpcError) as err:
        fn(*args, **kwargs)
    return err.value.code()


def _raw_unary(channel, method):
    return channel.unary_unary(method, request_serializer=None, response_deserializer=None)


# ---------------------------------------------------------------------------- NOT_FOUND

@pytest.mark.parametrize("model,version,metadata", [
    ("nope", "", ()),
    ("nope", "1", ()),
    ("iris", "9", ()),
    ("", "", (("byoc-model", "nope"),)),
    ("", "", (("byoc-model", "iris"), ("byoc-version", "9"))),
], ids=["model", "model-version", "version", "header-model", "header-version"])
def test_unknown_model_or_version_is_not_found(cluster, model, version, metadata):
    stub = cluster.stub()
    assert _code(stub.Predict, predict_request(model, version), metadata=metadata, timeout=5) \
        == grpc.StatusCode.NOT_FOUND


def test_unknown_model_infer_is_not_found(cluster):
    stub = pb.oip_grpc.GRPCInferenceServiceStub(cluster.channel())
    assert _code(stub.ModelInfer, pb.oip.ModelInferRequest(model_name="nope"), timeout=5) \
        == grpc.StatusCode.NOT_FOUND


def test_unknown_model_metadata_is_not_found(cluster):
    stub = pb.oip_grpc.GRPCInferenceServiceStub(cluster.channel())
    assert _code(stub.ModelMetadata, pb.oip.ModelMetadataRequest(name="nope"), timeout=5) \
        == grpc.StatusCode.NOT_FOUND


def test_empty_model_infer_name_is_invalid_argument(cluster):
    stub = pb.oip_grpc.GRPCInferenceServiceStub(cluster.channel())
    assert _code(stub.ModelInfer, pb.oip.ModelInferRequest(model_name="", model_version="1"), timeout=5) \
        == grpc.StatusCode.INVALID_ARGUMENT


def test_empty_model_name_is_invalid_argument(cluster):
    assert _code(cluster.stub().Predict, predict_request("", "1"), timeout=5) \
        == grpc.StatusCode.INVALID_ARGUMENT


# ---------------------------------------------------------------------------- UNAVAILABLE

def test_all_endpoints_down_is_unavailable_within_1s(procs):
    gw = procs.gateway({
        "ghost": {"default": "1", "versions": {"1": [f"127.0.0.1:{free_port()}",
                                                     f"127.0.0.1:{free_port()}"]}},
        "empty": {"default": "1", "versions": {"1": []}},
    })
    ch = procs.channel(gw.address)
    wait_channel_ready(ch)
    stub = pb.inference_grpc.InferenceStub(ch)
    for model in ["ghost", "ghost", "empty", "ghost"]:
        t0 = time.monotonic()
        code = _code(stub.Predict, predict_request(model, ""), timeout=5)
        elapsed = time.monotonic() - t0
        assert code == grpc.StatusCode.UNAVAILABLE, model
        assert elapsed < 1.0, f"{model}: UNAVAILABLE after {elapsed:.3f} s"


def test_model_infer_without_endpoints_is_unavailable(procs):
    gw = procs.gateway({"empty": {"default": "1", "versions": {"1": []}}})
    stub = pb.oip_grpc.GRPCInferenceServiceStub(procs.channel(gw.address))
    for version in ("", "1"):
        assert _code(stub.ModelInfer, pb.oip.ModelInferRequest(model_name="empty", model_version=version),
                     timeout=5) == grpc.StatusCode.UNAVAILABLE, version


def test_endpoint_killed_next_100_calls_succeed(procs):
    a = procs.echo("iris", "1", id="iris-1-a")
    b = procs.echo("iris", "1", id="iris-1-b")
    gw = procs.gateway({"iris": {"default": "1", "versions": {"1": [a, b]}}})
    stub = pb.inference_grpc.InferenceStub(procs.channel(gw.address))
    seen = set()
    for _ in range(40):  # warm the gateway's pools to both endpoints
        _, call = stub.Predict.with_call(predict_request("iris", "1"), timeout=10)
        seen.add(served_by(call))
    assert seen == {"iris-1-a", "iris-1-b"}
    a.send_signal(signal.SIGKILL)
    a.wait(timeout=10)
    time.sleep(0.2)
    served = []
    for i in range(100):
        resp, call = stub.Predict.with_call(predict_request("iris", "1", payload=b"%d" % i), timeout=10)
        assert resp.payload == b"%d" % i
        served.append(served_by(call))
    assert set(served) == {"iris-1-b"}


# A model server (grpcio) whose Predict sends its response headers and one whole message,
# then dies before the trailers: the process exits with the response half done.
DYING_MODEL = """
import os, sys, time
from concurrent import futures
import grpc

def predict(request, context):
    context.send_initial_metadata((("x-model", "dying"),))
    yield b""  # an empty PredictResponse: one whole gRPC message
    time.sleep(0.3)
    os._exit(3)

server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("byoc.v1.Inference", {
    "Predict": grpc.unary_stream_rpc_method_handler(predict)}),))
port = server.add_insecure_port("127.0.0.1:0")
server.start()
print(f"listening on 127.0.0.1:{port}", flush=True)
server.wait_for_termination()
"""


def test_model_dying_after_a_whole_message_ends_the_call_unavailable(procs, tmp_path):
    """The response started and stopped between messages: the gateway ends it with trailers
    (UNAVAILABLE naming the endpoint), as a client connected to the model would see, rather
    than resetting the stream (which grpcio reports as INTERNAL)."""
    script = tmp_path / "dying_model.py"
    script.write_text(DYING_MODEL)
    model = procs.start("dying-model", [sys.executable, str(script)])
    gw = procs.gateway({"dying": {"default": "1", "versions": {"1": [model]}}})
    stub = pb.inference_grpc.InferenceStub(procs.channel(gw.address))
    with pytest.raises(grpc.RpcError) as err:
        stub.Predict(predict_request("dying", "1"), timeout=10)
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE, (err.value.code(), err.value.details())
    details = err.value.details() or ""
    assert "lost the connection to model endpoint" in details and model.address in details, details
    assert ("x-model", "dying") in (err.value.initial_metadata() or ()), "the model's headers were forwarded"
    model.wait(timeout=10)
    # The gateway is unharmed: the endpoint is gone, so the next call is UNAVAILABLE too.
    assert _code(stub.Predict, predict_request("dying", "1"), timeout=10) == grpc.StatusCode.UNAVAILABLE


def test_endpoint_that_accepts_but_never_speaks_http2(procs):
    """A socket that completes the TCP handshake but never sends SETTINGS counts as a failed
    connect after --connect-timeout-ms: the call fails over to another endpoint, and with no
    other endpoint it is UNAVAILABLE at once, not held until the client's deadline."""
    import socket
    mute = socket.socket()
    mute.bind(("127.0.0.1", 0))
    mute.listen(64)  # the kernel accepts connections; nobody reads or writes
    try:
        silent = f"127.0.0.1:{mute.getsockname()[1]}"
        echo = procs.echo("iris", "1", id="iris-1-b")
        gw = procs.gateway({"iris": {"default": "1", "versions": {"1": [silent, echo]}},
                            "mute": {"default": "1", "versions": {"1": [silent]}}},
                           extra=["--connect-timeout-ms", "300"])
        stub = pb.inference_grpc.InferenceStub(procs.channel(gw.address))
        t0 = time.monotonic()
        with pytest.raises(grpc.RpcError) as err:
            stub.Predict(predict_request("mute", "1"), timeout=10)
        elapsed = time.monotonic() - t0
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE, (err.value.code(), err.value.details())
        assert "no HTTP/2 SETTINGS" in (err.value.details() or ""), err.value.details()
        assert elapsed < 3, f"{elapsed:.2f} s: held toward the client's deadline"
        for i in range(10):
            resp, call = stub.Predict.with_call(predict_request("iris", "1", payload=b"%d" % i), timeout=10)
            assert resp.payload == b"%d" % i and served_by(call) == "iris-1-b"
    finally:
        mute.close()


# ---------------------------------------------------------------------------- deadlines

def _slow_cluster(procs):
    echo = procs.echo("iris", "1", id="iris-1-a")
    gw = procs.gateway({"iris": {"default": "1", "versions": {"1": [echo]}}})
    return echo, gw


def test_deadline_exceeded_and_upstream_cancelled(procs):
    """grpcio client: 200 ms deadline vs 2 s delay; the model server sees the cancellation."""
    echo, gw = _slow_cluster(procs)
    stub = pb.inference_grpc.InferenceStub(procs.channel(gw.address))
    stub.Predict(predict_request("iris", "1"), timeout=10)  # connection up, pools warm
    t0 = time.monotonic()
    code = _code(stub.Predict, predict_request("iris", "1", delay_ms=2000), timeout=0.2)
    elapsed = time.monotonic() - t0
    assert code == grpc.StatusCode.DEADLINE_EXCEEDED
    assert elapsed < 0.4, f"{elapsed:.3f} s"
    assert echo.wait_for_log(CANCELLED, timeout=2.0), "the model server saw no cancellation"
    # the gateway still serves, and a deadline that is long enough passes
    resp = stub.Predict(predict_request("iris", "1", delay_ms=100), timeout=5)
    assert resp.model == "iris"


def test_gateway_enforces_grpc_timeout(procs):
    """Raw HTTP/2 client that does not enforce its own deadline: the gateway answers
    DEADLINE_EXCEEDED itself (grpc-timeout: 200m) and cancels the upstream stream."""
    echo, gw = _slow_cluster(procs)
    body = h2raw.grpc_frame(predict_request("iris", "1", delay_ms=2000).SerializeToString())
    with h2raw.RawH2(gw.address) as h:
        sid = h.request(PREDICT, body, extra=[("grpc-timeout", "200m")])
        st = h.wait(sid, timeout=5)
    assert st.grpc_status == grpc.StatusCode.DEADLINE_EXCEEDED.value[0], str(st)
    assert st.elapsed < 0.4, f"{st.elapsed:.3f} s"
    assert echo.wait_for_log(CANCELLED, timeout=2.0), "the model server saw no cancellation"


def test_client_reset_cancels_upstream(procs):
    echo, gw = _slow_cluster(procs)
    body = h2raw.grpc_frame(predict_request("iris", "1", delay_ms=5000).SerializeToString())
    with h2raw.RawH2(gw.address) as h:
        sid = h.request(PREDICT, body)
        h.pump(0.3)
        assert not h.streams[sid].done, f"the call should still be in flight: {h.streams[sid]}"
        h.reset(sid)
        h.flush()
        h.pump(0.1)
        assert echo.wait_for_log(CANCELLED, timeout=2.0), "the model server saw no cancellation"


# ---------------------------------------------------------------------------- INVALID_ARGUMENT

# Messages whose fields 1/2 cannot be scanned (sent as valid gRPC frames).
UNPARSABLE = {
    "field1-varint": b"\x08\x01",                     # field 1 with wire type 0
    "field2-varint": b"\x0a\x04iris\x10\x01",         # field 2 with wire type 0
    "field1-truncated": b"\x0a\x10iri",               # length 16, 3 bytes follow
    "field2-truncated": b"\x0a\x04iris\x12\x05ab",    # length 5, 2 bytes follow
    "bad-tag": b"\x0a\x04iris\xff",                   # truncated varint tag
}


@pytest.mark.parametrize("name", sorted(UNPARSABLE))
def test_unparsable_fields_are_invalid_argument(cluster, name):
    call = _raw_unary(cluster.channel(), PREDICT)
    assert _code(call, UNPARSABLE[name], timeout=5) == grpc.StatusCode.INVALID_ARGUMENT


# Bodies whose gRPC framing is broken (sent over raw HTTP/2, no routing header).
_VALID = predict_request("iris", "1").SerializeToString()
BAD_FRAMES = {
    "flag-5": b"\x05" + len(_VALID).to_bytes(4, "big") + _VALID,     # flag byte must be 0 or 1
    "flag-ff": b"\xff\x00\x00\x00\x02\x0a\x00",
    "short-prefix": b"\x00\x00\x00",                                  # stream ends inside the prefix
    "truncated-message": b"\x00\x00\x00\x00\x40" + _VALID,             # 64 announced, fewer sent
    "compressed-without-encoding": h2raw.grpc_frame(_VALID, compressed=True),
}


@pytest.mark.parametrize("name", sorted(BAD_FRAMES))
def test_bad_grpc_framing_is_invalid_argument(cluster, name):
    with h2raw.RawH2(cluster.address) as h:
        st = h.wait(h.request(PREDICT, BAD_FRAMES[name]), timeout=5)
    assert st.http_status == 200, str(st)
    assert st.grpc_status == grpc.StatusCode.INVALID_ARGUMENT.value[0], str(st)


def test_garbage_prefix_literal(cluster):
    """b"\\x05garbage": flag byte 5 is invalid, whatever the length bytes say."""
    with h2raw.RawH2(cluster.address) as h:
        st = h.wait(h.request(PREDICT, b"\x05garbage"), timeout=5)
    assert st.grpc_status == grpc.StatusCode.INVALID_ARGUMENT.value[0], str(st)


# ---------------------------------------------------------------------------- UNIMPLEMENTED, 415

@pytest.mark.parametrize("method", [
    "/byoc.v1.Inference/Nope",
    "/no.Such/Service",
    "/no.such.Service/Method",
    "/inference.GRPCInferenceService/Nope",
])
def test_unknown_method_is_unimplemented(cluster, method):
    call = _raw_unary(cluster.channel(), method)
    assert _code(call, _VALID, timeout=5) == grpc.StatusCode.UNIMPLEMENTED


@pytest.mark.parametrize("content_type", ["text/plain", "application/json", None], ids=["text", "json", "missing"])
def test_wrong_content_type_is_415(cluster, content_type):
    with h2raw.RawH2(cluster.address) as h:
        st = h.wait(h.request(PREDICT, h2raw.grpc_frame(_VALID), content_type=content_type), timeout=5)
    assert st.http_status == 415, str(st)


def test_grpc_content_type_variants_accepted(cluster):
    """application/grpc+proto is a gRPC content-type too."""
    with h2raw.RawH2(cluster.address) as h:
        st = h.wait(h.request(PREDICT, h2raw.grpc_frame(_VALID),
                              content_type="application/grpc+proto"), timeout=5)
    assert st.http_status == 200 and st.grpc_status == 0, str(st)
    resp = pb.inference.PredictResponse.FromString(bytes(st.data[5:]))
    assert (resp.model, resp.version) == ("iris", "1")


def _assert_415_unless_grpc(address, path, body, wrong):
    """`path` is served with application/grpc, and refused with HTTP 415 with `wrong` or none."""
    with h2raw.RawH2(address) as h:
        good = h.wait(h.request(path, body), timeout=5)
        bad = h.wait(h.request(path, body, content_type=wrong), timeout=5)
        none = h.wait(h.request(path, body, content_type=None), timeout=5)
    assert good.http_status == 200 and good.grpc_status == 0, str(good)  # the path is served
    assert bad.http_status == 415, str(bad)
    assert none.http_status == 415, str(none)


def test_wrong_content_type_on_health_is_415(cluster):
    body = h2raw.grpc_frame(pb.health.HealthCheckRequest(service="").SerializeToString())
    _assert_415_unless_grpc(cluster.address, "/grpc.health.v1.Health/Check", body, "text/plain")


def test_wrong_content_type_on_admin_is_415(procs):
    gw = procs.registry_gateway()
    # An empty ListModelsRequest.
    _assert_415_unless_grpc(gw.address, "/byoc.v1.Admin/ListModels", h2raw.grpc_frame(b""), "application/json")


# ---------------------------------------------------------------------------- compression

def _compressed_call(cluster):
    """A gzip-compressed Predict frame WITH grpc-encoding and the byoc-model header."""
    body = h2raw.grpc_frame(gzip.compress(_VALID), compressed=True)
    with h2raw.RawH2(cluster.address) as h:
        return h.wait(h.request(PREDICT, body, extra=[("grpc-encoding", "gzip"), ("byoc-model", "iris"),
                                                      ("byoc-version", "1")]), timeout=5)


class _RecordingUpstream:
    """A one-connection-at-a-time h2c gRPC server that records each request's headers and body
    and answers OK with an empty message, so a test sees exactly what the gateway forwarded."""

    def __init__(self):
        import socket
        import threading
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.address = "127.0.0.1:%d" % self.sock.getsockname()[1]
        self.requests: list[tuple[dict, bytes]] = []
        self.stopped = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        import socket
        import h2.config
        import h2.connection
        import h2.events
        while not self.stopped:
            try:
                conn_sock, _ = self.sock.accept()
            except socket.timeout:
                continue
            conn_sock.settimeout(0.2)
            conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False, header_encoding="utf-8"))
            conn.initiate_connection()
            conn_sock.sendall(conn.data_to_send())
            heads, bodies = {}, {}
            while not self.stopped:
                try:
                    chunk = conn_sock.recv(65536)
                except socket.timeout:
                    continue
                except OSError:
                    break
                if not chunk:
                    break
                for event in conn.receive_data(chunk):
                    if isinstance(event, h2.events.RequestReceived):
                        heads[event.stream_id] = dict(event.headers)
                        bodies[event.stream_id] = bytearray()
                    elif isinstance(event, h2.events.DataReceived):
                        bodies[event.stream_id] += event.data
                        conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                    elif isinstance(event, h2.events.StreamEnded):
                        sid = event.stream_id
                        self.requests.append((heads[sid], bytes(bodies[sid])))
                        conn.send_headers(sid, [(":status", "200"), ("content-type", "application/grpc")])
                        conn.send_data(sid, h2raw.grpc_frame(b""))
                        conn.send_headers(sid, [("grpc-status", "0")], end_stream=True)
                out = conn.data_to_send()
                if out:
                    conn_sock.sendall(out)
            conn_sock.close()

    def close(self):
        self.stopped = True
        self.thread.join(5)
        self.sock.close()


def test_compressed_with_encoding_and_header_is_forwarded_unchanged(procs):
    """The gateway routes the compressed call by its header and forwards the frame as it is
    (flag 1, gzip bytes) with grpc-encoding, and relays the model's answer."""
    upstream = _RecordingUpstream()
    try:
        gw = procs.gateway({"iris": {"default": "1", "versions": {"1": [upstream.address]}}})
        body = h2raw.grpc_frame(gzip.compress(_VALID), compressed=True)
        with h2raw.RawH2(gw.address) as h:
            st = h.wait(h.request(PREDICT, body, extra=[("grpc-encoding", "gzip"), ("byoc-model", "iris")]),
                        timeout=5)
        assert st.http_status == 200 and st.grpc_status == 0, f"not forwarded/relayed: {st}"
        assert len(upstream.requests) == 1, upstream.requests
        headers, forwarded = upstream.requests[0]
        assert headers.get(":path") == PREDICT, headers
        assert headers.get("grpc-encoding") == "gzip", headers
        assert forwarded == body, "the compressed frame was not forwarded unchanged"
    finally:
        upstream.close()


def test_compressed_with_encoding_and_header_is_not_refused_as_compressed(cluster):
    """The gateway forwards the call (it declared grpc-encoding and names its model); the echo
    model, which does not decompress, answers UNIMPLEMENTED naming the encoding — not the
    gateway's "compressed ... without grpc-encoding" INVALID_ARGUMENT."""
    st = _compressed_call(cluster)
    assert st.http_status == 200 and st.grpc_status is not None, str(st)
    message = st.grpc_message or ""
    assert st.grpc_status == grpc.StatusCode.UNIMPLEMENTED.value[0] and "gzip" in message, \
        f"expected the model's UNIMPLEMENTED naming gzip (not the gateway's refusal): {st}"
