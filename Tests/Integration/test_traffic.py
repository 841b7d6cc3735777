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


def test_weighted_split_accuracy_over_10000_calls(gw):
    three_versions(gw)
    set_traffic(gw, "iris", [("1", 70), ("2", 20), ("3", 10)])
    counts = collections.Counter()
    req = harness.predict_request("iris")
    futures = []
    for i in range(10_000):
        futures.append(gw.inference.Predict.future(req, timeout=30))
        if len(futures) >= 200:
            counts.update(f.result().version for f in futures)
            futures.clear()
    counts.update(f.result().version for f in futures)
    total = sum(counts.values())
    assert total == 10_000
    shares = {v: 100 * counts[v] / total for v in ("1", "2", "3")}
    print(f"split 70/20/10 over 10,000 calls: {shares}")
    for version, want in (("1", 70), ("2", 20), ("3", 10)):
        assert abs(shares[version] - want) <= 2, shares


def test_sticky_split_key_stays_on_one_target(gw):
    three_versions(gw)
    set_traffic(gw, "iris", [("1", 50), ("2", 50)])
    targets = {}
    for key in range(200):
        got = set(served(gw, "iris", metadata=[("byoc-split-key", f"user-{key}")], n=3))
        assert len(got) == 1, f"user-{key} moved between {got}"
        targets[key] = got.pop()
    share = sum(1 for v in targets.values() if v == "1") / len(targets)
    assert 0.35 < share < 0.65, share  # keys spread over both targets
    # The same keys land the same way after an unrelated change (another model registered).
    gw.register("other", "1", echo_cmd())
    for key in range(0, 200, 10):
        assert served(gw, "iris", metadata=[("byoc-split-key", f"user-{key}")]) == [targets[key]]


def test_split_may_name_an_alias_and_explicit_versions_bypass_it(gw):
    three_versions(gw)
    set_alias(gw, "iris", "canary", "3")
    model = set_traffic(gw, "iris", [("1", 1), ("canary", 99)])
    assert [(t.version, t.percent) for t in model.traffic] == [("1", 1), ("canary", 99)]
    got = collections.Counter(served(gw, "iris", n=100))
    assert got["3"] >= 90, got
    assert served(gw, "iris", "2", n=5) == ["2"] * 5


def test_traffic_persists_across_a_restart_with_events(procs, tmp_path):
    gw = procs.registry_gateway()
    three_versions(gw)
    set_alias(gw, "iris", "stable", "1")
    set_traffic(gw, "iris", [("stable", 60), ("2", 40)], shadow=("3", 25))
    gw.proc.terminate()
    gw.proc.wait(20)
    again = procs.registry_gateway(name="again")
    for version in ("1", "2", "3"):
        again.wait_state("iris", version, "READY")
    model = again.admin.GetModel(pb.admin.GetModelRequest(model="iris"), timeout=10)
    assert dict(model.aliases) == {"stable": "1"}
    assert [(t.version, t.percent) for t in model.traffic] == [("stable", 60), ("2", 40)]
    assert (model.shadow.version, model.shadow.percent) == ("3", 25)
    got = collections.Counter(served(again, "iris", n=200))
    assert set(got) == {"1", "2"} and got["1"] > got["2"], got
    import sqlite3
    db = sqlite3.connect(f"file:{again.db}?mode=ro", uri=True)
    kinds = [k for (k,) in db.execute("SELECT kind FROM events WHERE model = 'iris' ORDER BY id")]
    db.close()
    assert "alias_changed" in kinds and "traffic_changed" in kinds


def test_every_answer_carries_byoc_served_version(gw):
    three_versions(gw)
    set_traffic(gw, "iris", [("2", 100)])
    _, call = gw.inference.Predict.with_call(harness.predict_request("iris"), timeout=10)
    assert served_header(call) == "2"
    _, call = gw.inference.Predict.with_call(harness.predict_request("iris", "3"), timeout=10)
    assert served_header(call) == "3"
    set_alias(gw, "iris", "stable", "1")
    _, call = gw.inference.Predict.with_call(harness.predict_request("iris", "stable"), timeout=10)
    assert served_header(call) == "1", "the concrete version, not the alias"


def test_field_2_is_honoured_with_byoc_model_and_no_byoc_version(gw):
    """Before the fix, the default version served a call that asked for version 1 in its body."""
    three_versions(gw)
    gw.admin.SetDefaultVersion(pb.admin.SetDefaultVersionRequest(model="iris", version="3"), timeout=10)
    assert served(gw, "iris", "1", metadata=[("byoc-model", "iris")], n=5) == ["1"] * 5
    # Without field 2 the default (or split) decides; byoc-version still wins over field 2.
    assert served(gw, "iris", "", metadata=[("byoc-model", "iris")]) == ["3"]
    assert served(gw, "iris", "1", metadata=[("byoc-model", "iris"), ("byoc-version", "2")]) == ["2"]
    # The header names the model even when field 1 is empty.
    resp = gw.inference.Predict(pb.inference.PredictRequest(version="2"), metadata=[("byoc-model", "iris")], timeout=10)
    assert resp.version == "2"
    # A compressed body cannot be scanned: without byoc-version it goes to the default.
    resp = gw.inference.Predict(harness.predict_request("iris", "1"), metadata=[("byoc-model", "iris")], timeout=10,
                                compression=grpc.Compression.Gzip)
    assert resp.version == "3"


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
