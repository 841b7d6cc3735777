"""Traffic (issue 14): aliases, weighted and sticky splits, shadow traffic, and their safety
rules, through grpcio clients generated from Protos/ and byocctl, against a registry gateway
running byoc-echo-model replicas (each answers with the version it serves)."""
from __future__ import annotations

import collections

import grpc
import pytest

import harness
from harness import binary, pb
from test_admin import expect_error
from test_byocctl import ctl, one_line_error, parse_json

INVALID = grpc.StatusCode.INVALID_ARGUMENT
NOT_FOUND = grpc.StatusCode.NOT_FOUND
PRECONDITION = grpc.StatusCode.FAILED_PRECONDITION


def echo_cmd(*extra: str) -> list[str]:
    return [binary("byoc-echo-model"), *extra]


@pytest.fixture
def gw(procs, tmp_path):
    return procs.registry_gateway(extra=["--resync-ms", "500"])


def three_versions(gw, model="iris"):
    for version in ("1", "2", "3"):
        gw.register(model, version, echo_cmd())
    for version in ("1", "2", "3"):
        gw.wait_state(model, version, "READY")


def set_traffic(gw, model, targets, shadow=None, timeout=10):
    req = pb.admin.SetTrafficRequest(model=model, targets=[pb.admin.TrafficTarget(version=v, percent=p) for v, p in targets])
    if shadow:
        req.shadow.CopyFrom(pb.admin.TrafficTarget(version=shadow[0], percent=shadow[1]))
    return gw.admin.SetTraffic(req, timeout=timeout)


def set_alias(gw, model, alias, version, timeout=10):
    return gw.admin.SetAlias(pb.admin.SetAliasRequest(model=model, alias=alias, version=version), timeout=timeout)


def served(gw, model, version="", metadata=(), n=1):
    """Versions that answered `n` calls (PredictResponse.version)."""
    out = []
    for _ in range(n):
        resp = gw.inference.Predict(harness.predict_request(model, version), metadata=list(metadata), timeout=10)
        out.append(resp.version)
    return out


def served_header(call) -> str | None:
    for key, value in call.initial_metadata() or ():
        if key == "byoc-served-version":
            return value
    return None


# --------------------------------------------------------------------------- aliases

def test_alias_names_a_version_and_moves(gw):
    three_versions(gw)
    model = set_alias(gw, "iris", "stable", "2")
    assert dict(model.aliases) == {"stable": "2"}
    assert served(gw, "iris", "stable", n=3) == ["2"] * 3
    # byoc-version may name the alias too.
    assert served(gw, "iris", metadata=[("byoc-model", "iris"), ("byoc-version", "stable")]) == ["2"]
    set_alias(gw, "iris", "stable", "3")
    assert served(gw, "iris", "stable") == ["3"]
    assert dict(gw.admin.GetModel(pb.admin.GetModelRequest(model="iris"), timeout=10).aliases) == {"stable": "3"}
    model = set_alias(gw, "iris", "stable", "")
    assert dict(model.aliases) == {}
    expect_error(lambda: served(gw, "iris", "stable"), NOT_FOUND, "stable")


def test_alias_rules(gw):
    three_versions(gw)
    expect_error(lambda: set_alias(gw, "iris", "2", "1"), INVALID, "alias", "is a version")
    expect_error(lambda: set_alias(gw, "iris", "Bad_Alias", "1"), INVALID, "alias")
    expect_error(lambda: set_alias(gw, "iris", "canary", "9"), NOT_FOUND, "9")
    expect_error(lambda: set_alias(gw, "nope", "canary", "1"), NOT_FOUND, "nope")
    expect_error(lambda: set_alias(gw, "iris", "canary", ""), NOT_FOUND, "canary")
    set_alias(gw, "iris", "canary", "3")
    expect_error(lambda: set_alias(gw, "iris", "other", "canary"), INVALID, "is an alias")
    # A new version cannot take an alias's name.
    expect_error(lambda: gw.register("iris", "canary", echo_cmd()), grpc.StatusCode.ALREADY_EXISTS, "alias canary")


# --------------------------------------------------------------------------- splits

def test_set_default_version_replaces_the_split(gw):
    three_versions(gw)
    set_traffic(gw, "iris", [("1", 50), ("2", 50)])
    model = gw.admin.SetDefaultVersion(pb.admin.SetDefaultVersionRequest(model="iris", version="3"), timeout=10)
    assert list(model.traffic) == []
    assert served(gw, "iris", n=20) == ["3"] * 20


def test_bad_splits_are_invalid_and_leave_the_old_split(gw):
    three_versions(gw)
    set_traffic(gw, "iris", [("1", 80), ("2", 20)])
    cases = [
        ([("1", 50), ("2", 40)], None, ["sum to 100", "90"]),
        ([("1", 50), ("9", 50)], None, ["targets[1].version", "9"]),
        ([("1", 0), ("2", 100)], None, ["targets[0].percent"]),
        ([("1", 101)], None, ["targets[0].percent"]),
        ([("1", 50), ("1", 50)], None, ["named twice"]),
        ([("Bad!", 100)], None, ["targets[0].version"]),
        ([("1", 100)], ("9", 10), ["shadow.version", "9"]),
        ([("1", 100)], ("2", 0), ["shadow.percent"]),
    ]
    for targets, shadow, words in cases:
        expect_error(lambda: set_traffic(gw, "iris", targets, shadow), INVALID, *words)
    model = gw.admin.GetModel(pb.admin.GetModelRequest(model="iris"), timeout=10)
    assert [(t.version, t.percent) for t in model.traffic] == [("1", 80), ("2", 20)]
    expect_error(lambda: set_traffic(gw, "nope", [("1", 100)]), NOT_FOUND, "nope")


def test_deleting_what_an_alias_split_or_shadow_names_is_refused(gw):
    three_versions(gw)
    set_alias(gw, "iris", "stable", "2")
    expect_error(lambda: gw.admin.DeleteModel(pb.admin.DeleteModelRequest(model="iris", version="2"), timeout=10),
                 PRECONDITION, "alias stable")
    set_alias(gw, "iris", "stable", "1")
    set_traffic(gw, "iris", [("1", 90), ("2", 10)])
    expect_error(lambda: gw.admin.DeleteModel(pb.admin.DeleteModelRequest(model="iris", version="2"), timeout=10),
                 PRECONDITION, "traffic split")
    set_traffic(gw, "iris", [], shadow=("3", 50))
    expect_error(lambda: gw.admin.DeleteModel(pb.admin.DeleteModelRequest(model="iris", version="3"), timeout=10),
                 PRECONDITION, "shadow")
    set_traffic(gw, "iris", [("stable", 100)])
    expect_error(lambda: set_alias(gw, "iris", "stable", ""), PRECONDITION, "alias stable", "traffic split")
    # Once nothing names it, the version can go; deleting the whole model takes everything.
    set_traffic(gw, "iris", [])
    gw.admin.DeleteModel(pb.admin.DeleteModelRequest(model="iris", version="3"), timeout=10)
    gw.admin.DeleteModel(pb.admin.DeleteModelRequest(model="iris"), timeout=10)
    expect_error(lambda: gw.admin.GetModel(pb.admin.GetModelRequest(model="iris"), timeout=10), NOT_FOUND)


# --------------------------------------------------------------------------- byocctl

def test_byocctl_alias_and_traffic(gw):
    three_versions(gw)
    server = f"http://{gw.address}"
    out = ctl("alias", "iris", "stable", "2", server=server, check=True)
    assert "stable -> 2" in out.stdout
    out = ctl("traffic", "iris", "stable=90", "3=10", "--shadow", "1=100", server=server, check=True)
    assert "stable 90 %" in out.stdout and "shadow: 100 % copied to 1" in out.stdout
    out = ctl("get", "iris", server=server, check=True)
    assert "aliases: stable -> 2" in out.stdout
    assert "traffic: stable 90 %, 3 10 %" in out.stdout
    data = parse_json(ctl("get", "iris", "-o", "json", server=server, check=True))
    assert data["aliases"] == {"stable": "2"}
    assert data["traffic"] == [{"version": "stable", "percent": 90}, {"version": "3", "percent": 10}]
    assert data["shadow"] == {"version": "1", "percent": 100}
    # Without --shadow the shadow is kept; --no-shadow removes it.
    ctl("traffic", "iris", "2=100", server=server, check=True)
    assert parse_json(ctl("get", "iris", "-o", "json", server=server, check=True))["shadow"]["version"] == "1"
    ctl("traffic", "iris", "--no-shadow", server=server, check=True)
    data = parse_json(ctl("get", "iris", "-o", "json", server=server, check=True))
    assert "shadow" not in data and data["traffic"] == []
    line = one_line_error(ctl("traffic", "iris", "1=50", "2=40", server=server))
    assert "sum to 100" in line
    line = one_line_error(ctl("traffic", "iris", "1:50", server=server), status=2)
    assert "VERSION=PERCENT" in line
    ctl("alias", "iris", "stable", "--remove", server=server, check=True)
    assert parse_json(ctl("get", "iris", "-o", "json", server=server, check=True))["aliases"] == {}


# --------------------------------------------------------------------------- JSON API (the console's)

def test_json_api_sets_aliases_and_traffic(gw):
    from test_ui import http_json
    three_versions(gw)
    status, body = http_json(gw.address, "POST", "/api/v1/models/iris/aliases", {"alias": "stable", "version": "2"})
    assert status == 200 and body["aliases"] == {"stable": "2"}, body
    status, body = http_json(gw.address, "POST", "/api/v1/models/iris/traffic",
                             {"targets": [{"version": "stable", "percent": 75}, {"version": "1", "percent": 25}],
                              "shadow": {"version": "3", "percent": 5}})
    assert status == 200, body
    assert body["traffic"] == [{"version": "stable", "percent": 75}, {"version": "1", "percent": 25}]
    assert body["shadow"] == {"version": "3", "percent": 5}
    status, body = http_json(gw.address, "POST", "/api/v1/models/iris/traffic", {"targets": [{"version": "1", "percent": 60}]})
    assert status == 400 and body["error"]["code"] == "INVALID_ARGUMENT" and "sum to 100" in body["error"]["message"], body
    status, body = http_json(gw.address, "POST", "/api/v1/models/iris/traffic", {"targets": "1=100"})
    assert status == 400, body
    status, body = http_json(gw.address, "DELETE", "/api/v1/models/iris/versions/2")
    assert status == 409 and "alias stable" in body["error"]["message"], body
    status, body = http_json(gw.address, "GET", "/api/v1/models/iris")
    assert body["traffic"][0] == {"version": "stable", "percent": 75}
