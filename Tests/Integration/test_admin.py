"""The Admin API through a grpcio client generated from Protos/: every RPC's happy path and
every admin error row of the contract (INVALID_ARGUMENT naming the field, ALREADY_EXISTS,
NOT_FOUND, FAILED_PRECONDITION), against `byoc-gateway --state-dir DIR --db PATH` with the
local runtime running `byoc-echo-model` by command.

The gateway runs with PATH set to an empty directory (model commands are absolute paths), so
docker and podman are never found and an image-only version must end FAILED saying so, on
every machine.
"""
from __future__ import annotations

import time

import grpc
import pytest

import harness
from harness import binary, pb, state_name

MAX_REPLICAS = 4  # the gateway's --max-replicas in these tests

INVALID = grpc.StatusCode.INVALID_ARGUMENT
NOT_FOUND = grpc.StatusCode.NOT_FOUND


@pytest.fixture
def gw(procs, tmp_path):
    nopath = tmp_path / "empty-path"
    nopath.mkdir()
    return procs.registry_gateway(extra=["--max-replicas", str(MAX_REPLICAS), "--resync-ms", "500"],
                                  env={"PATH": str(nopath)})


def echo_cmd(*extra: str) -> list[str]:
    return [binary("byoc-echo-model"), *extra]


def expect_error(call, code, *words):
    """Runs `call`, asserts it fails with `code` and that the message contains every word."""
    with pytest.raises(grpc.RpcError) as info:
        call()
    err = info.value
    assert err.code() == code, f"expected {code}, got {err.code()}: {err.details()!r}"
    details = err.details() or ""
    for w in words:
        assert w in details, f"{code} message {details!r} does not mention {w!r}"
    return details


def list_models(gw):
    return gw.admin.ListModels(pb.admin.ListModelsRequest(), timeout=20)


def registered_keys(gw) -> list[tuple[str, str]]:
    return sorted((m.name, v.version) for m in list_models(gw).models for v in m.versions)


# --------------------------------------------------------------------------- happy paths

def test_register_returns_the_version_and_first_becomes_default(gw):
    before = int(time.time() * 1000)
    mv = gw.register("iris", "1", echo_cmd("--workers", "1"), env={"A": "1", "B": "x=y"}, port=0)
    after = int(time.time() * 1000)
    assert (mv.model, mv.version) == ("iris", "1")
    assert list(mv.command) == echo_cmd("--workers", "1")
    assert dict(mv.env) == {"A": "1", "B": "x=y"}
    assert mv.image == ""
    # min 0 means 1, max 0 means min
    assert (mv.min_replicas, mv.max_replicas) == (1, 1)
    assert state_name(mv.state) in ("PENDING", "DEPLOYING", "READY")
    assert before - 5000 <= mv.created_unix_ms <= after + 5000, (before, mv.created_unix_ms, after)

    model = gw.admin.GetModel(pb.admin.GetModelRequest(model="iris"), timeout=20)
    assert model.name == "iris" and model.default_version == "1"
    assert [v.version for v in model.versions] == ["1"]

    gw.register("iris", "2", echo_cmd())
    model = gw.admin.GetModel(pb.admin.GetModelRequest(model="iris"), timeout=20)
    assert model.default_version == "1", "registering a second version must not move the default"
    assert sorted(v.version for v in model.versions) == ["1", "2"]


def test_registered_version_becomes_ready_and_serves(gw):
    gw.register("echo", "1", echo_cmd())
    mv = gw.wait_state("echo", "1", "READY", timeout=60, ready=1)
    assert mv.message == "" and mv.desired_replicas == 1
    resp = gw.wait_predict_ok("echo")
    assert (resp.model, resp.version) == ("echo", "1")
    replicas = gw.replicas("echo", "1")
    assert len(replicas) == 1, replicas
    assert replicas[0].replica == "0" and replicas[0].port > 0
    log = gw.state_dir / "logs" / "echo" / "1" / "replica-0.log"
    assert log.is_file(), f"missing replica log {log}"


def test_register_keeps_replica_bounds_and_port(gw):
    mv = gw.register("bounds", "1", echo_cmd(), min_replicas=2, max_replicas=3, port=9000)
    assert (mv.min_replicas, mv.max_replicas, mv.port) == (2, 3, 9000)
    mv = gw.register("bounds", "2", echo_cmd(), min_replicas=2)
    assert (mv.min_replicas, mv.max_replicas) == (2, 2), "max 0 must mean min"
    mv = gw.register("bounds", "3", echo_cmd(), max_replicas=MAX_REPLICAS)
    assert (mv.min_replicas, mv.max_replicas) == (1, MAX_REPLICAS), "min 0 must mean 1"


@pytest.mark.parametrize("model,version", [
    ("a" * 40, "b" * 20),            # longest names
    ("a", "1"),                       # shortest
    ("my-model-2", "1.0-rc.1"),       # inner '-' and '.'
    ("0abc", "0"),                    # digits first
])
def test_valid_names_are_accepted(gw, model, version):
    mv = gw.register(model, version, echo_cmd())
    assert (mv.model, mv.version) == (model, version)
    assert (model, version) in registered_keys(gw)


def test_list_models(gw):
    assert list(list_models(gw).models) == []
    gw.register("alpha", "1", echo_cmd())
    gw.register("alpha", "2", echo_cmd())
    gw.register("beta", "7", echo_cmd())
    models = {m.name: m for m in list_models(gw).models}
    assert set(models) == {"alpha", "beta"}
    assert models["alpha"].default_version == "1" and models["beta"].default_version == "7"
    assert sorted(v.version for v in models["alpha"].versions) == ["1", "2"]
    assert [v.version for v in models["beta"].versions] == ["7"]
    for m in models.values():
        for v in m.versions:
            assert v.model == m.name
            assert list(v.command) == echo_cmd()


def test_get_model(gw):
    gw.register("gamma", "1", echo_cmd(), env={"K": "V"})
    gw.register("gamma", "2", echo_cmd(), min_replicas=2)
    m = gw.admin.GetModel(pb.admin.GetModelRequest(model="gamma"), timeout=20)
    assert m.name == "gamma" and m.default_version == "1"
    versions = {v.version: v for v in m.versions}
    assert set(versions) == {"1", "2"}
    assert dict(versions["1"].env) == {"K": "V"}
    assert versions["2"].min_replicas == 2
    # the state moves on to READY, visible through GetModel
    gw.wait_state("gamma", "1", "READY", timeout=60)
    gw.wait_state("gamma", "2", "READY", timeout=60, ready=2)


def test_set_default_version_flips_the_route(gw):
    gw.register("flip", "1", echo_cmd())
    gw.register("flip", "2", echo_cmd())
    gw.wait_state("flip", "1", "READY", timeout=60)
    gw.wait_state("flip", "2", "READY", timeout=60)
    assert gw.wait_predict_ok("flip").version == "1"

    m = gw.admin.SetDefaultVersion(pb.admin.SetDefaultVersionRequest(model="flip", version="2"), timeout=20)
    assert m.name == "flip" and m.default_version == "2"
    assert gw.admin.GetModel(pb.admin.GetModelRequest(model="flip"), timeout=20).default_version == "2"
    # Read your writes: once the call answered, every worker routes with the new default.
    for i in range(30):
        want = "1" if i % 2 == 0 else "2"
        gw.admin.SetDefaultVersion(pb.admin.SetDefaultVersionRequest(model="flip", version=want), timeout=20)
        got = gw.predict("flip").version
        assert got == want, f"round {i}: the call right after SetDefaultVersion({want}) was served by {got}"
    # explicit versions still route to themselves
    assert gw.predict("flip", "1").version == "1"
    # setting the current default again is fine
    m = gw.admin.SetDefaultVersion(pb.admin.SetDefaultVersionRequest(model="flip", version="2"), timeout=20)
    assert m.default_version == "2"


def test_a_registered_version_is_routed_as_soon_as_the_call_answers(gw):
    gw.register("fresh", "1", echo_cmd())
    # Registered, so known to the router at once: not ready yet (UNAVAILABLE), or already serving.
    code = _predict_code(gw, "fresh", "1")
    assert code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.OK), code
    assert _predict_code(gw, "fresh", "") in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.OK)


def test_scale_model_version(gw):
    gw.register("scale", "1", echo_cmd())
    gw.wait_state("scale", "1", "READY", timeout=60, ready=1)

    mv = gw.admin.ScaleModelVersion(pb.admin.ScaleModelVersionRequest(
        model="scale", version="1", min_replicas=3, max_replicas=MAX_REPLICAS), timeout=20)
    assert (mv.model, mv.version, mv.min_replicas, mv.max_replicas) == ("scale", "1", 3, MAX_REPLICAS)
    mv = gw.wait_state("scale", "1", "READY", timeout=60, ready=3)
    assert mv.desired_replicas == 3
    gw.wait_replica_count("scale", "1", 3, timeout=30)

    # min 0 means 1, max 0 means min
    mv = gw.admin.ScaleModelVersion(pb.admin.ScaleModelVersionRequest(model="scale", version="1"), timeout=20)
    assert (mv.min_replicas, mv.max_replicas) == (1, 1)
    gw.wait_state("scale", "1", "READY", timeout=60, ready=1)
    gw.wait_replica_count("scale", "1", 1, timeout=30)
    assert gw.wait_predict_ok("scale").version == "1"


def test_delete_one_version_then_the_model(gw):
    gw.register("del", "1", echo_cmd())
    gw.register("del", "2", echo_cmd())
    gw.register("other", "1", echo_cmd())
    gw.wait_state("del", "2", "READY", timeout=60)

    resp = gw.admin.DeleteModel(pb.admin.DeleteModelRequest(model="del", version="2"), timeout=20)
    assert [(d.model, d.version) for d in resp.deleted] == [("del", "2")]
    assert registered_keys(gw) == [("del", "1"), ("other", "1")]
    # No longer routed once the call answered (its replicas stop a grace period later).
    assert _predict_code(gw, "del", "2") == NOT_FOUND
    gw.wait_replica_count("del", "2", 0, timeout=30)

    # "" deletes every version and the model
    gw.register("del", "3", echo_cmd())
    resp = gw.admin.DeleteModel(pb.admin.DeleteModelRequest(model="del"), timeout=20)
    assert sorted((d.model, d.version) for d in resp.deleted) == [("del", "1"), ("del", "3")]
    assert registered_keys(gw) == [("other", "1")]
    expect_error(lambda: gw.admin.GetModel(pb.admin.GetModelRequest(model="del"), timeout=20), NOT_FOUND, "del")
    assert _predict_code(gw, "del", "") == NOT_FOUND
    gw.wait_replica_count("del", "1", 0, timeout=30)
    # the name can be used again
    mv = gw.register("del", "1", echo_cmd())
    assert (mv.model, mv.version) == ("del", "1")
    assert gw.admin.GetModel(pb.admin.GetModelRequest(model="del"), timeout=20).default_version == "1"


def test_delete_the_only_version_removes_the_model(gw):
    gw.register("solo", "1", echo_cmd())
    resp = gw.admin.DeleteModel(pb.admin.DeleteModelRequest(model="solo", version="1"), timeout=20)
    assert [(d.model, d.version) for d in resp.deleted] == [("solo", "1")]
    assert registered_keys(gw) == []
    expect_error(lambda: gw.admin.GetModel(pb.admin.GetModelRequest(model="solo"), timeout=20), NOT_FOUND)


def test_delete_default_after_moving_it(gw):
    gw.register("mv", "1", echo_cmd())
    gw.register("mv", "2", echo_cmd())
    expect_error(lambda: gw.admin.DeleteModel(pb.admin.DeleteModelRequest(model="mv", version="1"), timeout=20),
                 grpc.StatusCode.FAILED_PRECONDITION, "default")
    assert registered_keys(gw) == [("mv", "1"), ("mv", "2")], "a refused delete must not remove anything"
    gw.admin.SetDefaultVersion(pb.admin.SetDefaultVersionRequest(model="mv", version="2"), timeout=20)
    resp = gw.admin.DeleteModel(pb.admin.DeleteModelRequest(model="mv", version="1"), timeout=20)
    assert [d.version for d in resp.deleted] == ["1"]
    m = gw.admin.GetModel(pb.admin.GetModelRequest(model="mv"), timeout=20)
    assert m.default_version == "2" and [v.version for v in m.versions] == ["2"]


def test_image_only_version_without_docker_fails_saying_so(gw):
    mv = gw.register("img", "1", image="example.com/iris:1")
    assert mv.image == "example.com/iris:1" and list(mv.command) == []
    mv = gw.wait_state("img", "1", "FAILED", timeout=60)
    msg = mv.message.lower()
    assert "docker" in msg and "podman" in msg, f"message should say docker/podman is needed: {mv.message!r}"
    assert mv.ready_replicas == 0
    # the gateway keeps serving the others
    gw.register("ok", "1", echo_cmd())
    gw.wait_state("ok", "1", "READY", timeout=60)
    assert gw.wait_predict_ok("ok").version == "1"
    assert state_name(gw.get_version("img", "1").state) == "FAILED"


# --------------------------------------------------------------------------- error rows

def _predict_code(gw, model, version):
    try:
        gw.predict(model, version, timeout=10)
        return grpc.StatusCode.OK
    except grpc.RpcError as e:
        return e.code()


BAD_MODELS = [
    ("", "required"),
    ("Iris", None), ("-iris", None), ("iris-", None), ("ir_is", None), ("ir.is", None), ("iris 1", None),
    ("a" * 41, "40"), ("iрis", None),  # Cyrillic 'р'
]
BAD_VERSIONS = [
    ("", "required"),
    ("V1", None), (".1", None), ("1.", None), ("-1", None), ("1-", None), ("1_0", None), ("1/0", None),
    ("a" * 21, "20"),
]


@pytest.mark.parametrize("name,extra", BAD_MODELS)
def test_register_bad_model_name(gw, name, extra):
    words = ["model"] + ([extra] if extra else [])
    expect_error(lambda: gw.register(name, "1", echo_cmd()), INVALID, *words)
    assert registered_keys(gw) == []


@pytest.mark.parametrize("name,extra", BAD_VERSIONS)
def test_register_bad_version(gw, name, extra):
    words = ["version"] + ([extra] if extra else [])
    expect_error(lambda: gw.register("iris", name, echo_cmd()), INVALID, *words)
    assert registered_keys(gw) == []


@pytest.mark.parametrize("port", [-1, 65536, 2**31 - 1, -(2**31)])
def test_register_bad_port(gw, port):
    expect_error(lambda: gw.register("iris", "1", echo_cmd(), port=port), INVALID, "port")
    assert registered_keys(gw) == []


@pytest.mark.parametrize("port", [1, 8080, 65535])
def test_register_valid_ports(gw, port):
    assert gw.register("iris", "1", echo_cmd(), port=port).port == port


@pytest.mark.parametrize("min_r,max_r,words", [
    (-1, 0, ["min_replicas", "negative"]),
    (0, -1, ["max_replicas", "negative"]),
    (-5, -5, ["replicas"]),
    (3, 2, ["min_replicas", "max_replicas"]),
    (MAX_REPLICAS + 1, 0, ["min_replicas", str(MAX_REPLICAS)]),
    (1, MAX_REPLICAS + 1, ["max_replicas", str(MAX_REPLICAS)]),
    (MAX_REPLICAS + 1, MAX_REPLICAS + 2, ["replicas", str(MAX_REPLICAS)]),
])
def test_register_bad_replicas(gw, min_r, max_r, words):
    expect_error(lambda: gw.register("iris", "1", echo_cmd(), min_replicas=min_r, max_replicas=max_r),
                 INVALID, *words)
    assert registered_keys(gw) == []


def test_register_at_the_replica_ceiling(gw):
    mv = gw.register("iris", "1", echo_cmd(), min_replicas=MAX_REPLICAS, max_replicas=MAX_REPLICAS)
    assert (mv.min_replicas, mv.max_replicas) == (MAX_REPLICAS, MAX_REPLICAS)


@pytest.mark.parametrize("fields", [{}, {"image": ""}, {"image": "   "}], ids=["nothing", "empty", "blank"])
def test_register_neither_image_nor_command(gw, fields):
    expect_error(lambda: gw.register("iris", "1", None, **fields), INVALID, "image", "command")
    assert registered_keys(gw) == []


@pytest.mark.parametrize("env,words", [
    ({"PORT": "1"}, ["PORT"]),
    ({"BYOC_MODEL": "x"}, ["BYOC_MODEL"]),
    ({"1BAD": "x"}, ["env", "1BAD"]),
    ({"A=B": "x"}, ["env"]),
    ({"": "x"}, ["env"]),
], ids=["PORT", "BYOC_MODEL", "digit-first", "equals", "empty"])
def test_register_bad_env(gw, env, words):
    expect_error(lambda: gw.register("iris", "1", echo_cmd(), env=env), INVALID, *words)
    assert registered_keys(gw) == []


def test_register_bad_command(gw):
    expect_error(lambda: gw.register("iris", "1", ["", "--flag"]), INVALID, "command")
    expect_error(lambda: gw.register("iris", "1", ["   "]), INVALID, "command")
    assert registered_keys(gw) == []


@pytest.mark.parametrize("field", ["model", "version", "command", "env", "image"])
def test_nul_in_a_string_is_rejected_not_truncated(gw, field):
    """A NUL inside a string field is invalid input: it must be refused (INVALID_ARGUMENT),
    never silently cut off at the NUL (which would register or look up another name)."""
    fields = dict(model="iris", version="1", command=echo_cmd())
    if field == "env":
        fields["env"] = {"OK": "before\0after"}
    elif field == "command":
        fields["command"] = echo_cmd("--id", "before\0after")
    elif field == "image":
        fields["image"] = "example.com/iris:1\0evil"
    else:
        fields[field] = fields[field] + "\0evil"
    try:
        mv = gw.admin.RegisterModel(pb.admin.RegisterModelRequest(**fields), timeout=20)
    except grpc.RpcError as e:
        assert e.code() == INVALID, f"{e.code()}: {e.details()}"
        assert registered_keys(gw) == []
        return
    pytest.fail(f"{field} with a NUL was accepted and stored as: model={mv.model!r} version={mv.version!r} "
                f"command={list(mv.command)!r} env={dict(mv.env)!r} image={mv.image!r}")


def test_nul_in_a_looked_up_name_is_not_another_model(gw):
    gw.register("iris", "1", echo_cmd())
    with pytest.raises(grpc.RpcError) as info:
        got = gw.admin.GetModel(pb.admin.GetModelRequest(model="iris\0evil"), timeout=20)
        pytest.fail(f'GetModel("iris\\0evil") answered with model {got.name!r}')
    assert info.value.code() in (INVALID, NOT_FOUND), info.value


def test_health_follows_the_registry(gw):
    gw.register("hl", "1", echo_cmd())
    gw.register("hl", "2", ["/bin/sh", "-c", "exit 3"])
    gw.wait_state("hl", "1", "READY", timeout=60)
    gw.wait_state("hl", "2", "FAILED", timeout=60)
    H = pb.health.HealthCheckResponse

    def status(service):
        try:
            return gw.health.Check(pb.health.HealthCheckRequest(service=service), timeout=10).status
        except grpc.RpcError as e:
            return e.code()
    assert status("") == H.SERVING
    assert harness.wait_until(lambda: status("hl") == H.SERVING and status("hl/1") == H.SERVING, 15, 0.05), \
        (status("hl"), status("hl/1"))
    assert status("hl/2") == H.NOT_SERVING
    assert status("nope") == NOT_FOUND and status("hl/9") == NOT_FOUND
    gw.admin.DeleteModel(pb.admin.DeleteModelRequest(model="hl"), timeout=20)
    assert harness.wait_until(lambda: status("hl/1") == NOT_FOUND, 15, 0.05), status("hl/1")


def test_register_duplicate_is_already_exists(gw):
    gw.register("dup", "1", echo_cmd(), env={"FIRST": "yes"})
    details = expect_error(lambda: gw.register("dup", "1", echo_cmd("--workers", "2"), min_replicas=2),
                           grpc.StatusCode.ALREADY_EXISTS)
    assert "dup" in details and "1" in details, details
    v = gw.get_version("dup", "1")
    assert dict(v.env) == {"FIRST": "yes"} and list(v.command) == echo_cmd() and v.min_replicas == 1, \
        "a refused duplicate must leave the registered version unchanged"
    assert registered_keys(gw) == [("dup", "1")]


@pytest.mark.parametrize("name,extra", BAD_MODELS)
def test_get_model_bad_name(gw, name, extra):
    expect_error(lambda: gw.admin.GetModel(pb.admin.GetModelRequest(model=name), timeout=20), INVALID, "model")


def test_get_model_unknown(gw):
    expect_error(lambda: gw.admin.GetModel(pb.admin.GetModelRequest(model="nope"), timeout=20), NOT_FOUND, "nope")


def test_set_default_errors(gw):
    gw.register("sd", "1", echo_cmd())
    sd = gw.admin.SetDefaultVersion
    R = pb.admin.SetDefaultVersionRequest
    expect_error(lambda: sd(R(model="nope", version="1"), timeout=20), NOT_FOUND, "nope")
    expect_error(lambda: sd(R(model="sd", version="9"), timeout=20), NOT_FOUND, "9")
    expect_error(lambda: sd(R(model="", version="1"), timeout=20), INVALID, "model")
    expect_error(lambda: sd(R(model="SD", version="1"), timeout=20), INVALID, "model")
    expect_error(lambda: sd(R(model="sd", version=""), timeout=20), INVALID, "version")
    expect_error(lambda: sd(R(model="sd", version="1_0"), timeout=20), INVALID, "version")
    assert gw.admin.GetModel(pb.admin.GetModelRequest(model="sd"), timeout=20).default_version == "1"


def test_scale_errors(gw):
    gw.register("sc", "1", echo_cmd())
    sc = gw.admin.ScaleModelVersion
    R = pb.admin.ScaleModelVersionRequest
    expect_error(lambda: sc(R(model="nope", version="1", min_replicas=2), timeout=20), NOT_FOUND, "nope")
    expect_error(lambda: sc(R(model="sc", version="9", min_replicas=2), timeout=20), NOT_FOUND, "9")
    expect_error(lambda: sc(R(model="", version="1"), timeout=20), INVALID, "model")
    expect_error(lambda: sc(R(model="s_c", version="1"), timeout=20), INVALID, "model")
    expect_error(lambda: sc(R(model="sc", version=""), timeout=20), INVALID, "version")
    expect_error(lambda: sc(R(model="sc", version="1", min_replicas=-1), timeout=20), INVALID, "min_replicas")
    expect_error(lambda: sc(R(model="sc", version="1", max_replicas=-1), timeout=20), INVALID, "max_replicas")
    expect_error(lambda: sc(R(model="sc", version="1", min_replicas=3, max_replicas=2), timeout=20),
                 INVALID, "min_replicas", "max_replicas")
    expect_error(lambda: sc(R(model="sc", version="1", min_replicas=MAX_REPLICAS + 1), timeout=20),
                 INVALID, "min_replicas", str(MAX_REPLICAS))
    expect_error(lambda: sc(R(model="sc", version="1", min_replicas=1, max_replicas=MAX_REPLICAS + 1), timeout=20),
                 INVALID, "max_replicas", str(MAX_REPLICAS))
    v = gw.get_version("sc", "1")
    assert (v.min_replicas, v.max_replicas) == (1, 1), "a refused scale must not change the version"


def test_delete_errors(gw):
    gw.register("dl", "1", echo_cmd())
    gw.register("dl", "2", echo_cmd())
    dm = gw.admin.DeleteModel
    R = pb.admin.DeleteModelRequest
    expect_error(lambda: dm(R(model="nope"), timeout=20), NOT_FOUND, "nope")
    expect_error(lambda: dm(R(model="nope", version="1"), timeout=20), NOT_FOUND, "nope")
    expect_error(lambda: dm(R(model="dl", version="9"), timeout=20), NOT_FOUND, "9")
    expect_error(lambda: dm(R(model="", version="1"), timeout=20), INVALID, "model")
    expect_error(lambda: dm(R(model="DL"), timeout=20), INVALID, "model")
    expect_error(lambda: dm(R(model="dl", version="V1"), timeout=20), INVALID, "version")
    expect_error(lambda: dm(R(model="dl", version="1"), timeout=20), grpc.StatusCode.FAILED_PRECONDITION,
                 "default")
    assert registered_keys(gw) == [("dl", "1"), ("dl", "2")]


def test_unknown_admin_method_is_unimplemented(gw):
    call = gw.channel.unary_unary("/byoc.v1.Admin/NoSuchMethod", request_serializer=lambda b: b,
                                  response_deserializer=lambda b: b)
    with pytest.raises(grpc.RpcError) as info:
        call(b"", timeout=20)
    assert info.value.code() == grpc.StatusCode.UNIMPLEMENTED


def test_undecodable_admin_request_is_invalid_argument(gw):
    call = gw.channel.unary_unary("/byoc.v1.Admin/RegisterModel", request_serializer=lambda b: b,
                                  response_deserializer=lambda b: b)
    with pytest.raises(grpc.RpcError) as info:
        call(b"\x0a\xff\xff", timeout=20)  # field 1, length 0x3fff... truncated
    assert info.value.code() == INVALID
    assert registered_keys(gw) == []


# --------------------------------------------------------------------------- Kubernetes pod options

def test_pod_options_are_stored_and_returned(gw):
    tol = [pb.admin.Toleration(key="nvidia.com/gpu", operator="Exists", effect="NoSchedule"),
           pb.admin.Toleration(key="pool", operator="Equal", value="ml", effect="NoExecute"),
           pb.admin.Toleration(operator="Exists")]
    v = gw.register("iris", "1", echo_cmd(), resources=pb.admin.Resources(gpus=2, gpu_resource="amd.com/gpu"),
                    node_selector={"pool": "gpu", "topology.kubernetes.io/zone": "eu-1a"}, tolerations=tol,
                    image_pull_secrets=["regcred", "mirror.example"], allow_root=True)
    for got in (v, gw.get_version("iris", "1")):
        assert (got.resources.gpus, got.resources.gpu_resource) == (2, "amd.com/gpu")
        assert dict(got.node_selector) == {"pool": "gpu", "topology.kubernetes.io/zone": "eu-1a"}
        assert list(got.tolerations) == tol
        assert list(got.image_pull_secrets) == ["regcred", "mirror.example"]
        assert got.allow_root is True
    plain = gw.register("iris", "2", echo_cmd())
    assert (plain.allow_root, list(plain.tolerations), dict(plain.node_selector)) == (False, [], {})


BAD_POD_OPTIONS = [
    ({"resources": {"gpus": -1}}, ["resources.gpus", "-1"]),
    ({"resources": {"gpus": 65}}, ["resources.gpus", "64"]),
    ({"resources": {"gpus": 1, "gpu_resource": "gpu"}}, ["resources.gpu_resource", "extended resource"]),
    ({"resources": {"gpus": 1, "gpu_resource": "Nvidia.com/gpu"}}, ["resources.gpu_resource"]),
    ({"resources": {"gpus": 1, "gpu_resource": "kubernetes.io/gpu"}}, ["resources.gpu_resource", "kubernetes.io"]),
    ({"node_selector": {"bad key": "x"}}, ["node_selector key", "bad key"]),
    ({"node_selector": {"UPPER.example/x": "x"}}, ["node_selector key"]),
    ({"node_selector": {"pool": "-gpu"}}, ["node_selector value", "pool"]),
    ({"node_selector": {"pool": "a" * 64}}, ["node_selector value"]),
    ({"tolerations": [{"key": "k", "operator": "Maybe"}]}, ["tolerations[0].operator", "Maybe"]),
    ({"tolerations": [{"key": "k", "effect": "NoRun"}]}, ["tolerations[0].effect", "NoRun"]),
    ({"tolerations": [{"key": "k", "operator": "Exists", "value": "v"}]}, ["tolerations[0].value", "Exists"]),
    ({"tolerations": [{"value": "v"}]}, ["tolerations[0].operator", "key is empty"]),
    ({"tolerations": [{"key": "k", "value": "v v"}]}, ["tolerations[0].value"]),
    ({"tolerations": [{}, {"key": "bad key", "operator": "Exists"}]}, ["tolerations[0].operator"]),
    ({"image_pull_secrets": ["RegCred"]}, ["image_pull_secrets[0]", "RegCred"]),
    ({"image_pull_secrets": ["ok", "a..b"]}, ["image_pull_secrets[1]"]),
    ({"image_pull_secrets": ["x" * 254]}, ["image_pull_secrets[0]", "253"]),
]


@pytest.mark.parametrize("fields,words", BAD_POD_OPTIONS, ids=[str(i) for i in range(len(BAD_POD_OPTIONS))])
def test_register_bad_pod_options(gw, fields, words):
    fields = dict(fields)
    if "resources" in fields:
        fields["resources"] = pb.admin.Resources(**fields["resources"])
    if "tolerations" in fields:
        fields["tolerations"] = [pb.admin.Toleration(**t) for t in fields["tolerations"]]
    expect_error(lambda: gw.register("iris", "1", echo_cmd(), **fields), INVALID, *words)
    assert registered_keys(gw) == []
