"""The access log (`--access-log PATH|-`): one JSON line per call, for proxied calls and for
the calls the gateway answers itself with an error; written by a background thread, and lines
dropped and counted (never a call held up) when the writer cannot keep up."""
from __future__ import annotations

import json
import os
import re
import time
import urllib.error
import urllib.request
from concurrent import futures

import grpc
import pytest

from harness import binary, make_token, pb, predict_request, wait_until

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE}-00f067aa0ba902b7-01"


def _lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def _read_lines(path, count: int, timeout: float = 20.0) -> list[dict]:
    assert wait_until(lambda: path.exists() and len(_lines(path.read_text())) >= count, timeout), \
        f"expected {count} access-log lines, got: {path.read_text() if path.exists() else '(no file)'}"
    return _lines(path.read_text())


def _metric(address: str, name: str) -> float:
    text = urllib.request.urlopen(f"http://{address}/metrics", timeout=10).read().decode()
    match = re.search(rf"^{name} (\S+)$", text, re.M)
    assert match, f"{name} not in /metrics"
    return float(match.group(1))


def _code(method, request, **kw):
    with pytest.raises(grpc.RpcError) as err:
        method(request, timeout=10, **kw)
    return err.value.code()


def test_success_and_error_calls_each_write_one_line(procs, tmp_path):
    log = tmp_path / "access.log"
    echo = procs.echo("echo", "1")
    gw = procs.gateway({"echo": {"default": "1", "versions": {"1": [echo]}},
                        "empty": {"default": "1", "versions": {"1": []}}},
                       extra=["--access-log", str(log)])
    ch = procs.channel(gw.address)
    stub = pb.inference_grpc.InferenceStub(ch)
    request = predict_request("echo", "", payload=b"x" * 100)
    response = stub.Predict(request, timeout=10, metadata=[("traceparent", TRACEPARENT)])
    assert response.payload == b"x" * 100
    assert _code(stub.Predict, predict_request("nosuch", "1")) == grpc.StatusCode.NOT_FOUND
    assert _code(stub.Predict, predict_request("echo", "9")) == grpc.StatusCode.NOT_FOUND
    assert _code(stub.Predict, predict_request("empty", "1")) == grpc.StatusCode.UNAVAILABLE
    oip = pb.oip_grpc.GRPCInferenceServiceStub(ch)
    oip.ModelInfer(pb.oip.ModelInferRequest(model_name="echo", model_version="1"), timeout=10)
    unknown = ch.unary_unary("/byoc.v1.Nope/Method", request_serializer=None, response_deserializer=None)
    assert _code(unknown, b"") == grpc.StatusCode.UNIMPLEMENTED

    # REST infer is translated into ModelInfer through the gateway's own listener: its line is
    # that call's, with the REST caller's trace context.
    rest = urllib.request.Request(f"http://{gw.address}/v2/models/echo/infer", method="POST",
                                  data=json.dumps({"inputs": [{"name": "x", "datatype": "FP32", "shape": [1],
                                                               "data": [1.0]}]}).encode(),
                                  headers={"Content-Type": "application/json",
                                           "traceparent": TRACEPARENT.replace(TRACE, "a" * 32)})
    assert urllib.request.urlopen(rest, timeout=10).status == 200
    # Plain HTTP requests (UI, JSON API, REST) have lines too.
    with pytest.raises(urllib.error.HTTPError) as missing_page:
        urllib.request.urlopen(f"http://{gw.address}/no/such/page", timeout=10)
    assert missing_page.value.code == 404

    lines = _read_lines(log, 9)
    assert len(lines) == 9, lines
    by_model = {}
    for line in lines:
        for field in ("time", "method", "model", "version", "grpc_status", "duration_ms", "request_bytes",
                      "response_bytes", "trace_id", "http_status", "peer", "upstream", "attempts"):
            assert field in line, (field, line)
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", line["time"]), line
        assert line["peer"].startswith("127.0.0.1:"), line
        assert line["duration_ms"] >= 0
        by_model.setdefault((line["method"], line["model"], line["version"]), []).append(line)

    ok = by_model[("/byoc.v1.Inference/Predict", "echo", "1")][0]
    assert ok["grpc_status"] == 0 and ok["grpc_code"] == "OK" and ok["http_status"] == 200, ok
    assert ok["version"] == "1", "the version served, though the call named none"
    assert ok["request_bytes"] == 5 + len(request.SerializeToString()), ok
    assert ok["response_bytes"] == 5 + len(response.SerializeToString()), ok
    assert ok["upstream"] == echo.address and ok["attempts"] == 1, ok
    assert ok["trace_id"] == TRACE, "the caller's trace id"

    missing = by_model[("/byoc.v1.Inference/Predict", "nosuch", "")][0]
    assert missing["grpc_status"] == 5 and missing["grpc_code"] == "NOT_FOUND", missing
    assert missing["upstream"] == "" and missing["attempts"] == 0 and missing["response_bytes"] == 0
    assert missing["trace_id"] == ""
    no_version = by_model[("/byoc.v1.Inference/Predict", "echo", "")][0]
    assert no_version["grpc_status"] == 5, no_version
    unavailable = by_model[("/byoc.v1.Inference/Predict", "empty", "1")][0]
    assert unavailable["grpc_status"] == 14 and unavailable["grpc_code"] == "UNAVAILABLE", unavailable
    infer, from_rest = by_model[("/inference.GRPCInferenceService/ModelInfer", "echo", "1")]
    assert infer["grpc_status"] == 0 and infer["upstream"] == echo.address, infer
    assert infer["trace_id"] == ""
    assert from_rest["grpc_status"] == 0 and from_rest["trace_id"] == "a" * 32, from_rest
    rest_line = by_model[("POST /v2/models/echo/infer", "", "")][0]
    assert rest_line["http_status"] == 200 and rest_line["grpc_status"] is None, rest_line
    assert rest_line["request_bytes"] == len(rest.data) and rest_line["response_bytes"] > 0, rest_line
    assert rest_line["trace_id"] == "a" * 32
    page = by_model[("GET /no/such/page", "", "")][0]
    assert page["http_status"] == 404, page
    nope = by_model[("/byoc.v1.Nope/Method", "", "")][0]
    assert nope["grpc_status"] == 12 and nope["grpc_code"] == "UNIMPLEMENTED", nope

    assert _metric(gw.address, "byoc_access_log_lines_total") == 9
    assert _metric(gw.address, "byoc_access_log_dropped_total") == 0


def test_refused_credentials_are_logged_to_stdout(procs, tmp_path):
    token = make_token()
    token_file = tmp_path / "admin.token"
    token_file.write_text(token)
    echo = procs.echo("echo", "1")
    gw = procs.gateway({"echo": {"default": "1", "versions": {"1": [echo]}}},
                       extra=["--require-auth", "--admin-token-file", str(token_file), "--access-log", "-"])
    stub = pb.inference_grpc.InferenceStub(procs.channel(gw.address))
    assert _code(stub.Predict, predict_request("echo", "1")) == grpc.StatusCode.UNAUTHENTICATED
    assert _code(stub.Predict, predict_request("echo", "1"), metadata=[("authorization", "Bearer nonsense")]) \
        == grpc.StatusCode.UNAUTHENTICATED
    stub.Predict(predict_request("echo", "1"), timeout=10, metadata=[("authorization", f"Bearer {token}")])
    assert wait_until(lambda: len(_lines(gw.log())) >= 3, 20), gw.log_tail()
    lines = _lines(gw.log())
    assert [line["grpc_status"] for line in lines] == [16, 16, 0], lines
    assert all(line["method"] == "/byoc.v1.Inference/Predict" for line in lines)
    assert lines[2]["model"] == "echo" and lines[2]["version"] == "1"
    assert token not in gw.log(), "the access log never shows credentials"


def test_a_stuck_writer_drops_and_counts_lines_instead_of_holding_up_calls(procs, tmp_path):
    # A FIFO whose reader never reads: the writer thread blocks in write() once the pipe is full.
    fifo = tmp_path / "stuck.fifo"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        gw = procs.gateway({}, extra=["--access-log", str(fifo)])
        stub = pb.inference_grpc.InferenceStub(procs.channel(gw.address))
        # Lines of about 3 KiB (the unknown model's name is in each): 3,200 calls are more than
        # the pipe (64 KiB) and the writer's queue (8 MiB) hold.
        calls = 3_200
        name = "m" * 3_000
        started = time.monotonic()

        def call(_):
            try:
                stub.Predict(predict_request(name, "1"), timeout=30)
            except grpc.RpcError as err:
                return err.code()
            return grpc.StatusCode.OK

        with futures.ThreadPoolExecutor(8) as pool:
            codes = list(pool.map(call, range(calls)))
        elapsed = time.monotonic() - started
        assert codes == [grpc.StatusCode.NOT_FOUND] * calls, "every call was answered while the log was stuck"
        # Each scrape of /metrics adds a line of its own.
        scrapes = 0

        def scraped_dropped() -> float:
            nonlocal scrapes
            scrapes += 1
            return _metric(gw.address, "byoc_access_log_dropped_total")

        assert wait_until(lambda: scraped_dropped() > 0, 20)
        dropped = scraped_dropped()
        print(f"stuck access log: {calls} calls in {elapsed:.1f} s, {dropped:.0f} lines dropped")
        # Unstick the writer: everything not dropped arrives.
        received = b""

        def drained():
            nonlocal received
            try:
                while chunk := os.read(reader, 1 << 20):
                    received += chunk
            except BlockingIOError:
                pass
            # The last lines are handed over (and maybe dropped) up to 100 ms after the last call.
            return received.count(b"/byoc.v1.Inference/Predict") + scraped_dropped() >= calls

        assert wait_until(drained, 30, interval=0.05), (received.count(b"\n"), dropped)
        predict_lines = received.count(b"/byoc.v1.Inference/Predict")
        # Every call's line arrived or was counted (the scrapes' own lines may be among the dropped).
        assert calls <= predict_lines + scraped_dropped() <= calls + scrapes
    finally:
        os.close(reader)


def test_an_access_log_that_cannot_be_opened_stops_the_start(procs, tmp_path):
    (tmp_path / "none.json").write_text('{"models": {}}')
    p = procs.start("gateway", [binary("byoc-gateway"), "--listen", "127.0.0.1:0", "--routes",
                                str(tmp_path / "none.json"), "--access-log", str(tmp_path / "no" / "such" / "dir.log")],
                    wait=False)
    assert p.wait(30) == 1
    assert "cannot open the access log" in p.log(), p.log()


def test_lines_of_the_last_calls_are_written_when_the_gateway_stops(procs, tmp_path):
    log = tmp_path / "access.log"
    echo = procs.echo("echo", "1")
    gw = procs.gateway({"echo": {"default": "1", "versions": {"1": [echo]}}}, extra=["--access-log", str(log)])
    stub = pb.inference_grpc.InferenceStub(procs.channel(gw.address))
    for _ in range(20):
        stub.Predict(predict_request("echo", "1"), timeout=10)
    # At once: the lines are still in the workers' buffers (handed over every 100 ms).
    gw.terminate()
    assert gw.wait(30) == 0
    lines = _lines(log.read_text())
    assert len(lines) == 20 and all(line["grpc_status"] == 0 for line in lines), lines


def _cpu_seconds(pid: int) -> float:
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_an_access_log_whose_writes_fail_drops_and_counts_lines_and_says_so_once(procs, tmp_path):
    # /dev/full opens for writing and fails every write with ENOSPC.
    echo = procs.echo("echo", "1")
    gw = procs.gateway({"echo": {"default": "1", "versions": {"1": [echo]}}}, extra=["--access-log", "/dev/full"])
    stub = pb.inference_grpc.InferenceStub(procs.channel(gw.address))
    for _ in range(20):
        stub.Predict(predict_request("echo", "1"), timeout=10)
    assert wait_until(lambda: _metric(gw.address, "byoc_access_log_dropped_total") >= 20, 20), gw.log_tail()
    assert _metric(gw.address, "byoc_access_log_lines_total") == 0
    assert gw.wait_for_log("writing the access log to /dev/full failed: No space left on device", 10), gw.log_tail()
    for _ in range(20):
        stub.Predict(predict_request("echo", "1"), timeout=10)
    assert wait_until(lambda: _metric(gw.address, "byoc_access_log_dropped_total") >= 40, 20)
    assert gw.count("writing the access log") == 1, "said once, not per batch"
    # Nothing spins on the failing file: the idle gateway uses (almost) no CPU.
    before = _cpu_seconds(gw.pid)
    time.sleep(2)
    assert _cpu_seconds(gw.pid) - before < 0.5
    assert gw.alive


def test_a_call_refused_for_its_header_list_has_a_line(procs, tmp_path):
    log = tmp_path / "access.log"
    echo = procs.echo("echo", "1")
    gw = procs.gateway({"echo": {"default": "1", "versions": {"1": [echo]}}}, extra=["--access-log", str(log)])
    stub = pb.inference_grpc.InferenceStub(procs.channel(gw.address))
    assert _code(stub.Predict, predict_request("echo", "1"), metadata=[("x-big", "a" * 20_000)]) \
        == grpc.StatusCode.RESOURCE_EXHAUSTED
    stub.Predict(predict_request("echo", "1"), timeout=10)
    lines = _read_lines(log, 2)
    assert [(line["method"], line["grpc_status"]) for line in lines] == \
        [("/byoc.v1.Inference/Predict", 8), ("/byoc.v1.Inference/Predict", 0)], lines
    assert "a" * 100 not in log.read_text(), "the refused headers are not logged"
