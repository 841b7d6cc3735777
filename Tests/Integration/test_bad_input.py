"""Bad input everywhere (issue 18): mutated Admin and Predict bodies never answer INTERNAL, the
registry changes only by the inputs the gateway accepted, and hostile messages (millions of
empty repeated entries, megabytes of unknown fields) are refused while decoding with bounded
memory.

The fuzz is seeded and bounded (FUZZ_BODIES per RPC, default 2,000); BYOC_FUZZ_SEED picks another
seed. Every body is sent raw (no client-side serialization) with grpcio.
"""
from __future__ import annotations

import collections
import os
import random
import time

import grpc
import pytest

import harness
from harness import MiB, binary, pb

FUZZ_BODIES = int(os.environ.get("BYOC_FUZZ_BODIES", "2000"))
SEED = int(os.environ.get("BYOC_FUZZ_SEED", "18"))


# ---------------------------------------------------------------------------- mutations

def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field(number: int, wire: int, payload: bytes = b"") -> bytes:
    return _varint(number << 3 | wire) + payload


def mutate(rng: random.Random, seed: bytes) -> bytes:
    """One hostile body derived from `seed` (a valid encoding) by one of the issue's mutations."""
    kind = rng.randrange(9)
    data = bytearray(seed)
    number = rng.choice([1, 2, 3, 4, 5, 6, 7, 12, 13, 14, 99, 536870911])
    if kind == 0 and data:                            # truncated anywhere (often inside a varint or length)
        return bytes(data[:rng.randrange(len(data))])
    if kind == 1:                                     # a truncated varint (continuation bit, then nothing)
        return bytes(data) + _field(number, 0, b"\xff" * rng.randrange(1, 11))
    if kind == 2:                                     # a known field number with a wrong wire type
        wire = rng.choice([0, 1, 2, 3, 4, 5, 6, 7])
        payload = {0: _varint(rng.getrandbits(64)), 1: rng.randbytes(8), 2: _varint(3) + b"abc",
                   5: rng.randbytes(4)}.get(wire, b"")
        return bytes(data) + _field(number, wire, payload)
    if kind == 3:                                     # invalid UTF-8 in a string field
        bad = rng.choice([b"\xff\xfe", b"\xc0\xaf", b"\xed\xa0\x80", b"ok\x80", b"\xf8\x88\x80\x80\x80"])
        return _field(rng.choice([1, 2, 3, 4]), 2, _varint(len(bad)) + bad) + bytes(data)
    if kind == 4:                                     # a length far beyond the body
        return bytes(data) + _field(number, 2, _varint(rng.choice([1 << 20, 1 << 31, (1 << 63) - 1, (1 << 64) - 1])))
    if kind == 5:                                     # random bytes
        return rng.randbytes(rng.randrange(1, 200))
    if kind == 6 and data:                            # bit flips over a valid message
        for _ in range(rng.randrange(1, 4)):
            i = rng.randrange(len(data))
            data[i] ^= 1 << rng.randrange(8)
        return bytes(data)
    if kind == 7:                                     # a nested group start/end soup
        return bytes(data) + _field(number, 3) + _field(number + 1, 4)
    # a valid message with a byte inserted or deleted
    if data:
        i = rng.randrange(len(data))
        if rng.random() < 0.5:
            del data[i]
        else:
            data.insert(i, rng.randrange(256))
    return bytes(data)


def _raw(channel, method: str):
    """A unary callable that sends and receives raw bytes."""
    return channel.unary_unary(method, request_serializer=None, response_deserializer=None)


def _admin_seeds(command: list[str]) -> dict[str, list[bytes]]:
    a = pb.admin
    reg = a.RegisterModelRequest(model="fz", version="1", command=command, env={"A": "b"}, min_replicas=1,
                                 max_replicas=2, image_pull_secrets=["s"], node_selector={"k": "v"},
                                 tolerations=[a.Toleration(key="k", operator="Equal", value="v", effect="NoSchedule")],
                                 resources=a.Resources(cpu_request="100m", memory_limit="1Gi"))
    return {
        "RegisterModel": [reg.SerializeToString(), a.RegisterModelRequest(model="fz", version="2", image="img").SerializeToString()],
        "ListModels": [b"", a.ListModelsRequest().SerializeToString()],
        "GetModel": [a.GetModelRequest(model="iris").SerializeToString()],
        "SetDefaultVersion": [a.SetDefaultVersionRequest(model="iris", version="1").SerializeToString()],
        "ScaleModelVersion": [a.ScaleModelVersionRequest(model="iris", version="1", min_replicas=1, max_replicas=1).SerializeToString()],
        "DeleteModel": [a.DeleteModelRequest(model="nosuch", version="9").SerializeToString()],
        "CreateToken": [a.CreateTokenRequest(scope="predict", models=["iris"], description="d").SerializeToString()],
        "ListTokens": [b""],
        "RevokeToken": [a.RevokeTokenRequest(id="0123456789ab").SerializeToString()],
    }


def _registry_keys(admin) -> set[tuple[str, str]]:
    models = admin.ListModels(pb.admin.ListModelsRequest(), timeout=20).models
    return {(m.name, v.version) for m in models for v in m.versions}


@pytest.fixture
def gw(procs, tmp_path):
    nopath = tmp_path / "empty-path"
    nopath.mkdir()
    gw = procs.registry_gateway(extra=["--max-replicas", "2", "--resync-ms", "500"], env={"PATH": str(nopath)})
    gw.register("iris", "1", command=[binary("byoc-echo-model")])
    gw.wait_state("iris", "1", "READY")
    return gw


def _fuzz(call, seeds: list[bytes], rng: random.Random, n: int):
    """Sends `n` mutated bodies; returns (codes Counter, [(body, details)] of INTERNAL/UNKNOWN, OK bodies)."""
    codes: collections.Counter = collections.Counter()
    bad, accepted = [], []
    for _ in range(n):
        body = mutate(rng, rng.choice(seeds))
        try:
            response = call(body, timeout=20)
            codes["OK"] += 1
            accepted.append((body, response))
        except grpc.RpcError as e:
            codes[e.code().name] += 1
            if e.code() in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN):
                bad.append((body, e.details()))
            elif e.code() == grpc.StatusCode.INVALID_ARGUMENT:
                assert e.details(), f"INVALID_ARGUMENT without a message for {body.hex()}"
    return codes, bad, accepted


@pytest.mark.timeout(600)
def test_mutated_admin_bodies_are_invalid_argument_and_change_only_what_was_accepted(gw):
    rng = random.Random(SEED)
    before = _registry_keys(gw.admin)
    expected = set(before)
    seeds = _admin_seeds([binary("byoc-echo-model")])
    failures = []
    started = time.monotonic()
    for method, method_seeds in seeds.items():
        codes, bad, accepted = _fuzz(_raw(gw.channel, f"/byoc.v1.Admin/{method}"), method_seeds, rng, FUZZ_BODIES)
        print(f"{method}: {dict(codes)}")
        failures += [(method, body, details) for body, details in bad]
        for _, response in accepted:
            if method == "RegisterModel":
                v = pb.admin.ModelVersion.FromString(response)
                expected.add((v.model, v.version))
            elif method == "DeleteModel":
                for v in pb.admin.DeleteModelResponse.FromString(response).deleted:
                    expected.discard((v.model, v.version))
    print(f"{FUZZ_BODIES * len(seeds)} Admin bodies in {time.monotonic() - started:.1f} s")
    assert not failures, "INTERNAL/UNKNOWN for: " + "; ".join(
        f"{m} {body.hex()} -> {details!r}" for m, body, details in failures[:10])
    assert _registry_keys(gw.admin) == expected
    assert gw.proc.alive


@pytest.mark.timeout(600)
def test_mutated_predict_and_model_infer_bodies_never_answer_internal(gw):
    rng = random.Random(SEED + 1)
    predict = [harness.predict_request("iris", "1", payload=b"p").SerializeToString()]
    infer = [pb.oip.ModelInferRequest(model_name="iris", model_version="1", id="x", inputs=[
        pb.oip.ModelInferRequest.InferInputTensor(name="in", datatype="FP32", shape=[1, 2],
                                                  contents=pb.oip.InferTensorContents(fp32_contents=[1.0, 2.0]))],
        raw_input_contents=[b"\0" * 8]).SerializeToString()]
    failures = []
    for method, seeds in [("/byoc.v1.Inference/Predict", predict),
                          ("/inference.GRPCInferenceService/ModelInfer", infer)]:
        codes, bad, _ = _fuzz(_raw(gw.channel, method), seeds, rng, FUZZ_BODIES)
        print(f"{method}: {dict(codes)}")
        failures += [(method, body, details) for body, details in bad]
    assert not failures, "INTERNAL/UNKNOWN for: " + "; ".join(
        f"{m} {body.hex()} -> {details!r}" for m, body, details in failures[:10])
    gw.wait_predict_ok("iris", "1")


@pytest.mark.timeout(600)
def test_mutated_stream_infer_reflection_and_health_requests_never_answer_internal(gw):
    """The requests the gateway reads itself on streams: later ModelStreamInfer requests (checked
    against the stream's model), reflection and health Watch/List requests; plus ModelConfig."""
    rng = random.Random(SEED + 2)
    first = pb.oip.ModelInferRequest(model_name="iris", model_version="1", id="0").SerializeToString()
    later = [pb.oip.ModelInferRequest(model_name="iris", id="1", raw_input_contents=[b"ab"]).SerializeToString(),
             pb.oip.ModelInferRequest(model_name="wine", model_version="1").SerializeToString()]
    stream = gw.channel.stream_stream("/inference.GRPCInferenceService/ModelStreamInfer")
    reflection = gw.channel.stream_stream("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo")
    watch = gw.channel.unary_stream("/grpc.health.v1.Health/Watch")

    def first_answers(call, n):
        def send(body, timeout):
            answers = call(body, timeout=timeout)
            out = [next(answers) for _ in range(n)]
            answers.cancel()
            return out
        return send
    cases = [
        ("ModelStreamInfer", lambda body, timeout: list(stream(iter([first, body]), timeout=timeout)), later),
        ("ServerReflectionInfo", lambda body, timeout: list(reflection(iter([body]), timeout=timeout)),
         [b"\x3a\x00", b"\x22\x0ebyoc.v1.Admin", b"\x1a\x12byoc/v1/admin.proto"]),
        ("Watch", first_answers(watch, 1), [b"", b"\x0a\x04iris"]),
        ("List", _raw(gw.channel, "/grpc.health.v1.Health/List"), [b""]),
        ("ModelConfig", _raw(gw.channel, "/inference.GRPCInferenceService/ModelConfig"),
         [pb.oip.ModelConfigRequest(name="iris", version="1").SerializeToString()]),
    ]
    failures = []
    for method, call, seeds in cases:
        codes, bad, _ = _fuzz(call, seeds, rng, FUZZ_BODIES // 2)
        print(f"{method}: {dict(codes)}")
        failures += [(method, body, details) for body, details in bad]
    assert not failures, "INTERNAL/UNKNOWN for: " + "; ".join(
        f"{m} {body.hex()} -> {details!r}" for m, body, details in failures[:10])
    gw.wait_predict_ok("iris", "1")


# ---------------------------------------------------------------------------- hostile messages

def _vm_kib(pid: int, key: str) -> int:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {key} in /proc/{pid}/status")


HOSTILE = [
    # (method, body, words the status message must contain)
    ("RegisterModel", b"\x22\x00" * 8_000_000, ["command", "more than 4096 entries"]),          # 15 MiB, 8 M empty commands
    ("CreateToken", b"\x12\x00" * 8_000_000, ["models", "more than 4096 entries"]),             # 8 M empty model names
    ("ListModels", b"\xf8\x06\x01" * (11 * MiB // 3), ["more than 256 unknown fields"]),       # 11 MiB of unknown fields
    ("RegisterModel", b"\x32\x00" * 5_000_000, ["env", "more than 4096 entries"]),              # 5 M empty env entries
    ("GetModel", b"\x0a\x00" * 100_000, ["more than 65536 fields"]),                           # one field 100,000 times
]


@pytest.mark.timeout(300)
def test_hostile_messages_are_refused_while_decoding_with_bounded_memory(procs):
    gw = procs.registry_gateway()
    before = _registry_keys(gw.admin)
    baseline = _vm_kib(gw.pid, "VmRSS")
    for method, body, words in HOSTILE:
        with pytest.raises(grpc.RpcError) as info:
            _raw(gw.channel, f"/byoc.v1.Admin/{method}")(body, timeout=60)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT, (method, info.value.code(), info.value.details())
        for word in words:
            assert word in info.value.details(), (method, info.value.details())
        print(f"{method} of {len(body) / MiB:.1f} MiB: {info.value.details()}; "
              f"VmHWM {_vm_kib(gw.pid, 'VmHWM') / 1024:.0f} MiB")
    peak = _vm_kib(gw.pid, "VmHWM")
    print(f"gateway RSS {baseline / 1024:.0f} MiB before, peak {peak / 1024:.0f} MiB, "
          f"now {_vm_kib(gw.pid, 'VmRSS') / 1024:.0f} MiB")
    assert peak < 100 * 1024, f"peak RSS {peak / 1024:.0f} MiB"
    assert _registry_keys(gw.admin) == before


@pytest.mark.timeout(120)
def test_a_huge_name_is_invalid_argument_with_a_short_message(procs):
    """Validation messages quote the input: a 1 MB name must still yield a status the client
    can read (grpc-message is cut to 1 KiB), not a trailer block over grpcio's header limit."""
    gw = procs.registry_gateway()
    for call in [lambda: gw.admin.GetModel(pb.admin.GetModelRequest(model="a" * 1_000_000), timeout=20),
                 lambda: gw.admin.CreateToken(pb.admin.CreateTokenRequest(scope="x" * 100_000), timeout=20)]:
        with pytest.raises(grpc.RpcError) as info:
            call()
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT, (info.value.code(), info.value.details())
        assert "truncated" in info.value.details() and len(info.value.details()) <= 1024
    # The data plane's "unknown model" quotes the name too (main: RESOURCE_EXHAUSTED in grpcio,
    # "received metadata size exceeds soft limit").
    with pytest.raises(grpc.RpcError) as info:
        gw.predict("a" * 16_000, "1")
    assert info.value.code() == grpc.StatusCode.NOT_FOUND, (info.value.code(), info.value.details())
    assert "truncated" in info.value.details() and len(info.value.details()) <= 1024
