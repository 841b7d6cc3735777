/// The web UI: HTML, CSS and JavaScript embedded in the binary (no CDN, no build step).
///
/// It talks only to the JSON API (`/api/v1/...`). When the API answers 401 (or `/api/v1/info`
/// says auth is required) a login box asks for a bearer token, kept in sessionStorage and
/// sent as `Authorization: Bearer ...`.
enum UIAssets {
    static let html = #"""
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>BYOC Inference</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/ui/app.css">
<script src="/ui/app.js" defer></script>
</head>
<body>
<header class="topbar">
  <div class="brand"><span class="logo" aria-hidden="true">&#9670;</span> BYOC Inference</div>
  <div class="top-right">
    <span id="conn" class="conn" title="auto-refresh every 2 s">connecting&hellip;</span>
    <button id="logout" class="btn ghost small hidden" type="button">Sign out</button>
  </div>
</header>

<main>
  <section class="card" id="models-card">
    <div class="card-head">
      <h2>Models</h2>
      <span id="mode-note" class="muted"></span>
    </div>
    <div id="models-empty" class="empty hidden">No models registered yet. Register one below.</div>
    <table id="models" class="models">
      <thead>
        <tr><th>Model</th><th>Version</th><th>State</th><th>Ready</th><th>Req/s</th><th>p99</th><th>Last minutes</th><th class="actions-col">Actions</th></tr>
      </thead>
      <tbody id="models-body"></tbody>
    </table>
  </section>

  <div class="grid">
    <section class="card" id="register-card">
      <h2>Register a version</h2>
      <form id="register" autocomplete="off" novalidate>
        <div class="row2">
          <label>Model<input id="reg-model" name="model" placeholder="iris" required></label>
          <label>Version<input id="reg-version" name="version" placeholder="1" required></label>
        </div>
        <label>Command <span class="muted">(local runtime; split like a shell: 'quotes' and "quotes" keep spaces)</span><input id="reg-command" name="command" placeholder="/usr/local/bin/my-model --flag"></label>
        <label>Image <span class="muted">(Kubernetes)</span><input id="reg-image" name="image" placeholder="registry.example.com/iris:1"></label>
        <div class="row3">
          <label>Port<input id="reg-port" name="port" type="number" min="0" max="65535" placeholder="auto"></label>
          <label>Min replicas<input id="reg-min" name="minReplicas" type="number" min="0" value="1"></label>
          <label>Max replicas<input id="reg-max" name="maxReplicas" type="number" min="0" value="1"></label>
        </div>
        <label>Target in-flight calls per replica <span class="muted">(autoscaling between min and max; 0 = off)</span><input id="reg-target" name="targetConcurrency" type="number" min="0" placeholder="0"></label>
        <div class="row2">
          <label>Scale to zero after <span class="muted">(s idle; min 0)</span><input id="reg-zero-after" name="scaleToZeroAfterSeconds" type="number" min="0" placeholder="off"></label>
          <label>Scale-down delay <span class="muted">(s)</span><input id="reg-down-delay" name="scaleDownDelaySeconds" type="number" min="0" placeholder="default"></label>
        </div>
        <div class="row2">
          <label>CPU request / limit<span class="pair"><input id="reg-cpu-request" name="cpuRequest" placeholder="500m"><input id="reg-cpu-limit" name="cpuLimit" placeholder="2"></span></label>
          <label>Memory request / limit<span class="pair"><input id="reg-mem-request" name="memoryRequest" placeholder="512Mi"><input id="reg-mem-limit" name="memoryLimit" placeholder="1Gi"></span></label>
        </div>
        <label>Environment <span class="muted">(KEY=VALUE per line)</span><textarea id="reg-env" name="env" rows="2" placeholder="LOG_LEVEL=info"></textarea></label>
        <details id="reg-pod">
          <summary>Kubernetes pod options</summary>
          <div class="row2">
            <label>GPUs<input id="reg-gpus" name="gpus" type="number" min="0" placeholder="0"></label>
            <label>GPU resource<input id="reg-gpu-resource" name="gpuResource" placeholder="nvidia.com/gpu"></label>
          </div>
          <label>Node selector <span class="muted">(KEY=VALUE per line)</span><textarea id="reg-node-selector" name="nodeSelector" rows="2" placeholder="pool=gpu"></textarea></label>
          <label>Tolerations <span class="muted">(KEY[=VALUE]:EFFECT per line; no =VALUE means Exists)</span><textarea id="reg-tolerations" name="tolerations" rows="2" placeholder="nvidia.com/gpu:NoSchedule"></textarea></label>
          <label>Image pull secrets <span class="muted">(comma-separated)</span><input id="reg-pull-secrets" name="imagePullSecrets" placeholder="regcred"></label>
          <label class="check"><input id="reg-allow-root" name="allowRoot" type="checkbox"> The image runs as root</label>
        </details>
        <div class="form-foot">
          <button id="reg-submit" class="btn primary" type="submit">Register</button>
          <span id="reg-result" class="result" role="status"></span>
        </div>
      </form>
    </section>

    <section class="card" id="try-card">
      <h2>Try it</h2>
      <form id="try" autocomplete="off" novalidate>
        <div class="row3">
          <label>Model<select id="try-model"></select></label>
          <label>Version<select id="try-version"><option value="">(default)</option></select></label>
          <label>Protocol<select id="try-protocol">
            <option value="predict">Predict (byoc.v1)</option>
            <option value="infer">ModelInfer (Open Inference)</option>
          </select></label>
        </div>
        <label><span id="try-inputs-label">Inputs <span class="muted">(JSON: name &rarr; nested lists)</span></span><textarea id="try-inputs" rows="4" spellcheck="false">{"x": [[5.1, 3.5, 1.4, 0.2]]}</textarea></label>
        <p id="try-metadata" class="muted hidden"></p>
        <label>Parameters <span class="muted">(optional JSON object)</span><input id="try-params" placeholder='{"delay_ms": "5"}' spellcheck="false"></label>
        <div class="form-foot">
          <button id="try-send" class="btn primary" type="submit">Send Predict</button>
          <span id="try-latency" class="result" role="status"></span>
        </div>
        <pre id="try-output" class="output hidden"></pre>
      </form>
    </section>
  </div>

  <section class="card" id="timeline-card">
    <div class="card-head">
      <h2>Timeline</h2>
      <label class="inline">Model<select id="timeline-model"></select></label>
    </div>
    <div id="timeline-empty" class="empty">No events yet.</div>
    <ol id="timeline" class="timeline"></ol>
  </section>

  <section class="card hidden" id="logs-card">
    <div class="card-head">
      <h2 id="logs-title">Logs</h2>
      <div class="logs-controls">
        <label class="inline"><input id="logs-follow" type="checkbox" checked> Follow</label>
        <button id="logs-close" class="btn ghost small" type="button">Close</button>
      </div>
    </div>
    <div id="logs-empty" class="empty">No log lines yet.</div>
    <pre id="logs-output" class="output logs" aria-live="polite"></pre>
  </section>

  <section class="card hidden" id="charts-card">
    <div class="card-head">
      <h2 id="charts-title">Charts</h2>
      <div class="logs-controls">
        <span id="charts-range" class="muted"></span>
        <button id="charts-close" class="btn ghost small" type="button">Close</button>
      </div>
    </div>
    <div id="charts" class="charts"></div>
  </section>
</main>

<div id="toast" class="toast hidden" role="status"></div>

<div id="overlay" class="overlay hidden">
  <div id="login-box" class="dialog hidden" role="dialog" aria-labelledby="login-title">
    <h2 id="login-title">Sign in</h2>
    <p id="login-why" class="muted">This gateway requires an API token.</p>
    <form id="login">
      <label>Bearer token<input id="login-token" type="password" autocomplete="off" spellcheck="false"></label>
      <div class="form-foot">
        <button id="login-submit" class="btn primary" type="submit">Sign in</button>
      </div>
    </form>
  </div>

  <div id="confirm-dialog" class="dialog hidden" role="dialog" aria-labelledby="confirm-title">
    <h2 id="confirm-title">Delete?</h2>
    <p id="confirm-text"></p>
\#(dialogFoot("confirm", indent: 4, ok: "Delete", style: "danger", type: "button"))
  </div>

  <div id="scale-dialog" class="dialog hidden" role="dialog" aria-labelledby="scale-title">
    <h2 id="scale-title">Scale</h2>
    <form id="scale">
      <div class="row2">
        <label>Min replicas<input id="scale-min" type="number" min="0"></label>
        <label>Max replicas<input id="scale-max" type="number" min="0"></label>
      </div>
      <label>Target in-flight calls per replica<input id="scale-target" type="number" min="0" placeholder="0 = off"></label>
      <div class="row2">
        <label>Scale to zero after <span class="muted">(s idle; min 0)</span><input id="scale-zero-after" type="number" min="0" placeholder="off"></label>
        <label>Scale-down delay (s)<input id="scale-delay" type="number" min="0" placeholder="30"></label>
      </div>
\#(dialogFoot("scale", indent: 6))
    </form>
  </div>

  <div id="traffic-dialog" class="dialog hidden" role="dialog" aria-labelledby="traffic-title">
    <h2 id="traffic-title">Traffic</h2>
    <form id="traffic">
      <p class="muted">Calls that name no version. Percents sum to 100; empty = every call to the default version. Versions may be aliases.</p>
      <label>Split (VERSION=PERCENT …)<input id="traffic-split" type="text" placeholder="1=90 2=10" autocomplete="off"></label>
      <label>Shadow (VERSION=PERCENT: a copy of that share, answers dropped)<input id="traffic-shadow" type="text" placeholder="3=100" autocomplete="off"></label>
\#(dialogFoot("traffic", indent: 6))
    </form>
  </div>
</div>
</body>
</html>
"""#

    /// A dialog's error line and its Cancel and OK buttons (ids `ID-error`, `ID-cancel`, `ID-ok`),
    /// each line indented by `indent` spaces.
    private static func dialogFoot(_ id: String, indent: Int, ok: String = "Apply", style: String = "primary",
                                   type: String = "submit") -> String {
        [
            #"<p id="\#(id)-error" class="error"></p>"#,
            #"<div class="form-foot">"#,
            #"  <button id="\#(id)-cancel" class="btn ghost" type="button">Cancel</button>"#,
            #"  <button id="\#(id)-ok" class="btn \#(style)" type="\#(type)">\#(ok)</button>"#,
            "</div>",
        ].map { String(repeating: " ", count: indent) + $0 }.joined(separator: "\n")
    }

    static let style = #"""
:root {
  --bg: #f4f6fa; --card: #ffffff; --ink: #17202e; --muted: #677489; --line: #e2e7ef;
  --accent: #2f6fed; --accent-ink: #ffffff; --danger: #d83a3a; --ok: #1f9d55; --warn: #c27c0e;
  --radius: 10px; --shadow: 0 1px 2px rgba(16,24,40,.06), 0 1px 3px rgba(16,24,40,.08);
}
* { box-sizing: border-box; }
html, body { margin: 0; padding: 0; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: var(--ink); background: var(--bg); }
.hidden { display: none !important; }
.muted { color: var(--muted); font-weight: normal; }
.topbar { display: flex; align-items: center; justify-content: space-between; gap: 12px; padding: 12px 20px; background: #121a2b; color: #fff; }
.brand { font-weight: 650; font-size: 16px; letter-spacing: .2px; white-space: nowrap; }
.logo { color: #7aa5ff; margin-right: 6px; }
.top-right { display: flex; align-items: center; gap: 10px; }
.conn { font-size: 12px; color: #b9c3d6; white-space: nowrap; }
.conn::before { content: ""; display: inline-block; width: 8px; height: 8px; border-radius: 50%; background: #8a94a6; margin-right: 6px; vertical-align: 1px; }
.conn.live::before { background: #34d27a; }
.conn.down::before { background: #ff6b6b; }
main { max-width: 1180px; margin: 0 auto; padding: 20px; display: flex; flex-direction: column; gap: 20px; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: var(--radius); box-shadow: var(--shadow); padding: 16px 18px; min-width: 0; }
.card h2 { margin: 0 0 12px; font-size: 16px; }
.card-head { display: flex; align-items: baseline; justify-content: space-between; gap: 12px; }
.grid { display: grid; grid-template-columns: 1fr 1fr; gap: 20px; }
label { display: block; font-size: 12px; font-weight: 600; color: #354154; margin: 0 0 10px; }
input, select, textarea { display: block; width: 100%; margin-top: 4px; padding: 7px 9px; font: inherit; font-weight: normal; color: var(--ink); background: #fff; border: 1px solid #cfd6e2; border-radius: 7px; }
textarea { resize: vertical; font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 13px; }
details#reg-pod { margin: 4px 0 10px; } details#reg-pod summary { cursor: pointer; font-weight: 600; margin-bottom: 8px; }
label.check { display: flex; align-items: center; gap: 8px; } label.check input { display: inline-block; width: auto; margin: 0; }
input:focus, select:focus, textarea:focus { outline: 2px solid rgba(47,111,237,.25); border-color: var(--accent); }
.row2 { display: grid; grid-template-columns: 1fr 1fr; gap: 10px; }
.row3 { display: grid; grid-template-columns: 1fr 1fr 1fr; gap: 10px; }
.form-foot { display: flex; align-items: center; gap: 12px; flex-wrap: wrap; margin-top: 4px; }
.btn { font: inherit; font-weight: 600; border: 1px solid transparent; border-radius: 7px; padding: 7px 14px; cursor: pointer; background: #eef2f8; color: var(--ink); }
.btn:disabled { opacity: .45; cursor: default; }
.btn.primary { background: var(--accent); color: var(--accent-ink); }
.btn.danger { background: var(--danger); color: #fff; }
.btn.ghost { background: transparent; border-color: #cfd6e2; }
.topbar .btn.ghost { color: #fff; border-color: #3a4763; }
.btn.small { padding: 3px 9px; font-size: 12px; }
.btn.link-danger { color: var(--danger); }
.result { font-size: 13px; }
.result.ok { color: var(--ok); }
.result.err, .error { color: var(--danger); font-size: 13px; }
.error:empty { display: none; }
.output { background: #0f1626; color: #d8e3ff; border-radius: 8px; padding: 10px 12px; margin: 12px 0 0; font-size: 12.5px; max-height: 320px; overflow: auto; white-space: pre-wrap; word-break: break-word; }
.empty { color: var(--muted); padding: 18px 4px; }
table.models { width: 100%; border-collapse: collapse; }
table.models th { text-align: left; font-size: 11px; text-transform: uppercase; letter-spacing: .5px; color: var(--muted); font-weight: 600; padding: 6px 8px; border-bottom: 1px solid var(--line); white-space: nowrap; }
table.models td { padding: 8px; border-bottom: 1px solid var(--line); vertical-align: middle; }
table.models tr.model-row td { background: #f8f9fc; font-weight: 600; padding-top: 10px; }
.model-name { font-size: 14px; }
.model-row .btn { float: right; }
.num { font-variant-numeric: tabular-nums; white-space: nowrap; }
.badge { display: inline-block; font-size: 11px; font-weight: 600; padding: 1px 7px; border-radius: 999px; background: #e8efff; color: #2451b8; margin-left: 6px; vertical-align: 1px; }
.pill { display: inline-block; font-size: 11px; font-weight: 700; padding: 2px 8px; border-radius: 999px; letter-spacing: .3px; background: #eef1f6; color: #4b5668; }
.pill.READY { background: #def7e8; color: #137a40; }
.pill.PENDING, .pill.DEPLOYING { background: #fff3d6; color: #8a5a00; }
.pill.FAILED { background: #fde2e2; color: #b32020; }
.pill.DELETING { background: #eceff3; color: #5b6576; }
.pill.IDLE { background: #e8efff; color: #2451b8; }
.msg { display: block; font-size: 12px; color: var(--muted); max-width: 260px; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.msg.bad { color: var(--danger); white-space: normal; overflow-wrap: anywhere; max-width: 360px; } /* why it failed ends the message: show all of it */
label.inline { display: flex; align-items: center; gap: 8px; margin: 0; }
.logs { max-height: 420px; min-height: 60px; }
.logs-controls { display: flex; gap: 12px; align-items: center; }
.logs .replica { color: #8fb0ff; }
.timeline { list-style: none; margin: 0; padding: 0; max-height: 360px; overflow-y: auto; }
.timeline li { display: grid; grid-template-columns: 190px 60px 100px 1fr; gap: 10px; padding: 6px 0; border-top: 1px solid var(--line); font-size: 13px; align-items: baseline; }
.timeline li:first-child { border-top: 0; }
.timeline .when { color: var(--muted); font-variant-numeric: tabular-nums; white-space: nowrap; }
.timeline .what { overflow-wrap: anywhere; }
.timeline .kind.state, .timeline .kind.registered { background: #e3ecff; color: #2650b5; }
.timeline .kind.deleted { background: #fde2e2; color: #b32020; }
@media (max-width: 700px) { .timeline li { grid-template-columns: 1fr 1fr; } .timeline .what { grid-column: 1 / -1; } }
.actions { white-space: nowrap; text-align: right; }
.actions .btn { margin-left: 4px; }
.pair { display: flex; gap: 6px; } .pair input { min-width: 0; }
.charts { display: grid; grid-template-columns: repeat(2, minmax(0, 1fr)); gap: 14px; }
.chart h3 { margin: 0 0 4px; font-size: 13px; font-weight: 600; }
.chart .legend { font-size: 12px; color: var(--muted, #667); margin-left: 6px; font-weight: 400; }
svg.chart-plot { display: block; width: 100%; height: auto; background: #fbfcfe; border: 1px solid #e6eaf0; border-radius: 6px; }
svg.chart-plot polyline { fill: none; stroke-width: 1.6; vector-effect: non-scaling-stroke; }
svg.chart-plot polyline.s0 { stroke: var(--accent); } svg.chart-plot polyline.s1 { stroke: #d9822b; }
svg.chart-plot circle.s0 { fill: var(--accent); } svg.chart-plot circle.s1 { fill: #d9822b; }
svg.chart-plot line.grid { stroke: #e6eaf0; stroke-width: 1; vector-effect: non-scaling-stroke; }
svg.chart-plot text { font-size: 10px; fill: #7a8494; }
@media (max-width: 700px) { .charts { grid-template-columns: 1fr; } }
svg.spark { display: block; width: 96px; height: 24px; }
svg.spark polyline { fill: none; stroke: var(--accent); stroke-width: 1.5; }
svg.spark polygon { fill: rgba(47,111,237,.12); stroke: none; }
svg.spark line { stroke: #dfe4ec; stroke-width: 1; }
.overlay { position: fixed; inset: 0; background: rgba(15,22,38,.45); display: flex; align-items: center; justify-content: center; padding: 16px; z-index: 20; }
.dialog { background: #fff; border-radius: 12px; box-shadow: 0 20px 50px rgba(0,0,0,.25); padding: 20px; width: 100%; max-width: 400px; }
.dialog h2 { margin: 0 0 8px; font-size: 17px; }
.dialog .form-foot { justify-content: flex-end; margin-top: 14px; }
.toast { position: fixed; right: 16px; bottom: 16px; max-width: min(420px, calc(100vw - 32px)); background: #121a2b; color: #fff; padding: 10px 14px; border-radius: 8px; box-shadow: var(--shadow); z-index: 30; font-size: 13px; }
.toast.err { background: #8f1d1d; }

@media (max-width: 820px) {
  .grid { grid-template-columns: 1fr; }
}
@media (max-width: 700px) {
  main { padding: 12px; gap: 12px; }
  .topbar { padding: 10px 12px; }
  .card { padding: 14px; }
  .row3 { grid-template-columns: 1fr 1fr 1fr; gap: 6px; }
  table.models, table.models tbody, table.models tr, table.models td { display: block; width: 100%; }
  table.models thead { display: none; }
  table.models tr.version-row { border: 1px solid var(--line); border-radius: 8px; margin: 8px 0; padding: 4px 10px; }
  table.models tr.model-row td { background: transparent; border: 0; padding: 12px 0 0; }
  table.models td { border: 0; padding: 5px 0; display: flex; justify-content: space-between; align-items: center; gap: 10px; }
  table.models td::before { content: attr(data-label); font-size: 11px; text-transform: uppercase; letter-spacing: .5px; color: var(--muted); font-weight: 600; }
  table.models tr.model-row td::before { content: none; }
  table.models tr.model-row td { justify-content: flex-start; gap: 6px; flex-wrap: wrap; }
  .model-row .btn { float: none; }
  .model-row .btn[data-action=traffic] { margin-left: auto; }
  .model-row .traffic { flex: 1 1 100%; }
  table.models td.cell-model { display: none; }
  table.models td.actions { justify-content: flex-end; flex-wrap: wrap; }
  table.models td.actions::before { content: none; }
  .msg, .msg.bad { max-width: 190px; }
}
"""#

    static let script = #"""
'use strict';
(function () {
  const state = {
    models: [], stats: new Map(), info: null, token: sessionStorage.getItem('byoc-token') || '',
    needLogin: false, busy: false, dialog: null,
  };

  const $ = (id) => document.getElementById(id);

  function h(tag, attrs, ...kids) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') el.className = v;
      else if (k === 'text') el.textContent = v;
      else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v === true ? '' : v);
    }
    for (const kid of kids.flat()) {
      if (kid === null || kid === undefined || kid === false) continue;
      el.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
    }
    return el;
  }

  class ApiError extends Error {
    constructor(status, code, message) { super(message); this.status = status; this.code = code; }
  }

  async function api(method, path, body) {
    const headers = { 'Accept': 'application/json' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (state.token) headers['Authorization'] = 'Bearer ' + state.token;
    let res;
    try {
      res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: 'no-store' });
    } catch (e) {
      throw new ApiError(0, 'UNAVAILABLE', 'cannot reach the gateway');
    }
    const text = await res.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
    if (!res.ok) {
      // The JSON API answers {"error": {code, message}}; the Open Inference REST API {"error": "message"}.
      let err = (data && data.error) || { code: 'HTTP_' + res.status, message: text.trim() || res.statusText };
      if (typeof err === 'string') err = { code: 'HTTP_' + res.status, message: err };
      if (res.status === 401) showLogin(err.message);
      throw new ApiError(res.status, err.code, err.message);
    }
    return data;
  }

  // ---------------------------------------------------------------- login (only when auth is on)
  function showLogin(why) {
    state.needLogin = true;
    $('login-why').textContent = why ? 'The gateway says: ' + why : 'This gateway requires an API token.';
    openDialog('login-box');
    setTimeout(() => $('login-token').focus(), 0);
  }

  $('login').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const token = $('login-token').value.trim();
    if (!token) return;
    state.token = token;
    sessionStorage.setItem('byoc-token', token);
    $('login-token').value = '';
    state.needLogin = false;
    closeDialog();
    updateLogout();
    refresh();
  });

  $('logout').addEventListener('click', () => {
    state.token = '';
    sessionStorage.removeItem('byoc-token');
    updateLogout();
    refresh();
  });

  function updateLogout() {
    const show = !!state.token || !!(state.info && state.info.authRequired);
    $('logout').classList.toggle('hidden', !show || !state.token);
  }

  // ---------------------------------------------------------------- dialogs
  function openDialog(id) {
    for (const d of ['login-box', 'confirm-dialog', 'scale-dialog', 'traffic-dialog']) $(d).classList.toggle('hidden', d !== id);
    $('overlay').classList.remove('hidden');
    state.dialog = id;
  }
  function closeDialog() {
    if (state.dialog === 'login-box' && state.needLogin) return;
    $('overlay').classList.add('hidden');
    state.dialog = null;
  }
  $('overlay').addEventListener('click', (ev) => { if (ev.target === $('overlay')) closeDialog(); });
  document.addEventListener('keydown', (ev) => { if (ev.key === 'Escape') closeDialog(); });

  let confirmAction = null;
  function confirmDelete(title, text, action) {
    $('confirm-title').textContent = title;
    $('confirm-text').textContent = text;
    $('confirm-error').textContent = '';
    confirmAction = action;
    openDialog('confirm-dialog');
    $('confirm-ok').focus();
  }
  $('confirm-cancel').addEventListener('click', closeDialog);
  $('confirm-ok').addEventListener('click', async () => {
    if (!confirmAction) return;
    $('confirm-ok').disabled = true;
    try {
      await confirmAction();
      closeDialog();
    } catch (e) {
      $('confirm-error').textContent = e.message;
    } finally {
      $('confirm-ok').disabled = false;
    }
  });

  let scaleTarget = null;
  function openScale(v) {
    scaleTarget = v;
    $('scale-title').textContent = 'Scale ' + v.model + ' v' + v.version;
    $('scale-min').value = v.minReplicas;
    $('scale-max').value = v.maxReplicas;
    $('scale-target').value = v.autoscaling ? v.autoscaling.targetConcurrency : 0;
    $('scale-zero-after').value = v.autoscaling && v.autoscaling.scaleToZeroAfterSeconds ? v.autoscaling.scaleToZeroAfterSeconds : '';
    $('scale-delay').value = v.autoscaling ? v.autoscaling.scaleDownDelaySeconds : 0;
    $('scale-error').textContent = '';
    openDialog('scale-dialog');
    $('scale-min').focus();
  }
  $('scale-cancel').addEventListener('click', closeDialog);
  $('scale').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (!scaleTarget) return;
    const body = { minReplicas: intOrZero($('scale-min').value), maxReplicas: intOrZero($('scale-max').value),
      autoscaling: { targetConcurrency: intOrZero($('scale-target').value), scaleToZeroAfterSeconds: intOrZero($('scale-zero-after').value),
        scaleDownDelaySeconds: intOrZero($('scale-delay').value) } };
    try {
      await api('POST', '/api/v1/models/' + enc(scaleTarget.model) + '/versions/' + enc(scaleTarget.version) + '/scale', body);
      closeDialog();
      toast('Scaled ' + scaleTarget.model + ' v' + scaleTarget.version);
      refresh();
    } catch (e) {
      $('scale-error').textContent = e.message;
    }
  });

  let trafficTarget = null;
  function shares(list) { return (list || []).map((t) => t.version + '=' + t.percent).join(' '); }
  function openTraffic(m) {
    trafficTarget = m;
    $('traffic-title').textContent = 'Traffic of ' + m.name;
    $('traffic-split').value = shares(m.traffic);
    $('traffic-shadow').value = m.shadow ? shares([m.shadow]) : '';
    $('traffic-error').textContent = '';
    openDialog('traffic-dialog');
    $('traffic-split').focus();
  }
  function parseShares(text) {
    const out = [];
    for (const word of text.split(/[\s,]+/).filter(Boolean)) {
      const m = /^([^=]+)=(\d+)$/.exec(word);
      if (!m) throw new Error('"' + word + '" must be VERSION=PERCENT, e.g. 2=10');
      out.push({ version: m[1], percent: parseInt(m[2], 10) });
    }
    return out;
  }
  $('traffic-cancel').addEventListener('click', closeDialog);
  $('traffic').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (!trafficTarget) return;
    try {
      const shadow = parseShares($('traffic-shadow').value);
      if (shadow.length > 1) throw new Error('one shadow: VERSION=PERCENT');
      await api('POST', '/api/v1/models/' + enc(trafficTarget.name) + '/traffic',
        { targets: parseShares($('traffic-split').value), shadow: shadow[0] || null });
      closeDialog();
      toast('Traffic of ' + trafficTarget.name + ' updated');
      refresh();
    } catch (e) {
      $('traffic-error').textContent = e.message;
    }
  });
  function trafficSummary(m) {
    const parts = [];
    if (m.traffic && m.traffic.length) parts.push('traffic ' + m.traffic.map((t) => t.version + ' ' + t.percent + '%').join(' / '));
    if (m.shadow) parts.push('shadow ' + m.shadow.version + ' ' + m.shadow.percent + '%');
    const aliases = Object.entries(m.aliases || {}).sort();
    if (aliases.length) parts.push('aliases ' + aliases.map(([a, v]) => a + '→' + v).join(', '));
    return parts.length ? h('span', { class: 'muted traffic', 'data-traffic': m.name, text: '  · ' + parts.join(' · ') }) : null;
  }

  let toastTimer = null;
  function toast(text, bad) {
    const t = $('toast');
    t.textContent = text;
    t.classList.toggle('err', !!bad);
    t.classList.remove('hidden');
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => t.classList.add('hidden'), 3500);
  }

  // ---------------------------------------------------------------- rendering
  const enc = encodeURIComponent;
  function intOrZero(s) { const n = parseInt(s, 10); return Number.isFinite(n) ? n : 0; }
  // The non-blank lines of a textarea, trimmed.
  function textLines(id) { return $(id).value.split('\n').map((l) => l.trim()).filter((l) => l); }
  // A textarea's KEY=VALUE lines as an object (the value trimmed too with trimValue); the first
  // bad line throws, `what` naming the field.
  function keyValues(id, what, trimValue) {
    const out = {};
    for (const t of textLines(id)) {
      const i = t.indexOf('=');
      if (i <= 0) throw new Error(what + ' lines must be KEY=VALUE: "' + t + '"');
      out[t.slice(0, i).trim()] = trimValue ? t.slice(i + 1).trim() : t.slice(i + 1);
    }
    return out;
  }
  // Splits a command line like a POSIX shell splits words (no expansions), as byocctl does:
  // '...' literal, "..." with \" \\ \$ \` escapes, a backslash escapes the next character.
  function shellWords(text) {
    const words = [];
    let cur = '', inWord = false, i = 0;
    while (i < text.length) {
      const c = text[i++];
      if (c === ' ' || c === '\t' || c === '\n') { if (inWord) { words.push(cur); cur = ''; inWord = false; } continue; }
      inWord = true;
      if (c === "'") {
        const end = text.indexOf("'", i);
        if (end < 0) throw new Error('unterminated single quote');
        cur += text.slice(i, end); i = end + 1;
      } else if (c === '"') {
        let closed = false;
        while (i < text.length) {
          const d = text[i++];
          if (d === '"') { closed = true; break; }
          if (d === '\\' && i < text.length && '"\\$`\n'.includes(text[i])) { if (text[i] !== '\n') cur += text[i]; i++; } else cur += d;
        }
        if (!closed) throw new Error('unterminated double quote');
      } else if (c === '\\') {
        if (i >= text.length) throw new Error('trailing backslash');
        if (text[i] !== '\n') cur += text[i];
        i++;
      } else cur += c;
    }
    if (inWord) words.push(cur);
    return words;
  }
  function fmtRps(x) { return x == null ? '–' : (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2)); }
  function fmtMs(x) { return x == null ? '–' : (x >= 1000 ? (x / 1000).toFixed(2) + ' s' : x >= 10 ? x.toFixed(0) + ' ms' : x.toFixed(2) + ' ms'); }

  function sparkline(values) {
    const W = 96, H = 24, P = 2;
    const ns = 'http://www.w3.org/2000/svg';
    const svg = document.createElementNS(ns, 'svg');
    svg.setAttribute('class', 'spark');
    svg.setAttribute('viewBox', '0 0 ' + W + ' ' + H);
    svg.setAttribute('preserveAspectRatio', 'none');
    const base = document.createElementNS(ns, 'line');
    base.setAttribute('x1', 0); base.setAttribute('x2', W); base.setAttribute('y1', H - P); base.setAttribute('y2', H - P);
    svg.append(base);
    const pts = (values || []).map((v) => (v == null ? 0 : v));
    if (pts.length === 1) pts.unshift(0);
    if (pts.length >= 2) {
      const max = Math.max(...pts, 0.0001);
      const xy = pts.map((v, i) => [(i / (pts.length - 1)) * W, H - P - (v / max) * (H - 2 * P)]);
      const line = xy.map(([x, y]) => x.toFixed(1) + ',' + y.toFixed(1)).join(' ');
      const area = document.createElementNS(ns, 'polygon');
      area.setAttribute('points', '0,' + (H - P) + ' ' + line + ' ' + W + ',' + (H - P));
      const poly = document.createElementNS(ns, 'polyline');
      poly.setAttribute('points', line);
      svg.append(area, poly);
    }
    const title = document.createElementNS(ns, 'title');
    title.textContent = 'requests/s over the last minutes';
    svg.append(title);
    return svg;
  }

  function renderModels() {
    const body = $('models-body');
    const readOnly = state.info && state.info.mode === 'routes';
    const rows = [];
    for (const m of state.models.slice().sort((a, b) => a.name.localeCompare(b.name))) {
      rows.push(h('tr', { class: 'model-row', 'data-model': m.name },
        h('td', { colspan: 8 },
          h('span', { class: 'model-name', text: m.name }),
          m.defaultVersion ? h('span', { class: 'muted', text: '  · default v' + m.defaultVersion }) : null,
          trafficSummary(m),
          readOnly ? null : h('button', { class: 'btn ghost small', type: 'button', 'data-action': 'traffic', 'data-model': m.name,
            onclick: () => openTraffic(m) }, 'Traffic'),
          readOnly ? null : h('button', {
            class: 'btn ghost small', type: 'button', 'data-action': 'timeline', 'data-model': m.name,
            onclick: () => showTimeline(m.name),
          }, 'Timeline'),
          readOnly ? null : h('button', {
            class: 'btn ghost small link-danger', type: 'button', 'data-action': 'delete-model', 'data-model': m.name,
            onclick: () => confirmDelete('Delete model ' + m.name + '?',
              'Every version of "' + m.name + '" (' + m.versions.length + ') will be stopped and removed from the registry.',
              async () => { await api('DELETE', '/api/v1/models/' + enc(m.name)); toast('Deleted model ' + m.name); refresh(); }),
          }, 'Delete model'))));
      const agoText = (ms) => {
        const sec = Math.max(0, Math.round((Date.now() - ms) / 1000));
        return sec < 120 ? sec + 's ago' : sec < 7200 ? Math.round(sec / 60) + 'm ago' : sec < 172800 ? Math.round(sec / 3600) + 'h ago' : Math.round(sec / 86400) + 'd ago';
      };
      const versions = m.versions.slice().sort((a, b) => (a.createdUnixMs || 0) - (b.createdUnixMs || 0) || a.version.localeCompare(b.version));
      for (const v of versions) {
        const s = state.stats.get(m.name + '/' + v.version);
        const isDefault = m.defaultVersion === v.version;
        const failed = v.state === 'FAILED';
        rows.push(h('tr', { class: 'version-row', 'data-model': m.name, 'data-version': v.version, 'data-state': v.state },
          h('td', { 'data-label': 'Model', class: 'cell-model', text: m.name }),
          h('td', { 'data-label': 'Version' },
            h('div', {}, h('span', { text: v.version }),
              isDefault ? h('span', { class: 'badge', title: 'default version', text: 'default' }) : null,
              h('span', { class: 'msg', 'data-field': 'last-called', title: 'last call',
                text: v.lastCalledUnixMs ? 'called ' + agoText(v.lastCalledUnixMs) : 'never called' }),
              v.autoscaling && v.autoscaling.targetConcurrency ? h('span', { class: 'msg', 'data-field': 'autoscaling',
                text: 'target ' + v.autoscaling.targetConcurrency + ' in flight' }) : null)),
          h('td', { 'data-label': 'State', class: 'cell-state' },
            h('div', {},
              h('span', { class: 'pill state ' + v.state, text: v.state }),
              v.message ? h('span', { class: 'msg' + (failed ? ' bad' : ''), title: v.message, text: v.message }) : null)),
          h('td', { 'data-label': 'Ready', class: 'num', text: v.readyReplicas + '/' + (v.desiredReplicas || v.minReplicas) }),
          h('td', { 'data-label': 'Req/s', class: 'num', text: fmtRps(s ? s.lastRps : null) }),
          h('td', { 'data-label': 'p99', class: 'num', text: fmtMs(s ? s.lastP99Ms : null) }),
          h('td', { 'data-label': 'Last minutes' }, sparkline(s ? s.rps.slice(-SPARK_POINTS) : [])),
          h('td', { class: 'actions' }, readOnly ? null : [
            h('button', {
              class: 'btn small', type: 'button', 'data-action': 'default', disabled: isDefault,
              onclick: async () => {
                try { await api('POST', '/api/v1/models/' + enc(m.name) + '/default', { version: v.version }); toast(m.name + ': default is now v' + v.version); refresh(); }
                catch (e) { toast(e.message, true); }
              },
            }, 'Set default'),
            h('button', { class: 'btn small', type: 'button', 'data-action': 'scale', onclick: () => openScale(v) }, 'Scale'),
            h('button', { class: 'btn small', type: 'button', 'data-action': 'logs', onclick: () => showLogs(m.name, v.version) }, 'Logs'),
            h('button', { class: 'btn small', type: 'button', 'data-action': 'charts', onclick: () => showCharts(m.name, v.version) }, 'Charts'),
            h('button', {
              class: 'btn small link-danger', type: 'button', 'data-action': 'delete',
              onclick: () => confirmDelete('Delete ' + m.name + ' v' + v.version + '?',
                'Its replicas are stopped and the version is removed from the registry.' + (isDefault && m.versions.length > 1 ? ' It is the default version.' : ''),
                async () => { await api('DELETE', '/api/v1/models/' + enc(m.name) + '/versions/' + enc(v.version)); toast('Deleted ' + m.name + ' v' + v.version); refresh(); }),
            }, 'Delete'),
          ])));
      }
    }
    body.replaceChildren(...rows);
    $('models-empty').classList.toggle('hidden', state.models.length > 0);
    $('models').classList.toggle('hidden', state.models.length === 0);
  }

  function renderTryModels() {
    const sel = $('try-model');
    const current = sel.value;
    const names = state.models.map((m) => m.name).sort();
    const same = names.length === sel.options.length && names.every((n, i) => sel.options[i].value === n);
    if (!same) {
      sel.replaceChildren(...names.map((n) => h('option', { value: n, text: n })));
      if (names.includes(current)) sel.value = current;
    }
    renderTryVersions();
  }

  function renderTryVersions() {
    const sel = $('try-version');
    const current = sel.value;
    const m = state.models.find((x) => x.name === $('try-model').value);
    const versions = m ? m.versions.map((v) => v.version) : [];
    const wanted = [''].concat(versions);
    const same = wanted.length === sel.options.length && wanted.every((n, i) => sel.options[i].value === n);
    if (!same) {
      sel.replaceChildren(h('option', { value: '', text: '(default' + (m && m.defaultVersion ? ': v' + m.defaultVersion : '') + ')' }),
        ...versions.map((v) => h('option', { value: v, text: v })));
      if (wanted.includes(current)) sel.value = current;
    }
  }
  $('try-model').addEventListener('change', () => { renderTryVersions(); loadMetadata(); });

  function setConn(ok, why) {
    const c = $('conn');
    c.classList.toggle('live', ok);
    c.classList.toggle('down', !ok);
    c.textContent = ok ? 'live · ' + new Date().toLocaleTimeString() : (why || 'disconnected');
  }

  // ---------------------------------------------------------------- timeline
  // The registry's events of one model, newest first, refreshed with the table.
  function renderTimelineModels() {
    const select = $('timeline-model');
    const names = state.models.map((m) => m.name).sort();
    const current = select.value || names[0] || '';
    if (select.dataset.names !== names.join(',')) {
      select.replaceChildren(...names.map((n) => h('option', { value: n, text: n })));
      select.dataset.names = names.join(',');
    }
    if (names.includes(current)) select.value = current;
  }

  function showTimeline(model) {
    renderTimelineModels();
    $('timeline-model').value = model;
    refreshTimeline();
    $('timeline-card').scrollIntoView({ behavior: 'smooth', block: 'start' });
  }

  async function refreshTimeline() {
    const model = $('timeline-model').value;
    if (!model) { $('timeline').replaceChildren(); $('timeline-empty').classList.remove('hidden'); return; }
    const r = await api('GET', '/api/v1/events?model=' + enc(model) + '&limit=50');
    if ($('timeline-model').value !== model) return;
    const events = ((r && r.events) || []).slice().reverse();
    $('timeline').replaceChildren(...events.map((e) => h('li', { class: 'event', 'data-kind': e.kind, 'data-version': e.version },
      h('span', { class: 'when', text: new Date(e.timeUnixMs).toLocaleString() }),
      h('span', { class: 'ver', text: e.version ? 'v' + e.version : 'model' }),
      h('span', {}, h('span', { class: 'pill kind ' + e.kind, text: e.kind })),
      h('span', { class: 'what', text: e.message }))));
    $('timeline-empty').classList.toggle('hidden', events.length > 0);
  }
  $('timeline-model').addEventListener('change', () => { refreshTimeline().catch((e) => toast(e.message, true)); });

  // ---------------------------------------------------------------- logs
  // The replicas' last lines of one version (GetLogs through the JSON API), polled every
  // second while "Follow" is on, so new lines show within about a second.
  const logs = { model: null, version: null, timer: null, seq: 0 };
  const LOG_TAIL = 200;
  function showLogs(model, version) {
    logs.model = model; logs.version = version;
    $('logs-title').textContent = 'Logs · ' + model + ' v' + version;
    $('logs-output').replaceChildren();
    $('logs-card').dataset.model = model;
    $('logs-card').dataset.version = version;
    $('logs-card').classList.remove('hidden');
    $('logs-card').scrollIntoView({ behavior: 'smooth', block: 'start' });
    refreshLogs().catch((e) => toast(e.message, true));
    scheduleLogs();
  }
  function scheduleLogs() {
    clearInterval(logs.timer);
    logs.timer = null;
    if (logs.model && $('logs-follow').checked) {
      logs.timer = setInterval(() => { if (!document.hidden) refreshLogs().catch(() => {}); }, 1000);
    }
  }
  async function refreshLogs() {
    const { model, version } = logs;
    if (!model) return;
    const seq = ++logs.seq;
    const r = await api('GET', '/api/v1/models/' + enc(model) + '/versions/' + enc(version) + '/logs?tail=' + LOG_TAIL);
    if (seq !== logs.seq || logs.model !== model || logs.version !== version) return;
    const lines = (r && r.lines) || [];
    const out = $('logs-output');
    const atEnd = out.scrollTop + out.clientHeight >= out.scrollHeight - 4;
    out.replaceChildren(...lines.map((l) => h('div', { class: 'log-line', 'data-replica': l.replica },
      h('span', { class: 'replica', text: l.replica + ': ' }), h('span', { class: 'text', text: l.line }))));
    $('logs-empty').classList.toggle('hidden', lines.length > 0);
    if (atEnd || $('logs-follow').checked) out.scrollTop = out.scrollHeight;
  }
  $('logs-follow').addEventListener('change', scheduleLogs);
  $('logs-close').addEventListener('click', () => {
    logs.model = null; logs.version = null;
    scheduleLogs();
    $('logs-card').classList.add('hidden');
  });

  // ---------------------------------------------------------------- charts
  // One version's last hour from the gateway's own history (/api/v1/stats?model=&version=):
  // requests/s, error rate, p50/p99 latency and ready replicas, redrawn with each refresh.
  const SPARK_POINTS = 60;
  const charts = { model: null, version: null };
  function showCharts(model, version) {
    charts.model = model; charts.version = version;
    $('charts-title').textContent = 'Charts · ' + model + ' v' + version;
    $('charts-card').dataset.model = model;
    $('charts-card').dataset.version = version;
    $('charts').replaceChildren();
    $('charts-card').classList.remove('hidden');
    $('charts-card').scrollIntoView({ behavior: 'smooth', block: 'start' });
    refreshCharts().catch((e) => toast(e.message, true));
  }
  $('charts-close').addEventListener('click', () => {
    charts.model = null; charts.version = null;
    $('charts-card').classList.add('hidden');
  });
  function span(ms) { const s = Math.round(ms / 1000); return s < 120 ? s + ' s' : Math.round(s / 60) + ' min'; }
  function fmtAxis(x) { return Number.isInteger(x) ? String(x) : x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x >= 1 ? x.toFixed(2) : x.toPrecision(2); }
  function lineChart(id, title, unit, lines, timestamps, W) {
    const H = 140, L = 34, B = 16, T = 6;
    const ns = 'http://www.w3.org/2000/svg';
    const el = (name, attrs, text) => {
      const e = document.createElementNS(ns, name);
      for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
      if (text !== undefined) e.textContent = text;
      return e;
    };
    const svg = el('svg', { class: 'chart-plot', viewBox: '0 0 ' + W + ' ' + H,
      role: 'img', 'aria-label': title });
    const values = lines.flatMap((l) => l.values).filter((v) => v != null);
    const max = Math.max(...values, 0) || 1;
    for (const f of [0, 0.5, 1]) {
      const y = T + (1 - f) * (H - T - B);
      svg.append(el('line', { class: 'grid', x1: L, x2: W, y1: y, y2: y }), el('text', { x: 2, y: y + 3 }, fmtAxis(max * f)));
    }
    const n = timestamps.length;
    if (n) {
      svg.append(el('text', { x: L, y: H - 3 }, '−' + span(timestamps[n - 1] - timestamps[0])), el('text', { x: W - 22, y: H - 3 }, 'now'));
    }
    lines.forEach((l, k) => {
      // A gap (no calls in an interval: no latency) breaks the line.
      let run = [];
      const flush = () => {
        if (run.length === 1) { const [x, y] = run[0].split(','); svg.append(el('circle', { class: 's' + k, cx: x, cy: y, r: 2.5 })); }
        if (run.length) svg.append(el('polyline', { class: 's' + k, points: run.join(' ') }));
        run = [];
      };
      l.values.forEach((v, i) => {
        if (v == null) { flush(); return; }
        const x = n > 1 ? L + (i / (n - 1)) * (W - L) : W;
        run.push(x.toFixed(1) + ',' + (T + (1 - v / max) * (H - T - B)).toFixed(1));
      });
      flush();
    });
    const last = lines.map((l) => { const v = l.values.filter((x) => x != null).pop(); return l.name + ' ' + (v == null ? '–' : fmtAxis(v) + unit); });
    return h('div', { class: 'chart', 'data-chart': id, 'data-points': String(n) },
      h('h3', {}, title, h('span', { class: 'legend', text: last.join(' · ') })), svg);
  }
  async function refreshCharts() {
    const { model, version } = charts;
    if (!model) return;
    const r = await api('GET', '/api/v1/stats?model=' + enc(model) + '&version=' + enc(version));
    if (charts.model !== model || charts.version !== version) return;
    const s = ((r && r.series) || [])[0] || { rps: [], errorRate: [], p50Ms: [], p99Ms: [], replicas: [] };
    const ts = (r && r.timestamps || []).slice(-s.rps.length);
    $('charts-range').textContent = ts.length ? 'last ' + span(ts[ts.length - 1] - ts[0]) + ', every ' + r.intervalSeconds + ' s' : 'no samples yet';
    // The plots' user units are their CSS pixels (two columns when wide), so text is not stretched.
    const wide = $('charts').clientWidth || 600, cols = wide > 700 ? 2 : 1;
    const W = Math.max(160, Math.floor((wide - 14 * (cols - 1)) / cols));
    $('charts').replaceChildren(
      lineChart('rps', 'Requests/s', '', [{ name: 'now', values: s.rps }], ts, W),
      lineChart('errors', 'Error rate', ' %', [{ name: 'now', values: s.errorRate.map((v) => (v == null ? null : v * 100)) }], ts, W),
      lineChart('latency', 'Latency', ' ms', [{ name: 'p50', values: s.p50Ms }, { name: 'p99', values: s.p99Ms }], ts, W),
      lineChart('replicas', 'Ready replicas', '', [{ name: 'now', values: s.replicas }], ts, W));
  }

  // ---------------------------------------------------------------- refresh loop
  async function refresh() {
    if (state.busy) return;
    state.busy = true;
    try {
      const [models, stats] = await Promise.all([api('GET', '/api/v1/models'), api('GET', '/api/v1/stats?seconds=300')]);
      state.models = (models && models.models) || [];
      state.stats = new Map(((stats && stats.series) || []).map((s) => [s.model + '/' + s.version, s]));
      renderModels();
      renderTryModels();
      if (!(state.info && state.info.mode === 'routes')) { renderTimelineModels(); await refreshTimeline(); }
      if (charts.model) await refreshCharts();
      setConn(true);
    } catch (e) {
      setConn(false, e.status === 401 ? 'sign-in required' : e.message);
    } finally {
      state.busy = false;
    }
  }

  // ---------------------------------------------------------------- register
  $('register').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const out = $('reg-result');
    out.className = 'result';
    out.textContent = 'Registering…';
    let env, nodeSelector;
    const tolerations = [];
    try {
      env = keyValues('reg-env', 'Environment', false);
      nodeSelector = keyValues('reg-node-selector', 'Node selector', true);
      for (const t of textLines('reg-tolerations')) {
        const c = t.lastIndexOf(':');
        if (c < 0) throw new Error('Toleration lines must be KEY[=VALUE]:EFFECT: "' + t + '"');
        const taint = t.slice(0, c), effect = t.slice(c + 1), e = taint.indexOf('=');
        tolerations.push(e < 0 ? { key: taint, operator: 'Exists', value: '', effect }
                               : { key: taint.slice(0, e), operator: 'Equal', value: taint.slice(e + 1), effect });
      }
    } catch (e) { out.className = 'result err'; out.textContent = e.message; return; }
    let command;
    try { command = shellWords($('reg-command').value); } catch (e) { out.className = 'result err'; out.textContent = 'Command: ' + e.message; return; }
    const gpus = intOrZero($('reg-gpus').value), gpuResource = $('reg-gpu-resource').value.trim();
    const body = {
      model: $('reg-model').value.trim(), version: $('reg-version').value.trim(),
      image: $('reg-image').value.trim(), command,
      port: intOrZero($('reg-port').value), minReplicas: intOrZero($('reg-min').value), maxReplicas: intOrZero($('reg-max').value),
      env, nodeSelector, tolerations, allowRoot: $('reg-allow-root').checked,
      imagePullSecrets: $('reg-pull-secrets').value.split(',').map((x) => x.trim()).filter((x) => x),
    };
    const resources = { cpuRequest: $('reg-cpu-request').value.trim(), cpuLimit: $('reg-cpu-limit').value.trim(),
      memoryRequest: $('reg-mem-request').value.trim(), memoryLimit: $('reg-mem-limit').value.trim(), gpus, gpuResource };
    if (Object.values(resources).some((x) => x)) body.resources = resources;
    const autoscaling = { targetConcurrency: intOrZero($('reg-target').value),
      scaleToZeroAfterSeconds: intOrZero($('reg-zero-after').value), scaleDownDelaySeconds: intOrZero($('reg-down-delay').value) };
    if (Object.values(autoscaling).some((x) => x)) body.autoscaling = autoscaling;
    $('reg-submit').disabled = true;
    try {
      const v = await api('POST', '/api/v1/models', body);
      out.className = 'result ok';
      out.textContent = 'Registered ' + v.model + ' v' + v.version + ' (' + v.state + ')';
      $('try-model').value = v.model;
      refresh();
    } catch (e) {
      out.className = 'result err';
      out.textContent = e.message + (e.code ? ' (' + e.code + ')' : '');
    } finally {
      $('reg-submit').disabled = false;
    }
  });

  // ---------------------------------------------------------------- try it
  // Predict sends byoc.v1 Predict through the JSON API; ModelInfer sends the Open Inference
  // REST request (/v2/models/M[/versions/V]/infer, the model's gRPC ModelInfer), its inputs
  // prefilled from the model's ModelMetadata.
  const PREDICT_EXAMPLE = '{"x": [[5.1, 3.5, 1.4, 0.2]]}';
  function oipPath(model, version) {
    return '/v2/models/' + enc(model) + (version ? '/versions/' + enc(version) : '');
  }
  function zeros(datatype, count) {
    if (datatype === 'BYTES') return Array(count).fill('');
    if (datatype === 'BOOL') return Array(count).fill(false);
    return Array(count).fill(0);
  }
  async function loadMetadata() {
    const model = $('try-model').value, version = $('try-version').value;
    const note = $('try-metadata');
    if ($('try-protocol').value !== 'infer' || !model) { note.classList.add('hidden'); return; }
    note.classList.remove('hidden');
    note.textContent = 'Reading ModelMetadata…';
    try {
      const m = await api('GET', oipPath(model, version));
      const inputs = (m.inputs || []).map((t) => {
        const shape = (t.shape || []).map((d) => (d < 0 ? 1 : d));
        return { name: t.name, datatype: t.datatype, shape, data: zeros(t.datatype, shape.reduce((a, b) => a * b, 1)) };
      });
      note.textContent = 'ModelMetadata: ' + m.name + ' (' + (m.platform || 'no platform') + '), inputs ' +
        ((m.inputs || []).map((t) => t.name + ' ' + t.datatype + ' [' + t.shape.join(', ') + ']').join('; ') || 'not declared') +
        ', outputs ' + ((m.outputs || []).map((t) => t.name).join(', ') || 'not declared');
      $('try-inputs').value = JSON.stringify({ inputs: inputs.length ? inputs
        : [{ name: 'x', datatype: 'FP32', shape: [1, 4], data: [5.1, 3.5, 1.4, 0.2] }] }, null, 1);
    } catch (e) {
      note.textContent = 'ModelMetadata failed: ' + e.message;
    }
  }
  $('try-protocol').addEventListener('change', () => {
    const infer = $('try-protocol').value === 'infer';
    $('try-send').textContent = infer ? 'Send ModelInfer' : 'Send Predict';
    $('try-inputs-label').innerHTML = infer ? 'Request <span class="muted">(Open Inference JSON: inputs with name, datatype, shape, data)</span>'
      : 'Inputs <span class="muted">(JSON: name &rarr; nested lists)</span>';
    if (!infer) { $('try-inputs').value = PREDICT_EXAMPLE; $('try-metadata').classList.add('hidden'); }
    loadMetadata();
  });
  $('try-version').addEventListener('change', loadMetadata);
  async function sendInfer(model, version, body, parameters) {
    if (Object.keys(parameters).length) body.parameters = Object.assign({}, parameters, body.parameters || {});
    const started = performance.now();
    const r = await api('POST', oipPath(model, version) + '/infer', body);
    const shown = {};
    for (const t of r.outputs || []) shown[t.name] = { datatype: t.datatype, shape: t.shape, data: t.data };
    return { text: r.model_name + ' v' + r.model_version + ' answered ModelInfer in ' + fmtMs(performance.now() - started),
             shown, raw: r };
  }
  async function sendPredict(model, version, inputs, parameters) {
    const r = await api('POST', '/api/v1/models/' + enc(model) + '/predict', { version, inputs, parameters });
    const shown = {};
    for (const [name, t] of Object.entries(r.outputs || {})) shown[name] = t.values !== undefined ? t.values : t;
    return { text: r.model + ' v' + r.version + ' answered in ' + fmtMs(r.latencyMs), shown, raw: r };
  }
  $('try').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const out = $('try-output');
    const lat = $('try-latency');
    const model = $('try-model').value;
    lat.className = 'result';
    if (!model) { lat.className = 'result err'; lat.textContent = 'Register a model first.'; return; }
    let inputs, parameters;
    try { inputs = JSON.parse($('try-inputs').value || '{}'); } catch (e) { lat.className = 'result err'; lat.textContent = 'Inputs are not valid JSON: ' + e.message; return; }
    try {
      const p = $('try-params').value.trim();
      parameters = p ? JSON.parse(p) : {};
      for (const k of Object.keys(parameters)) parameters[k] = String(parameters[k]);
    } catch (e) { lat.className = 'result err'; lat.textContent = 'Parameters are not valid JSON: ' + e.message; return; }
    lat.textContent = 'Sending…';
    $('try-send').disabled = true;
    try {
      const send = $('try-protocol').value === 'infer' ? sendInfer : sendPredict;
      const r = await send(model, $('try-version').value, inputs, parameters);
      lat.className = 'result ok';
      lat.textContent = r.text;
      out.textContent = JSON.stringify(r.shown, null, 2);
      out.classList.remove('hidden');
      out.dataset.raw = JSON.stringify(r.raw);
    } catch (e) {
      lat.className = 'result err';
      lat.textContent = e.message + (e.code ? ' (' + e.code + ')' : '');
      out.classList.add('hidden');
    } finally {
      $('try-send').disabled = false;
    }
  });

  // ---------------------------------------------------------------- start
  async function start() {
    try {
      state.info = await api('GET', '/api/v1/info');
      if (state.info.mode === 'routes') {
        $('mode-note').textContent = 'static routes (read-only)';
        $('register-card').classList.add('hidden');
        $('timeline-card').classList.add('hidden');
      }
      if (state.info.authRequired && !state.token) showLogin('');
    } catch (e) { /* shown by refresh */ }
    updateLogout();
    await refresh();
    setInterval(() => { if (!state.needLogin && !document.hidden) refresh(); }, 2000);
  }
  start();
})();
"""#
}
