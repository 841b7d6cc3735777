"""A Triton-style Open Inference Protocol model server for the tests, on tritonclient's own
copy of Triton's grpc_service.proto (so ModelConfig and ModelStatistics answers are Triton's
full messages, with fields the gateway's proto does not declare).

    oip_model.py --model M --version V [--port 0]

Serves inference.GRPCInferenceService: ModelInfer and ModelStreamInfer echo the inputs as
outputs (raw or typed contents) and count each request; ModelMetadata; ModelConfig (with a
`parameters` entry naming the version); ModelStatistics (the requests this process answered);
ServerLive/ServerReady/ModelReady. A request for another model or version is NOT_FOUND (on a
stream: an error_message response, the stream stays open). Prints `listening on HOST:PORT`.
Run as its own process: tritonclient's protos clash with the stubs generated from Protos/."""
from __future__ import annotations

import argparse
import sys
import threading
import time
from concurrent import futures

import grpc
from tritonclient.grpc import model_config_pb2 as mc
from tritonclient.grpc import service_pb2 as pb
from tritonclient.grpc import service_pb2_grpc as pb_grpc


class Model(pb_grpc.GRPCInferenceServiceServicer):
    def __init__(self, model: str, version: str):
        self.model, self.version = model, version
        self.lock = threading.Lock()
        self.count = 0
        self.ns = 0
        self.last_ms = 0

    def _mismatch(self, name: str, version: str) -> str | None:
        if name != self.model or version not in ("", self.version):
            return f"this server serves {self.model} version {self.version}, not {name!r} version {version!r}"
        return None

    def _check(self, context, name: str, version: str) -> None:
        why = self._mismatch(name, version)
        if why:
            context.abort(grpc.StatusCode.NOT_FOUND, why)

    def _infer(self, request) -> pb.ModelInferResponse:
        start = time.monotonic_ns()
        response = pb.ModelInferResponse(model_name=self.model, model_version=self.version, id=request.id)
        for tensor in request.inputs:
            response.outputs.add(name=tensor.name, datatype=tensor.datatype, shape=tensor.shape,
                                 contents=tensor.contents)
        response.raw_output_contents.extend(request.raw_input_contents)
        with self.lock:
            self.count += 1
            self.ns += time.monotonic_ns() - start
            self.last_ms = int(time.time() * 1000)
        return response

    def ServerLive(self, request, context):
        return pb.ServerLiveResponse(live=True)

    def ServerReady(self, request, context):
        return pb.ServerReadyResponse(ready=True)

    def ModelReady(self, request, context):
        return pb.ModelReadyResponse(ready=self._mismatch(request.name, request.version) is None)

    def ModelMetadata(self, request, context):
        self._check(context, request.name, request.version)
        return pb.ModelMetadataResponse(
            name=self.model, versions=[self.version], platform="oip-test",
            inputs=[pb.ModelMetadataResponse.TensorMetadata(name="INPUT0", datatype="FP32", shape=[-1])],
            outputs=[pb.ModelMetadataResponse.TensorMetadata(name="INPUT0", datatype="FP32", shape=[-1])])

    def ModelConfig(self, request, context):
        self._check(context, request.name, request.version)
        config = mc.ModelConfig(name=self.model, platform="oip-test", backend="python", max_batch_size=8,
                                input=[mc.ModelInput(name="INPUT0", data_type=mc.TYPE_FP32, dims=[-1])],
                                output=[mc.ModelOutput(name="INPUT0", data_type=mc.TYPE_FP32, dims=[-1])])
        config.parameters["served_version"].string_value = self.version
        return pb.ModelConfigResponse(config=config)

    def ModelStatistics(self, request, context):
        self._check(context, request.name, request.version)
        with self.lock:
            count, ns, last = self.count, self.ns, self.last_ms
        stats = pb.ModelStatistics(name=self.model, version=self.version, last_inference=last,
                                   inference_count=count, execution_count=count)
        stats.inference_stats.success.count = count
        stats.inference_stats.success.ns = ns
        return pb.ModelStatisticsResponse(model_stats=[stats])

    def ModelInfer(self, request, context):
        self._check(context, request.model_name, request.model_version)
        return self._infer(request)

    def ModelStreamInfer(self, request_iterator, context):
        for request in request_iterator:
            why = self._mismatch(request.model_name, request.model_version)
            if why:
                yield pb.ModelStreamInferResponse(error_message=why)
            else:
                yield pb.ModelStreamInferResponse(infer_response=self._infer(request))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--version", required=True)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    pb_grpc.add_GRPCInferenceServiceServicer_to_server(Model(args.model, args.version), server)
    port = server.add_insecure_port(f"127.0.0.1:{args.port}")
    server.start()
    print(f"listening on 127.0.0.1:{port}", flush=True)
    server.wait_for_termination()
    return 0


if __name__ == "__main__":
    sys.exit(main())
