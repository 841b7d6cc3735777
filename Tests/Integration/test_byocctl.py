"""byocctl end to end: every verb in table and json modes against a real gateway.

The Admin tests start `byoc-gateway --db PATH --state-dir DIR` (local runtime) and register
`byoc-echo-model` by command; they skip only while that gateway answers UNIMPLEMENTED for
/byoc.v1.Admin/ListModels. The other tests (help, usage errors, connection refused, predict
and status through a --routes gateway) need nothing but the binaries.
"""
from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest

import harness
from harness import binary, child_env, free_port, pb

VERBS = ["register", "list", "get", "set-default", "scale", "delete", "predict", "status"]
LIST_HEADERS = ["MODEL", "VERSION", "DEFAULT", "STATE", "READY", "IMAGE/COMMAND", "AGE"]
PROGRESS_RE = re.compile(r"^(\S+/\S+): (PENDING|DEPLOYING|READY|FAILED|DELETING|VERSION_STATE_UNSPECIFIED) "
                         r"(\d+)/(\d+) ready")


# --------------------------------------------------------------------------- helpers

def ctl(*args: str, server: str | None = None, timeout: float = 90, env: dict | None = None,
        check: bool | None = None) -> subprocess.CompletedProcess:
    """Runs `byocctl VERB [--server S] ARGS...`; check=True asserts exit 0, False asserts non-zero."""
    argv = [binary("byocctl"), *args[:1]]
    if server is not None:
        argv += ["--server", server]
    argv += list(args[1:])
    extra = {"BYOC_SERVER": ""}
    extra.update(env or {})
    out = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=child_env(extra))
    if check is True:
        assert out.returncode == 0, f"$ {' '.join(argv)}\nexit {out.returncode}\n{out.stderr}{out.stdout}"
    elif check is False:
        assert out.returncode != 0, f"$ {' '.join(argv)}\nunexpected success\n{out.stdout}"
    return out


def one_line_error(out: subprocess.CompletedProcess, status: int = 1) -> str:
    """Asserts the failure shape: exit `status`, exactly one line on stderr, no trace."""
    assert out.returncode == status, f"exit {out.returncode}, stderr: {out.stderr!r}"
    lines = out.stderr.splitlines()
    assert len(lines) == 1, f"expected one stderr line, got: {out.stderr!r}"
    assert lines[0].startswith("byocctl: "), lines[0]
    assert "Fatal error" not in out.stderr and "Stack" not in out.stderr
    return lines[0]


def parse_json(out: subprocess.CompletedProcess):
    try:
        return json.loads(out.stdout)
    except json.JSONDecodeError as e:  # pragma: no cover - diagnostic
        raise AssertionError(f"stdout is not JSON ({e}):\n{out.stdout}")


def parse_table(text: str, headers: list[str]) -> list[dict]:
    """Parses an aligned table by the header's column positions; checks the alignment."""
    lines = [l for l in text.splitlines() if l.strip()]
    header = next(i for i, l in enumerate(lines) if l.split()[:1] == headers[:1] and all(h in l for h in headers))
    head = lines[header]
    assert head.split() == headers, head
    starts = [m.start() for m in re.finditer(r"\S+", head)]
    rows = []
    for line in lines[header + 1:]:
        row = {}
        for i, h in enumerate(headers):
            end = starts[i + 1] if i + 1 < len(starts) else None
            cell = line[starts[i]:end]
            # aligned: a non-empty cell starts exactly at its column, after a blank
            if cell.strip():
                assert not cell[0].isspace(), f"column {h} misaligned in {line!r}"
                assert starts[i] == 0 or line[starts[i] - 1] == " ", f"column {h} misaligned in {line!r}"
            row[h] = cell.strip()
        rows.append(row)
    return rows


def progress_lines(stderr: str) -> list[tuple[str, str, int, int]]:
    found = []
    for line in stderr.splitlines():
        m = PROGRESS_RE.match(line)
        if m:
            found.append((m.group(1), m.group(2), int(m.group(3)), int(m.group(4))))
    return found


# --------------------------------------------------------------------------- fixtures

@dataclass
class AdminGateway:
    proc: harness.Proc
    state_dir: Path
    echo: str

    @property
    def url(self) -> str:
        return f"http://{self.proc.address}"


@pytest.fixture
def admin(procs, tmp_path) -> AdminGateway:
    """A gateway with the registry and the local runtime (the Admin API must answer)."""
    state = tmp_path / "state"
    state.mkdir()
    gw = procs.start("gateway", [binary("byoc-gateway"), "--listen", "127.0.0.1:0",
                                 "--db", str(tmp_path / "registry.sqlite"), "--state-dir", str(state),
                                 "--workers", "2"])
    with harness.make_channel(gw.address) as channel:
        try:
            pb.admin_grpc.AdminStub(channel).ListModels(pb.admin.ListModelsRequest(), timeout=10)
        except grpc.RpcError as e:
            pytest.fail(f"/byoc.v1.Admin/ListModels on a registry gateway failed: {e.code()} {e.details()}")
    return AdminGateway(gw, state, binary("byoc-echo-model"))


@pytest.fixture
def routed(procs):
    """A --routes gateway: iris v1 (default) and v2 on hand-started echo models."""
    iris1 = procs.echo("iris", "1")
    iris2 = procs.echo("iris", "2")
    return procs.gateway({"iris": {"default": "1", "versions": {"1": [iris1], "2": [iris2]}}})


def register_echo(admin: AdminGateway, model: str, version: str, *extra: str, wait: bool = True):
    args = ["register", model, version, "--command", admin.echo, *extra]
    if wait:
        args += ["--wait", "--wait-timeout", "60"]
    return ctl(*args, server=admin.url, check=True)


# --------------------------------------------------------------------------- no gateway needed

def test_help_lists_every_verb():
    out = ctl("--help", check=True)
    for verb in VERBS:
        assert re.search(rf"^\s+{re.escape(verb)}\s", out.stdout, re.M), f"{verb} missing from:\n{out.stdout}"
    assert "--server" in out.stdout and "BYOC_SERVER" in out.stdout


@pytest.mark.parametrize("verb", VERBS)
def test_each_verb_has_help(verb):
    out = ctl(verb, "--help", check=True)
    assert f"USAGE: byocctl {verb}" in out.stdout
    for option in ("--server", "--output", "--timeout"):
        assert option in out.stdout, f"{verb} --help lacks {option}"


def test_register_help_documents_command_splitting():
    out = ctl("register", "--help", check=True).stdout
    assert "--command" in out and "--arg" in out and "-- WORD" in out
    for option in ("--image", "--port", "--env", "--min", "--max", "--cpu-request", "--cpu-limit",
                   "--memory-request", "--memory-limit", "--target-cpu", "--wait", "--wait-timeout"):
        assert option in out, option


@pytest.mark.parametrize("argv", [
    ["list"], ["get", "iris"], ["status"], ["set-default", "iris", "2"], ["scale", "iris", "1", "--min", "2"],
    ["delete", "iris"], ["register", "iris", "1", "--command", "x"],
    ["predict", "iris", "--input", '{"x": [[5.1, 3.5, 1.4, 0.2]]}'],
])
def test_connection_refused_is_one_line(argv):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    line = one_line_error(ctl(*argv, server=url, timeout=30))
    assert line == f"byocctl: cannot connect to {url}: connection refused"


def test_connection_refused_names_the_server_as_typed():
    port = free_port()
    line = one_line_error(ctl("list", server=f"127.0.0.1:{port}"))
    assert line == f"byocctl: cannot connect to 127.0.0.1:{port}: connection refused"
    line = one_line_error(ctl("list", env={"BYOC_SERVER": f"http://127.0.0.1:{port}"}))
    assert line == f"byocctl: cannot connect to http://127.0.0.1:{port}: connection refused"


def test_https_to_a_closed_port_is_one_clear_line():
    port = free_port()
    line = one_line_error(ctl("list", server=f"https://127.0.0.1:{port}"), status=1)
    assert line == f"byocctl: cannot connect to https://127.0.0.1:{port}: connection refused"


@pytest.mark.parametrize("argv", [
    ["get"], ["register", "iris"], ["scale", "iris", "1"], ["list", "-o", "xml"], ["frobnicate"],
    ["register", "iris", "1", "--command", "x", "--env", "NOEQUALS"],
    ["register", "iris", "1", "--command", "python3 'unterminated"],
    ["predict", "iris", "--param", "novalue"],
])
def test_usage_errors_exit_2(argv):
    out = ctl(*argv, server=f"http://127.0.0.1:{free_port()}")
    one_line_error(out, status=2)
    assert out.stdout == ""


@pytest.mark.parametrize("inputs, message", [
    ('{"x": [[1, 2], [3]]}', 'input "x" is ragged'),
    ('{"x": [1, "a"]}', 'input "x" mixes'),
    ('not json', "--input must be a JSON object"),
    ('[1, 2]', "--input must be a JSON object"),
])
def test_predict_bad_input_is_a_usage_error(inputs, message):
    line = one_line_error(ctl("predict", "iris", "--input", inputs, server=f"http://127.0.0.1:{free_port()}"),
                          status=2)
    assert message in line


# --------------------------------------------------------------------------- --routes gateway

def test_predict_prints_outputs_as_json(routed):
    out = ctl("predict", "iris", "--input", '{"x": [[5.1, 3.5, 1.4, 0.2]]}', server=routed.address, check=True)
    doc = parse_json(out)
    assert doc["model"] == "iris" and doc["version"] == "1"
    x = doc["outputs"]["x"]
    assert x["dtype"] == "FLOAT32" and x["shape"] == [1, 4]
    assert x["values"] == pytest.approx([5.1, 3.5, 1.4, 0.2], rel=1e-6)
    assert out.stderr == ""


def test_predict_types_version_and_parameters(routed):
    inputs = {"ids": [[1, 2, 3], [4, 5, 6]], "flag": [True, False], "names": ["a", "b c"], "s": 2.5}
    out = ctl("predict", "iris", "--version", "2", "--dtype", "int64", "--dtype", "s=float64",
              "--param", "delay_ms=1", "--input", json.dumps(inputs), "-o", "json",
              server=f"http://{routed.address}", check=True)
    doc = parse_json(out)
    assert doc["version"] == "2"
    outs = doc["outputs"]
    assert outs["ids"] == {"dtype": "INT64", "shape": [2, 3], "values": [1, 2, 3, 4, 5, 6]}
    assert outs["flag"] == {"dtype": "BOOL", "shape": [2], "values": [True, False]}
    assert outs["names"] == {"dtype": "STRING", "shape": [2], "values": ["a", "b c"]}
    assert outs["s"] == {"dtype": "FLOAT64", "shape": [], "values": [2.5]}


def test_predict_decodes_raw_outputs(routed):
    import base64
    import struct
    raw = base64.b64encode(struct.pack("<3q", 1, -2, 1 << 40)).decode()
    inputs = {"r": {"dtype": "INT64", "shape": [3], "raw": raw}}
    doc = parse_json(ctl("predict", "iris", "--input", json.dumps(inputs), server=routed.address, check=True))
    assert doc["outputs"]["r"]["values"] == [1, -2, 1 << 40]


def test_predict_payload_file(routed, tmp_path):
    f = tmp_path / "payload.bin"
    f.write_bytes(b"\x00hello")
    doc = parse_json(ctl("predict", "iris", "--payload-file", str(f), server=routed.address, check=True))
    import base64
    assert base64.b64decode(doc["payload"]) == b"\x00hello"


@pytest.mark.parametrize("argv, prefix", [
    (["predict", "nope", "--input", '{"x": [1]}'], "byocctl: NOT_FOUND: "),
    (["predict", "iris", "--version", "9", "--input", '{"x": [1]}'], "byocctl: NOT_FOUND: "),
])
def test_predict_errors_are_one_line(routed, argv, prefix):
    assert one_line_error(ctl(*argv, server=routed.address)).startswith(prefix)


def test_status_of_a_routes_gateway(routed):
    out = ctl("status", server=routed.address, check=True)
    assert f"gateway {routed.address}: SERVING" in out.stdout
    doc = parse_json(ctl("status", "-o", "json", server=routed.address, check=True))
    assert doc["gateway"] == "SERVING"


# --------------------------------------------------------------------------- Admin API

def test_register_wait_shows_progress_and_succeeds(admin):
    out = register_echo(admin, "iris", "1", "--min", "2")
    steps = progress_lines(out.stderr)
    assert steps, f"no progress lines on stderr:\n{out.stderr}"
    assert all(name == "iris/1" for name, *_ in steps)
    assert steps[-1][1:] == ("READY", 2, 2), steps
    # printed only when something changes
    assert all(a != b for a, b in zip(steps, steps[1:])), steps
    assert "FAILED" not in out.stderr
    rows = parse_table(out.stdout, ["MODEL", "VERSION", "STATE", "READY", "MIN", "MAX", "IMAGE/COMMAND", "AGE",
                                    "MESSAGE"])
    assert rows[0]["STATE"] == "READY" and rows[0]["READY"] == "2/2"


def test_register_json_and_command_forms(admin):
    doc = parse_json(ctl("register", "iris", "1", "--command", f"{admin.echo} --id 'replica one'",
                         "--env", "A=1", "--env", "B=x=y", "-o", "json", server=admin.url, check=True))
    assert doc["model"] == "iris" and doc["version"] == "1"
    assert doc["command"] == [admin.echo, "--id", "replica one"]
    assert doc["env"] == {"A": "1", "B": "x=y"}
    assert doc["state"] in ("PENDING", "DEPLOYING", "READY")
    doc = parse_json(ctl("register", "iris", "2", "-o", "json", "--", admin.echo, "--id", "two words",
                         server=admin.url, check=True))
    assert doc["command"] == [admin.echo, "--id", "two words"]
    doc = parse_json(ctl("register", "iris", "3", "--arg", admin.echo, "--arg", "--id", "--arg", "a'b",
                         "-o", "json", server=admin.url, check=True))
    assert doc["command"] == [admin.echo, "--id", "a'b"]


def test_list_and_get_table_and_json(admin):
    register_echo(admin, "iris", "1")
    register_echo(admin, "iris", "2")
    register_echo(admin, "wine", "1")
    rows = parse_table(ctl("list", server=admin.url, check=True).stdout, LIST_HEADERS)
    by_key = {(r["MODEL"], r["VERSION"]): r for r in rows}
    assert set(by_key) == {("iris", "1"), ("iris", "2"), ("wine", "1")}
    assert by_key[("iris", "1")]["DEFAULT"] == "*" and by_key[("iris", "2")]["DEFAULT"] == ""
    assert by_key[("wine", "1")]["DEFAULT"] == "*"
    for r in rows:
        assert r["STATE"] == "READY" and r["READY"] == "1/1", r
        assert admin.echo in r["IMAGE/COMMAND"]
        assert re.fullmatch(r"\d+[smhd]", r["AGE"]), r

    models = parse_json(ctl("list", "-o", "json", server=admin.url, check=True))
    assert isinstance(models, list) and sorted(m["name"] for m in models) == ["iris", "wine"]
    iris = next(m for m in models if m["name"] == "iris")
    assert iris["defaultVersion"] == "1"
    assert sorted(v["version"] for v in iris["versions"]) == ["1", "2"]
    assert all(v["state"] == "READY" and v["readyReplicas"] == 1 for v in iris["versions"])

    out = ctl("get", "iris", server=admin.url, check=True).stdout
    assert "default version: 1" in out
    assert {r["VERSION"] for r in parse_table(out, LIST_HEADERS + ["MESSAGE"])} == {"1", "2"}
    doc = parse_json(ctl("get", "iris", "-o", "json", server=admin.url, check=True))
    assert doc["name"] == "iris" and doc["defaultVersion"] == "1" and len(doc["versions"]) == 2
    # -o json output is sorted by key
    text = ctl("get", "iris", "-o", "json", server=admin.url, check=True).stdout
    assert text.index('"defaultVersion"') < text.index('"name"') < text.index('"versions"')


def test_set_default_flips_predict(admin):
    register_echo(admin, "iris", "1")
    register_echo(admin, "iris", "2")
    x = '{"x": [[5.1, 3.5, 1.4, 0.2]]}'
    assert parse_json(ctl("predict", "iris", "--input", x, server=admin.url, check=True))["version"] == "1"
    out = ctl("set-default", "iris", "2", server=admin.url, check=True)
    assert "iris: default version is now 2" in out.stdout
    assert parse_json(ctl("predict", "iris", "--input", x, server=admin.url, check=True))["version"] == "2"
    assert parse_json(ctl("predict", "iris", "--version", "1", "--input", x, server=admin.url,
                          check=True))["version"] == "1"
    doc = parse_json(ctl("set-default", "iris", "1", "-o", "json", server=admin.url, check=True))
    assert doc["defaultVersion"] == "1"
    pred = parse_json(ctl("predict", "iris", "--input", x, server=admin.url, check=True))
    assert pred["version"] == "1"
    assert pred["outputs"]["x"]["values"] == pytest.approx([5.1, 3.5, 1.4, 0.2], rel=1e-6)


def test_scale_wait_up_and_down(admin):
    register_echo(admin, "iris", "1")
    out = ctl("scale", "iris", "1", "--min", "3", "--wait", "--wait-timeout", "60", server=admin.url, check=True)
    steps = progress_lines(out.stderr)
    assert steps and steps[-1][1:] == ("READY", 3, 3), out.stderr
    rows = parse_table(out.stdout, ["MODEL", "VERSION", "STATE", "READY", "MIN", "MAX", "IMAGE/COMMAND", "AGE",
                                    "MESSAGE"])
    assert rows[0]["READY"] == "3/3" and rows[0]["MIN"] == "3" and rows[0]["MAX"] == "3"
    doc = parse_json(ctl("scale", "iris", "1", "--min", "1", "--max", "2", "--wait", "--wait-timeout", "60",
                         "-o", "json", server=admin.url, check=True))
    assert doc["state"] == "READY" and doc["readyReplicas"] == 1
    assert doc["minReplicas"] == 1 and doc["maxReplicas"] == 2
    rows = parse_table(ctl("list", server=admin.url, check=True).stdout, LIST_HEADERS)
    assert rows[0]["READY"] == "1/1"


def test_delete_version_and_model(admin):
    register_echo(admin, "iris", "1")
    register_echo(admin, "iris", "2")
    out = ctl("delete", "iris", "2", server=admin.url, check=True)
    assert out.stdout.strip() == "deleted iris/2"
    doc = parse_json(ctl("delete", "iris", "-o", "json", server=admin.url, check=True))
    assert [(v["model"], v["version"]) for v in doc["deleted"]] == [("iris", "1")]
    assert one_line_error(ctl("get", "iris", server=admin.url)).startswith("byocctl: NOT_FOUND: ")
    assert ctl("list", server=admin.url, check=True).stdout.strip() == "no models registered"
    assert parse_json(ctl("list", "-o", "json", server=admin.url, check=True)) == []


def test_failed_registration_exits_with_the_message(admin):
    out = ctl("register", "broken", "1", "--command", "/bin/false", "--wait", "--wait-timeout", "60",
              server=admin.url)
    assert out.returncode == 1, out.stderr
    last = out.stderr.splitlines()[-1]
    m = re.fullmatch(r"byocctl: broken/1 FAILED: (.+)", last)
    assert m, out.stderr
    assert m.group(1).strip() and m.group(1) != "no message"
    assert out.stdout == ""
    # the gateway still answers, and list shows the failure
    rows = parse_table(ctl("list", server=admin.url, check=True).stdout, LIST_HEADERS)
    assert rows[0]["STATE"] == "FAILED"


def test_wait_timeout(admin):
    out = ctl("register", "slow", "1", "--command", "/bin/sleep 300", "--wait", "--wait-timeout", "1.5",
              server=admin.url)
    assert out.returncode == 1
    assert re.fullmatch(r"byocctl: timed out after 1\.5 s waiting for slow/1 to be READY \(last: .+\)",
                        out.stderr.splitlines()[-1]), out.stderr


@pytest.mark.parametrize("argv, code", [
    (["get", "nope"], "NOT_FOUND"),
    (["set-default", "nope", "1"], "NOT_FOUND"),
    (["delete", "nope"], "NOT_FOUND"),
    (["scale", "nope", "1", "--min", "1"], "NOT_FOUND"),
    (["register", "Bad_Name", "1", "--command", "/bin/true"], "INVALID_ARGUMENT"),
    (["register", "okname", "1"], "INVALID_ARGUMENT"),  # neither image nor command
    (["register", "okname", "1", "--command", "/bin/true", "--min", "3", "--max", "1"], "INVALID_ARGUMENT"),
])
def test_admin_errors_are_one_line(admin, argv, code):
    line = one_line_error(ctl(*argv, server=admin.url))
    assert line.startswith(f"byocctl: {code}: "), line
    assert len(line) > len(f"byocctl: {code}: ")


def test_already_exists_and_unknown_version(admin):
    register_echo(admin, "iris", "1", wait=False)
    line = one_line_error(ctl("register", "iris", "1", "--command", admin.echo, server=admin.url))
    assert line.startswith("byocctl: ALREADY_EXISTS: "), line
    line = one_line_error(ctl("set-default", "iris", "9", server=admin.url))
    assert line.startswith("byocctl: NOT_FOUND: "), line
    line = one_line_error(ctl("scale", "iris", "1", "--min", "3", "--max", "1", server=admin.url))
    assert line.startswith("byocctl: INVALID_ARGUMENT: "), line


@pytest.mark.parametrize("argv, field", [
    (["register", "okname", "V1", "--command", "/bin/true"], "version"),
    (["register", "okname", "1", "--command", "/bin/true", "--port", "70000"], "port"),
], ids=["version-V1", "port-70000"])
def test_register_invalid_field_is_one_line(admin, argv, field):
    """The gateway's validation reaches the user as one INVALID_ARGUMENT line naming the field,
    and nothing is registered."""
    line = one_line_error(ctl(*argv, server=admin.url))
    assert line.startswith("byocctl: INVALID_ARGUMENT: "), line
    detail = line[len("byocctl: INVALID_ARGUMENT: "):]
    assert re.search(rf"\b{field}\b", detail), f"the message does not name {field!r}: {line}"
    if field == "port":
        assert "70000" in detail, line
    assert ctl("list", server=admin.url, check=True).stdout.strip() == "no models registered"


def test_delete_default_version_with_others_is_failed_precondition(admin):
    register_echo(admin, "iris", "1", wait=False)
    register_echo(admin, "iris", "2", wait=False)
    line = one_line_error(ctl("delete", "iris", "1", server=admin.url))
    assert line.startswith("byocctl: FAILED_PRECONDITION: "), line
    assert len(line) > len("byocctl: FAILED_PRECONDITION: ")
    # nothing was deleted: both versions remain and 1 is still the default
    doc = parse_json(ctl("get", "iris", "-o", "json", server=admin.url, check=True))
    assert doc["defaultVersion"] == "1", doc
    assert sorted(v["version"] for v in doc["versions"]) == ["1", "2"], doc


def test_status_lists_versions(admin):
    out = ctl("status", server=admin.url, check=True)
    assert f"gateway {admin.url}: SERVING" in out.stdout
    assert "no models registered" in out.stdout
    register_echo(admin, "iris", "1")
    out = ctl("status", server=admin.url, check=True)
    rows = parse_table(out.stdout, ["VERSION", "STATE", "READY", "MESSAGE"])
    assert rows == [{"VERSION": "iris/1 *", "STATE": "READY", "READY": "1/1", "MESSAGE": ""}]
    doc = parse_json(ctl("status", "-o", "json", server=admin.url, check=True))
    assert doc["gateway"] == "SERVING"
    assert [(v["model"], v["version"], v["state"], v["readyReplicas"], v["desiredReplicas"], v["default"])
            for v in doc["versions"]] == [("iris", "1", "READY", 1, 1, True)]


# --------------------------------------------------------------------------- global options before the verb

def ctl_argv(*argv: str, env: dict | None = None, timeout: float = 90) -> subprocess.CompletedProcess:
    """Runs `byocctl ARGV...` exactly as given ($BYOC_SERVER and $BYOC_TOKEN cleared unless `env` sets them)."""
    extra = {"BYOC_SERVER": "", "BYOC_TOKEN": ""}
    extra.update(env or {})
    return subprocess.run([binary("byocctl"), *argv], capture_output=True, text=True, timeout=timeout,
                          env=child_env(extra))


def ok(out: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert out.returncode == 0, f"$ byocctl {' '.join(out.args[1:])}\nexit {out.returncode}\n{out.stderr}{out.stdout}"
    return out


def closed_url() -> str:
    return f"http://127.0.0.1:{free_port()}"


def test_global_options_before_the_verb(admin):
    url, x = admin.url, '{"x": [[5.1, 3.5, 1.4, 0.2]]}'
    doc = parse_json(ok(ctl_argv("--server", url, "-o", "json", "register", "iris", "1", "--command", admin.echo,
                                 "--wait", "--wait-timeout", "60")))
    assert (doc["model"], doc["version"], doc["state"]) == ("iris", "1", "READY")
    # --opt=value forms, and the long name of -o. Waits until READY: version 2 becomes the default
    # below, and routing follows SetDefaultVersion at once.
    doc = parse_json(ok(ctl_argv(f"--server={url}", "-o=json", "register", "iris", "2", "--command", admin.echo,
                                 "--wait", "--wait-timeout", "60")))
    assert (doc["version"], doc["state"]) == ("2", "READY")
    models = parse_json(ok(ctl_argv("--server", url, "--output", "json", "list")))
    assert [m["name"] for m in models] == ["iris"]
    assert parse_json(ok(ctl_argv(f"--server={url}", "--output=json", "get", "iris")))["defaultVersion"] == "1"
    # table output, with --timeout before the verb too
    rows = parse_table(ok(ctl_argv("--timeout", "20", "--server", url, "list")).stdout, LIST_HEADERS)
    assert {r["VERSION"] for r in rows} == {"1", "2"}
    out = ok(ctl_argv("--server", url, "set-default", "iris", "2"))
    assert "iris: default version is now 2" in out.stdout
    assert parse_json(ok(ctl_argv("--server", url, "predict", "iris", "--input", x)))["version"] == "2"
    doc = parse_json(ok(ctl_argv("-o", "json", "--server", url, "scale", "iris", "2", "--min", "2", "--max", "3")))
    assert (doc["minReplicas"], doc["maxReplicas"]) == (2, 3)
    assert parse_json(ok(ctl_argv("--server", url, "-o", "json", "status")))["gateway"] == "SERVING"
    # mixed: some before the verb, some after
    doc = parse_json(ok(ctl_argv("--server", url, "delete", "iris", "1", "-o", "json")))
    assert [(v["model"], v["version"]) for v in doc["deleted"]] == [("iris", "1")]
    doc = parse_json(ok(ctl_argv("-o", "json", "get", "iris", "--server", url)))
    assert [v["version"] for v in doc["versions"]] == ["2"]


def test_option_after_the_verb_wins(admin):
    url = admin.url
    # --server: the one after the verb is used (the one before points at a closed port)
    assert parse_json(ok(ctl_argv("--server", closed_url(), "-o", "json", "list", "--server", url))) == []
    refused = closed_url()
    line = one_line_error(ctl_argv("--server", url, "list", "--server", refused))
    assert line == f"byocctl: cannot connect to {refused}: connection refused"
    # -o: after the verb wins either way
    assert parse_json(ok(ctl_argv("-o", "table", "--server", url, "list", "-o", "json"))) == []
    assert ok(ctl_argv("-o", "json", "--server", url, "list", "-o", "table")).stdout.strip() == "no models registered"
    # repeated before the verb: the last one
    assert parse_json(ok(ctl_argv("-o", "table", "-o", "json", "--server", url, "list"))) == []


def test_byoc_server_env_with_output_before_the_verb(admin, routed):
    env = {"BYOC_SERVER": admin.url}
    assert parse_json(ok(ctl_argv("-o", "json", "list", env=env))) == []
    assert parse_json(ok(ctl_argv("-o", "json", "status", env=env)))["gateway"] == "SERVING"
    assert parse_json(ok(ctl_argv("--output=json", "status", env=env)))["server"] == admin.url
    # --server before the verb overrides $BYOC_SERVER
    doc = parse_json(ok(ctl_argv("--server", routed.address, "-o", "json", "status", env=env)))
    assert doc["server"] == routed.address
    doc = parse_json(ok(ctl_argv("-o", "json", "predict", "iris", "--input", '{"x": [1]}',
                                 env={"BYOC_SERVER": routed.address})))
    assert doc["model"] == "iris" and doc["version"] == "1"
    # and a closed $BYOC_SERVER is still reported in one line
    refused = closed_url()
    line = one_line_error(ctl_argv("-o", "json", "list", env={"BYOC_SERVER": refused}))
    assert line == f"byocctl: cannot connect to {refused}: connection refused"


def test_token_before_the_verb(procs, tmp_path):
    admin_token = harness.make_token()
    token_file = tmp_path / "admin-token"
    token_file.write_text(admin_token + "\n")
    token_file.chmod(0o600)
    gw = procs.registry_gateway(extra=["--require-auth", "--admin-token-file", str(token_file)])
    url = f"http://{gw.address}"
    wrong = admin_token[:-4] + ("AAAA" if not admin_token.endswith("AAAA") else "BBBB")

    assert parse_json(ok(ctl_argv("--token", admin_token, "--server", url, "-o", "json", "list"))) == []
    assert parse_json(ok(ctl_argv(f"--token={admin_token}", "-o", "json", "list", "--server", url))) == []
    line = one_line_error(ctl_argv("--server", url, "list"))
    assert line.startswith("byocctl: UNAUTHENTICATED: "), line
    # token verbs (a verb with sub-verbs) take them before `token` too
    tokens = parse_json(ok(ctl_argv("--server", url, "--token", admin_token, "-o", "json", "token", "list")))
    assert admin_token.split("_")[1] in [t["id"] for t in tokens], tokens
    out = ok(ctl_argv("--server", url, "--token", admin_token, "-o", "json", "token", "create", "--scope", "predict",
                      "--model", "iris", "--description", "before the verb"))
    assert parse_json(out)["token"]["description"] == "before the verb"
    # after the verb wins
    assert parse_json(ok(ctl_argv("--token", wrong, "--server", url, "-o", "json", "list",
                                  "--token", admin_token))) == []
    line = one_line_error(ctl_argv("--token", admin_token, "--server", url, "list", "--token", wrong))
    assert line.startswith("byocctl: UNAUTHENTICATED: "), line
    # --token before the verb overrides $BYOC_TOKEN
    assert parse_json(ok(ctl_argv("--token", admin_token, "-o", "json", "list",
                                  env={"BYOC_SERVER": url, "BYOC_TOKEN": wrong}))) == []


USAGE_ERRORS = [
    # yaml is a format (-o yaml); an unknown one is a usage error naming the choices.
    (["list", "-o", "xml"], "byocctl: the value 'xml' is invalid for '-o <output>'. "
                            "Please provide one of 'table', 'json' or 'yaml'. (see 'byocctl list --help')"),
    (["-o", "xml", "list"], "byocctl: the value 'xml' is invalid for '-o <output>'. "
                            "Please provide one of 'table', 'json' or 'yaml'. (see 'byocctl list --help')"),
    (["lsit"], "byocctl: unknown verb 'lsit': did you mean 'list'? (see 'byocctl --help')"),
    (["list", "--bogus"], "byocctl: unknown option '--bogus' (see 'byocctl list --help')"),
    (["-o", "json", "--bogus", "list"], "byocctl: unknown option '--bogus' (see 'byocctl --help')"),
    (["get"], "byocctl: missing expected argument '<model>' (see 'byocctl get --help')"),
    (["-o", "json", "get"], "byocctl: missing expected argument '<model>' (see 'byocctl get --help')"),
    (["scale", "m", "v"], "byocctl: missing expected argument '--min <min>' (see 'byocctl scale --help')"),
    (["scale", "m", "v", "--min"], "byocctl: missing value for '--min <min>' (see 'byocctl scale --help')"),
    (["frobnicate"], "byocctl: unexpected argument 'frobnicate' (see 'byocctl --help')"),
    (["token", "frobnicate"], "byocctl: unexpected argument 'frobnicate' (see 'byocctl token --help')"),
    (["--server", "http://127.0.0.1:1"], "byocctl: no verb after '--server http://127.0.0.1:1' (see 'byocctl --help')"),
    (["--server"], "byocctl: missing value for '--server' (see 'byocctl --help')"),
    (["list", "--timeout", "0"], "byocctl: --timeout must be a positive number of seconds (see 'byocctl list --help')"),
    (["--timeout", "0", "list"], "byocctl: --timeout must be a positive number of seconds (see 'byocctl list --help')"),
    (["predict", "iris", "--param", "novalue"],
     "byocctl: --param takes KEY=VALUE, got \"novalue\" (see 'byocctl predict --help')"),
    (["--server", "ftp://h", "list"],
     "byocctl: unsupported scheme \"ftp\" in --server ftp://h (use http://HOST:PORT or https://HOST:PORT)"),
]


@pytest.mark.parametrize("argv, message", USAGE_ERRORS, ids=[" ".join(argv) for argv, _ in USAGE_ERRORS])
def test_usage_errors_are_one_exact_line(argv, message):
    out = ctl_argv(*argv, env={"BYOC_SERVER": closed_url()})
    assert one_line_error(out, status=2) == message
    assert out.stdout == ""


HELP_REQUESTS = [
    (["--help"], "USAGE: byocctl [--server URL]"),
    (["-h"], "USAGE: byocctl [--server URL]"),
    (["help"], "USAGE: byocctl [--server URL]"),
    ([], "USAGE: byocctl [--server URL]"),
    (["help", "scale"], "USAGE: byocctl scale"),
    (["list", "--help"], "USAGE: byocctl list"),
    (["--server", "http://127.0.0.1:1", "--help"], "USAGE: byocctl [--server URL]"),
    (["--server", "http://127.0.0.1:1", "help", "get"], "USAGE: byocctl get"),
    (["-o", "json", "list", "--help"], "USAGE: byocctl list"),
    (["--token", "t", "token", "create", "--help"], "USAGE: byocctl token create"),
]


@pytest.mark.parametrize("argv, usage", HELP_REQUESTS,
                         ids=[" ".join(argv) or "no-arguments" for argv, _ in HELP_REQUESTS])
def test_help_still_works(argv, usage):
    out = ok(ctl_argv(*argv))
    assert out.stderr == ""
    assert usage in out.stdout, out.stdout
    assert "--server" in out.stdout


def test_register_kubernetes_pod_options(admin):
    doc = parse_json(ctl("register", "iris", "1", "--command", admin.echo, "--gpus", "2", "--gpu-resource", "amd.com/gpu",
                         "--node-selector", "pool=gpu", "--toleration", "nvidia.com/gpu:NoSchedule",
                         "--toleration", "pool=ml:", "--toleration", ":", "--image-pull-secret", "regcred",
                         "--allow-root", "-o", "json", server=admin.url, check=True))
    assert doc["resources"]["gpus"] == 2 and doc["resources"]["gpuResource"] == "amd.com/gpu"
    assert doc["nodeSelector"] == {"pool": "gpu"}
    assert doc["tolerations"] == [
        {"key": "nvidia.com/gpu", "operator": "Exists", "value": "", "effect": "NoSchedule"},
        {"key": "pool", "operator": "Equal", "value": "ml", "effect": ""},
        {"key": "", "operator": "Exists", "value": "", "effect": ""},
    ]
    assert doc["imagePullSecrets"] == ["regcred"] and doc["allowRoot"] is True
    assert "--toleration" in one_line_error(ctl("register", "iris", "2", "--command", admin.echo,
                                                "--toleration", "nocolon", server=admin.url), 2)
    assert "tolerations[0].effect" in one_line_error(ctl("register", "iris", "2", "--command", admin.echo,
                                                         "--toleration", "k:Sometimes", server=admin.url))
