"""Runs tritonclient.grpc against ADDRESS and prints what it got as JSON (test_oip_grpc.py).

    oip_grpc_probe.py ADDRESS calls              config, statistics, metadata, infer, repository
                                                 index and their errors
    oip_grpc_probe.py ADDRESS stream MODEL VERSION N [OTHER_MODEL]
                                                 N requests on one ModelStreamInfer stream (every
                                                 10th naming OTHER_MODEL when given)

Run as its own process: tritonclient registers its own copies of the `inference` protos,
which would clash in one descriptor pool with the stubs the tests generate from Protos/."""
from __future__ import annotations

import json
import queue
import sys
import time

import numpy as np
import tritonclient.grpc as tg
from tritonclient.utils import InferenceServerException


def ask(fn, *args, **kwargs):
    try:
        return {"value": fn(*args, **kwargs)}
    except InferenceServerException as e:
        return {"error": e.status(), "message": e.message()}


def infer(client, model, version):
    data = np.arange(4, dtype=np.float32) / 2
    tensor = tg.InferInput("INPUT0", [4], "FP32")
    tensor.set_data_from_numpy(data)
    try:
        result = client.infer(model, [tensor], model_version=version, request_id="r1")
    except InferenceServerException as e:
        return {"error": e.status(), "message": e.message()}
    response = result.get_response(as_json=True)
    return {"version": response["model_version"], "id": response["id"],
            "echoed": result.as_numpy("INPUT0").tolist() == data.tolist()}


def calls(client):
    out = {
        "metadata": ask(client.get_model_metadata, "iris", as_json=True),
        "config_default": ask(client.get_model_config, "iris", as_json=True),
        "config_v2": ask(client.get_model_config, "iris", "2", as_json=True),
        "infer_default": infer(client, "iris", ""),
        "infer_v2": [infer(client, "iris", "2") for _ in range(3)],
        "index": ask(client.get_model_repository_index, as_json=True),
        "config_unknown_model": ask(client.get_model_config, "nope"),
        "config_unknown_version": ask(client.get_model_config, "iris", "9"),
        "config_no_endpoint": ask(client.get_model_config, "empty"),
        "stats_all": ask(client.get_inference_statistics, "", as_json=True),
        "metadata_unknown": ask(client.get_model_metadata, "nope"),
    }
    out["stats_v2"] = ask(client.get_inference_statistics, "iris", "2", as_json=True)
    return out


def stream(client, model, version, n, other):
    answers: queue.Queue = queue.Queue()
    client.start_stream(callback=lambda result, error: answers.put((result, error)))
    data = np.arange(3, dtype=np.float32)
    sent_other = set()
    for i in range(n):
        name = other if other and i % 10 == 9 else model
        if name != model:
            sent_other.add(str(i))
        tensor = tg.InferInput("INPUT0", [3], "FP32")
        tensor.set_data_from_numpy(data + i)
        client.async_stream_infer(name, [tensor], model_version=version, request_id=str(i))
    ids, versions, errors, echoed = [], set(), [], 0
    deadline = time.monotonic() + 120
    while len(ids) + len(errors) < n and time.monotonic() < deadline:
        try:
            # After an error the stream may have ended (no more answers): stop once it is quiet.
            result, error = answers.get(timeout=5 if errors else 1)
        except queue.Empty:
            if errors:
                break
            continue
        if error is not None:
            errors.append(str(error))
            continue
        response = result.get_response(as_json=True)
        ids.append(response["id"])
        versions.add(response["model_version"])
        echoed += result.as_numpy("INPUT0").tolist() == (data + int(response["id"])).tolist()
    client.stop_stream()
    return {"ids": ids, "versions": sorted(versions), "errors": errors, "echoed": echoed,
            "other_ids": sorted(sent_other, key=int)}


def main():
    address, scenario = sys.argv[1], sys.argv[2]
    client = tg.InferenceServerClient(url=address)
    if scenario == "calls":
        out = calls(client)
    else:
        model, version, n = sys.argv[3], sys.argv[4], int(sys.argv[5])
        out = stream(client, model, version, n, sys.argv[6] if len(sys.argv) > 6 else None)
    client.close()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
