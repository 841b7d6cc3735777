"""Runs tritonclient.grpc against ADDRESS and prints the answers as JSON.

Run as a separate process: tritonclient registers its own copies of the `inference` and
`grpc.health.v1` protos, which would clash in one descriptor pool with the stubs the tests
generate from Protos/."""
import json
import sys

import tritonclient.grpc as tg
from tritonclient.utils import InferenceServerException


def ask(fn, *args):
    try:
        return {"value": fn(*args)}
    except InferenceServerException as e:
        return {"error": e.status(), "message": e.message()}


def main():
    address, models = sys.argv[1], sys.argv[2:]
    client = tg.InferenceServerClient(url=address)
    out = {
        "is_server_live": ask(client.is_server_live),
        "is_server_ready": ask(client.is_server_ready),
        "is_model_ready": {m: ask(client.is_model_ready, *m.split("/", 1)) for m in models},
    }
    client.close()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
