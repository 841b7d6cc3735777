"""Any gRPC method (issue 15, item 5): a container that serves its own service besides Predict is
reached through the gateway with the `byoc-model` header (and `byoc-version`), for all four call
kinds, with deadlines, cancellation, balancing and auth like Predict.

The model is a Python grpcio server with a generic `acme.Tools` service (raw bytes, no
generated code): Upper (unary), Count (server streaming), Join (client streaming) and Chat
(bidirectional); each answer names the replica that served it.
"""
from __future__ import annotations

import sys
import threading
import time

import grpc
import pytest

import harness
from harness import binary, make_token, pb

pytestmark = pytest.mark.timeout(180)

CUSTOM_MODEL = r"""
import os, sys, threading, time
from concurrent import futures
import grpc

NAME = sys.argv[1]
cancelled = []

def upper(request, context):
    if request == b"slow":
        time.sleep(5)
    if request == b"fail":
        context.abort(grpc.StatusCode.FAILED_PRECONDITION, "asked to fail")
    context.send_initial_metadata((("served-by", NAME),))
    return request.upper()

def count(request, context):
    for i in range(int(request or b"0")):
        yield b"%d" % i

def join(requests, context):
    return b"+".join(requests) + b"@" + NAME.encode()

def chat(requests, context):
    context.add_callback(lambda: print("stream ended", "cancelled" if not context.is_active() else "", flush=True))
    for message in requests:
        yield b"re:" + message

def health(request, context):
    return b"\x08\x01"  # grpc.health.v1.HealthCheckResponse{status: SERVING}

server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("grpc.health.v1.Health", {
    "Check": grpc.unary_unary_rpc_method_handler(health)}),))
server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("acme.Tools", {
    "Upper": grpc.unary_unary_rpc_method_handler(upper),
    "Count": grpc.unary_stream_rpc_method_handler(count),
    "Join": grpc.stream_unary_rpc_method_handler(join),
    "Chat": grpc.stream_stream_rpc_method_handler(chat),
}),))
port = server.add_insecure_port(f"127.0.0.1:{os.environ.get('PORT', '0')}")
server.start()
print(f"listening on 127.0.0.1:{port}", flush=True)
server.wait_for_termination()
"""


@pytest.fixture
def models(procs, tmp_path):
    script = tmp_path / "custom_model.py"
    script.write_text(CUSTOM_MODEL)
    return [procs.start(f"tools-{n}", [sys.executable, str(script), n]) for n in ("a", "b")]


def methods(channel):
    return (channel.unary_unary("/acme.Tools/Upper"), channel.unary_stream("/acme.Tools/Count"),
            channel.stream_unary("/acme.Tools/Join"), channel.stream_stream("/acme.Tools/Chat"))


def test_all_four_call_kinds_through_the_gateway(procs, models):
    gw = procs.gateway({"tools": {"default": "1", "versions": {"1": models, "2": [models[0]]}}})
    upper, count, join, chat = methods(procs.channel(gw.address))
    md = (("byoc-model", "tools"),)

    served = set()
    for _ in range(20):
        answer, call = upper.with_call(b"hello", metadata=md, timeout=10)
        assert answer == b"HELLO"
        meta = dict(call.initial_metadata())
        served.add(meta["served-by"])
        assert meta["byoc-served-version"] == "1"
    assert served == {"a", "b"}, f"calls are balanced over both replicas, got {served}"
    assert list(count(b"5", metadata=md, timeout=10)) == [b"0", b"1", b"2", b"3", b"4"]
    assert len(list(count(b"2000", metadata=md, timeout=20))) == 2000
    assert join(iter([b"x", b"y", b"z"]), metadata=md, timeout=10).rsplit(b"@", 1)[0] == b"x+y+z"
    replies = list(chat(iter([b"1", b"2", b"3"]), metadata=md, timeout=10))
    assert replies == [b"re:1", b"re:2", b"re:3"]

    # byoc-version picks the version: version 2 runs on replica a only.
    for _ in range(5):
        assert join(iter([b"q"]), metadata=md + (("byoc-version", "2"),), timeout=10) == b"q@a"

    # The model's own status passes through; the gateway's errors are the contract's.
    with pytest.raises(grpc.RpcError) as err:
        upper(b"fail", metadata=md, timeout=10)
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION and err.value.details() == "asked to fail"
    with pytest.raises(grpc.RpcError) as err:
        upper(b"x", timeout=10)
    assert err.value.code() == grpc.StatusCode.UNIMPLEMENTED, err.value.details()
    with pytest.raises(grpc.RpcError) as err:
        upper(b"x", metadata=(("byoc-model", "nope"),), timeout=10)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND, err.value.details()
    with pytest.raises(grpc.RpcError) as err:
        list(count(b"3", metadata=md + (("byoc-version", "9"),), timeout=10))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND, err.value.details()


def test_deadline_and_cancellation_reach_the_model(procs, models):
    gw = procs.gateway({"tools": {"default": "1", "versions": {"1": [models[0]]}}})
    upper, count, join, chat = methods(procs.channel(gw.address))
    md = (("byoc-model", "tools"),)
    started = time.monotonic()
    with pytest.raises(grpc.RpcError) as err:
        upper(b"slow", metadata=md, timeout=0.3)
    assert err.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert time.monotonic() - started < 3

    # A bidi stream cancelled by the client after two answers: the model's stream ends too.
    feed = threading.Event()

    def requests():
        yield b"1"
        yield b"2"
        feed.wait(10)
    call = chat(requests(), metadata=md, timeout=30)
    assert next(call) == b"re:1" and next(call) == b"re:2"
    call.cancel()
    feed.set()
    assert models[0].wait_for_log("stream ended cancelled", timeout=10), models[0].log()


def test_custom_methods_need_a_token_for_the_model(procs, models, tmp_path):
    admin = make_token()
    token_file = tmp_path / "admin-token"
    token_file.write_text(admin + "\n")
    token_file.chmod(0o600)
    gw = procs.registry_gateway(extra=["--require-auth", "--admin-token-file", str(token_file)])
    auth = (("authorization", f"Bearer {admin}"),)
    gw.admin.RegisterModel(pb.admin.RegisterModelRequest(
        model="tools", version="1", command=[sys.executable, str(tmp_path / "custom_model.py"), "r"]),
        timeout=20, metadata=auth)
    gw.admin.RegisterModel(pb.admin.RegisterModelRequest(
        model="other", version="1", command=[binary("byoc-echo-model")]), timeout=20, metadata=auth)
    for name in ("tools", "other"):
        deadline = time.monotonic() + 60
        while pb.admin.VersionState.Name(gw.admin.GetModel(pb.admin.GetModelRequest(model=name), timeout=20,
                                                           metadata=auth).versions[0].state) != "READY":
            assert time.monotonic() < deadline, f"{name} not READY"
            time.sleep(0.1)
    tools_token = gw.admin.CreateToken(pb.admin.CreateTokenRequest(scope="predict", models=["tools"]),
                                       timeout=20, metadata=auth).secret
    other_token = gw.admin.CreateToken(pb.admin.CreateTokenRequest(scope="predict", models=["other"]),
                                       timeout=20, metadata=auth).secret
    upper, count, join, chat = methods(procs.channel(gw.address))
    md = (("byoc-model", "tools"),)
    for metadata, code in ((md, grpc.StatusCode.UNAUTHENTICATED),
                           (md + (("authorization", f"Bearer {other_token}"),), grpc.StatusCode.PERMISSION_DENIED)):
        with pytest.raises(grpc.RpcError) as err:
            list(chat(iter([b"1"]), metadata=metadata, timeout=10))
        assert err.value.code() == code, (code, err.value.details())
    good = md + (("authorization", f"Bearer {tools_token}"),)
    assert list(chat(iter([b"1", b"2"]), metadata=good, timeout=10)) == [b"re:1", b"re:2"]
    assert upper(b"ok", metadata=good, timeout=10) == b"OK"
