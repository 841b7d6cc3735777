"""Tracing (`--otlp-endpoint`, `--trace-sample-ratio`): the gateway keeps a caller's W3C
`traceparent` (or starts a trace), its server span is the child of the caller's span, each
attempt at a model is a client span under it, and the model receives a `traceparent` whose
parent is that attempt; spans reach an OTLP/HTTP collector (JSON), batched off the request path,
sampled parent-based."""
from __future__ import annotations

import json
import re
import socket
import threading
import time
import urllib.error
import urllib.request
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

import h2raw
from harness import binary, free_port, pb, predict_request, wait_until

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"
TRACEPARENT_RE = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-0([01])")


def _attribute(kv) -> dict:
    kind = kv.value.WhichOneof("value")
    value = {"stringValue": kv.value.string_value} if kind == "string_value" else {"intValue": str(kv.value.int_value)}
    return {"key": kv.key, "value": value}


def _spans_from_protobuf(body: bytes) -> list[dict]:
    """The spans of a protobuf ExportTraceServiceRequest (parsed with opentelemetry-proto's
    classes), spelled as the OTLP JSON mapping spells them (ids in hex)."""
    request = trace_service_pb2.ExportTraceServiceRequest.FromString(body)
    spans = []
    for resource_spans in request.resource_spans:
        assert {"key": "service.name", "value": {"stringValue": "byoc-gateway"}} in \
            [_attribute(a) for a in resource_spans.resource.attributes]
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                out = {"traceId": span.trace_id.hex(), "spanId": span.span_id.hex(), "name": span.name,
                       "kind": span.kind, "startTimeUnixNano": str(span.start_time_unix_nano),
                       "endTimeUnixNano": str(span.end_time_unix_nano),
                       "attributes": [_attribute(a) for a in span.attributes]}
                if span.parent_span_id:
                    out["parentSpanId"] = span.parent_span_id.hex()
                if span.trace_state:
                    out["traceState"] = span.trace_state
                if span.HasField("status"):
                    out["status"] = {"code": span.status.code, "message": span.status.message}
                spans.append(out)
    return spans


class Collector:
    """An OTLP/HTTP collector: records every span POSTed to /v1/traces (protobuf or JSON)."""

    def __init__(self, status: int = 200):
        self.status = status
        self.spans: list[dict] = []
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                content_type = self.headers["Content-Type"]
                with collector.lock:
                    collector.requests.append({"path": self.path, "content_type": content_type})
                    if collector.status == 200 and content_type == "application/x-protobuf":
                        collector.spans.extend(_spans_from_protobuf(body))
                    elif collector.status == 200:
                        for resource in json.loads(body)["resourceSpans"]:
                            for scope in resource["scopeSpans"]:
                                collector.spans.extend(scope["spans"])
                self.send_response(collector.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def trace(self, trace_id: str) -> list[dict]:
        with self.lock:
            return [s for s in self.spans if s["traceId"] == trace_id]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class RecordingModel:
    """A grpcio Predict server that records each call's metadata (the gateway's upstream headers)."""

    def __init__(self, model: str = "traced", version: str = "1"):
        self.metadata: list[dict] = []
        self.lock = threading.Lock()

        def predict(request_bytes, context):
            with self.lock:
                self.metadata.append(dict(context.invocation_metadata()))
            return pb.inference.PredictResponse(model=model, version=version).SerializeToString()

        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        self.server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("byoc.v1.Inference", {
            "Predict": grpc.unary_unary_rpc_method_handler(predict)}),))
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.server.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def last(self) -> dict:
        with self.lock:
            return self.metadata[-1]

    def close(self):
        self.server.stop(0)


@pytest.fixture
def collector():
    c = Collector()
    yield c
    c.close()


@pytest.fixture
def model():
    m = RecordingModel()
    yield m
    m.close()


def _gateway(procs, tmp_path, collector, model_addresses, extra=(), protocol=None):
    if protocol:
        extra = [*extra, "--otlp-protocol", protocol]
    return procs.gateway({"traced": {"default": "1", "versions": {"1": list(model_addresses)}}},
                         extra=["--otlp-endpoint", collector.endpoint, "--access-log", str(tmp_path / "access.log"),
                                *extra])


def _received(model) -> tuple[str, str, str]:
    """The trace id, parent span id and sampled flag of the model's last traceparent."""
    value = model.last().get("traceparent", "")
    match = TRACEPARENT_RE.fullmatch(value)
    assert match, f"the model received traceparent {value!r}"
    return match.group(1), match.group(2), match.group(3)


def _spans(collector, trace_id: str, count: int) -> list[dict]:
    assert wait_until(lambda: len(collector.trace(trace_id)) >= count, 20), collector.spans
    spans = collector.trace(trace_id)
    assert len(spans) == count, spans
    return spans


def _attributes(span) -> dict:
    return {a["key"]: next(iter(a["value"].values())) for a in span.get("attributes", [])}


def _access_log(tmp_path, count: int) -> list[dict]:
    path = tmp_path / "access.log"
    assert wait_until(lambda: path.exists() and len(path.read_text().splitlines()) >= count, 20)
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.parametrize("protocol", [None, "http/protobuf", "http/json"], ids=["default", "protobuf", "json"])
def test_a_callers_trace_is_kept_and_the_model_is_the_child_of_the_gateways_attempt(procs, tmp_path, collector, model,
                                                                                   protocol):
    gw = _gateway(procs, tmp_path, collector, [model.address], protocol=protocol)
    stub = pb.inference_grpc.InferenceStub(procs.channel(gw.address))
    stub.Predict(predict_request("traced", "1"), timeout=10,
                 metadata=[("traceparent", f"00-{TRACE}-{CALLER_SPAN}-01"), ("tracestate", "vendor=abc,other=1")])
    trace_id, parent, sampled = _received(model)
    assert trace_id == TRACE and sampled == "1", "the caller's trace, still sampled"
    assert parent != CALLER_SPAN, "the model's parent is the gateway's span, not the caller's"
    assert model.last().get("tracestate") == "vendor=abc,other=1", "tracestate is kept"

    spans = _spans(collector, TRACE, 2)
    server = next(s for s in spans if s["kind"] == 2)
    client = next(s for s in spans if s["kind"] == 3)
    assert server["parentSpanId"] == CALLER_SPAN, "the gateway's server span is the caller's child"
    assert client["parentSpanId"] == server["spanId"], "the upstream attempt is the server span's child"
    assert client["spanId"] == parent, "the model's parent is the attempt span"
    for span in spans:
        assert span["name"] == "byoc.v1.Inference/Predict"
        assert span["traceState"] == "vendor=abc,other=1"
        assert int(span["startTimeUnixNano"]) <= int(span["endTimeUnixNano"])
        assert "status" not in span or span["status"].get("code") != 2, span
    assert int(server["startTimeUnixNano"]) <= int(client["startTimeUnixNano"])
    attributes = _attributes(client)
    assert attributes["server.address"] == "127.0.0.1" and attributes["server.port"] == str(model.port)
    assert attributes["byoc.model"] == "traced" and attributes["byoc.version"] == "1"
    assert _attributes(server)["rpc.grpc.status_code"] == "0"
    assert _attributes(server)["rpc.method"] == "Predict"
    assert collector.requests[0]["path"] == "/v1/traces"
    assert collector.requests[0]["content_type"] == \
        ("application/x-protobuf" if protocol == "http/protobuf" else "application/json")
    assert _access_log(tmp_path, 1)[0]["trace_id"] == TRACE


@pytest.mark.parametrize("incoming", [None, "00-zzzz-not-a-traceparent-01", f"00-{'0' * 32}-{CALLER_SPAN}-01"],
                         ids=["none", "garbage", "zero-trace-id"])
def test_without_a_valid_traceparent_a_new_trace_starts(procs, tmp_path, collector, model, incoming):
    gw = _gateway(procs, tmp_path, collector, [model.address])
    stub = pb.inference_grpc.InferenceStub(procs.channel(gw.address))
    metadata = [("traceparent", incoming), ("tracestate", "dropped=1")] if incoming else []
    stub.Predict(predict_request("traced", "1"), timeout=10, metadata=metadata)
    trace_id, parent, sampled = _received(model)
    assert trace_id not in (TRACE, "0" * 32) and sampled == "1"
    assert "tracestate" not in model.last(), "a tracestate without a valid traceparent goes with it"
    spans = _spans(collector, trace_id, 2)
    server = next(s for s in spans if s["kind"] == 2)
    client = next(s for s in spans if s["kind"] == 3)
    assert "parentSpanId" not in server, "a root span"
    assert client["parentSpanId"] == server["spanId"] and client["spanId"] == parent
    assert _access_log(tmp_path, 1)[0]["trace_id"] == trace_id


def test_sampling_is_parent_based(procs, tmp_path, collector, model):
    gw = _gateway(procs, tmp_path, collector, [model.address], extra=["--trace-sample-ratio", "0"])
    stub = pb.inference_grpc.InferenceStub(procs.channel(gw.address))
    # No parent: ratio 0 records nothing, but the model still gets the trace (not sampled).
    stub.Predict(predict_request("traced", "1"), timeout=10)
    unsampled, _, flag = _received(model)
    assert flag == "0"
    # An unsampled parent stays unsampled.
    other = "b" * 32
    stub.Predict(predict_request("traced", "1"), timeout=10, metadata=[("traceparent", f"00-{other}-{CALLER_SPAN}-00")])
    assert _received(model)[0] == other and _received(model)[2] == "0"
    # A sampled parent wins over the ratio.
    stub.Predict(predict_request("traced", "1"), timeout=10, metadata=[("traceparent", f"00-{TRACE}-{CALLER_SPAN}-01")])
    assert _received(model)[2] == "1"
    _spans(collector, TRACE, 2)
    # The spans of the sampled trace arrived, so the unsampled ones (handed over before) would have too.
    assert collector.trace(unsampled) == [] and collector.trace(other) == []
    lines = _access_log(tmp_path, 3)
    assert [line["trace_id"] for line in lines] == [unsampled, other, TRACE], "every call has its trace id"


@pytest.mark.parametrize("protocol", ["http/protobuf", "http/json"], ids=["protobuf", "json"])
def test_a_retried_call_has_one_span_per_attempt(procs, tmp_path, collector, model, protocol):
    dead = f"127.0.0.1:{free_port()}"
    gw = _gateway(procs, tmp_path, collector, [dead, model.address], protocol=protocol)
    stub = pb.inference_grpc.InferenceStub(procs.channel(gw.address))
    # Power-of-two-choices picks the dead endpoint first for about half the calls (until its
    # connect backoff): call until one was retried.
    for attempt in range(40):
        stub.Predict(predict_request("traced", "1"), timeout=10)
        lines = _access_log(tmp_path, attempt + 1)
        if lines[-1]["attempts"] == 2:
            break
    else:
        pytest.skip("no call met the dead endpoint first")
    trace_id, parent, _ = _received(model)
    assert lines[-1]["trace_id"] == trace_id
    spans = _spans(collector, trace_id, 3)
    server = next(s for s in spans if s["kind"] == 2)
    attempts = sorted((s for s in spans if s["kind"] == 3), key=lambda s: int(_attributes(s)["byoc.attempt"]))
    assert [s["parentSpanId"] for s in attempts] == [server["spanId"]] * 2
    assert attempts[0]["status"]["code"] == 2 and "connect" in attempts[0]["status"]["message"], attempts[0]
    assert _attributes(attempts[0])["server.port"] == dead.split(":")[1]
    assert attempts[1]["spanId"] == parent, "the model's parent is the attempt that reached it"


@pytest.mark.parametrize("protocol", ["http/protobuf", "http/json"], ids=["protobuf", "json"])
def test_the_gateways_own_errors_are_server_spans_with_an_error(procs, tmp_path, collector, model, protocol):
    gw = _gateway(procs, tmp_path, collector, [model.address], protocol=protocol)
    stub = pb.inference_grpc.InferenceStub(procs.channel(gw.address))
    with pytest.raises(grpc.RpcError) as err:
        stub.Predict(predict_request("nosuch", "1"), timeout=10, metadata=[("traceparent", f"00-{TRACE}-{CALLER_SPAN}-01")])
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    (span,) = _spans(collector, TRACE, 1)
    assert span["kind"] == 2 and span["parentSpanId"] == CALLER_SPAN
    assert span["status"]["code"] == 2 and _attributes(span)["rpc.grpc.status_code"] == "5"


def test_a_failing_collector_drops_and_counts_spans_and_calls_go_on(procs, tmp_path, model):
    failing = Collector(status=503)
    try:
        gw = _gateway(procs, tmp_path, failing, [model.address])
        stub = pb.inference_grpc.InferenceStub(procs.channel(gw.address))
        for _ in range(5):
            stub.Predict(predict_request("traced", "1"), timeout=10)

        def dropped():
            text = urllib.request.urlopen(f"http://{gw.address}/metrics", timeout=10).read().decode()
            match = re.search(r"^byoc_spans_dropped_total (\d+)$", text, re.M)
            return int(match.group(1)) if match else 0

        # (Each scrape of /metrics is a traced request of its own: its span is dropped too.)
        assert wait_until(lambda: dropped() >= 10, 20), dropped()
        assert gw.wait_for_log("span export to .* failed: HTTP 503", 10), gw.log_tail()
    finally:
        failing.close()


def _metric(address: str, name: str) -> float:
    text = urllib.request.urlopen(f"http://{address}/metrics", timeout=10).read().decode()
    match = re.search(rf"^{name} (\S+)$", text, re.M)
    return float(match.group(1)) if match else 0.0


class SilentCollector:
    """A collector that accepts connections and never answers (nor reads): counts them."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.accepted = []
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        self.sock.settimeout(0.2)
        while not self.stopped.is_set():
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, socket.timeout):
                continue
            except OSError:
                return
            self.accepted.append(conn)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def close(self):
        self.stopped.set()
        self.thread.join(5)
        for conn in self.accepted:
            conn.close()
        self.sock.close()


def test_a_collector_that_refuses_connections_costs_the_calls_nothing(procs, tmp_path, model):
    refusing = f"http://127.0.0.1:{free_port()}"
    gw = procs.gateway({"traced": {"default": "1", "versions": {"1": [model.address]}}},
                       extra=["--otlp-endpoint", refusing])
    stub = pb.inference_grpc.InferenceStub(procs.channel(gw.address))
    for _ in range(20):
        stub.Predict(predict_request("traced", "1"), timeout=10)
    assert wait_until(lambda: _metric(gw.address, "byoc_spans_dropped_total") >= 40, 20), gw.log_tail()
    assert _metric(gw.address, "byoc_spans_exported_total") == 0
    assert gw.wait_for_log(r"span export to .* failed: connect: Connection refused", 10), gw.log_tail()
    # Said once, not per export.
    assert gw.count("span export to") == 1, gw.log_tail()
    stub.Predict(predict_request("traced", "1"), timeout=10)


def test_a_collector_that_never_answers_times_out_and_is_tried_again(procs, tmp_path, model):
    silent = SilentCollector()
    try:
        gw = procs.gateway({"traced": {"default": "1", "versions": {"1": [model.address]}}},
                           extra=["--otlp-endpoint", silent.endpoint])
        stub = pb.inference_grpc.InferenceStub(procs.channel(gw.address))
        started = time.monotonic()
        for _ in range(10):
            stub.Predict(predict_request("traced", "1"), timeout=10)
        assert time.monotonic() - started < 5, "calls do not wait for the exporter"
        # The first export waits 5 s for an answer, then its spans are dropped and counted.
        assert wait_until(lambda: _metric(gw.address, "byoc_spans_dropped_total") >= 20, 20), gw.log_tail()
        assert gw.wait_for_log(r"span export to .* failed: no answer within 5 s", 5), gw.log_tail()
        # Spans recorded meanwhile go out on a new connection: the exporter tries again.
        stub.Predict(predict_request("traced", "1"), timeout=10)
        assert wait_until(lambda: len(silent.accepted) >= 2, 20), len(silent.accepted)
        assert _metric(gw.address, "byoc_spans_exported_total") == 0
    finally:
        silent.close()


def test_a_call_its_client_cancels_has_a_cancelled_span_and_an_access_log_line(procs, tmp_path, collector):
    slow = procs.echo("slow", "1")
    gw = procs.gateway({"slow": {"default": "1", "versions": {"1": [slow]}}},
                       extra=["--otlp-endpoint", collector.endpoint, "--access-log", str(tmp_path / "access.log")])
    stub = pb.inference_grpc.InferenceStub(procs.channel(gw.address))
    future = stub.Predict.future(predict_request("slow", "1", delay_ms=5000), timeout=30,
                                 metadata=[("traceparent", f"00-{TRACE}-{CALLER_SPAN}-01")])
    time.sleep(0.5)
    assert future.cancel()
    spans = _spans(collector, TRACE, 2)
    server = next(s for s in spans if s["kind"] == 2)
    assert _attributes(server)["rpc.grpc.status_code"] == "1", server
    assert server["status"]["code"] == 2 and "cancelled" in server["status"]["message"], server
    client = next(s for s in spans if s["kind"] == 3)
    assert client["parentSpanId"] == server["spanId"] and client["status"]["code"] == 2, client
    (line,) = _access_log(tmp_path, 1)
    assert line["grpc_status"] == 1 and line["grpc_code"] == "CANCELLED" and line["model"] == "slow", line
    assert line["trace_id"] == TRACE
    assert 400 <= line["duration_ms"] < 5000, line


def test_every_call_the_gateway_answers_itself_has_a_line_and_a_span(procs, tmp_path, collector):
    """Admin, health Check/List/Watch, reflection, an unknown method and a REST request: one
    access-log line each, and a server span with the call's status (`ObservedCall`)."""
    log = tmp_path / "access.log"
    gw = procs.registry_gateway(extra=["--otlp-endpoint", collector.endpoint, "--access-log", str(log)])
    traces = {}

    def traced(name):
        trace = f"{len(traces) + 1:032x}"
        traces[name] = trace
        return [("traceparent", f"00-{trace}-{CALLER_SPAN}-01")]

    gw.admin.ListModels(pb.admin.ListModelsRequest(), timeout=10, metadata=traced("ListModels"))
    with pytest.raises(grpc.RpcError) as err:
        gw.admin.GetModel(pb.admin.GetModelRequest(model="nosuch"), timeout=10, metadata=traced("GetModel"))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    gw.health.Check(pb.health.HealthCheckRequest(service=""), timeout=10, metadata=traced("Check"))
    with pytest.raises(grpc.RpcError) as err:
        gw.health.Check(pb.health.HealthCheckRequest(service="nosuch"), timeout=10, metadata=traced("CheckMissing"))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    gw.health.List(pb.health.HealthListRequest(), timeout=10, metadata=traced("List"))
    watch = gw.health.Watch(pb.health.HealthCheckRequest(service=""), timeout=30, metadata=traced("Watch"))
    next(watch)
    watch.cancel()
    reflection = gw.channel.stream_stream("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo")
    assert list(reflection(iter([b"\x3a\x00"]), timeout=10, metadata=traced("Reflection")))
    unknown = gw.channel.unary_unary("/byoc.v1.Nope/Method")
    with pytest.raises(grpc.RpcError) as err:
        unknown(b"", timeout=10, metadata=traced("Nope"))
    assert err.value.code() == grpc.StatusCode.UNIMPLEMENTED
    # Refused by the server before dispatch (raw HTTP/2: grpcio sets grpc-timeout itself).
    with h2raw.RawH2(gw.address) as h:
        sid = h.request("/byoc.v1.Inference/Predict", h2raw.grpc_frame(b""),
                        extra=[("grpc-timeout", "soon"), *traced("BadTimeout")])
        assert h.wait(sid, timeout=10).grpc_status == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    rest = urllib.request.Request(f"http://{gw.address}/v2/models/nosuch",
                                  headers={"traceparent": f"00-{'f' * 32}-{CALLER_SPAN}-01"})
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(rest, timeout=10)
    assert missing.value.code == 404

    expected = {"ListModels": ("/byoc.v1.Admin/ListModels", 0), "GetModel": ("/byoc.v1.Admin/GetModel", 5),
                "Check": ("/grpc.health.v1.Health/Check", 0), "CheckMissing": ("/grpc.health.v1.Health/Check", 5),
                "List": ("/grpc.health.v1.Health/List", 0), "Watch": ("/grpc.health.v1.Health/Watch", 1),
                "Reflection": ("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo", 0),
                "Nope": ("/byoc.v1.Nope/Method", 12), "BadTimeout": ("/byoc.v1.Inference/Predict", 3)}
    for name, (path, status) in expected.items():
        (span,) = _spans(collector, traces[name], 1)
        assert span["kind"] == 2 and span["parentSpanId"] == CALLER_SPAN, (name, span)
        assert span["name"] == path[1:], (name, span)
        assert _attributes(span)["rpc.grpc.status_code"] == str(status), (name, span)
        assert (span.get("status", {}).get("code") == 2) == (status != 0), (name, span)
    # The REST request is translated into ModelMetadata through the gateway's own listener,
    # with the caller's trace context: two server spans.
    rest_span, metadata_span = sorted(_spans(collector, "f" * 32, 2), key=lambda span: span["name"])
    assert rest_span["name"] == "GET /v2/models/nosuch" and _attributes(rest_span)["http.response.status_code"] == "404"
    assert _attributes(rest_span)["url.path"] == "/v2/models/nosuch" and rest_span["parentSpanId"] == CALLER_SPAN
    assert metadata_span["name"] == "inference.GRPCInferenceService/ModelMetadata"

    assert wait_until(lambda: all(any(json.loads(line).get("trace_id") == t for line in log.read_text().splitlines())
                                  for t in [*traces.values(), "f" * 32]), 20), log.read_text()
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    for name, (path, status) in expected.items():
        (line,) = [line for line in lines if line["trace_id"] == traces[name]]
        assert line["method"] == path and line["grpc_status"] == status, (name, line)
        assert line["peer"].startswith("127.0.0.1:") and line["duration_ms"] >= 0, line
    (rest_line,) = [line for line in lines if line["trace_id"] == "f" * 32 and line["method"].startswith("GET ")]
    assert rest_line["method"] == "GET /v2/models/nosuch" and rest_line["http_status"] == 404, rest_line


def test_spans_of_the_last_calls_are_exported_when_the_gateway_stops(procs, tmp_path, collector, model):
    gw = _gateway(procs, tmp_path, collector, [model.address])
    stub = pb.inference_grpc.InferenceStub(procs.channel(gw.address))
    stub.Predict(predict_request("traced", "1"), timeout=10, metadata=[("traceparent", f"00-{TRACE}-{CALLER_SPAN}-01")])
    gw.terminate()
    assert gw.wait(30) == 0
    assert len(collector.trace(TRACE)) == 2, collector.spans


@pytest.mark.parametrize("argv,status,words", [
    (["--trace-sample-ratio", "0.5"], 2, "needs --otlp-endpoint"),
    (["--otlp-endpoint", "http://127.0.0.1:4318", "--trace-sample-ratio", "1.5"], 2, "from 0 to 1"),
    (["--otlp-endpoint", "http://127.0.0.1:4318", "--otlp-protocol", "grpc"], 2, "http/protobuf or http/json"),
    (["--otlp-protocol", "http/json"], 2, "needs --otlp-endpoint"),
    (["--otlp-endpoint", "https://collector:4318"], 1, "must be http://HOST:PORT"),
    (["--otlp-endpoint", "http://collector"], 1, "must name HOST:PORT"),
], ids=["ratio-alone", "ratio-range", "protocol", "protocol-alone", "https", "no-port"])
def test_tracing_flags_that_cannot_work_are_refused(procs, tmp_path, argv, status, words):
    routes = tmp_path / "routes.json"
    routes.write_text('{"models": {}}')
    p = procs.start("gateway", [binary("byoc-gateway"), "--listen", "127.0.0.1:0", "--routes", str(routes), *argv],
                    wait=False)
    assert p.wait(timeout=20) == status, p.log()
    assert words in p.log(), p.log()
