"""The Open Inference Protocol's gRPC API through the gateway (issue 15, item 1) with
tritonclient.grpc: ModelConfig, ModelStatistics and ModelMetadata routed by name/version like
ModelInfer (perf_analyzer's sequence), RepositoryIndex answered by the gateway, ModelStreamInfer
as a proxied bidirectional stream, and their errors. The models are oip_model.py servers
(Triton's full messages, from tritonclient's protos)."""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import grpc
import pytest

import harness
from harness import HERE, child_env, pb

# Not imported here: tritonclient's protos would clash with the stubs generated from Protos/.
pytestmark = pytest.mark.skipif(importlib.util.find_spec("tritonclient") is None, reason="tritonclient missing")


def oip_model(procs, model, version):
    return procs.start(f"oip-{model}-{version}", [sys.executable, str(HERE / "oip_model.py"), "--model", model,
                                                  "--version", version], env=child_env())


@pytest.fixture
def gw(procs):
    v1, v2 = oip_model(procs, "iris", "1"), oip_model(procs, "iris", "2")
    return procs.gateway({"iris": {"default": "1", "versions": {"1": [v1], "2": [v2]}},
                          "empty": {"default": "1", "versions": {"1": []}}})


def probe(address, *args):
    out = subprocess.run([sys.executable, str(HERE / "oip_grpc_probe.py"), address, *args],
                         capture_output=True, text=True, timeout=180, env=child_env())
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_config_statistics_metadata_infer_and_index_with_tritonclient(gw):
    res = probe(gw.address, "calls")
    meta = res["metadata"]["value"]
    assert meta["name"] == "iris" and meta["versions"] == ["1"], res
    config = res["config_default"]["value"]["config"]
    assert config["name"] == "iris" and config["max_batch_size"] == 8 and config["input"][0]["data_type"] == "TYPE_FP32"
    # Fields the gateway's own proto does not declare pass through: the model's whole answer.
    assert config["parameters"]["served_version"]["string_value"] == "1", config
    assert res["config_v2"]["value"]["config"]["parameters"]["served_version"]["string_value"] == "2"
    assert res["infer_default"] == {"version": "1", "id": "r1", "echoed": True}
    assert res["infer_v2"] == [{"version": "2", "id": "r1", "echoed": True}] * 3
    (stats,) = res["stats_v2"]["value"]["model_stats"]
    assert stats["name"] == "iris" and stats["version"] == "2"
    assert int(stats["inference_count"]) == 3, "the three ModelInfer calls reached version 2"
    assert int(stats["inference_stats"]["success"]["count"]) == 3
    assert res["index"]["value"]["models"] == [
        {"name": "empty", "version": "1", "state": "UNAVAILABLE", "reason": "no ready endpoint"},
        {"name": "iris", "version": "1", "state": "READY"},
        {"name": "iris", "version": "2", "state": "READY"},
    ], res["index"]


def test_errors_with_tritonclient(gw):
    res = probe(gw.address, "calls")
    for key, status, words in [
        ("config_unknown_model", "StatusCode.NOT_FOUND", "nope"),
        ("config_unknown_version", "StatusCode.NOT_FOUND", "9"),
        ("config_no_endpoint", "StatusCode.UNAVAILABLE", "empty"),
        ("metadata_unknown", "StatusCode.NOT_FOUND", "nope"),
        # Triton's "every model" statistics: the gateway routes by model, so a name is required.
        ("stats_all", "StatusCode.INVALID_ARGUMENT", "model"),
    ]:
        assert res[key].get("error") == status, (key, res[key])
        assert words in res[key]["message"], (key, res[key])


def test_repository_index_ready_only_and_other_repositories(gw, procs):
    stub = pb.oip_grpc.GRPCInferenceServiceStub(procs.channel(gw.address))
    ready = stub.RepositoryIndex(pb.oip.RepositoryIndexRequest(ready=True), timeout=10)
    assert [(m.name, m.version, m.state) for m in ready.models] == [("iris", "1", "READY"), ("iris", "2", "READY")]
    with pytest.raises(grpc.RpcError) as err:
        stub.RepositoryIndex(pb.oip.RepositoryIndexRequest(repository_name="models"), timeout=10)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND and "unknown repository" in err.value.details()


@pytest.mark.parametrize("n", [500])
def test_model_stream_infer_many_requests_with_tritonclient(gw, n):
    res = probe(gw.address, "stream", "iris", "2", str(n))
    assert res["errors"] == [], res["errors"][:3]
    assert sorted(res["ids"], key=int) == [str(i) for i in range(n)], "every response, once"
    assert res["versions"] == ["2"] and res["echoed"] == n


def test_model_stream_infer_on_the_default_version(gw):
    res = probe(gw.address, "stream", "iris", "", "50")
    assert res["errors"] == [] and len(res["ids"]) == 50 and res["versions"] == ["1"]


def test_model_stream_infer_for_an_unknown_model_fails_the_stream(gw):
    res = probe(gw.address, "stream", "nope", "", "3")
    assert res["ids"] == [] and res["errors"], res
    assert "nope" in res["errors"][0]


def test_model_stream_infer_refuses_requests_for_another_model_and_stays_usable(gw):
    """Every 10th request names another model: the gateway answers it with an error_message
    on the stream (it never reaches the model), and the others are served in between."""
    res = probe(gw.address, "stream", "iris", "2", "200", "wine")
    assert len(res["other_ids"]) == 20
    assert len(res["errors"]) == 20, res["errors"][:3]
    assert all('bound to model "iris" version "2"' in e and 'model "wine"' in e for e in res["errors"]), res["errors"][:3]
    assert sorted(res["ids"], key=int) == [str(i) for i in range(200) if str(i) not in res["other_ids"]]
    assert res["versions"] == ["2"] and res["echoed"] == 180


def test_model_stream_infer_guard_with_large_and_malformed_requests(gw, procs):
    """Over the flow-control windows: 1 MiB requests for the bound model are forwarded, a 1 MiB
    one for another model is dropped without stalling the stream; another version and an
    unreadable request are refused; the model answers the rest."""
    oip = pb.oip

    def infer(model, version, rid, size=16):
        req = oip.ModelInferRequest(model_name=model, model_version=version, id=rid)
        req.raw_input_contents.append(b"\x01" * size)
        req.inputs.add(name="INPUT0", datatype="BYTES", shape=[1])
        return req.SerializeToString()
    requests = [
        infer("iris", "2", "a"),
        infer("wine", "", "b", size=1 << 20),
        infer("iris", "2", "c", size=1 << 20),
        infer("iris", "1", "d"),
        b"\x08\x01",  # field 1 as a varint: not a model name
        infer("iris", "", "e"),
        infer("iris", "2", "f", size=1 << 20),
    ]
    call = procs.channel(gw.address).stream_stream("/inference.GRPCInferenceService/ModelStreamInfer")
    answers = [oip.ModelStreamInferResponse.FromString(b) for b in call(iter(requests), timeout=60)]
    served = sorted(a.infer_response.id for a in answers if not a.error_message)
    errors = [a.error_message for a in answers if a.error_message]
    assert served == ["a", "c", "e", "f"], answers
    assert len(errors) == 3, errors
    assert any('model "wine"' in e for e in errors)
    assert any('model "iris" version "1"' in e for e in errors)
    assert any("cannot read model and version" in e and "wire type 0" in e for e in errors)
    sizes = {a.infer_response.id: len(a.infer_response.raw_output_contents[0]) for a in answers if not a.error_message}
    assert sizes == {"a": 16, "c": 1 << 20, "e": 16, "f": 1 << 20}


def test_echo_model_stream_infer_and_config_through_the_gateway(procs):
    """byoc-echo-model (the Swift example) serves ModelStreamInfer and ModelConfig too."""
    echo = procs.echo("echo", "3")
    gw = procs.gateway({"echo": {"default": "3", "versions": {"3": [echo]}}})
    oip = pb.oip
    stub = pb.oip_grpc.GRPCInferenceServiceStub(procs.channel(gw.address))
    config = stub.ModelConfig(oip.ModelConfigRequest(name="echo"), timeout=10).config
    assert (config.name, config.platform) == ("echo", "byoc-echo")

    def requests():
        for i in range(1000):
            req = oip.ModelInferRequest(model_name="echo", id=str(i))
            req.raw_input_contents.append(i.to_bytes(4, "little"))
            yield req
    answers = list(stub.ModelStreamInfer(requests(), timeout=60))
    assert [a.infer_response.id for a in answers] == [str(i) for i in range(1000)], "in order, each once"
    assert all(a.infer_response.raw_output_contents[0] == i.to_bytes(4, "little") for i, a in enumerate(answers))
    assert {a.infer_response.model_version for a in answers} == {"3"}


def test_repository_index_from_the_registry(procs):
    """With a registry, RepositoryIndex is the registry's versions and states in Triton's terms."""
    gw = procs.registry_gateway(extra=["--resync-ms", "500"])
    gw.register("good", "1", [harness.binary("byoc-echo-model")])
    gw.register("bad", "1", ["/bin/sh", "-c", "exit 3"])
    gw.register("slow", "1", ["/bin/sh", "-c", "sleep 60"])  # never answers its health check
    gw.wait_state("good", "1", "READY")
    failed = gw.wait_state("bad", "1", "FAILED")
    stub = pb.oip_grpc.GRPCInferenceServiceStub(gw.channel)
    index = {(m.name, m.version): (m.state, m.reason) for m in
             stub.RepositoryIndex(pb.oip.RepositoryIndexRequest(), timeout=10).models}
    assert index[("good", "1")] == ("READY", "")
    assert index[("bad", "1")] == ("UNAVAILABLE", failed.message) and "exit" in failed.message
    assert index[("slow", "1")][0] == "LOADING", index
    ready = stub.RepositoryIndex(pb.oip.RepositoryIndexRequest(ready=True), timeout=10)
    assert [(m.name, m.version) for m in ready.models] == [("good", "1")]


def test_model_stream_infer_routed_by_the_byoc_model_header(gw, procs):
    """With the byoc-model header, requests naming no model are for it; another model is refused."""
    oip = pb.oip
    stub = pb.oip_grpc.GRPCInferenceServiceStub(procs.channel(gw.address))
    requests = [oip.ModelInferRequest(id="a"), oip.ModelInferRequest(model_name="iris", id="b"),
                oip.ModelInferRequest(model_name="wine", id="c")]
    # The header names the version too, so even the first request (which names no model) is routed.
    answers = list(stub.ModelStreamInfer(iter(requests), timeout=30,
                                         metadata=[("byoc-model", "iris"), ("byoc-version", "2")]))
    assert [a.infer_response.id for a in answers if not a.error_message] == ["b"]
    errors = [a.error_message for a in answers if a.error_message]
    # "a" reached the model (which, unlike byoc-echo-model, wants its own name); "c" did not.
    assert len(errors) == 2 and sum("this server serves iris" in e for e in errors) == 1, errors
    assert sum('bound to model "iris"' in e and 'model "wine"' in e for e in errors) == 1, errors
