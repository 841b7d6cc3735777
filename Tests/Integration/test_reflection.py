"""gRPC server reflection on the gateway (issue 15, item 4): grpcio-reflection's stock client
(v1alpha) building a descriptor pool from the gateway alone, the v1 stream with every request
kind and its error responses, and grpcurl when the machine has it.

The v1 calls use grpcio-reflection's v1alpha messages: the two are the same on the wire (and
grpcio aliases `grpc.reflection` to grpcio-reflection, so stubs generated from our
grpc/reflection/v1/reflection.proto could not be imported under their own name)."""
from __future__ import annotations

import shutil
import subprocess

import grpc
import pytest
from google.protobuf import descriptor_pb2, descriptor_pool
from grpc_reflection.v1alpha import reflection_pb2
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

import h2raw
import harness
from harness import ROOT

SERVICES = ["byoc.v1.Admin", "byoc.v1.Inference", "grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection",
            "inference.GRPCInferenceService"]


@pytest.fixture
def gw(procs):
    echo = procs.echo("iris", "1")
    return procs.gateway({"iris": {"default": "1", "versions": {"1": [echo]}}},
                         extra=["--require-auth", "--admin-token-file", str(_token_file(procs))])


def _token_file(procs):
    path = procs.dir / "admin-token"
    path.write_text(harness.make_token())
    return path


def _committed_files() -> dict[str, descriptor_pb2.FileDescriptorProto]:
    fds = descriptor_pb2.FileDescriptorSet.FromString((ROOT / "Generated" / "descriptors.binpb").read_bytes())
    return {f.name: f for f in fds.file}


def test_grpcio_reflection_client_builds_the_gateway_services(gw, procs):
    """Reflection needs no token even with --require-auth (like health): it only describes."""
    db = ProtoReflectionDescriptorDatabase(procs.channel(gw.address))
    assert sorted(db.get_services()) == SERVICES
    pool = descriptor_pool.DescriptorPool(db)
    oip = pool.FindServiceByName("inference.GRPCInferenceService")
    assert {"ModelInfer", "ModelMetadata", "ServerLive"} <= {m.name for m in oip.methods}
    admin = pool.FindServiceByName("byoc.v1.Admin")
    register = admin.FindMethodByName("RegisterModel")
    assert register.input_type.full_name == "byoc.v1.RegisterModelRequest"
    assert "model" in register.input_type.fields_by_name
    watch = pool.FindServiceByName("grpc.health.v1.Health").FindMethodByName("Watch")
    assert watch.server_streaming and not watch.client_streaming
    status = pool.FindEnumTypeByName("grpc.health.v1.HealthCheckResponse.ServingStatus")
    assert status.values_by_name["SERVICE_UNKNOWN"].number == 3
    assert pool.FindFileByName("byoc/v1/inference.proto").package == "byoc.v1"
    with pytest.raises(KeyError):
        pool.FindMessageTypeByName("byoc.v1.NoSuchMessage")


def _info(channel, path="/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"):
    return channel.stream_stream(path, request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
                                 response_deserializer=reflection_pb2.ServerReflectionResponse.FromString)


@pytest.mark.parametrize("version", ["v1", "v1alpha"])
def test_every_request_kind_on_one_stream(gw, procs, version):
    r = reflection_pb2
    requests = [
        r.ServerReflectionRequest(host="h", list_services=""),
        r.ServerReflectionRequest(file_containing_symbol="byoc.v1.Admin.RegisterModel"),
        r.ServerReflectionRequest(file_containing_symbol="byoc.v1.Admin"),  # sent again: the requested file always is
        r.ServerReflectionRequest(file_containing_symbol="grpc.health.v1.HealthCheckResponse.SERVING"),
        r.ServerReflectionRequest(file_containing_symbol="inference.ModelInferRequest.InferInputTensor.shape"),
        r.ServerReflectionRequest(file_by_filename="grpc/reflection/v1/reflection.proto"),
        r.ServerReflectionRequest(file_containing_symbol="byoc.v1.Nope"),
        r.ServerReflectionRequest(file_by_filename="nope.proto"),
        r.ServerReflectionRequest(all_extension_numbers_of_type="byoc.v1.ModelVersion"),
        r.ServerReflectionRequest(all_extension_numbers_of_type="byoc.v1.Admin"),
        r.ServerReflectionRequest(file_containing_extension=r.ExtensionRequest(containing_type="byoc.v1.ModelVersion",
                                                                               extension_number=100)),
        r.ServerReflectionRequest(host="no member set"),
        r.ServerReflectionRequest(list_services="after the errors, the stream still answers"),
    ]
    answers = list(_info(procs.channel(gw.address), f"/grpc.reflection.{version}.ServerReflection/ServerReflectionInfo")(
        iter(requests), timeout=30))
    assert len(answers) == len(requests)
    for request, answer in zip(requests, answers):
        assert answer.original_request == request and answer.valid_host == request.host
    committed = _committed_files()

    def files(answer):
        assert answer.WhichOneof("message_response") == "file_descriptor_response", answer.error_response
        return [descriptor_pb2.FileDescriptorProto.FromString(b) for b in answer.file_descriptor_response.file_descriptor_proto]

    assert [s.name for s in answers[0].list_services_response.service] == SERVICES
    (admin,) = files(answers[1])
    assert admin == committed["byoc/v1/admin.proto"], "the committed descriptor, source comments included"
    assert admin.source_code_info.location
    assert [f.name for f in files(answers[2])] == ["byoc/v1/admin.proto"]
    assert [f.name for f in files(answers[3])] == ["grpc/health/v1/health.proto"]
    assert [f.name for f in files(answers[4])] == ["inference/grpc_predict_v2.proto"]
    (reflection,) = files(answers[5])
    assert reflection.package == "grpc.reflection.v1" and list(reflection.dependency) == []
    for answer, words in [(answers[6], "symbol not found: byoc.v1.Nope"), (answers[7], "file not found: nope.proto"),
                          (answers[9], "message type not found: byoc.v1.Admin"), (answers[10], "extension not found")]:
        assert answer.error_response.error_code == grpc.StatusCode.NOT_FOUND.value[0], answer
        assert words in answer.error_response.error_message
    assert answers[8].all_extension_numbers_response.base_type_name == "byoc.v1.ModelVersion"
    assert list(answers[8].all_extension_numbers_response.extension_number) == []
    assert answers[11].error_response.error_code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert len(answers[12].list_services_response.service) == len(SERVICES)


def test_an_undecodable_request_ends_the_stream_invalid_argument(gw, procs):
    call = procs.channel(gw.address).stream_stream("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo")
    with pytest.raises(grpc.RpcError) as err:
        list(call(iter([b"\x3a\x05ab"]), timeout=10))  # list_services cut short
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "ServerReflectionRequest" in err.value.details()


def test_reflection_ends_at_the_deadline(gw, procs):
    """A stream the client keeps open ends at its deadline."""
    import queue
    requests: queue.Queue = queue.Queue()
    requests.put(reflection_pb2.ServerReflectionRequest(list_services=""))

    def feed():
        while True:
            item = requests.get()
            if item is None:
                return
            yield item
    answers = _info(procs.channel(gw.address))(feed(), timeout=1.5)
    first = next(answers)
    assert len(first.list_services_response.service) == len(SERVICES)
    with pytest.raises(grpc.RpcError) as err:
        next(answers)
    requests.put(None)
    assert err.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED


def test_grpcurl_list_and_describe(gw):
    grpcurl = shutil.which("grpcurl")
    if grpcurl is None:
        pytest.skip("grpcurl is not installed, and Debian 12 has no grpcurl package (apt-cache policy grpcurl: none); "
                    "grpcio-reflection's client covers reflection above")
    out = subprocess.run([grpcurl, "-plaintext", gw.address, "list"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == SERVICES
    out = subprocess.run([grpcurl, "-plaintext", gw.address, "describe", "byoc.v1.Admin.RegisterModel"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "RegisterModelRequest" in out.stdout, out.stderr


@pytest.fixture
def small_gw(procs):
    return procs.gateway({}, extra=["--max-message-bytes", "1024"])


@pytest.mark.parametrize("body,code,words", [
    (h2raw.grpc_frame(b"\x3a\x00")[:-1], 3, "inside a gRPC message"),            # the stream ends mid-message
    (h2raw.grpc_frame(b"\x3a\x00" + b"\x00" * 2000), 8, "1024"),                   # over --max-message-bytes
    (h2raw.grpc_frame(b"\x3a\x00", compressed=True), 3, "compressed"),            # compressed, no grpc-encoding
])
def test_bad_framing_on_the_reflection_stream(small_gw, body, code, words):
    with h2raw.RawH2(small_gw.address) as conn:
        sid = conn.request("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo", body)
        result = conn.wait(sid, timeout=20)
    assert result.grpc_status == code, result
    assert words in (result.grpc_message or ""), result


def test_a_cancelled_reflection_stream_leaves_the_gateway_serving(small_gw, procs):
    with h2raw.RawH2(small_gw.address) as conn:
        sid = conn.headers("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo")
        conn.data(sid, h2raw.grpc_frame(reflection_pb2.ServerReflectionRequest(list_services="").SerializeToString()),
                  end_stream=False)
        conn.pump(0.5)
        assert conn.streams[sid].data, "answered before the client half-closed"
        conn.reset(sid)
        conn.flush()
        conn.pump(0.2)
    db = ProtoReflectionDescriptorDatabase(procs.channel(small_gw.address))
    assert sorted(db.get_services()) == SERVICES
