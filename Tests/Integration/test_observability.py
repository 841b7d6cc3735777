"""Observability for the people who run and debug models (issue 16): registry events
(ListEvents, /api/v1/events, byocctl events), why a version failed (its replica's last output
line, on the local runtime and on Kubernetes), metrics hygiene (process_*, byoc_build_info,
deleted versions' series, OpenMetrics) and the CLI points (-o yaml, --version, DNS failures,
"did you mean").
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import grpc
import pytest
import yaml
from prometheus_client.openmetrics.parser import text_string_to_metric_families as openmetrics_families
from prometheus_client.parser import text_string_to_metric_families

import harness
from harness import binary, child_env, free_port, pb

HERE = Path(__file__).resolve().parent
TORCH = "ModuleNotFoundError: No module named 'torch'"
EVENT_HEADERS = ["TIME", "MODEL", "VERSION", "KIND", "MESSAGE"]


# --------------------------------------------------------------------------- helpers

def ctl(*args: str, server: str, check: bool | None = None, timeout: float = 90) -> subprocess.CompletedProcess:
    argv = [binary("byocctl"), *args[:1], "--server", server, *args[1:]]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=child_env({"BYOC_SERVER": ""}))
    if check is True:
        assert out.returncode == 0, f"$ {' '.join(argv)}\nexit {out.returncode}\n{out.stderr}{out.stdout}"
    return out


def http(address: str, path: str, headers: dict | None = None):
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    req = urllib.request.Request(f"http://{address}{path}", headers=headers or {})
    try:
        with opener.open(req, timeout=30) as r:
            return r.status, dict(r.headers), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read().decode()


def events(gw, **kw):
    return list(gw.admin.ListEvents(pb.admin.ListEventsRequest(**kw), timeout=10).events)


def expect_invalid(gw, field: str, **kw):
    with pytest.raises(grpc.RpcError) as err:
        events(gw, **kw)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, err.value
    assert err.value.details().startswith(field), err.value.details()


def echo_cmd() -> list[str]:
    return [binary("byoc-echo-model")]


def crashing_script(tmp_path: Path) -> str:
    """A model that prints to stdout, then an import error to stderr, and exits 1."""
    script = tmp_path / "serve.sh"
    script.write_text(f"#!/bin/sh\necho loading the model\necho \"{TORCH}\" >&2\nexit 1\n")
    script.chmod(0o755)
    return str(script)


def scrape(address: str, accept: str | None = None) -> tuple[str, str]:
    status, headers, body = http(address, "/metrics", {"Accept": accept} if accept else None)
    assert status == 200, body
    return headers.get("Content-Type", ""), body


def samples(text: str) -> dict:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


@pytest.fixture
def gw(procs):
    return procs.registry_gateway(extra=["--resync-ms", "500"])


# --------------------------------------------------------------------------- events

def test_events_record_every_change_with_filters_and_limits(gw):
    gw.register("echo", "1", echo_cmd())
    gw.wait_state("echo", "1", "READY")
    gw.register("echo", "2", echo_cmd())
    gw.wait_state("echo", "2", "READY")
    gw.admin.ScaleModelVersion(pb.admin.ScaleModelVersionRequest(model="echo", version="1", min_replicas=2), timeout=10)
    gw.admin.SetDefaultVersion(pb.admin.SetDefaultVersionRequest(model="echo", version="2"), timeout=10)
    gw.admin.DeleteModel(pb.admin.DeleteModelRequest(model="echo", version="1"), timeout=10)
    gw.register("other", "1", echo_cmd())

    mine = events(gw, model="echo")
    assert [e.id for e in mine] == sorted(e.id for e in mine), "oldest first"
    assert {e.model for e in mine} == {"echo"}
    kinds = [e.kind for e in mine]
    for kind in ("registered", "state", "scaled", "default", "deleted"):
        assert kind in kinds, kinds
    by_kind = {e.kind: e for e in reversed(mine)}  # the first of each kind
    assert by_kind["registered"].message.startswith("registered: command "), by_kind["registered"]
    assert re.match(r"PENDING -> DEPLOYING|DEPLOYING -> READY|PENDING -> READY", by_kind["state"].message), by_kind["state"]
    assert any(e.kind == "state" and "-> READY" in e.message for e in mine), [e.message for e in mine]
    assert by_kind["scaled"].message == "replicas 1-1 -> 2-2" and by_kind["scaled"].version == "1"
    assert by_kind["default"].message == "default version 1 -> 2" and by_kind["default"].version == ""
    assert by_kind["deleted"].message.startswith("version 1 deleted (was ") and by_kind["deleted"].version == "1"

    version1 = events(gw, model="echo", version="1")
    assert version1 and {e.version for e in version1} == {"1"}
    everything = events(gw, limit=1000)
    assert {"echo", "other"} <= {e.model for e in everything}
    assert events(gw, limit=2) == everything[-2:], "the newest two, oldest first"
    since = by_kind["default"].time_unix_ms
    later = events(gw, model="echo", since_unix_ms=since)
    assert later and all(e.time_unix_ms >= since for e in later) and by_kind["default"] in later
    assert events(gw, model="never-registered") == []

    expect_invalid(gw, "limit", limit=1001)
    expect_invalid(gw, "limit", limit=-1)
    expect_invalid(gw, "since_unix_ms", since_unix_ms=-1)
    expect_invalid(gw, "version", version="1")
    expect_invalid(gw, "model", model="Not_A_Name")


def test_events_json_api_and_byocctl(gw):
    gw.register("echo", "1", echo_cmd())
    gw.register("echo", "2", echo_cmd())
    for version in ("1", "2"):
        gw.wait_state("echo", version, "READY")  # then no more events come by themselves
    gw.admin.SetDefaultVersion(pb.admin.SetDefaultVersionRequest(model="echo", version="2"), timeout=10)
    expected = events(gw, model="echo", limit=2)

    status, _, body = http(gw.address, "/api/v1/events?model=echo&limit=2")
    assert status == 200, body
    listed = json.loads(body)["events"]
    assert [(e["id"], e["kind"], e["message"], e["version"]) for e in listed] == \
        [(e.id, e.kind, e.message, e.version) for e in expected]
    assert set(listed[0]) == {"id", "timeUnixMs", "model", "version", "kind", "message"}
    for query, field in [("limit=5000", "limit"), ("limit=abc", "limit"), ("since=yesterday", "since"),
                         ("since=-1", "since_unix_ms"), ("version=1", "version"), ("bogus=1", "unknown query parameter")]:
        status, _, body = http(gw.address, f"/api/v1/events?{query}")
        error = json.loads(body)["error"]
        assert status == 400 and error["code"] == "INVALID_ARGUMENT" and error["message"].startswith(field), (query, body)

    url = f"http://{gw.address}"
    table = ctl("events", "echo", server=url, check=True).stdout.splitlines()
    assert table[0].split() == EVENT_HEADERS, table
    assert len(table) == 1 + len(events(gw, model="echo"))
    assert any(" default " in line and "default version 1 -> 2" in line for line in table), table
    as_json = json.loads(ctl("events", "echo", "--limit", "2", "-o", "json", server=url, check=True).stdout)
    assert [e["id"] for e in as_json] == [e.id for e in expected]
    as_yaml = yaml.safe_load(ctl("events", "echo", "--limit", "2", "-o", "yaml", server=url, check=True).stdout)
    assert as_yaml == as_json
    only2 = json.loads(ctl("events", "echo", "2", "--since", "1h", "-o", "json", server=url, check=True).stdout)
    assert only2 and {e["version"] for e in only2} == {"2"}
    assert json.loads(ctl("events", "--since", "2099-01-01T00:00:00Z", "-o", "json", server=url, check=True).stdout) == []
    bad = ctl("events", "--limit", "5000", server=url)
    assert bad.returncode == 1 and bad.stderr.startswith("byocctl: INVALID_ARGUMENT: limit"), bad.stderr
    usage = ctl("events", "--since", "whenever", server=url)
    assert usage.returncode == 2 and "--since takes a duration" in usage.stderr, usage.stderr


def test_events_need_an_admin_token(procs, tmp_path):
    token = harness.make_token()
    token_file = tmp_path / "admin-token"
    token_file.write_text(token + "\n")
    token_file.chmod(0o600)
    gw = procs.registry_gateway(extra=["--require-auth", "--admin-token-file", str(token_file)])
    with pytest.raises(grpc.RpcError) as err:
        events(gw)
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    listed = gw.admin.ListEvents(pb.admin.ListEventsRequest(), timeout=10,
                                 metadata=[("authorization", f"Bearer {token}")]).events
    assert any(e.kind == "token_created" for e in listed), listed
    status, _, body = http(gw.address, "/api/v1/events")
    assert status == 401, body
    status, _, body = http(gw.address, "/api/v1/events", {"Authorization": f"Bearer {token}"})
    assert status == 200 and json.loads(body)["events"], body


# --------------------------------------------------------------------------- why it failed

def test_failed_version_message_ends_with_the_replicas_stderr_line(gw, tmp_path):
    script = crashing_script(tmp_path)
    url = f"http://{gw.address}"
    out = ctl("register", "torch", "1", "--command", script, "--wait", "--wait-timeout", "60", server=url)
    assert out.returncode == 1, out.stderr
    last = out.stderr.splitlines()[-1]
    assert re.fullmatch(r"byocctl: torch/1 FAILED: replica 0 exited with status 1 before becoming ready "
                        r"\(\d+ times in a row\).*: " + re.escape(TORCH), last), out.stderr

    version = gw.wait_state("torch", "1", "FAILED")
    assert version.message.endswith(": " + TORCH), version.message
    got = ctl("get", "torch", server=url, check=True).stdout
    assert TORCH in got.splitlines()[-1], got
    listed = ctl("list", server=url, check=True)
    assert "FAILED" in listed.stdout and TORCH not in listed.stdout
    assert f"torch/1 FAILED: " in listed.stderr and listed.stderr.rstrip().endswith(TORCH), listed.stderr
    failed = [e for e in events(gw, model="torch") if e.kind == "state" and "-> FAILED" in e.message]
    assert failed and failed[0].message.endswith(TORCH), [e.message for e in events(gw, model="torch")]


def test_failed_version_on_kubernetes_shows_the_termination_message(procs, tmp_path):
    sys.path.insert(0, str(HERE))
    from test_kubernetes import FakeKube, admin, register, start_gateway, wait_state
    fake = FakeKube(procs)
    gw = start_gateway(procs, fake, tmp_path / "registry.sqlite")
    stub = admin(procs, gw)
    register(stub, "torch", "1", "crash/torch:1", env={"CRASH_MESSAGE": TORCH})
    _, _, message = wait_state(stub, "torch", "1", "FAILED", timeout=30)
    assert "CrashLoopBackOff" in message and message.endswith("exited with status 1: " + TORCH), message
    pod = next(p for p in fake.objects("pods", managed_only=False).values()
               if (p["metadata"].get("labels") or {}).get("byoc.dev/model") == "torch")
    assert pod["spec"]["containers"][0]["terminationMessagePolicy"] == "FallbackToLogsOnError"
    out = ctl("get", "torch", server=f"http://{gw.address}", check=True).stdout
    assert out.rstrip().endswith(TORCH), out


# --------------------------------------------------------------------------- metrics hygiene

def test_process_metrics_build_info_and_deleted_versions(gw):
    gw.register("echo", "1", echo_cmd())
    gw.register("echo", "2", echo_cmd())
    for version in ("1", "2"):
        gw.wait_state("echo", version, "READY")
        gw.wait_predict_ok("echo", version)
    content_type, text = scrape(gw.address)
    assert content_type.startswith("text/plain; version=0.0.4"), content_type
    parsed = samples(text)
    assert ("byoc_requests_total", frozenset({"model": "echo", "version": "2", "code": "OK"}.items())) in parsed
    assert parsed[("process_cpu_seconds_total", frozenset())] > 0
    assert parsed[("process_resident_memory_bytes", frozenset())] > 1 << 20
    fds, max_fds = parsed[("process_open_fds", frozenset())], parsed[("process_max_fds", frozenset())]
    assert 3 < fds < max_fds
    start = parsed[("process_start_time_seconds", frozenset())]
    boot = next(float(l.split()[1]) for l in Path("/proc/stat").read_text().splitlines() if l.startswith("btime "))
    ticks = int(subprocess.run(["getconf", "CLK_TCK"], capture_output=True, text=True).stdout)
    started = boot + int(Path(f"/proc/{gw.pid}/stat").read_text().rsplit(")", 1)[1].split()[19]) / ticks
    assert abs(start - started) < 1, (start, started)
    assert parsed[("byoc_build_info", frozenset({"version": "0.1.0"}.items()))] == 1
    assert "# TYPE byoc_build_info gauge" in text

    gw.admin.DeleteModel(pb.admin.DeleteModelRequest(model="echo", version="2"), timeout=10)
    text = scrape(gw.address)[1]
    assert 'version="2"' not in text, [l for l in text.splitlines() if 'version="2"' in l]
    assert 'byoc_requests_total{model="echo",version="1",code="OK"}' in text


def test_openmetrics_when_asked(gw):
    gw.register("echo", "1", echo_cmd())
    gw.wait_state("echo", "1", "READY")
    gw.wait_predict_ok("echo")
    content_type, text = scrape(gw.address, "application/openmetrics-text; version=1.0.0,text/plain;q=0.5")
    assert content_type == "application/openmetrics-text; version=1.0.0; charset=utf-8", content_type
    assert text.endswith("# EOF\n")
    families = {f.name: f for f in openmetrics_families(text)}
    assert families["byoc_requests"].type == "counter"
    assert any(s.name == "byoc_requests_total" and s.labels.get("model") == "echo" for s in families["byoc_requests"].samples)
    assert families["process_cpu_seconds"].type == "counter"
    assert families["byoc_request_duration_seconds"].type == "histogram"
    assert families["byoc_build"].type == "info"
    assert families["byoc_build"].samples[0].labels == {"version": "0.1.0"}
    # The same over h2c.
    out = subprocess.run(["curl", "-sS", "--fail", "--noproxy", "*", "--http2-prior-knowledge", "-D", "-",
                          "-H", "Accept: application/openmetrics-text", f"http://{gw.address}/metrics"],
                         capture_output=True, text=True, timeout=15)
    assert out.returncode == 0, out.stderr
    head, _, body = out.stdout.partition("\n\n")
    assert "content-type: application/openmetrics-text; version=1.0.0" in head.lower(), head
    assert {f.name for f in openmetrics_families(body)} >= {"byoc_requests", "process_open_fds", "byoc_build"}
    # Without the Accept header: Prometheus text, no EOF.
    content_type, text = scrape(gw.address)
    assert content_type.startswith("text/plain") and "# EOF" not in text


# --------------------------------------------------------------------------- CLI

def test_cli_yaml_version_dns_and_did_you_mean(gw):
    url = f"http://{gw.address}"
    gw.register("echo", "1", echo_cmd())
    # READY first: the two outputs are compared, and a state change between them would differ.
    gw.wait_state("echo", "1", "READY")
    as_json = json.loads(ctl("get", "echo", "-o", "json", server=url, check=True).stdout)
    as_yaml = yaml.safe_load(ctl("get", "echo", "-o", "yaml", server=url, check=True).stdout)
    assert as_yaml == as_json and as_yaml["versions"][0]["version"] == "1"
    listed = yaml.safe_load(ctl("list", "-o", "yaml", server=url, check=True).stdout)
    assert [m["name"] for m in listed] == ["echo"]

    out = subprocess.run([binary("byocctl"), "--version"], capture_output=True, text=True, timeout=10)
    assert out.returncode == 0 and out.stdout.strip() == "byocctl 0.1.0", out

    out = ctl("list", server="http://no-such-host.invalid:8080")
    assert out.returncode == 1
    # getaddrinfo's reason: "name or service not known" (or, without any resolver, "temporary
    # failure in name resolution").
    assert re.fullmatch(r'byocctl: cannot connect to http://no-such-host\.invalid:8080: '
                        r'cannot resolve host "no-such-host\.invalid": [a-z ]+', out.stderr.strip()), out.stderr
    assert "no route to host" not in out.stderr

    out = subprocess.run([binary("byocctl"), "lsit"], capture_output=True, text=True, timeout=10)
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.strip() == "byocctl: unknown verb 'lsit': did you mean 'list'? (see 'byocctl --help')"
    out = subprocess.run([binary("byocctl"), "token", "revok", "x"], capture_output=True, text=True, timeout=10)
    assert out.returncode == 2
    assert out.stderr.strip() == "byocctl: unknown verb 'revok': did you mean 'revoke'? (see 'byocctl token --help')"
