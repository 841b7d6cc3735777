"""Writes the committed seed corpus of the libFuzzer targets (Tests/Fuzz/corpus/TARGET/NAME).

Run from the repository with the test venv: /work/venv/bin/python Tests/Fuzz/make_corpus.py
(the proto seeds need the stubs Tests/Integration generates). A proto seed is one byte, the
index of the message type in GeneratedMessages.all, then the message's encoding.
"""
from __future__ import annotations

import hashlib
import json
import struct
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "Integration"))
import harness  # noqa: E402

sys.path.append(str(harness.GEN))
from harness import pb  # noqa: E402

# GeneratedMessages.all order (Sources/Shared/Messages/Generated/AllMessages.swift).
INDEX = {"RegisterModelRequest": 2, "ModelVersion": 3, "ListModelsResponse": 6, "GetModelRequest": 7,
         "SetDefaultVersionRequest": 8, "ScaleModelVersionRequest": 9, "DeleteModelRequest": 10,
         "CreateTokenRequest": 13, "RevokeTokenRequest": 17, "ListEventsRequest": 18, "GetLogsRequest": 21,
         "PredictRequest": 24, "PredictResponse": 25, "HealthCheckRequest": 26, "ModelReadyRequest": 34,
         "ModelMetadataRequest": 38, "ModelInferRequest": 41, "ModelInferResponse": 44}


def write(target: str, data: bytes) -> None:
    folder = HERE / "corpus" / target
    folder.mkdir(parents=True, exist_ok=True)
    (folder / hashlib.sha1(data).hexdigest()[:16]).write_bytes(data)


def frame(message: bytes, compressed: int = 0) -> bytes:
    return bytes([compressed]) + struct.pack(">I", len(message)) + message


def main() -> None:
    a, i, o = pb.admin, pb.inference, pb.oip
    version = a.ModelVersion(model="iris", version="1", command=["/bin/echo", "x"], env={"A": "b"}, min_replicas=1,
                             max_replicas=2, tolerations=[a.Toleration(key="k", value="v")],
                             resources=a.Resources(cpu_request="100m"), node_selector={"n": "s"})
    infer = o.ModelInferRequest(model_name="iris", model_version="1", id="7", inputs=[
        o.ModelInferRequest.InferInputTensor(name="x", datatype="FP32", shape=[1, 2],
                                             contents=o.InferTensorContents(fp32_contents=[1.0, 2.0]))],
        raw_input_contents=[b"\0\1"])
    messages = {
        "RegisterModelRequest": a.RegisterModelRequest(model="iris", version="1", command=["/bin/echo"], env={"A": "b"},
                                                       image_pull_secrets=["s"], node_selector={"k": "v"},
                                                       tolerations=[a.Toleration(key="k", effect="NoSchedule")]),
        "ModelVersion": version,
        "ListModelsResponse": a.ListModelsResponse(models=[a.Model(name="iris", default_version="1", versions=[version])]),
        "GetModelRequest": a.GetModelRequest(model="iris"),
        "SetDefaultVersionRequest": a.SetDefaultVersionRequest(model="iris", version="2"),
        "ScaleModelVersionRequest": a.ScaleModelVersionRequest(model="iris", version="1", min_replicas=1, max_replicas=3),
        "DeleteModelRequest": a.DeleteModelRequest(model="iris", version="1"),
        "CreateTokenRequest": a.CreateTokenRequest(scope="predict", models=["iris", "mnist"], description="ci"),
        "RevokeTokenRequest": a.RevokeTokenRequest(id="0123456789ab"),
        "ListEventsRequest": a.ListEventsRequest(model="iris", limit=10),
        "GetLogsRequest": a.GetLogsRequest(model="iris", tail_lines=5),
        "PredictRequest": i.PredictRequest(model="iris", version="1", payload=b"abc",
                                           inputs={"x": i.Tensor(shape=[2], floats=[1.0, 2.0])}),
        "PredictResponse": i.PredictResponse(model="iris", version="1", payload=b"abc"),
        "ModelReadyRequest": o.ModelReadyRequest(name="iris", version="1"),
        "ModelMetadataRequest": o.ModelMetadataRequest(name="iris"),
        "ModelInferRequest": infer,
        "ModelInferResponse": o.ModelInferResponse(model_name="iris", outputs=[
            o.ModelInferResponse.InferOutputTensor(name="y", datatype="INT64", shape=[1])]),
    }
    for name, message in messages.items():
        write("proto", bytes([INDEX[name]]) + message.SerializeToString())
    write("proto", bytes([INDEX["HealthCheckRequest"]]) + b"\x0a\x04iris")  # service = "iris"
    predict = messages["PredictRequest"].SerializeToString()
    for split, body in [(0, frame(predict)), (7, frame(predict) + frame(b"")), (1, frame(b"x" * 9, 1)),
                        (3, b"\0\0\0\0\5ab")]:
        write("grpc-framing", bytes([split]) + body)
    for body in [predict, infer.SerializeToString(), i.PredictRequest(version="2", model="m").SerializeToString(), b""]:
        write("route-scanner", body)
    for request in [b"GET /api/models HTTP/1.1\r\nHost: x\r\n\r\n",
                    b"POST /api/models/iris/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                    b"Content-Length: 13\r\n\r\n{\"inputs\":{}}",
                    b"POST /api/x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
                    b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n",
                    b"GET /metrics HTTP/1.0\r\n\r\n"]:
        write("http1", request)
    for body in [{"inputs": {"x": [[1, 2], [3, 4]]}}, {"x": {"dtype": "INT64", "shape": [2], "values": [1, 2]}},
                 {"x": {"dtype": "FP32", "shape": [1], "raw": "AACAPw=="}}, {"b": [True, False], "s": ["a", "b"]},
                 {"version": "1", "minReplicas": 1}]:
        write("json", json.dumps(body).encode())


if __name__ == "__main__":
    main()
