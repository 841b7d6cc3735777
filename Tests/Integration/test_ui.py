"""The web UI in headless Chromium (Debian's `chromium`, driven over the DevTools protocol).

Loads the UI, shows a server validation message, registers the echo model, waits for READY,
opens the model's timeline (its events),
sends a Predict from the "try it" panel and reads the outputs, then deletes the model, at
1280 px and again at 390 px; and once more on a gateway with --require-auth, where the flow
starts by logging in with an admin token. A version's log panel shows its replicas' lines and
follows a line written after it opened. Screenshots of every step go to test-output/ui/
(gitignored).
"""
from __future__ import annotations

import json
import urllib.request

import pytest

import cdp
import harness
from harness import binary

SHOTS = harness.ROOT / "test-output" / "ui"

pytestmark = pytest.mark.skipif(cdp.chromium_binary() is None, reason="chromium is not installed")


def http_json(address: str, method: str, path: str, body=None, token: str | None = None):
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(f"http://{address}{path}", data=data, method=method, headers=headers)
    try:
        with opener.open(req, timeout=30) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


@pytest.fixture
def gateway(procs, tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    return procs.start("gateway", [binary("byoc-gateway"), "--listen", "127.0.0.1:0",
                                   "--db", str(tmp_path / "registry.sqlite"), "--state-dir", str(state),
                                   "--workers", "2"])


@pytest.fixture
def admin_token() -> str:
    return harness.make_token()


@pytest.fixture
def auth_gateway(procs, tmp_path, admin_token):
    state = tmp_path / "state"
    state.mkdir()
    token_file = tmp_path / "admin-token"
    token_file.write_text(admin_token + "\n")
    token_file.chmod(0o600)
    return procs.start("gateway", [binary("byoc-gateway"), "--listen", "127.0.0.1:0",
                                   "--db", str(tmp_path / "registry.sqlite"), "--state-dir", str(state),
                                   "--workers", "2", "--require-auth", "--admin-token-file", str(token_file)])


@pytest.fixture
def browser(procs, tmp_path):
    b = cdp.Browser(procs, tmp_path / "chromium-profile")
    yield b
    b.close()


def row(model: str, version: str) -> str:
    return f'tr.version-row[data-model="{model}"][data-version="{version}"]'


def run_flow(b: cdp.Browser, gw: harness.Proc, prefix: str, width: int, model: str,
             token: str | None = None) -> None:
    mobile = width < 500
    b.set_viewport(width, 844 if mobile else 900, mobile=mobile)
    b.navigate(f"http://{gw.address}/")
    if token:
        # The gateway requires a token: the login box comes up; a wrong token is refused.
        b.wait_for("!document.getElementById('login-box').classList.contains('hidden')"
                   " && !document.getElementById('overlay').classList.contains('hidden')", what="the login box")
        b.screenshot(SHOTS / f"{prefix}-0-login.png")
        b.fill("#login-token", "byoc_000000000000_" + "A" * 43)
        b.click("#login-submit")
        b.wait_for("(() => { const w = document.getElementById('login-why').textContent;"
                   " return !document.getElementById('login-box').classList.contains('hidden') && w.includes('invalid'); })()",
                   what="the refusal of a wrong token")
        b.screenshot(SHOTS / f"{prefix}-0-login-refused.png")
        b.fill("#login-token", token)
        b.click("#login-submit")
        # The dialogs live in one overlay: signing in closes it.
        b.wait_for("document.getElementById('overlay').classList.contains('hidden')", what="the login to succeed")
    b.wait_for("document.getElementById('conn').classList.contains('live')", what="the first refresh")
    if mobile:
        # Nothing may stick out sideways at phone width.
        assert b.eval("document.documentElement.scrollWidth") <= width
    b.screenshot(SHOTS / f"{prefix}-1-loaded.png")

    # The server's validation message is shown next to the form.
    b.fill("#reg-model", "Not_A_Name")
    b.fill("#reg-version", "1")
    b.fill("#reg-command", binary("byoc-echo-model"))
    b.click("#reg-submit")
    message = b.wait_for("(() => { const e = document.getElementById('reg-result');"
                         " return e.classList.contains('err') && e.textContent; })()", what="the validation message")
    assert "INVALID_ARGUMENT" in message and "lowercase" in message, message
    b.screenshot(SHOTS / f"{prefix}-2-validation.png")

    # Register the echo model and wait until it is READY.
    b.fill("#reg-model", model)
    b.click("#reg-submit")
    b.wait_for("document.getElementById('reg-result').classList.contains('ok')", what="the registration")
    b.wait_for(f"(() => {{ const r = document.querySelector('{row(model, '1')}');"
               f" return r && r.dataset.state === 'READY'; }})()", timeout=60, what=f"{model} v1 READY")
    assert b.text(f"{row(model, '1')} .badge") == "default"
    assert "1/1" in b.text(row(model, "1"))
    b.screenshot(SHOTS / f"{prefix}-3-ready.png")

    # The model's timeline: its registration and state changes, newest first, from the events API.
    b.click(f'tr.model-row[data-model="{model}"] button[data-action=timeline]')
    b.wait_for(f"document.getElementById('timeline-model').value === '{model}'"
               " && document.querySelector('#timeline li.event[data-kind=registered]')"
               " && [...document.querySelectorAll('#timeline li.event[data-kind=state]')]"
               ".some((li) => li.textContent.includes('-> READY'))", timeout=20, what="the timeline's events")
    kinds = b.eval("[...document.querySelectorAll('#timeline li.event')].map((li) => li.dataset.kind)")
    assert kinds[-1] == "registered" and "state" in kinds, kinds
    assert "registered: command" in b.text("#timeline li.event[data-kind=registered]")
    assert b.eval("document.getElementById('timeline-empty').classList.contains('hidden')")
    if mobile:
        assert b.eval("document.documentElement.scrollWidth") <= width
    b.screenshot(SHOTS / f"{prefix}-3b-timeline.png")

    # Predict from the "try it" panel.
    b.eval(f"document.getElementById('try-model').value = '{model}';"
           "document.getElementById('try-model').dispatchEvent(new Event('change'))")
    b.fill("#try-inputs", '{"x": [[5.1, 3.5, 1.4, 0.2]]}')
    b.click("#try-send")
    b.wait_for("!document.getElementById('try-output').classList.contains('hidden')", what="the Predict outputs")
    outputs = json.loads(b.text("#try-output"))
    assert outputs == {"x": [[pytest.approx(5.1), pytest.approx(3.5), pytest.approx(1.4), pytest.approx(0.2)]]}, outputs
    latency = b.text("#try-latency")
    assert f"{model} v1 answered in" in latency and "ms" in latency, latency
    b.screenshot(SHOTS / f"{prefix}-4-predict.png")

    if not mobile:
        # Traffic shows up as requests/s, p99 and a sparkline within a stats interval or two.
        for _ in range(40):
            status, _ = http_json(gw.address, "POST", f"/api/v1/models/{model}/predict", {"inputs": {"x": [1.0, 2.0]}},
                                  token=token)
            assert status == 200
        b.wait_for(f"(() => {{ const c = document.querySelector('{row(model, '1')} td[data-label=\"Req/s\"]');"
                   f" return c && c.textContent !== '–'; }})()", timeout=20, what="requests/s in the table")
        assert b.eval(f"document.querySelectorAll('{row(model, '1')} svg.spark polyline').length") == 1
        b.screenshot(SHOTS / f"{prefix}-4b-traffic.png")

    # Delete, with the confirmation dialog.
    b.click(f"{row(model, '1')} button[data-action=delete]")
    b.wait_for("!document.getElementById('confirm-dialog').classList.contains('hidden')", what="the confirmation")
    assert model in b.text("#confirm-title")
    b.screenshot(SHOTS / f"{prefix}-5-confirm-delete.png", full_page=False)
    b.click("#confirm-ok")
    b.wait_for(f"!document.querySelector('{row(model, '1')}')", timeout=30, what="the row to disappear")
    b.wait_for("document.getElementById('overlay').classList.contains('hidden')")
    b.screenshot(SHOTS / f"{prefix}-6-deleted.png")
    status, body = http_json(gw.address, "GET", f"/api/v1/models/{model}", token=token)
    assert status == 404 and body["error"]["code"] == "NOT_FOUND", body

    b.pump(0.2)
    assert not b.errors, f"JavaScript errors: {b.errors}"


def test_ui_register_predict_delete_desktop(gateway, browser):
    run_flow(browser, gateway, "desktop", 1280, "echo")


def test_ui_register_predict_delete_390px(gateway, browser):
    run_flow(browser, gateway, "mobile", 390, "echo-m")


def test_ui_login_then_register_predict_delete(auth_gateway, browser, admin_token):
    run_flow(browser, auth_gateway, "auth", 1280, "echo-a", token=admin_token)
    # The secret never shows up in the gateway's log. It is base64url, so it may itself contain
    # or start with "_": split off the prefix and the id only.
    secret = admin_token.split("_", 2)[2]
    assert len(secret) == 43 and secret not in auth_gateway.log()


def test_ui_is_self_contained(gateway):
    """HTML, CSS and JS come from the gateway itself: no external URL anywhere."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    for path, kind in [("/", "text/html"), ("/ui/app.js", "text/javascript"), ("/ui/app.css", "text/css")]:
        with opener.open(f"http://{gateway.address}{path}", timeout=10) as r:
            assert r.status == 200
            assert r.headers["Content-Type"].startswith(kind)
            text = r.read().decode()
        assert "http://" not in text.replace("http://www.w3.org/2000/svg", "") and "https://" not in text, path


@pytest.mark.parametrize("width", [1280, 390])
def test_ui_failed_version_shows_why(gateway, browser, tmp_path, width):
    """A FAILED version's row shows its whole message, ending with what the replica printed
    last, and the timeline has the state change with the same line."""
    script = tmp_path / "serve.sh"
    script.write_text("#!/bin/sh\necho \"ModuleNotFoundError: No module named 'torch'\" >&2\nexit 1\n")
    script.chmod(0o755)
    status, body = http_json(gateway.address, "POST", "/api/v1/models",
                             {"model": "torch", "version": "1", "command": [str(script)]})
    assert status == 201, body
    mobile = width < 500
    browser.set_viewport(width, 844 if mobile else 900, mobile=mobile)
    browser.navigate(f"http://{gateway.address}/")
    browser.wait_for(f"(() => {{ const r = document.querySelector('{row('torch', '1')}');"
                     f" return r && r.dataset.state === 'FAILED'; }})()", timeout=60, what="torch v1 FAILED")
    message = browser.text(f"{row('torch', '1')} .msg.bad")
    assert message.startswith("replica 0 exited with status 1") and message.endswith(
        "No module named 'torch'"), message
    # Not cut off with an ellipsis: the element shows all of its text.
    assert browser.eval(f"(() => {{ const m = document.querySelector('{row('torch', '1')} .msg.bad');"
                        " return m.scrollWidth <= m.clientWidth; })()")
    if mobile:
        assert browser.eval("document.documentElement.scrollWidth") <= width
    browser.wait_for("[...document.querySelectorAll('#timeline li.event[data-kind=state]')]"
                     ".some((li) => li.textContent.includes('-> FAILED') && li.textContent.includes(\"No module named 'torch'\"))",
                     timeout=20, what="the FAILED state change in the timeline")
    browser.screenshot(SHOTS / f"failed-{width}.png")
    browser.pump(0.2)
    assert not browser.errors, f"JavaScript errors: {browser.errors}"


def test_ui_register_with_kubernetes_pod_options(gateway, browser):
    b = browser
    b.set_viewport(1280, 900)
    b.navigate(f"http://{gateway.address}/")
    b.wait_for("document.getElementById('conn').classList.contains('live')", what="the first refresh")
    b.click("#reg-pod summary")
    b.fill("#reg-model", "llm")
    b.fill("#reg-version", "1")
    b.fill("#reg-command", binary("byoc-echo-model"))
    b.fill("#reg-gpus", "2")
    b.fill("#reg-node-selector", "pool=gpu\nzone=a")
    b.fill("#reg-tolerations", "nvidia.com/gpu:NoSchedule\npool=ml:NoExecute")
    b.fill("#reg-pull-secrets", "regcred, mirror")
    b.click("#reg-allow-root")
    # The form's own checks: a line that is not KEY=VALUE, a toleration without an effect; each
    # is named and nothing is sent.
    for field, bad, good, expected in [
        ("#reg-env", "LOG_LEVEL", "", 'Environment lines must be KEY=VALUE: "LOG_LEVEL"'),
        ("#reg-node-selector", "pool=gpu\n zone ", "pool=gpu\nzone=a", 'Node selector lines must be KEY=VALUE: "zone"'),
        ("#reg-tolerations", "nvidia.com/gpu", "nvidia.com/gpu:NoSchedule\npool=ml:NoExecute",
         'Toleration lines must be KEY[=VALUE]:EFFECT: "nvidia.com/gpu"'),
    ]:
        b.fill(field, bad)
        b.click("#reg-submit")
        assert b.eval("document.getElementById('reg-result').className") == "result err"
        assert b.text("#reg-result") == expected
        b.fill(field, good)
    status, body = http_json(gateway.address, "GET", "/api/v1/models/llm")
    assert status == 404, body
    # The server's validation next: a bad toleration effect is named.
    b.fill("#reg-tolerations", "k:Sometimes")
    b.click("#reg-submit")
    message = b.wait_for("(() => { const e = document.getElementById('reg-result');"
                         " return e.classList.contains('err') && e.textContent; })()", what="the validation message")
    assert "tolerations[0].effect" in message, message
    b.fill("#reg-tolerations", "nvidia.com/gpu:NoSchedule\npool=ml:NoExecute")
    b.click("#reg-submit")
    b.wait_for("document.getElementById('reg-result').classList.contains('ok')", what="the registration")
    b.screenshot(SHOTS / "pod-options.png")
    status, v = http_json(gateway.address, "GET", "/api/v1/models/llm/versions/1")
    assert status == 200, v
    assert v["resources"]["gpus"] == 2 and v["resources"]["gpuResource"] == ""
    assert v["nodeSelector"] == {"pool": "gpu", "zone": "a"}
    assert v["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists", "value": "", "effect": "NoSchedule"},
                                {"key": "pool", "operator": "Equal", "value": "ml", "effect": "NoExecute"}]
    assert v["imagePullSecrets"] == ["regcred", "mirror"] and v["allowRoot"] is True
    b.pump(0.2)
    assert not b.errors, f"JavaScript errors: {b.errors}"


@pytest.mark.parametrize("width", [1280, 390])
def test_ui_traffic_dialog_sets_split_and_shadow(gateway, browser, width):
    """Issue 14's surface: the model row shows the split, shadow and aliases; the Traffic
    dialog sets a split and a shadow; a split that does not sum to 100 shows the server's
    message in the dialog and leaves the old split in force."""
    b = browser
    for version in ("1", "2", "3"):
        status, body = http_json(gateway.address, "POST", "/api/v1/models",
                                 {"model": "iris", "version": version, "command": [binary("byoc-echo-model")]})
        assert status == 201, body
    status, body = http_json(gateway.address, "POST", "/api/v1/models/iris/aliases", {"alias": "stable", "version": "2"})
    assert status == 200, body
    mobile = width < 500
    b.set_viewport(width, 844 if mobile else 900, mobile=mobile)
    b.navigate(f"http://{gateway.address}/")
    for version in ("1", "2", "3"):
        b.wait_for(f"(() => {{ const r = document.querySelector('{row('iris', version)}');"
                   f" return r && r.dataset.state === 'READY'; }})()", timeout=60, what=f"iris v{version} READY")
    summary = ".traffic[data-traffic=iris]"
    b.wait_for(f"(() => {{ const s = document.querySelector('{summary}'); return s && s.textContent.includes('aliases stable→2'); }})()",
               what="the aliases in the model row")
    assert "traffic " not in b.text(summary) and "shadow" not in b.text(summary), b.text(summary)
    b.screenshot(SHOTS / f"traffic-{width}-1-aliases.png")

    # Set a split (naming the alias) and a shadow in the dialog.
    b.click('tr.model-row[data-model="iris"] button[data-action=traffic]')
    b.wait_for("!document.getElementById('traffic-dialog').classList.contains('hidden')", what="the Traffic dialog")
    assert "iris" in b.text("#traffic-title")
    assert b.eval("document.getElementById('traffic-split').value") == ""
    assert b.eval("document.getElementById('traffic-shadow').value") == ""
    b.fill("#traffic-split", "1=90 stable=10")
    b.fill("#traffic-shadow", "3=100")
    b.screenshot(SHOTS / f"traffic-{width}-2-dialog.png", full_page=False)
    b.click("#traffic-ok")
    b.wait_for("document.getElementById('overlay').classList.contains('hidden')", what="the dialog to close")
    b.wait_for(f"(() => {{ const s = document.querySelector('{summary}');"
               " return s && s.textContent.includes('traffic 1 90% / stable 10%') && s.textContent.includes('shadow 3 100%'); })()",
               what="the split and shadow in the model row")
    assert "aliases stable→2" in b.text(summary)
    status, model = http_json(gateway.address, "GET", "/api/v1/models/iris")
    assert model["traffic"] == [{"version": "1", "percent": 90}, {"version": "stable", "percent": 10}], model
    assert model["shadow"] == {"version": "3", "percent": 100}, model
    if mobile:
        assert b.eval("document.documentElement.scrollWidth") <= width
    b.screenshot(SHOTS / f"traffic-{width}-3-set.png")

    # A bad split: the server's message in the dialog, which stays open; the old split holds.
    b.click('tr.model-row[data-model="iris"] button[data-action=traffic]')
    b.wait_for("!document.getElementById('traffic-dialog').classList.contains('hidden')", what="the Traffic dialog")
    assert b.eval("document.getElementById('traffic-split').value") == "1=90 stable=10"
    assert b.eval("document.getElementById('traffic-shadow').value") == "3=100"
    b.fill("#traffic-split", "1=50 2=40")
    b.click("#traffic-ok")
    message = b.wait_for("document.getElementById('traffic-error').textContent", what="the server's error")
    assert message == "targets' percents must sum to 100, got 90", message  # the server's INVALID_ARGUMENT message
    assert not b.eval("document.getElementById('traffic-dialog').classList.contains('hidden')")
    b.screenshot(SHOTS / f"traffic-{width}-4-bad-split.png", full_page=False)
    status, model = http_json(gateway.address, "GET", "/api/v1/models/iris")
    assert model["traffic"] == [{"version": "1", "percent": 90}, {"version": "stable", "percent": 10}], model
    b.click("#traffic-cancel")
    b.wait_for("document.getElementById('overlay').classList.contains('hidden')", what="the dialog to close")
    assert "traffic 1 90% / stable 10%" in b.text(summary)

    # An empty split and shadow clear both; the aliases stay.
    b.click('tr.model-row[data-model="iris"] button[data-action=traffic]')
    b.wait_for("!document.getElementById('traffic-dialog').classList.contains('hidden')", what="the Traffic dialog")
    b.fill("#traffic-split", "")
    b.fill("#traffic-shadow", "")
    b.click("#traffic-ok")
    b.wait_for("document.getElementById('overlay').classList.contains('hidden')", what="the dialog to close")
    b.wait_for(f"(() => {{ const s = document.querySelector('{summary}');"
               " return s && !s.textContent.includes('traffic 1') && !s.textContent.includes('shadow'); })()",
               what="the split and shadow gone from the model row")
    status, model = http_json(gateway.address, "GET", "/api/v1/models/iris")
    assert model.get("traffic", []) == [] and "shadow" not in model and model["aliases"] == {"stable": "2"}, model
    b.pump(0.2)
    assert not b.errors, f"JavaScript errors: {b.errors}"


@pytest.mark.parametrize("width", [1280, 390])
def test_ui_log_panel_follows_live(gateway, browser, tmp_path, width):
    """The version row's Logs button opens its log panel (replica: line, from GetLogs), and a
    line the replica writes afterwards shows up while the panel follows."""
    script = tmp_path / "talk.sh"
    script.write_text(f"""#!/bin/sh
echo "hello from replica $BYOC_REPLICA"
( while :; do if [ -f "{tmp_path}/say" ]; then cat "{tmp_path}/say"; rm -f "{tmp_path}/say"; fi; sleep 0.05; done ) &
exec {binary("byoc-echo-model")}
""")
    script.chmod(0o755)
    status, body = http_json(gateway.address, "POST", "/api/v1/models",
                             {"model": "talk", "version": "1", "command": [str(script)]})
    assert status == 201, body
    status, body = http_json(gateway.address, "GET", "/api/v1/models/talk/versions/9/logs")
    assert status == 404 and body["error"]["code"] == "NOT_FOUND", body
    status, body = http_json(gateway.address, "GET", "/api/v1/models/talk/versions/1/logs?tail=x")
    assert status == 400, body
    mobile = width < 500
    browser.set_viewport(width, 844 if mobile else 900, mobile=mobile)
    browser.navigate(f"http://{gateway.address}/")
    browser.wait_for(f"(() => {{ const r = document.querySelector('{row('talk', '1')}');"
                     f" return r && r.dataset.state === 'READY'; }})()", timeout=60, what="talk v1 READY")
    browser.click(f"{row('talk', '1')} button[data-action=logs]")
    browser.wait_for("[...document.querySelectorAll('#logs-output .log-line[data-replica=\"0\"]')]"
                     ".some((l) => l.textContent === '0: hello from replica 0')", timeout=10, what="the replica's first line")
    assert browser.text("#logs-title") == "Logs · talk v1"
    (tmp_path / "say").write_text("written while the panel follows\n")
    browser.wait_for("[...document.querySelectorAll('#logs-output .log-line')]"
                     ".some((l) => l.textContent === '0: written while the panel follows')", timeout=3,
                     what="the new line, followed live")
    if mobile:
        assert browser.eval("document.documentElement.scrollWidth") <= width
    browser.screenshot(SHOTS / f"logs-{width}.png")
    browser.click("#logs-close")
    assert not browser.visible("#logs-card")
    browser.pump(0.2)
    assert not browser.errors, f"JavaScript errors: {browser.errors}"


@pytest.mark.parametrize("width", [1280, 390])
def test_ui_register_form_and_version_charts(procs, tmp_path, browser, width):
    """The register form splits Command like a shell and sends resources and autoscaling; a
    version's Charts button shows its requests/s, error rate, p50/p99 and ready replicas from
    the gateway's own history (sampled every 300 ms here)."""
    state = tmp_path / "state"
    state.mkdir()
    gw = procs.start("gateway", [binary("byoc-gateway"), "--listen", "127.0.0.1:0", "--db", str(tmp_path / "r.sqlite"),
                                 "--state-dir", str(state), "--workers", "2", "--stats-interval-ms", "300"])
    mobile = width < 500
    browser.set_viewport(width, 844 if mobile else 900, mobile=mobile)
    browser.navigate(f"http://{gw.address}/")
    browser.wait_for("document.getElementById('conn').classList.contains('live')", what="the first refresh")

    browser.fill("#reg-model", "charts")
    browser.fill("#reg-version", "1")
    browser.fill("#reg-command", "sh -c 'exec oops")
    browser.click("#reg-submit")
    message = browser.wait_for("(() => { const e = document.getElementById('reg-result');"
                               " return e.classList.contains('err') && e.textContent; })()", what="the quote error")
    assert message == "Command: unterminated single quote", message
    # Split on whitespace, `sh -c 'exec BIN'` would be four words and never start.
    browser.fill("#reg-command", f"sh -c 'exec {binary('byoc-echo-model')}'")
    browser.fill("#reg-max", "2")
    browser.fill("#reg-target", "2")
    browser.fill("#reg-down-delay", "30")
    browser.fill("#reg-cpu-request", "250m")
    browser.fill("#reg-mem-limit", "256Mi")
    browser.click("#reg-submit")
    browser.wait_for("document.getElementById('reg-result').classList.contains('ok')", what="the registration")
    browser.wait_for(f"(() => {{ const r = document.querySelector('{row('charts', '1')}');"
                     f" return r && r.dataset.state === 'READY'; }})()", timeout=60, what="charts v1 READY")
    status, model = http_json(gw.address, "GET", "/api/v1/models/charts")
    assert status == 200, model
    version = model["versions"][0]
    assert version["command"] == ["sh", "-c", f"exec {binary('byoc-echo-model')}"], version
    assert version["resources"]["cpuRequest"] == "250m" and version["resources"]["memoryLimit"] == "256Mi", version
    assert version["autoscaling"]["targetConcurrency"] == 2, version
    assert version["autoscaling"]["scaleDownDelaySeconds"] == 30, version

    # 30 calls answered, 5 past their deadline (the model sleeps 300 ms, the call allows 50).
    for _ in range(30):
        status, body = http_json(gw.address, "POST", "/api/v1/models/charts/predict", {"inputs": {"x": [1.0]}})
        assert status == 200, body
    for _ in range(5):
        status, body = http_json(gw.address, "POST", "/api/v1/models/charts/predict",
                                 {"inputs": {"x": [1.0]}, "parameters": {"delay_ms": "300"}, "timeoutMs": 50})
        assert status == 504 and body["error"]["code"] == "DEADLINE_EXCEEDED", body
    status, stats = http_json(gw.address, "GET", "/api/v1/stats?model=charts&version=1")
    assert status == 200 and [s["version"] for s in stats["series"]] == ["1"], stats
    assert {"rps", "errorRate", "p50Ms", "p99Ms", "replicas"} <= set(stats["series"][0]), stats
    status, body = http_json(gw.address, "GET", "/api/v1/stats?seconds=-1")
    assert status == 400 and body["error"]["code"] == "INVALID_ARGUMENT", body

    browser.click(f"{row('charts', '1')} button[data-action=charts]")
    browser.wait_for("(() => { const c = document.querySelector('#charts .chart[data-chart=rps]');"
                     " return c && Number(c.dataset.points) >= 3 && !!c.querySelector('polyline'); })()",
                     timeout=20, what="the requests/s chart")
    assert browser.text("#charts-title") == "Charts · charts v1"
    # Every figure appears once a sample covers the calls above.
    browser.wait_for("[...document.querySelectorAll('#charts .chart[data-chart=errors] polyline')].length > 0"
                     " && document.querySelectorAll('#charts .chart[data-chart=latency] polyline.s1').length > 0"
                     " && document.querySelector('#charts .chart[data-chart=replicas] .legend').textContent === 'now 1'"
                     " && /^now [1-9][0-9.]* %$/.test(document.querySelector('#charts .chart[data-chart=errors] .legend').textContent)",
                     timeout=20, what="error rate, p50/p99 and replicas")
    # The deadline-exceeded calls lift the error-rate line off its baseline (y = 124 of 140).
    error_top = browser.eval("Math.min(...[...document.querySelectorAll('#charts .chart[data-chart=errors] polyline')]"
                             ".flatMap((p) => p.getAttribute('points').split(' ').map((xy) => Number(xy.split(',')[1]))))")
    assert error_top < 124, f"the error-rate line never leaves the baseline (y {error_top})"
    if mobile:
        assert browser.eval("document.documentElement.scrollWidth") <= width
    browser.screenshot(SHOTS / f"charts-{width}.png")
    browser.click("#charts-close")
    assert not browser.visible("#charts-card")

    # The scale dialog has the register form's autoscaling fields, prefilled, scale to zero too.
    browser.click(f"{row('charts', '1')} button[data-action=scale]")
    browser.wait_for("!document.getElementById('scale-dialog').classList.contains('hidden')"
                     " && !document.getElementById('overlay').classList.contains('hidden')", what="the scale dialog")
    prefilled = browser.eval("['scale-min', 'scale-max', 'scale-target', 'scale-zero-after', 'scale-delay']"
                             ".map((id) => document.getElementById(id).value)")
    assert prefilled == ["1", "2", "2", "", "30"], prefilled
    browser.fill("#scale-min", "0")
    browser.fill("#scale-zero-after", "120")
    browser.fill("#scale-delay", "45")
    if mobile:
        assert browser.eval("document.documentElement.scrollWidth") <= width
    browser.screenshot(SHOTS / f"scale-{width}.png", full_page=False)
    browser.click("#scale-ok")
    browser.wait_for("document.getElementById('overlay').classList.contains('hidden')"
                     " || document.getElementById('scale-error').textContent", what="the scale to apply")
    assert browser.text("#scale-error") == "", browser.text("#scale-error")
    status, model = http_json(gw.address, "GET", "/api/v1/models/charts")
    assert status == 200, model
    version = model["versions"][0]
    assert version["minReplicas"] == 0 and version["maxReplicas"] == 2, version
    assert version["autoscaling"] == {"targetConcurrency": 2, "scaleToZeroAfterSeconds": 120, "scaleDownDelaySeconds": 45}, version
    # Opened again once the table has the new settings, the dialog shows what is stored.
    browser.wait_for(f"(() => {{ document.querySelector('{row('charts', '1')} button[data-action=scale]').click();"
                     " return document.getElementById('scale-zero-after').value === '120'"
                     " && document.getElementById('scale-min').value === '0'; })()", what="the stored scale-to-zero period")
    browser.click("#scale-cancel")
    browser.pump(0.2)
    assert not browser.errors, f"JavaScript errors: {browser.errors}"


def test_ui_try_it_speaks_model_infer(gateway, browser):
    """Try it with Protocol "ModelInfer": the request is prefilled after the model's
    ModelMetadata, sent as Open Inference REST (the model's gRPC ModelInfer) and the outputs
    shown; a bad datatype shows the gateway's message; back to Predict, Predict works."""
    status, body = http_json(gateway.address, "POST", "/api/v1/models",
                             {"model": "oip", "version": "1", "command": [binary("byoc-echo-model")]})
    assert status == 201, body
    browser.set_viewport(1280, 900)
    browser.navigate(f"http://{gateway.address}/")
    browser.wait_for(f"(() => {{ const r = document.querySelector('{row('oip', '1')}');"
                     f" return r && r.dataset.state === 'READY'; }})()", timeout=60, what="oip v1 READY")
    browser.eval("document.getElementById('try-model').value = 'oip';"
                 "document.getElementById('try-model').dispatchEvent(new Event('change'));"
                 "document.getElementById('try-protocol').value = 'infer';"
                 "document.getElementById('try-protocol').dispatchEvent(new Event('change'))")
    note = browser.wait_for("(() => { const t = document.getElementById('try-metadata').textContent;"
                            " return t.startsWith('ModelMetadata: ') && t; })()", timeout=10, what="the model's metadata")
    assert "byoc-echo" in note, note
    prefilled = json.loads(browser.eval("document.getElementById('try-inputs').value"))
    assert prefilled["inputs"][0]["datatype"] == "FP32", prefilled
    assert browser.text("#try-send") == "Send ModelInfer"

    browser.fill("#try-inputs", json.dumps({"inputs": [
        {"name": "ids", "datatype": "INT64", "shape": [2], "data": [7, 8]},
        {"name": "words", "datatype": "BYTES", "shape": [1], "data": ["hi"]}]}))
    browser.click("#try-send")
    browser.wait_for("!document.getElementById('try-output').classList.contains('hidden')", what="the ModelInfer outputs")
    outputs = json.loads(browser.text("#try-output"))
    assert outputs == {"ids": {"datatype": "INT64", "shape": [2], "data": [7, 8]},
                       "words": {"datatype": "BYTES", "shape": [1], "data": ["hi"]}}, outputs
    assert "oip v1 answered ModelInfer in" in browser.text("#try-latency")
    browser.screenshot(SHOTS / "try-model-infer.png")

    browser.fill("#try-inputs", json.dumps({"inputs": [{"name": "x", "datatype": "FP99", "shape": [1], "data": [1]}]}))
    browser.click("#try-send")
    message = browser.wait_for("(() => { const e = document.getElementById('try-latency');"
                               " return e.classList.contains('err') && e.textContent; })()", what="the refusal")
    assert "FP99" in message, message

    browser.eval("document.getElementById('try-protocol').value = 'predict';"
                 "document.getElementById('try-protocol').dispatchEvent(new Event('change'))")
    assert browser.text("#try-send") == "Send Predict"
    assert json.loads(browser.eval("document.getElementById('try-inputs').value")) == {"x": [[5.1, 3.5, 1.4, 0.2]]}
    browser.click("#try-send")
    browser.wait_for("document.getElementById('try-latency').textContent.includes('oip v1 answered in')",
                     what="the Predict answer")
    browser.pump(0.2)
    assert not browser.errors, f"JavaScript errors: {browser.errors}"
