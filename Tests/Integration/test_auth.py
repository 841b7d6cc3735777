"""API tokens end to end: `byoc-gateway --require-auth --admin-token-file F --state-dir D` with
echo models registered through the Admin API (local runtime).

Every token path gets its status through grpcio and through byocctl: none, wrong, malformed,
expired, revoked -> UNAUTHENTICATED; a predict token on the Admin API or on another model ->
PERMISSION_DENIED; a predict token on its model and an admin token -> OK. The first admin token
printed at first start works and is printed only once (not again after a restart). No response,
no gateway log line and no replica log contains a secret (except that one printed line).
"""
from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import grpc
import pytest

import harness
from harness import binary, child_env, make_token, pb

UNAUTH = grpc.StatusCode.UNAUTHENTICATED
DENIED = grpc.StatusCode.PERMISSION_DENIED
OK = grpc.StatusCode.OK
NOT_FOUND = grpc.StatusCode.NOT_FOUND

TOKEN_RE = re.compile(r"byoc_[0-9a-f]{12}_[A-Za-z0-9_-]{43}")
FIRST_TOKEN_LINE = "FIRST ADMIN TOKEN"


def md(token: str | None):
    return None if token is None else [("authorization", f"Bearer {token}")]


def status_of(fn, *args, **kw):
    """(code, details, response) of a unary call; never raises for an RPC error."""
    try:
        return OK, "", fn(*args, **kw)
    except grpc.RpcError as e:
        return e.code(), e.details() or "", None


def ctl(*args: str, server: str, token: str | None, timeout: float = 60) -> subprocess.CompletedProcess:
    """`byocctl ARGS... --server S [--token T]` (BYOC_TOKEN cleared, so only the flag counts)."""
    argv = [binary("byocctl"), *args, "--server", server]
    if token is not None:
        argv += ["--token", token]
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                          env=child_env({"BYOC_SERVER": "", "BYOC_TOKEN": ""}))


def ctl_code(out: subprocess.CompletedProcess) -> str:
    """The status name of a byocctl call: OK, or the CODE of its one-line error."""
    if out.returncode == 0:
        return "OK"
    line = out.stderr.strip()
    assert "\n" not in line, f"one line expected, got {line!r}"
    m = re.match(r"byocctl: ([A-Z_]+): ", line)
    assert m, f"unexpected error line {line!r}"
    assert out.returncode == 1
    return m.group(1)


class AuthGateway:
    """A --require-auth registry gateway with iris and wine (echo models) READY."""

    def __init__(self, procs, tmp_path: Path, admin_token: str):
        self.admin_token = admin_token
        self.token_file = tmp_path / "admin-token"
        self.token_file.write_text(admin_token + "\n")
        self.token_file.chmod(0o600)
        self.gw = procs.registry_gateway(extra=["--require-auth", "--admin-token-file", str(self.token_file),
                                                "--resync-ms", "500"])
        self.secrets: list[str] = [admin_token]

    @property
    def address(self) -> str:
        return self.gw.address

    def register_echo(self, model: str):
        self.gw.admin.RegisterModel(pb.admin.RegisterModelRequest(
            model=model, version="1", command=[binary("byoc-echo-model")]), timeout=20, metadata=md(self.admin_token))

    def wait_ready(self, model: str, timeout: float = 60):
        deadline = time.monotonic() + timeout
        while True:
            m = self.gw.admin.GetModel(pb.admin.GetModelRequest(model=model), timeout=20, metadata=md(self.admin_token))
            if m.versions and pb.admin.VersionState.Name(m.versions[0].state) == "READY":
                return
            assert time.monotonic() < deadline, f"{model} not READY: {m}"
            time.sleep(0.1)

    def create(self, scope: str, models=(), expires_unix_ms: int = 0, description: str = "") -> tuple[str, str]:
        """(id, full token text) of a new token."""
        resp = self.gw.admin.CreateToken(pb.admin.CreateTokenRequest(
            scope=scope, models=list(models), expires_unix_ms=expires_unix_ms, description=description),
            timeout=20, metadata=md(self.admin_token))
        assert TOKEN_RE.fullmatch(resp.secret), "CreateToken returns the full token text"
        assert resp.secret.startswith(f"byoc_{resp.token.id}_")
        self.secrets.append(resp.secret)
        return resp.token.id, resp.secret

    def predict(self, model: str, token: str | None):
        return status_of(self.gw.inference.Predict, harness.predict_request(model), timeout=20, metadata=md(token))

    def list_models(self, token: str | None):
        return status_of(self.gw.admin.ListModels, pb.admin.ListModelsRequest(), timeout=20, metadata=md(token))

    def all_logs(self) -> dict[str, str]:
        """The gateway's log and every replica log, by path."""
        logs = {str(self.gw.proc.log_path): self.gw.proc.log()}
        for f in sorted((self.gw.state_dir / "logs").rglob("*.log")):
            logs[str(f)] = f.read_bytes().decode("utf-8", "replace")
        return logs


@pytest.fixture
def auth(procs, tmp_path):
    a = AuthGateway(procs, tmp_path, make_token())
    a.register_echo("iris")
    a.register_echo("wine")
    a.wait_ready("iris")
    a.wait_ready("wine")
    return a


def secret_parts(token: str) -> list[str]:
    """What must never show up: the whole token and its secret part."""
    return [token, token.split("_", 2)[2]]


def test_every_token_path_grpcio_and_byocctl(auth):
    admin = auth.admin_token
    _, iris_token = auth.create("predict", ["iris"], description="iris only")
    _, all_token = auth.create("predict", [], description="every model")
    revoked_id, revoked_token = auth.create("admin", description="to revoke")
    expires_at = time.time() + 5
    expired_id, expired_token = auth.create("predict", ["iris"], expires_unix_ms=int(expires_at * 1000))
    wrong = make_token()                                          # well-formed, unknown id
    wrong_secret = iris_token[:-4] + ("AAAA" if not iris_token.endswith("AAAA") else "BBBB")  # known id, wrong secret
    malformed = "not-a-token"

    # Before expiry and revocation both work.
    assert auth.predict("iris", expired_token)[0] == OK
    assert auth.list_models(revoked_token)[0] == OK
    resp = auth.gw.admin.RevokeToken(pb.admin.RevokeTokenRequest(id=revoked_id), timeout=20, metadata=md(admin))
    assert resp.id == revoked_id and resp.revoked_unix_ms > 0
    time.sleep(max(0.0, expires_at - time.time()))  # the token's 5 s run out
    assert harness.wait_until(lambda: auth.predict("iris", expired_token)[0] == UNAUTH, 10, 0.1), \
        "the expired token still works"

    # (token, model for Predict, expected Predict status, expected Admin status)
    cases = {
        "none": (None, "iris", UNAUTH, UNAUTH),
        "wrong": (wrong, "iris", UNAUTH, UNAUTH),
        "wrong-secret": (wrong_secret, "iris", UNAUTH, UNAUTH),
        "malformed": (malformed, "iris", UNAUTH, UNAUTH),
        "expired": (expired_token, "iris", UNAUTH, UNAUTH),
        "revoked": (revoked_token, "iris", UNAUTH, UNAUTH),
        "predict-other-model": (iris_token, "wine", DENIED, DENIED),
        "predict-unknown-model": (iris_token, "nosuch", DENIED, DENIED),
        "predict-right-model": (iris_token, "iris", OK, DENIED),
        "predict-every-model": (all_token, "wine", OK, DENIED),
        "admin": (admin, "wine", OK, OK),
        "admin-unknown-model": (admin, "nosuch", NOT_FOUND, OK),
    }
    every_secret = [s for t in auth.secrets + [wrong, wrong_secret] for s in secret_parts(t)]
    for name, (token, model, want_predict, want_admin) in cases.items():
        code, details, response = auth.predict(model, token)
        assert code == want_predict, f"{name}: Predict {model}: {code} {details!r}"
        if code == OK:
            assert response.model == model
        code2, details2, _ = auth.list_models(token)
        assert code2 == want_admin, f"{name}: ListModels: {code2} {details2!r}"
        for text in (details, details2):
            for s in every_secret:
                assert s not in text, f"{name}: a status message contains a secret: {text!r}"

        # The same through byocctl: Admin (list) and Predict.
        out = ctl("list", server=auth.address, token=token)
        assert ctl_code(out) == want_admin.name, f"{name}: byocctl list: {out.stderr}{out.stdout}"
        out2 = ctl("predict", model, "--input", '{"x": [1]}', server=auth.address, token=token)
        assert ctl_code(out2) == want_predict.name, f"{name}: byocctl predict: {out2.stderr}{out2.stdout}"
        for text in (out.stderr, out.stdout, out2.stderr):
            for s in every_secret:
                assert s not in text, f"{name}: byocctl output contains a secret: {text!r}"

    # Health and the OIP server-level calls stay open.
    health = pb.health_grpc.HealthStub(auth.gw.channel)
    assert health.Check(pb.health.HealthCheckRequest(service=""), timeout=10).status == 1
    oip = pb.oip_grpc.GRPCInferenceServiceStub(auth.gw.channel)
    assert oip.ServerLive(pb.oip.ServerLiveRequest(), timeout=10).live
    # ModelInfer is routed like Predict: it needs a token for the model.
    code, _, _ = status_of(oip.ModelInfer, pb.oip.ModelInferRequest(model_name="iris"), timeout=10)
    assert code == UNAUTH
    code, _, _ = status_of(oip.ModelInfer, pb.oip.ModelInferRequest(model_name="wine"), timeout=10,
                           metadata=md(iris_token))
    assert code == DENIED

    assert_no_secrets_logged(auth)


def test_repository_index_lists_the_models_of_the_token(auth):
    oip = pb.oip_grpc.GRPCInferenceServiceStub(auth.gw.channel)

    def listed(token):
        code, _, resp = status_of(oip.RepositoryIndex, pb.oip.RepositoryIndexRequest(), timeout=10, metadata=md(token))
        return code if code != OK else sorted((m.name, m.version, m.state) for m in resp.models)
    assert listed(None) == UNAUTH
    assert listed("byoc_000000000000_" + "x" * 43) == UNAUTH
    assert listed(auth.admin_token) == [("iris", "1", "READY"), ("wine", "1", "READY")]
    _, iris_token = auth.create("predict", ["iris"])
    assert listed(iris_token) == [("iris", "1", "READY")]
    _, every_model = auth.create("predict")
    assert len(listed(every_model)) == 2


def test_health_list_shows_only_the_models_of_the_token(auth):
    """Health/List names models, so under --require-auth it needs a token and lists only the
    models the token may call (like RepositoryIndex); Check stays open for probes."""
    def listed(token):
        code, _, resp = status_of(auth.gw.health.List, pb.health.HealthListRequest(), timeout=10, metadata=md(token))
        return code if code != OK else sorted(k for k in resp.statuses if k and not k.startswith(("byoc.", "inference.")))
    assert listed(None) == UNAUTH
    assert listed("byoc_000000000000_" + "x" * 43) == UNAUTH
    assert listed(auth.admin_token) == ["iris", "iris/1", "wine", "wine/1"]
    _, iris_token = auth.create("predict", ["iris"])
    assert listed(iris_token) == ["iris", "iris/1"]
    code, _, resp = status_of(auth.gw.health.Check, pb.health.HealthCheckRequest(), timeout=10, metadata=md(None))
    assert code == OK and resp.status == pb.health.HealthCheckResponse.SERVING


def test_token_admin_rpcs_through_byocctl(auth):
    srv, admin = auth.address, auth.admin_token
    out = ctl("token", "create", "--scope", "predict", "--model", "iris", "--expires", "24h",
              "--description", "from byocctl", server=srv, token=admin)
    assert out.returncode == 0, out.stderr
    tokens = TOKEN_RE.findall(out.stdout)
    assert len(tokens) == 1, f"the secret is printed exactly once: {out.stdout!r}"
    token = tokens[0]
    auth.secrets.append(token)
    assert "shown only this once" in out.stdout
    token_id = token.split("_")[1]

    assert ctl_code(ctl("predict", "iris", "--input", '{"x": [1]}', server=srv, token=token)) == "OK"
    assert ctl_code(ctl("predict", "wine", "--input", '{"x": [1]}', server=srv, token=token)) == "PERMISSION_DENIED"
    # A predict token cannot manage tokens.
    assert ctl_code(ctl("token", "list", server=srv, token=token)) == "PERMISSION_DENIED"
    assert ctl_code(ctl("token", "create", "--scope", "admin", server=srv, token=token)) == "PERMISSION_DENIED"
    assert ctl_code(ctl("token", "list", server=srv, token=None)) == "UNAUTHENTICATED"

    listed = ctl("token", "list", server=srv, token=admin)
    assert listed.returncode == 0, listed.stderr
    assert token_id in listed.stdout and "from byocctl" in listed.stdout
    assert not TOKEN_RE.search(listed.stdout), "token list never shows secrets"
    as_json = ctl("token", "list", "-o", "json", server=srv, token=admin)
    assert as_json.returncode == 0 and token_id in as_json.stdout and not TOKEN_RE.search(as_json.stdout)

    # BYOC_TOKEN works like --token.
    env_out = subprocess.run([binary("byocctl"), "list", "--server", srv], capture_output=True, text=True, timeout=60,
                             env=child_env({"BYOC_SERVER": "", "BYOC_TOKEN": admin}))
    assert env_out.returncode == 0, env_out.stderr

    # Validation errors.
    assert ctl_code(ctl("token", "create", "--scope", "root", server=srv, token=admin)) == "INVALID_ARGUMENT"
    assert ctl_code(ctl("token", "create", "--scope", "admin", "--model", "iris", server=srv, token=admin)) == "INVALID_ARGUMENT"
    assert ctl_code(ctl("token", "create", "--scope", "predict", "--model", "Bad_Name", server=srv, token=admin)) == "INVALID_ARGUMENT"
    assert ctl_code(ctl("token", "create", "--scope", "predict", "--expires", "2001-01-01T00:00:00Z",
                        server=srv, token=admin)) == "INVALID_ARGUMENT"
    bad_expiry = ctl("token", "create", "--scope", "predict", "--expires", "soon", server=srv, token=admin)
    assert bad_expiry.returncode == 2 and "--expires" in bad_expiry.stderr
    assert ctl_code(ctl("token", "revoke", "ffffffffffff", server=srv, token=admin)) == "NOT_FOUND"

    revoked = ctl("token", "revoke", token_id, server=srv, token=admin)
    assert revoked.returncode == 0 and f"revoked token {token_id}" in revoked.stdout, revoked.stderr
    assert ctl_code(ctl("predict", "iris", "--input", '{"x": [1]}', server=srv, token=token)) == "UNAUTHENTICATED"
    assert "revoked" in ctl("token", "list", server=srv, token=admin).stdout

    # The whole token text names its token too (the output shows only the id).
    other_id, other = auth.create("predict", ["iris"], description="revoked by its text")
    by_text = ctl("token", "revoke", other, server=srv, token=admin)
    assert by_text.returncode == 0 and f"revoked token {other_id}" in by_text.stdout, by_text.stderr
    assert other not in by_text.stdout + by_text.stderr

    assert_no_secrets_logged(auth)


def test_first_start_prints_the_admin_token_once(procs, tmp_path):
    state = tmp_path / "state"
    db = tmp_path / "registry.sqlite"
    gw = procs.registry_gateway(state_dir=state, db=db, extra=["--require-auth"], name="gateway-first")
    log = gw.proc.log()
    lines = [l for l in log.splitlines() if FIRST_TOKEN_LINE in l]
    assert len(lines) == 1, log
    tokens = TOKEN_RE.findall(log)
    assert len(tokens) == 1, "the token appears once, on that line"
    first = tokens[0]

    # It is an admin token.
    code, details, _ = status_of(gw.admin.ListModels, pb.admin.ListModelsRequest(), timeout=20, metadata=md(first))
    assert code == OK, details
    code, _, _ = status_of(gw.admin.ListModels, pb.admin.ListModelsRequest(), timeout=20)
    assert code == UNAUTH
    listed = gw.admin.ListTokens(pb.admin.ListTokensRequest(), timeout=20, metadata=md(first))
    assert [t.scope for t in listed.tokens] == ["admin"]
    assert first.split("_")[1] == listed.tokens[0].id
    assert first not in str(listed), "ListTokens never returns a secret"

    # A restart on the same registry does not print a token again, and the first one still works.
    gw.proc.terminate()
    gw.proc.wait(timeout=30)
    again = procs.registry_gateway(state_dir=state, db=db, extra=["--require-auth"], name="gateway-restart")
    assert FIRST_TOKEN_LINE not in again.proc.log()
    assert not TOKEN_RE.search(again.proc.log())
    code, details, _ = status_of(again.admin.ListModels, pb.admin.ListModelsRequest(), timeout=20, metadata=md(first))
    assert code == OK, details
    out = ctl("list", server=again.address, token=first)
    assert out.returncode == 0, out.stderr


def test_admin_token_file_and_bad_files(procs, tmp_path):
    # A file that does not hold a token is refused without echoing its content.
    bad = tmp_path / "bad-token"
    bad.write_text("byoc_hunter2-is-not-a-token\n")
    p = procs.start("gateway-bad-file", [binary("byoc-gateway"), "--listen", "127.0.0.1:0", "--state-dir",
                                         str(tmp_path / "s1"), "--require-auth", "--admin-token-file", str(bad)],
                    wait=False)
    assert p.wait(timeout=30) != 0
    assert "--admin-token-file" in p.log() and "hunter2" not in p.log()

    # The same file's token on a registry that holds that id with another secret is refused.
    token = make_token()
    good = tmp_path / "good-token"
    good.write_text(token)
    state, db = tmp_path / "s2", tmp_path / "s2.sqlite"
    gw = procs.registry_gateway(state_dir=state, db=db, extra=["--require-auth", "--admin-token-file", str(good)],
                                name="gateway-file")
    assert FIRST_TOKEN_LINE not in gw.proc.log(), "with a token file nothing is generated"
    assert token not in gw.proc.log()
    code, details, _ = status_of(gw.admin.ListModels, pb.admin.ListModelsRequest(), timeout=20, metadata=md(token))
    assert code == OK, details
    gw.proc.terminate()
    gw.proc.wait(timeout=30)
    forged = token[:-1] + ("A" if token[-1] != "A" else "B")
    good.write_text(forged)
    p = procs.start("gateway-forged", [binary("byoc-gateway"), "--listen", "127.0.0.1:0", "--state-dir", str(state),
                                       "--db", str(db), "--require-auth", "--admin-token-file", str(good)], wait=False)
    assert p.wait(timeout=30) != 0
    assert "another secret" in p.log() and forged not in p.log() and token not in p.log()


def test_json_api_needs_an_admin_token(auth):
    import http.client
    host, port = auth.address.rsplit(":", 1)
    _, iris_token = auth.create("predict", ["iris"])

    def get(path, token=None, method="GET", body=None):
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        if body is not None:
            headers["Content-Type"] = "application/json"
        conn.request(method, path, body=body, headers=headers)
        r = conn.getresponse()
        data = r.read().decode()
        conn.close()
        return r.status, data

    assert get("/")[0] == 200, "the UI page itself loads"
    status, body = get("/api/v1/info")
    assert status == 200 and '"authRequired":true' in body.replace(" ", "")
    assert get("/api/v1/models")[0] == 401
    assert get("/api/v1/models", make_token())[0] == 401
    assert get("/api/v1/models", iris_token)[0] == 403
    status, body = get("/api/v1/models", auth.admin_token)
    assert status == 200 and "iris" in body
    # The UI's predict takes a predict token for its model.
    predict = '{"inputs": {"x": [1]}}'
    assert get("/api/v1/models/iris/predict", iris_token, "POST", predict)[0] == 200
    assert get("/api/v1/models/wine/predict", iris_token, "POST", predict)[0] == 403
    assert get("/api/v1/models/iris/predict", None, "POST", predict)[0] == 401
    for s in secret_parts(iris_token) + secret_parts(auth.admin_token):
        assert s not in body
    assert_no_secrets_logged(auth)


def assert_no_secrets_logged(auth: AuthGateway):
    """No gateway or replica log line contains any token or secret part."""
    logs = auth.all_logs()
    assert len(logs) >= 2, f"expected the gateway log and replica logs, got {list(logs)}"
    for token in auth.secrets:
        for s in secret_parts(token):
            for path, text in logs.items():
                n = text.count(s)
                assert n == 0, f"{path} contains a secret {n} time(s)"
    for path, text in logs.items():
        assert not TOKEN_RE.search(text), f"{path} contains something shaped like a token"


def test_pure_router_with_the_admin_token_file(procs, tmp_path):
    echo = procs.echo("iris", "1")
    # --routes has no registry: --require-auth needs the file's token.
    routes = harness.write_routes(tmp_path / "routes.json", {"iris": {"default": "1", "versions": {"1": [echo]}}})
    p = procs.start("router-no-file", [binary("byoc-gateway"), "--listen", "127.0.0.1:0", "--routes", str(routes),
                                       "--require-auth"], wait=False)
    assert p.wait(timeout=30) == 1
    assert "--admin-token-file" in p.log()

    token = make_token()
    f = tmp_path / "admin-token"
    f.write_text(token)
    gw = procs.gateway({"iris": {"default": "1", "versions": {"1": [echo]}}},
                       extra=["--require-auth", "--admin-token-file", str(f)])
    stub = pb.inference_grpc.InferenceStub(procs.channel(gw.address))
    assert status_of(stub.Predict, harness.predict_request("iris"), timeout=10)[0] == UNAUTH
    assert status_of(stub.Predict, harness.predict_request("iris"), timeout=10, metadata=md(make_token()))[0] == UNAUTH
    code, details, resp = status_of(stub.Predict, harness.predict_request("iris"), timeout=10, metadata=md(token))
    assert code == OK, details
    assert token not in gw.log() and token not in echo.log()
