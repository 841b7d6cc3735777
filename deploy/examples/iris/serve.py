#!/usr/bin/env python3
"""Iris classifier: an example BYOC model container.

Trains on scikit-learn's bundled iris data at start (version 1: logistic regression,
version 2: random forest) and serves, on $PORT:
  - byoc.v1.Inference/Predict: input tensor "x" (FLOAT32 or FLOAT64, shape [n, 4]) ->
    outputs "label" (INT64 [n]), "class" (STRING [n]) and "probabilities" (FLOAT32 [n, 3]);
  - inference.GRPCInferenceService/ModelInfer (Open Inference Protocol v2): input FP32 [n, 4]
    -> outputs "label" (INT64) and "probabilities" (FP32); plus ModelReady/ModelMetadata;
  - grpc.health.v1.Health/Check: SERVING once the model is trained.

Environment: PORT (default 8080), BYOC_MODEL (default "iris"), BYOC_VERSION (default "1").
The gRPC stubs are generated from Protos/ at start when missing (BYOC_PROTOS points at the
Protos folder; the Dockerfile generates them at build time instead).
"""
import argparse
import os
import pathlib
import signal
import struct
import sys
from concurrent import futures

HERE = pathlib.Path(__file__).resolve().parent


def load_stubs():
    """Imports the generated stubs, generating them from Protos/ first when needed."""
    gen = pathlib.Path(os.environ.get("BYOC_IRIS_GEN", HERE / "gen"))
    if not (gen / "byoc" / "v1" / "inference_pb2.py").exists():
        protos = pathlib.Path(os.environ.get("BYOC_PROTOS", HERE.parents[2] / "Protos"))
        from grpc_tools import protoc
        import grpc_tools
        gen.mkdir(parents=True, exist_ok=True)
        include = pathlib.Path(grpc_tools.__file__).parent / "_proto"
        files = ["byoc/v1/inference.proto", "grpc/health/v1/health.proto", "inference/grpc_predict_v2.proto"]
        rc = protoc.main(["protoc", f"-I{protos}", f"-I{include}", f"--python_out={gen}", f"--grpc_python_out={gen}"]
                         + [str(protos / f) for f in files])
        if rc != 0:
            sys.exit(f"iris: cannot generate stubs from {protos}")
        for folder in ["byoc", "byoc/v1", "grpc/health", "grpc/health/v1", "inference"]:
            (gen / folder / "__init__.py").touch()
    sys.path.insert(0, str(gen))
    # The generated grpc/health/v1 must not shadow the grpcio package: graft it onto grpc.
    import grpc
    grpc.__path__.append(str(gen / "grpc"))


load_stubs()

import grpc  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.datasets import load_iris  # noqa: E402
from sklearn.ensemble import RandomForestClassifier  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402

from byoc.v1 import inference_pb2, inference_pb2_grpc  # noqa: E402
from grpc.health.v1 import health_pb2, health_pb2_grpc  # noqa: E402
from inference import grpc_predict_v2_pb2 as oip, grpc_predict_v2_pb2_grpc as oip_grpc  # noqa: E402


def train(algorithm):
    data = load_iris()
    if algorithm == "logistic-regression":
        model = LogisticRegression(max_iter=1000)
    elif algorithm == "random-forest":
        model = RandomForestClassifier(n_estimators=50, random_state=0)
    else:
        raise ValueError(f"unknown algorithm {algorithm}")
    model.fit(data.data, data.target)
    return model, list(data.target_names)


class BadInput(ValueError):
    pass


def features_from_tensor(tensor):
    """A [n, 4] float array from a byoc.v1.Tensor."""
    if tensor.dtype == inference_pb2.FLOAT32:
        values = list(tensor.floats) or list(np.frombuffer(tensor.raw, dtype="<f4"))
    elif tensor.dtype == inference_pb2.FLOAT64:
        values = list(tensor.doubles) or list(np.frombuffer(tensor.raw, dtype="<f8"))
    elif tensor.dtype in (inference_pb2.INT32, inference_pb2.INT64):
        values = list(tensor.ints)
    else:
        raise BadInput(f"input must be FLOAT32, FLOAT64 or INT, got {inference_pb2.DataType.Name(tensor.dtype)}")
    array = np.asarray(values, dtype=np.float64)
    if array.size == 0 or array.size % 4 != 0:
        raise BadInput(f"input needs 4 features per row (shape [n, 4]), got {array.size} values")
    shape = list(tensor.shape)
    if shape and (len(shape) != 2 or shape[-1] != 4 or shape[0] * 4 != array.size):
        raise BadInput(f"input shape must be [n, 4] matching the values, got {shape}")
    return array.reshape(-1, 4)


class Iris(inference_pb2_grpc.InferenceServicer, oip_grpc.GRPCInferenceServiceServicer):
    def __init__(self, name, version, algorithm):
        self.name, self.version, self.algorithm = name, version, algorithm
        self.model, self.classes = train(algorithm)

    def _predict(self, features):
        probabilities = self.model.predict_proba(features)
        labels = probabilities.argmax(axis=1)
        return labels, probabilities

    def Predict(self, request, context):
        if not request.inputs:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, 'no inputs: send a tensor named "x" of shape [n, 4]')
        tensor = request.inputs["x"] if "x" in request.inputs else next(iter(request.inputs.values()))
        try:
            features = features_from_tensor(tensor)
        except BadInput as error:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(error))
        labels, probabilities = self._predict(features)
        n = len(labels)
        response = inference_pb2.PredictResponse(model=self.name, version=self.version)
        response.outputs["label"].CopyFrom(inference_pb2.Tensor(dtype=inference_pb2.INT64, shape=[n],
                                                               ints=[int(x) for x in labels]))
        response.outputs["class"].CopyFrom(inference_pb2.Tensor(dtype=inference_pb2.STRING, shape=[n],
                                                               strings=[self.classes[x] for x in labels]))
        response.outputs["probabilities"].CopyFrom(inference_pb2.Tensor(
            dtype=inference_pb2.FLOAT32, shape=[n, probabilities.shape[1]],
            floats=[float(x) for x in probabilities.ravel()]))
        return response

    def ModelInfer(self, request, context):
        if not request.inputs:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "no inputs: send one FP32 tensor of shape [n, 4]")
        tensor = request.inputs[0]
        if request.raw_input_contents:
            values = np.frombuffer(request.raw_input_contents[0], dtype="<f4")
        else:
            values = np.asarray(list(tensor.contents.fp32_contents) or list(tensor.contents.fp64_contents))
        if values.size == 0 or values.size % 4 != 0:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"input needs shape [n, 4], got {values.size} values")
        labels, probabilities = self._predict(values.reshape(-1, 4).astype(np.float64))
        n = len(labels)
        response = oip.ModelInferResponse(model_name=self.name, model_version=self.version, id=request.id)
        label = response.outputs.add(name="label", datatype="INT64", shape=[n])
        label.contents.int64_contents.extend(int(x) for x in labels)
        probs = response.outputs.add(name="probabilities", datatype="FP32", shape=[n, probabilities.shape[1]])
        probs.contents.fp32_contents.extend(float(x) for x in probabilities.ravel())
        return response

    def ModelReady(self, request, context):
        return oip.ModelReadyResponse(ready=request.name == self.name)

    def ServerLive(self, request, context):
        return oip.ServerLiveResponse(live=True)

    def ServerReady(self, request, context):
        return oip.ServerReadyResponse(ready=True)

    def ModelMetadata(self, request, context):
        return oip.ModelMetadataResponse(
            name=self.name, versions=[self.version], platform=f"scikit-learn/{self.algorithm}",
            inputs=[oip.ModelMetadataResponse.TensorMetadata(name="x", datatype="FP32", shape=[-1, 4])],
            outputs=[oip.ModelMetadataResponse.TensorMetadata(name="label", datatype="INT64", shape=[-1]),
                     oip.ModelMetadataResponse.TensorMetadata(name="probabilities", datatype="FP32", shape=[-1, 3])])


class Health(health_pb2_grpc.HealthServicer):
    def Check(self, request, context):
        return health_pb2.HealthCheckResponse(status=health_pb2.HealthCheckResponse.SERVING)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8080")))
    parser.add_argument("--host", default=os.environ.get("BYOC_HOST", "0.0.0.0"))
    parser.add_argument("--model", default=os.environ.get("BYOC_MODEL", "iris"))
    parser.add_argument("--version", default=os.environ.get("BYOC_VERSION", "1"))
    parser.add_argument("--algorithm", choices=["logistic-regression", "random-forest"],
                        help="default: logistic-regression for version 1, random-forest otherwise")
    args = parser.parse_args()
    algorithm = args.algorithm or ("logistic-regression" if args.version == "1" else "random-forest")

    servicer = Iris(args.model, args.version, algorithm)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8),
                         options=[("grpc.max_receive_message_length", 64 << 20)])
    inference_pb2_grpc.add_InferenceServicer_to_server(servicer, server)
    oip_grpc.add_GRPCInferenceServiceServicer_to_server(servicer, server)
    health_pb2_grpc.add_HealthServicer_to_server(Health(), server)
    port = server.add_insecure_port(f"{args.host}:{args.port}")
    if port == 0:
        sys.exit(f"iris: cannot listen on {args.host}:{args.port}")
    server.start()
    print(f"listening on {args.host}:{port} ({args.model} version {args.version}, {algorithm})", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: server.stop(grace=5))
    server.wait_for_termination()


if __name__ == "__main__":
    main()
