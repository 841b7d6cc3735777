"""A fake Kubernetes API server speaking HTTP/2 (h2c with prior knowledge, or TLS with ALPN h2)
and the real API's JSON, for the Kubernetes runtime's integration tests.

What it does, like a real API server:
- namespaced CRUD for apps/v1 Deployments, v1 Services, Pods, ConfigMaps, Secrets, autoscaling/v2
  HorizontalPodAutoscalers, policy/v1 PodDisruptionBudgets, discovery.k8s.io/v1 EndpointSlices
  and coordination.k8s.io/v1 Leases, with a global resourceVersion counter and per-object
  generation (bumped when anything but status/metadata changes);
- server-side apply (PATCH application/apply-patch+yaml, fieldManager recorded in
  managedFields) as create-or-merge (objects merged, lists replaced), JSON merge patch;
- 404 NotFound, 409 AlreadyExists / Conflict (PUT with a stale resourceVersion), 410 Expired
  (watch from a compacted resourceVersion, as an ERROR event), 422 Invalid;
- list and watch (newline-delimited JSON events, BOOKMARK events, label selectors, field
  selectors on metadata.name / metadata.namespace,
  timeoutSeconds), a watch resuming from a resourceVersion replays what happened since;
- every object it receives is validated against the Kubernetes JSON schemas of the pinned
  `kubernetes-validate` package (strict: unknown fields are errors) and rejected with a 422
  Status when invalid.

And like the controllers of a cluster: for each Deployment it "starts" pods (replicas, clamped
to its HPA's bounds) as real `byoc-echo-model` processes on 127.0.0.1 with their own ports
(env BYOC_ECHO_BIN), marks them ready once listening, writes one EndpointSlice per ready pod
for every Service selecting it (addresses 127.0.0.1, the pod's port), and keeps the
Deployment's status and conditions. Images named `bad/...` give pods stuck in ErrImagePull /
ImagePullBackOff instead; images named `crash/...` run `sh -c 'echo "$CRASH_MESSAGE" >&2; exit 1'`
(the container's env), so the pod's container ends as the kubelet reports a crashing one:
`lastState.terminated` (exitCode, reason Error, and with terminationMessagePolicy
FallbackToLogsOnError the tail of its log as the message: the last 80 lines, at most 2048
bytes), restartCount 1, and waiting in CrashLoopBackOff. A changed pod template replaces the pods.

Control API for the tests on a second, HTTP/1.1 port (JSON): see `Control`.

Usage: python -m fake_kube.server [--listen 127.0.0.1:0] [--control 127.0.0.1:0]
                                  [--tls-cert PEM --tls-key PEM] [--state-dir DIR]
Prints `listening on HOST:PORT` (the API) and `control on HOST:PORT`.
"""
from __future__ import annotations

import argparse
import asyncio
import copy
import hashlib
import json
import os
import re
import signal
import ssl
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit, unquote

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions

try:  # run as a module or as a script
    from . import validation
except ImportError:  # pragma: no cover
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import validation  # type: ignore

# plural -> (group, version, kind)
RESOURCES = {
    "deployments": ("apps", "v1", "Deployment"),
    "services": ("", "v1", "Service"),
    "pods": ("", "v1", "Pod"),
    "configmaps": ("", "v1", "ConfigMap"),
    "secrets": ("", "v1", "Secret"),
    "horizontalpodautoscalers": ("autoscaling", "v2", "HorizontalPodAutoscaler"),
    "poddisruptionbudgets": ("policy", "v1", "PodDisruptionBudget"),
    "endpointslices": ("discovery.k8s.io", "v1", "EndpointSlice"),
    "leases": ("coordination.k8s.io", "v1", "Lease"),
}
WORKLOAD_KINDS = ("deployments", "services", "horizontalpodautoscalers", "poddisruptionbudgets")
PATH_RE = re.compile(r"^/(?:api/(?P<cv>v1)|apis/(?P<g>[^/]+)/(?P<gv>[^/]+))/namespaces/(?P<ns>[^/]+)/(?P<plural>[^/]+)(?:/(?P<name>[^/]+))?/?$")
LOG_RE = re.compile(r"^/api/v1/namespaces/(?P<ns>[^/]+)/pods/(?P<name>[^/]+)/log$")
HISTORY_LIMIT = 20000


def now_rfc3339(micro: bool = False) -> str:
    t = time.time()
    base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t))
    return base + (".%06dZ" % int((t % 1) * 1e6) if micro else "Z")


def api_version(plural: str) -> str:
    g, v, _ = RESOURCES[plural]
    return f"{g}/{v}" if g else v


def status(code: int, reason: str, message: str, details: dict | None = None) -> dict:
    s = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure" if code >= 300 else "Success",
         "message": message, "reason": reason, "code": code}
    if details:
        s["details"] = details
    return s


class APIError(Exception):
    def __init__(self, code: int, reason: str, message: str, details: dict | None = None):
        super().__init__(message)
        self.body = status(code, reason, message, details)
        self.code = code


def parse_selector(text: str | None):
    """Equality-based label selectors: a=b, a==b, a!=b, a, !a (comma = and)."""
    if not text:
        return []
    reqs = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        if "!=" in part:
            k, v = part.split("!=", 1)
            reqs.append(("ne", k.strip(), v.strip()))
        elif "==" in part:
            k, v = part.split("==", 1)
            reqs.append(("eq", k.strip(), v.strip()))
        elif "=" in part:
            k, v = part.split("=", 1)
            reqs.append(("eq", k.strip(), v.strip()))
        elif part.startswith("!"):
            reqs.append(("absent", part[1:].strip(), None))
        else:
            reqs.append(("present", part, None))
    return reqs


FIELD_LABELS = ("metadata.name", "metadata.namespace")  # the field selectors every resource supports


def parse_field_selector(text: str | None):
    """Field selectors as the API server takes them for every kind: metadata.name and
    metadata.namespace with =, == or != (comma = and); anything else is 400 BadRequest."""
    if not text:
        return []
    reqs = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        op = "field_ne" if "!=" in part else "field_eq"
        k, v = re.split(r"!=|==|=", part, maxsplit=1) if re.search(r"!=|==|=", part) else (part, None)
        k = k.strip()
        if v is None or k not in FIELD_LABELS:
            raise APIError(400, "BadRequest", f'"{k}" is not a known field selector: only "metadata.name", "metadata.namespace"')
        reqs.append((op, k, v.strip()))
    return reqs


def matches(reqs, obj: dict | None) -> bool:
    if obj is None:
        return False
    labels = (obj.get("metadata") or {}).get("labels") or {}
    for op, k, v in reqs:
        if op in ("field_eq", "field_ne"):
            actual = (obj.get("metadata") or {}).get(k.split(".", 1)[1])
            if (actual == v) != (op == "field_eq"):
                return False
            continue
        if op == "eq" and labels.get(k) != v:
            return False
        if op == "ne" and labels.get(k) == v:
            return False
        if op == "present" and k not in labels:
            return False
        if op == "absent" and k in labels:
            return False
    return True


def merge(base, patch):
    """JSON merge patch (RFC 7386): objects merge, null deletes, everything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(base) if isinstance(base, dict) else {}
    for k, v in patch.items():
        if v is None:
            result.pop(k, None)
        else:
            result[k] = merge(result.get(k), v)
    return result


def spec_part(obj: dict) -> dict:
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "kind", "apiVersion")}


# --------------------------------------------------------------------------- store + watches

@dataclass
class Watch:
    plural: str
    ns: str
    selector: list
    send: callable            # send(line_bytes) -> bool (False when the stream is gone)
    alive: bool = True


class Store:
    def __init__(self):
        self.rv = 100
        self.objects: dict[str, dict[tuple, dict]] = {p: {} for p in RESOURCES}
        self.history: list[tuple[int, str, str, dict, dict | None]] = []  # (rv, plural, type, obj, old)
        self.compacted = 0
        self.watches: list[Watch] = []
        self.writes: list[dict] = []
        self.on_change = None  # callback(plural) after each change

    def next_rv(self) -> str:
        self.rv += 1
        return str(self.rv)

    def get(self, plural, ns, name):
        return self.objects[plural].get((ns, name))

    def list(self, plural, ns, selector):
        return [o for (n, _), o in sorted(self.objects[plural].items()) if n == ns and matches(selector, o)]

    def put(self, plural: str, obj: dict, event: str, old: dict | None = None) -> dict:
        meta = obj["metadata"]
        meta["resourceVersion"] = self.next_rv()
        self.objects[plural][(meta["namespace"], meta["name"])] = obj
        self._record(plural, event, obj, old)
        return obj

    def remove(self, plural: str, ns: str, name: str) -> dict | None:
        obj = self.objects[plural].pop((ns, name), None)
        if obj is None:
            return None
        obj = copy.deepcopy(obj)
        obj["metadata"]["resourceVersion"] = self.next_rv()
        self._record(plural, "DELETED", obj, obj)
        return obj

    def _record(self, plural, event, obj, old):
        rv = int(obj["metadata"]["resourceVersion"])
        snapshot = copy.deepcopy(obj)
        self.history.append((rv, plural, event, snapshot, old))
        if len(self.history) > HISTORY_LIMIT:
            dropped = self.history[: len(self.history) - HISTORY_LIMIT]
            self.history = self.history[len(dropped):]
            self.compacted = dropped[-1][0]
        for w in list(self.watches):
            self._deliver(w, event, snapshot, old)
        if self.on_change:
            self.on_change(plural)

    @staticmethod
    def _translate(w: Watch, event: str, obj: dict, old: dict | None):
        """The event a label-selected watch sees (objects entering/leaving the selection)."""
        now = matches(w.selector, obj)
        before = matches(w.selector, old) if old is not None else False
        if event == "DELETED":
            return "DELETED" if now or before else None
        if now and not before and event == "MODIFIED":
            return "ADDED"
        if before and not now:
            return "DELETED"
        return event if now else None

    def _deliver(self, w: Watch, event: str, obj: dict, old: dict | None):
        if not w.alive or w.plural != obj_plural(obj) or w.ns != obj["metadata"].get("namespace"):
            return
        kind = self._translate(w, event, obj, old)
        if kind is None:
            return
        line = json.dumps({"type": kind, "object": obj}, separators=(",", ":")).encode() + b"\n"
        if not w.send(line):
            w.alive = False
            if w in self.watches:
                self.watches.remove(w)

    def start_watch(self, w: Watch, since: int | None) -> bool:
        """Replays history after `since`, then registers `w`. False (410) when compacted."""
        if since is not None and since < self.compacted:
            return False
        if since is not None:
            for rv, plural, event, obj, old in self.history:
                if rv > since and plural == w.plural:
                    self._deliver(w, event, obj, old)
        self.watches.append(w)
        return True


def obj_plural(obj: dict) -> str:
    for plural, (g, v, kind) in RESOURCES.items():
        if kind == obj.get("kind"):
            return plural
    return ""


# --------------------------------------------------------------------------- the API

class API:
    """Request handling on parsed requests; `Cluster` does the controllers' work."""

    def __init__(self, store: Store, cluster: "Cluster"):
        self.store = store
        self.cluster = cluster
        self.forbidden: set[tuple[str, str]] = set()   # (verb, plural) answered 403
        self.fail_next: list[int] = []                  # statuses to answer the next writes with

    def handle(self, method: str, path: str, headers: dict, body: bytes):
        """Returns (status, body_dict) for unary requests, or ('watch', params) for watches."""
        url = urlsplit(path)
        q = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        lm = LOG_RE.match(unquote(url.path))
        if lm and method == "GET":
            return "log", self.pod_log(lm.group("ns"), lm.group("name"), q)
        m = PATH_RE.match(unquote(url.path))
        if not m:
            raise APIError(404, "NotFound", f"the server could not find the requested resource ({url.path})")
        plural = m.group("plural")
        group = m.group("g") or ""
        version = m.group("cv") or m.group("gv")
        if plural not in RESOURCES or RESOURCES[plural][:2] != (group, version):
            raise APIError(404, "NotFound", f"the server could not find the requested resource ({url.path})")
        ns, name = m.group("ns"), m.group("name")
        verb = {"GET": "get" if name else ("watch" if q.get("watch") in ("1", "true") else "list"),
                "POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}.get(method)
        if verb is None:
            raise APIError(405, "MethodNotAllowed", f"{method} is not supported")
        if (verb, plural) in self.forbidden:
            g = RESOURCES[plural][0]
            raise APIError(403, "Forbidden", f'{plural}{"." + g if g else ""} is forbidden: User '
                           f'"system:serviceaccount:{ns}:byoc-gateway" cannot {verb} resource "{plural}" in API group '
                           f'"{g}" in the namespace "{ns}"')
        if verb in ("create", "update", "patch", "delete"):
            self.store.writes.append({"verb": verb, "resource": plural, "name": name or "", "time": time.time(),
                                      "token": headers.get("authorization", "").removeprefix("Bearer ")})
            if self.fail_next:
                code = self.fail_next.pop(0)
                raise APIError(code, {429: "TooManyRequests", 500: "InternalError", 503: "ServiceUnavailable"}.get(code, "Unknown"),
                               "injected failure")
        if verb == "watch":
            return "watch", {"plural": plural, "ns": ns,
                             "selector": parse_selector(q.get("labelSelector")) + parse_field_selector(q.get("fieldSelector")),
                             "rv": q.get("resourceVersion") or None, "timeout": int(q.get("timeoutSeconds") or 1800),
                             "bookmarks": q.get("allowWatchBookmarks") in ("true", "1")}
        if verb == "list":
            items = self.store.list(plural, ns, parse_selector(q.get("labelSelector"))
                                    + parse_field_selector(q.get("fieldSelector")))
            return 200, {"kind": RESOURCES[plural][2] + "List", "apiVersion": api_version(plural),
                         "metadata": {"resourceVersion": str(self.store.rv)}, "items": items}
        if verb == "get":
            obj = self.store.get(plural, ns, name)
            if obj is None:
                raise not_found(plural, name)
            return 200, obj
        if verb == "delete":
            obj = self.store.remove(plural, ns, name)
            if obj is None:
                raise not_found(plural, name)
            self.cluster.deleted(plural, obj)
            return 200, obj
        try:
            payload = json.loads(body or b"{}")
        except ValueError:
            try:
                import yaml
                payload = yaml.safe_load(body)
            except Exception as e:  # noqa
                raise APIError(400, "BadRequest", f"the body is neither JSON nor YAML: {e}")
        if not isinstance(payload, dict):
            raise APIError(400, "BadRequest", "the body must be an object")
        if verb == "create":
            return 201, self.create(plural, ns, payload, q.get("fieldManager", "unknown"))
        if verb == "update":
            return 200, self.update(plural, ns, name, payload, q.get("fieldManager", "unknown"))
        ctype = headers.get("content-type", "")
        if ctype.startswith("application/apply-patch"):
            if "fieldManager" not in q:
                raise APIError(400, "BadRequest", "PATCH /apply requires fieldManager")
            return self.apply(plural, ns, name, payload, q["fieldManager"], q.get("force") == "true")
        if ctype.startswith(("application/merge-patch+json", "application/strategic-merge-patch+json")):
            old = self.store.get(plural, ns, name)
            if old is None:
                raise not_found(plural, name)
            return 200, self.write(plural, ns, name, merge(old, payload), old, q.get("fieldManager", "unknown"), "Update")
        raise APIError(415, "UnsupportedMediaType", f"the body of the request was in an unknown format - accepted media "
                       f"types include: application/apply-patch+yaml, application/merge-patch+json (got {ctype})")

    def pod_log(self, ns, name, q):
        """The pods/log subresource as the kubelet answers it: the container's output (the
        echo process's file), `tailLines`, `timestamps` (RFC 3339 nano prefix), `follow`, and
        `previous` (the last terminated run; the fake never restarts a container, so that is
        the run that crashed)."""
        obj = self.store.get("pods", ns, name)
        if obj is None:
            raise not_found("pods", name)
        cs = (obj.get("status") or {}).get("containerStatuses") or [{}]
        container = obj["spec"]["containers"][0]["name"]
        if q.get("container") not in (None, container):
            raise APIError(400, "BadRequest", f'container {q["container"]} is not valid for pod {name}')
        pod = self.cluster.pods.get((ns, name))
        previous = q.get("previous") in ("true", "1")
        if previous:
            if "terminated" not in (cs[0].get("lastState") or {}) or pod is None or pod.log is None:
                raise APIError(400, "BadRequest", f'previous terminated container "{container}" in pod "{name}" not found')
        else:
            waiting = (cs[0].get("state") or {}).get("waiting")
            if pod is None or pod.log is None or (waiting and "terminated" not in (cs[0].get("lastState") or {})):
                reason = (waiting or {}).get("reason", "ContainerCreating")
                raise APIError(400, "BadRequest", f'container "{container}" in pod "{name}" is waiting to start: {reason}')
        tail = q.get("tailLines")
        try:
            tail = int(tail) if tail not in (None, "") else None
        except ValueError:
            raise APIError(400, "BadRequest", f"invalid tailLines {tail!r}")
        return {"ns": ns, "pod": pod, "tail": tail, "timestamps": q.get("timestamps") in ("true", "1"),
                "follow": q.get("follow") in ("true", "1") and not previous}

    def check_identity(self, plural, ns, name, obj):
        kind = RESOURCES[plural][2]
        if obj.get("kind") not in (None, kind) or obj.get("apiVersion") not in (None, api_version(plural)):
            raise APIError(400, "BadRequest", f"the object kind/apiVersion {obj.get('kind')}/{obj.get('apiVersion')} "
                           f"does not match {kind}/{api_version(plural)}")
        meta = obj.setdefault("metadata", {})
        if name is not None and meta.get("name", name) != name:
            raise APIError(400, "BadRequest", f"the name of the object ({meta.get('name')}) does not match the name on the URL ({name})")
        if meta.get("namespace", ns) != ns:
            raise APIError(400, "BadRequest", "the namespace of the object does not match the namespace on the URL")
        obj["kind"] = kind
        obj["apiVersion"] = api_version(plural)
        meta["namespace"] = ns
        if name is not None:
            meta["name"] = name

    def write(self, plural, ns, name, obj, old, manager, operation):
        """Validates and stores `obj` (full object) replacing `old` (None = create)."""
        self.check_identity(plural, ns, name, obj)
        meta = obj["metadata"]
        if old is None:
            meta["uid"] = str(uuid.uuid4())
            meta["creationTimestamp"] = now_rfc3339()
            meta["generation"] = 1
        else:
            for k in ("uid", "creationTimestamp"):
                meta[k] = old["metadata"][k]
            gen = old["metadata"].get("generation", 1)
            meta["generation"] = gen + 1 if spec_part(obj) != spec_part(old) else gen
            if "status" in old and "status" not in obj:
                obj["status"] = old["status"]
        if plural == "deployments" and old is not None:
            if (obj.get("spec") or {}).get("selector") != (old.get("spec") or {}).get("selector"):
                raise invalid(plural, meta["name"], "spec.selector", "Invalid value: field is immutable")
        managed = [f for f in (old or {}).get("metadata", {}).get("managedFields", []) if f.get("manager") != manager]
        managed.append({"manager": manager, "operation": operation, "apiVersion": api_version(plural),
                        "time": now_rfc3339(), "fieldsType": "FieldsV1", "fieldsV1": {}})
        meta["managedFields"] = managed
        meta.pop("resourceVersion", None)
        check = copy.deepcopy(obj)
        check["metadata"]["resourceVersion"] = "1"
        try:
            validation.validate(check)
        except validation.Invalid as e:
            raise invalid(plural, meta["name"], e.field, e.message)
        stored = self.store.put(plural, obj, "ADDED" if old is None else "MODIFIED", old)
        self.cluster.changed(plural, stored)
        return stored

    def create(self, plural, ns, obj, manager):
        self.check_identity(plural, ns, None, obj)
        name = obj["metadata"].get("name")
        if not name:
            raise invalid(plural, "", "metadata.name", "Required value: name or generateName is required")
        if self.store.get(plural, ns, name) is not None:
            raise APIError(409, "AlreadyExists", f'{kind_group(plural)} "{name}" already exists',
                           {"name": name, "kind": plural})
        obj["metadata"].pop("resourceVersion", None)
        return self.write(plural, ns, name, obj, None, manager, "Update")

    def update(self, plural, ns, name, obj, manager):
        old = self.store.get(plural, ns, name)
        if old is None:
            raise not_found(plural, name)
        rv = (obj.get("metadata") or {}).get("resourceVersion")
        if rv and rv != old["metadata"]["resourceVersion"]:
            raise APIError(409, "Conflict", f'Operation cannot be fulfilled on {kind_group(plural)} "{name}": the object '
                           "has been modified; please apply your changes to the latest version and try again",
                           {"name": name, "kind": plural})
        return self.write(plural, ns, name, obj, old, manager, "Update")

    def apply(self, plural, ns, name, obj, manager, force):
        old = self.store.get(plural, ns, name)
        if old is None:
            obj.get("metadata", {}).pop("resourceVersion", None)
            return 201, self.write(plural, ns, name, copy.deepcopy(obj), None, manager, "Apply")
        merged = merge(old, {k: v for k, v in obj.items() if k != "status"})
        if merged == old:  # a no-op apply writes nothing (no new resourceVersion)
            return 200, old
        return 200, self.write(plural, ns, name, merged, old, manager, "Apply")


def kind_group(plural):
    g = RESOURCES[plural][0]
    return f"{plural}.{g}" if g else plural


def not_found(plural, name):
    return APIError(404, "NotFound", f'{kind_group(plural)} "{name}" not found', {"name": name, "kind": plural})


def invalid(plural, name, fld, message):
    kind = RESOURCES[plural][2]
    g = RESOURCES[plural][0]
    qualified = f"{kind}.{g}" if g else kind
    return APIError(422, "Invalid", f'{qualified} "{name}" is invalid: {fld}: {message}',
                    {"name": name, "kind": kind, "causes": [{"reason": "FieldValueInvalid", "message": message, "field": fld}]})


# --------------------------------------------------------------------------- controllers

@dataclass
class FakePod:
    name: str
    deployment: str
    template_hash: str
    model: str
    version: str
    bad_image: bool
    crash: bool = False
    env: dict | None = None
    termination_policy: str = "File"
    process: asyncio.subprocess.Process | None = None
    port: int = 0
    ready: bool = False
    log: Path | None = None


class Cluster:
    """The controllers: Deployment -> pods (real echo processes) -> EndpointSlices, status."""

    def __init__(self, store: Store, echo_bin: str | None, state_dir: Path):
        self.store = store
        self.echo_bin = echo_bin
        self.state_dir = state_dir
        self.pods: dict[tuple[str, str], FakePod] = {}  # (ns, pod name) -> pod
        self.dirty = False
        self.counter = 0
        self.ns_dirty: set[str] = set()
        self.busy = False
        self.processes: set = set()

    # hooks from the API
    def changed(self, plural, obj):
        if plural in ("deployments", "horizontalpodautoscalers", "services"):
            self.schedule(obj["metadata"]["namespace"])

    def deleted(self, plural, obj):
        if plural in ("deployments", "horizontalpodautoscalers", "services"):
            self.schedule(obj["metadata"]["namespace"])

    def schedule(self, ns):
        self.ns_dirty.add(ns)
        if not self.dirty:
            self.dirty = True
            asyncio.get_event_loop().call_soon(self.sync)

    def sync(self):
        self.dirty = False
        for ns in list(self.ns_dirty):
            self.ns_dirty.discard(ns)
            self.sync_namespace(ns)

    def sync_namespace(self, ns):
        deployments = {n: o for (n_ns, n), o in self.store.objects["deployments"].items() if n_ns == ns}
        hpas = [o for (n_ns, _), o in self.store.objects["horizontalpodautoscalers"].items() if n_ns == ns]
        # pods of deleted deployments / old templates / surplus
        for (pns, pname), pod in list(self.pods.items()):
            if pns != ns:
                continue
            dep = deployments.get(pod.deployment)
            if dep is None or template_hash(dep) != pod.template_hash:
                self.kill_pod(ns, pod)
        for dname, dep in deployments.items():
            desired = (dep.get("spec") or {}).get("replicas", 1)
            for hpa in hpas:
                ref = (hpa.get("spec") or {}).get("scaleTargetRef") or {}
                if ref.get("kind") == "Deployment" and ref.get("name") == dname:
                    lo = hpa["spec"].get("minReplicas", 1)
                    hi = hpa["spec"]["maxReplicas"]
                    desired = max(lo, min(hi, desired))
            mine = sorted([p for (pns, _), p in self.pods.items() if pns == ns and p.deployment == dname],
                          key=lambda p: p.name)
            for pod in mine[desired:]:
                self.kill_pod(ns, pod)
            for _ in range(desired - len(mine)):
                self.start_pod(ns, dep)
            self.update_status(ns, dname)
        self.sync_slices(ns)

    def start_pod(self, ns, dep):
        self.counter += 1
        h = template_hash(dep)
        name = f"{dep['metadata']['name']}-{h}-{self.counter:05d}"[:63]
        tmpl = dep["spec"]["template"]
        container = tmpl["spec"]["containers"][0]
        env = {e["name"]: e.get("value", "") for e in container.get("env") or []}
        pod = FakePod(name=name, deployment=dep["metadata"]["name"], template_hash=h,
                      model=env.get("BYOC_MODEL", "model"), version=env.get("BYOC_VERSION", "1"),
                      bad_image=container["image"].startswith("bad/"), crash=container["image"].startswith("crash/"),
                      env=env, termination_policy=container.get("terminationMessagePolicy", "File"))
        self.pods[(ns, name)] = pod
        labels = dict((tmpl.get("metadata") or {}).get("labels") or {})
        labels["pod-template-hash"] = h
        obj = {"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": name, "namespace": ns, "labels": labels, "uid": str(uuid.uuid4()),
                            "creationTimestamp": now_rfc3339(),
                            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": f"{pod.deployment}-{h}",
                                                 "uid": dep["metadata"]["uid"], "controller": True}]},
               "spec": copy.deepcopy(tmpl["spec"]),
               "status": {"phase": "Pending", "conditions": [{"type": "Ready", "status": "False"}],
                          "containerStatuses": [{"name": container["name"], "image": container["image"], "imageID": "",
                                                 "ready": False, "restartCount": 0, "started": False,
                                                 "state": {"waiting": {"reason": "ContainerCreating"}}}]}}
        self.store.put("pods", obj, "ADDED")
        asyncio.ensure_future(self.run_pod(ns, pod))

    async def run_pod(self, ns, pod: FakePod):
        if pod.bad_image:
            await asyncio.sleep(0.3)
            self.set_waiting(ns, pod, "ErrImagePull", 'failed to pull and unpack image: not found')
            await asyncio.sleep(1.5)
            self.set_waiting(ns, pod, "ImagePullBackOff", 'Back-off pulling image: not found')
            return
        if not self.echo_bin:
            return
        pod.log = self.state_dir / f"{pod.name}.log"
        logf = open(pod.log, "wb")
        if pod.crash:
            argv = ["/bin/sh", "-c", 'echo starting; echo "$CRASH_MESSAGE" >&2; exit 1']
            env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **(pod.env or {})}
        else:
            argv = [self.echo_bin, "--listen", "127.0.0.1:0", "--model", pod.model, "--version", pod.version,
                    "--id", pod.name, "--workers", "1"]
            env = None
        try:
            pod.process = await asyncio.create_subprocess_exec(
                *argv, stdin=asyncio.subprocess.DEVNULL, stdout=logf, stderr=logf, env=env)
        finally:
            logf.close()
        self.processes.add(pod.process)
        for _ in range(600):
            if (ns, pod.name) not in self.pods:
                self.kill_process(pod)
                return
            m = re.search(r"listening on \S+:(\d+)", pod.log.read_text(errors="replace"))
            if m:
                pod.port = int(m.group(1))
                break
            if pod.process.returncode is not None:
                self.set_terminated(ns, pod, pod.process.returncode)
                self.set_waiting(ns, pod, "CrashLoopBackOff", "back-off 10s restarting failed container")
                return
            await asyncio.sleep(0.05)
        else:
            return
        if (ns, pod.name) not in self.pods:
            self.kill_process(pod)
            return
        pod.ready = True
        obj = copy.deepcopy(self.store.get("pods", ns, pod.name))
        if obj is None:
            return
        obj["status"] = {"phase": "Running", "podIP": "127.0.0.1", "hostIP": "127.0.0.1",
                         "conditions": [{"type": "Ready", "status": "True"}, {"type": "ContainersReady", "status": "True"}],
                         "containerStatuses": [{"name": obj["spec"]["containers"][0]["name"],
                                                "image": obj["spec"]["containers"][0]["image"], "imageID": "",
                                                "ready": True, "restartCount": 0, "started": True,
                                                "state": {"running": {"startedAt": now_rfc3339()}}}]}
        self.store.put("pods", obj, "MODIFIED", self.store.get("pods", ns, pod.name))
        self.update_status(ns, pod.deployment)
        self.sync_slices(ns)

    def set_waiting(self, ns, pod, reason, message):
        obj = self.store.get("pods", ns, pod.name)
        if obj is None:
            return
        new = copy.deepcopy(obj)
        cs = new["status"]["containerStatuses"][0]
        cs["state"] = {"waiting": {"reason": reason, "message": message}}
        self.store.put("pods", new, "MODIFIED", obj)

    def set_terminated(self, ns, pod, exit_code):
        """Records the container's last run as the kubelet does: lastState.terminated, with the
        log's tail as the message when the policy is FallbackToLogsOnError and the run failed."""
        obj = self.store.get("pods", ns, pod.name)
        if obj is None:
            return
        new = copy.deepcopy(obj)
        cs = new["status"]["containerStatuses"][0]
        terminated = {"exitCode": exit_code, "reason": "Error" if exit_code else "Completed",
                      "startedAt": now_rfc3339(), "finishedAt": now_rfc3339()}
        if pod.termination_policy == "FallbackToLogsOnError" and exit_code != 0 and pod.log:
            tail = "\n".join(pod.log.read_text(errors="replace").splitlines()[-80:])
            terminated["message"] = tail.encode()[-2048:].decode(errors="replace")
        cs["lastState"] = {"terminated": terminated}
        cs["restartCount"] = cs.get("restartCount", 0) + 1
        self.store.put("pods", new, "MODIFIED", obj)

    def kill_pod(self, ns, pod: FakePod):
        self.pods.pop((ns, pod.name), None)
        self.kill_process(pod)
        self.store.remove("pods", ns, pod.name)

    def kill_process(self, pod: FakePod):
        if pod.process and pod.process.returncode is None:
            try:
                pod.process.kill()
            except ProcessLookupError:
                pass
        self.processes.discard(pod.process)

    def update_status(self, ns, dname):
        dep = self.store.get("deployments", ns, dname)
        if dep is None:
            return
        pods = [p for (pns, _), p in self.pods.items() if pns == ns and p.deployment == dname]
        ready = sum(1 for p in pods if p.ready)
        desired = len(pods)
        st = {"observedGeneration": dep["metadata"].get("generation", 1), "replicas": desired,
              "updatedReplicas": desired, "readyReplicas": ready, "availableReplicas": ready,
              "conditions": [
                  {"type": "Available", "status": "True" if ready >= max(1, desired) else "False",
                   "reason": "MinimumReplicasAvailable" if ready >= max(1, desired) else "MinimumReplicasUnavailable",
                   "message": "Deployment has minimum availability." if ready >= max(1, desired)
                   else "Deployment does not have minimum availability."},
                  {"type": "Progressing", "status": "True",
                   "reason": "NewReplicaSetAvailable" if ready >= desired else "ReplicaSetUpdated",
                   "message": f'ReplicaSet "{dname}" is progressing.'}]}
        if desired - ready:
            st["unavailableReplicas"] = desired - ready
        if ready == 0:
            st.pop("readyReplicas")
            st.pop("availableReplicas")
        if dep.get("status") == st:
            return
        new = copy.deepcopy(dep)
        new["status"] = st
        self.store.put("deployments", new, "MODIFIED", dep)

    def sync_slices(self, ns):
        """One EndpointSlice per (Service, ready pod it selects)."""
        want = {}
        for (sns, sname), svc in self.store.objects["services"].items():
            if sns != ns:
                continue
            selector = [("eq", k, v) for k, v in ((svc.get("spec") or {}).get("selector") or {}).items()]
            if not selector:
                continue
            port_name = ((svc["spec"].get("ports") or [{}])[0]).get("name", "")
            for (pns, pname), pod in self.pods.items():
                podobj = self.store.get("pods", ns, pname)
                if pns != ns or not pod.ready or not matches(selector, podobj):
                    continue
                suffix = hashlib.sha1(pname.encode()).hexdigest()[:5]
                name = f"{sname[:57]}-{suffix}"
                labels = {k: v for k, v in ((svc.get("metadata") or {}).get("labels") or {}).items()}
                labels["kubernetes.io/service-name"] = sname
                labels["endpointslice.kubernetes.io/managed-by"] = "endpointslice-controller.k8s.io"
                want[name] = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                              "metadata": {"name": name, "namespace": ns, "labels": labels},
                              "addressType": "IPv4",
                              "endpoints": [{"addresses": ["127.0.0.1"],
                                             "conditions": {"ready": True, "serving": True, "terminating": False},
                                             "targetRef": {"kind": "Pod", "name": pname, "namespace": ns}}],
                              "ports": [{"name": port_name, "port": pod.port, "protocol": "TCP"}]}
        have = {n: o for (n_ns, n), o in self.store.objects["endpointslices"].items() if n_ns == ns}
        for name, obj in have.items():
            if name not in want:
                self.store.remove("endpointslices", ns, name)
        for name, obj in want.items():
            old = have.get(name)
            if old is not None and spec_part(old) == spec_part(obj) and old["metadata"].get("labels") == obj["metadata"]["labels"]:
                continue
            if old is not None:
                obj["metadata"]["uid"] = old["metadata"]["uid"]
                obj["metadata"]["creationTimestamp"] = old["metadata"]["creationTimestamp"]
            else:
                obj["metadata"]["uid"] = str(uuid.uuid4())
                obj["metadata"]["creationTimestamp"] = now_rfc3339()
            obj["metadata"]["generation"] = 1
            validation.validate(dict(obj, metadata=dict(obj["metadata"], resourceVersion="1")))
            self.store.put("endpointslices", obj, "MODIFIED" if old else "ADDED", old)

    def wipe(self, ns):
        for (pns, _), pod in list(self.pods.items()):
            if pns == ns:
                self.kill_pod(ns, pod)
        for plural in RESOURCES:
            for (ons, name) in list(self.store.objects[plural]):
                if ons == ns:
                    self.store.remove(plural, ns, name)

    def stop_all(self):
        for process in list(self.processes):
            if process.returncode is None:
                try:
                    process.kill()
                except ProcessLookupError:
                    pass


def template_hash(dep) -> str:
    t = json.dumps((dep.get("spec") or {}).get("template"), sort_keys=True)
    return hashlib.sha1(t.encode()).hexdigest()[:8]


# --------------------------------------------------------------------------- HTTP/2 server

class H2Protocol(asyncio.Protocol):
    def __init__(self, server: "FakeServer"):
        self.server = server
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False, header_encoding="utf-8"))
        self.transport = None
        self.requests: dict[int, dict] = {}
        self.outbox: dict[int, bytearray] = {}
        self.ending: set[int] = set()
        self.watches: dict[int, Watch] = {}
        self.timers: dict[int, asyncio.TimerHandle] = {}
        self.log_tasks: set[asyncio.Future] = set()   # followed pod logs
        self.closed = False

    def connection_made(self, transport):
        self.transport = transport
        ssl_obj = transport.get_extra_info("ssl_object")
        if ssl_obj is not None and ssl_obj.selected_alpn_protocol() != "h2":
            transport.close()
            return
        self.server.connections.add(self)
        self.conn.initiate_connection()
        self.flush()

    def connection_lost(self, exc):
        self.closed = True
        self.server.connections.discard(self)
        for sid in list(self.watches):
            self.drop_watch(sid)

    def data_received(self, data):
        try:
            events = self.conn.receive_data(data)
        except h2.exceptions.ProtocolError:
            self.flush()
            self.transport.close()
            return
        for ev in events:
            if isinstance(ev, h2.events.RequestReceived):
                self.requests[ev.stream_id] = {"headers": dict(ev.headers), "body": bytearray()}
            elif isinstance(ev, h2.events.DataReceived):
                if ev.stream_id in self.requests:
                    self.requests[ev.stream_id]["body"] += ev.data
                self.conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
            elif isinstance(ev, h2.events.StreamEnded):
                req = self.requests.pop(ev.stream_id, None)
                if req is not None:
                    self.dispatch(ev.stream_id, req)
            elif isinstance(ev, h2.events.StreamReset):
                self.requests.pop(ev.stream_id, None)
                self.outbox.pop(ev.stream_id, None)
                self.drop_watch(ev.stream_id)
            elif isinstance(ev, h2.events.WindowUpdated):
                self.pump()
            elif isinstance(ev, h2.events.ConnectionTerminated):
                self.transport.close()
        self.flush()

    def flush(self):
        if not self.closed:
            data = self.conn.data_to_send()
            if data:
                self.transport.write(data)

    def pump(self):
        for sid in list(self.outbox):
            buf = self.outbox[sid]
            try:
                while buf:
                    window = min(self.conn.local_flow_control_window(sid), self.conn.max_outbound_frame_size)
                    if window <= 0:
                        break
                    chunk = bytes(buf[:window])
                    del buf[:window]
                    self.conn.send_data(sid, chunk)
                if not buf and sid in self.ending:
                    self.ending.discard(sid)
                    del self.outbox[sid]
                    self.conn.end_stream(sid)
            except (h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError, KeyError):
                self.outbox.pop(sid, None)
                self.ending.discard(sid)
        self.flush()

    def respond(self, sid, code: int, body: dict, extra_headers=()):
        data = json.dumps(body, separators=(",", ":")).encode()
        try:
            self.conn.send_headers(sid, [(":status", str(code)), ("content-type", "application/json"),
                                         ("content-length", str(len(data))), *extra_headers])
        except h2.exceptions.ProtocolError:
            return
        self.outbox[sid] = bytearray(data)
        self.ending.add(sid)
        self.pump()

    def dispatch(self, sid, req):
        h = req["headers"]
        self.server.requests += 1
        try:
            result = self.server.api.handle(h.get(":method", ""), h.get(":path", ""), h, bytes(req["body"]))
        except APIError as e:
            extra = [("retry-after", "1")] if e.code == 429 else []
            self.respond(sid, e.code, e.body, extra)
            return
        except Exception as e:  # a bug in the fake: make it visible
            import traceback
            traceback.print_exc()
            self.respond(sid, 500, status(500, "InternalError", f"fake server error: {e!r}"))
            return
        if result[0] == "watch":
            self.start_watch(sid, result[1])
        elif result[0] == "log":
            self.start_log(sid, result[1])
        else:
            self.respond(sid, result[0], result[1])

    def start_watch(self, sid, p):
        since = None
        if p["rv"] not in (None, "", "0"):
            try:
                since = int(p["rv"])
            except ValueError:
                self.respond(sid, 400, status(400, "BadRequest", f"invalid resourceVersion {p['rv']}"))
                return
        self.conn.send_headers(sid, [(":status", "200"), ("content-type", "application/json")])
        self.outbox[sid] = bytearray()

        def send(line: bytes) -> bool:
            if self.closed or sid not in self.outbox:
                return False
            self.outbox[sid] += line
            self.pump()
            return True

        w = Watch(plural=p["plural"], ns=p["ns"], selector=p["selector"], send=send)
        w.bookmarks = p["bookmarks"]
        store = self.server.store
        if not store.start_watch(w, since):
            send(json.dumps({"type": "ERROR", "object": status(410, "Expired",
                             f"too old resource version: {since} ({store.compacted})")}).encode() + b"\n")
            self.ending.add(sid)
            self.pump()
            return
        self.watches[sid] = w
        self.timers[sid] = asyncio.get_event_loop().call_later(p["timeout"], self.end_watch, sid)
        self.flush()

    def start_log(self, sid, p):
        """Streams a pod's log (text/plain): the tail, then with follow new lines as the process
        writes them, until the pod goes away or its process exits."""
        self.conn.send_headers(sid, [(":status", "200"), ("content-type", "text/plain")])
        self.outbox[sid] = bytearray()
        pod = p["pod"]
        cluster = self.server.cluster

        def stamp(line: bytes) -> bytes:
            if not p["timestamps"]:
                return line + b"\n"
            t = time.time()
            return (time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int((t % 1) * 1e9):09d}Z ").encode() + line + b"\n"

        def send(data: bytes) -> bool:
            if self.closed or sid not in self.outbox:
                return False
            self.outbox[sid] += data
            self.pump()
            return True

        data = pod.log.read_bytes()
        complete, _, rest = data.rpartition(b"\n")
        lines = complete.split(b"\n") if complete or data.startswith(b"\n") else []
        if p["tail"] is not None:
            lines = lines[-p["tail"]:] if p["tail"] > 0 else []
        send(b"".join(stamp(line) for line in lines))
        if not p["follow"]:
            self.ending.add(sid)
            self.pump()
            return

        async def follow(offset: int, partial: bytes):
            while sid in self.outbox and not self.closed:
                await asyncio.sleep(0.1)
                alive = (p["ns"], pod.name) in cluster.pods and pod.process is not None and pod.process.returncode is None
                try:
                    with open(pod.log, "rb") as f:
                        f.seek(offset)
                        chunk = f.read()
                except OSError:
                    chunk = b""
                offset += len(chunk)
                partial += chunk
                if b"\n" in partial:
                    done, _, partial = partial.rpartition(b"\n")
                    if not send(b"".join(stamp(line) for line in done.split(b"\n"))):
                        return
                if not alive:
                    break
            if sid in self.outbox:
                self.ending.add(sid)
                self.pump()

        self.log_tasks.add(asyncio.ensure_future(follow(len(data), rest)))
        for task in [t for t in self.log_tasks if t.done()]:
            self.log_tasks.discard(task)

    def end_watch(self, sid):
        w = self.watches.pop(sid, None)
        self.timers.pop(sid, None)
        if w is None:
            return
        w.alive = False
        if w in self.server.store.watches:
            self.server.store.watches.remove(w)
        if sid in self.outbox:
            self.ending.add(sid)
            self.pump()

    def drop_watch(self, sid):
        w = self.watches.pop(sid, None)
        t = self.timers.pop(sid, None)
        if t:
            t.cancel()
        if w is not None:
            w.alive = False
            if w in self.server.store.watches:
                self.server.store.watches.remove(w)

    def break_watches(self, mode: str):
        for sid in list(self.watches):
            self.drop_watch(sid)
            self.outbox.pop(sid, None)
            self.ending.discard(sid)
            if mode == "reset":
                try:
                    self.conn.reset_stream(sid, h2.errors.ErrorCodes.INTERNAL_ERROR)
                except h2.exceptions.ProtocolError:
                    pass
        self.flush()
        if mode == "close":
            self.transport.close()

    def bookmark(self):
        for sid, w in list(self.watches.items()):
            if getattr(w, "bookmarks", False):
                g, v, kind = RESOURCES[w.plural]
                w.send(json.dumps({"type": "BOOKMARK", "object": {
                    "kind": kind, "apiVersion": api_version(w.plural),
                    "metadata": {"resourceVersion": str(self.server.store.rv)}}}).encode() + b"\n")


# --------------------------------------------------------------------------- control API (HTTP/1.1)

class Control:
    """Test control on HTTP/1.1, JSON in and out:
    GET  /objects/<plural>[?ns=NS]      the stored objects
    GET  /writes                        every write (verb, resource, name, token, time)
    GET  /pods                          the fake pods (name, deployment, port, ready, pid)
    GET  /stats                         counters (requests, watches, rv, compacted)
    POST /wipe [{"ns": NS}]             delete every object and pod of the namespace
    POST /break-watches {"mode": "reset"|"close"}   break every watch mid-stream
    POST /compact                       forget history: resuming any older watch gets 410
    POST /edit {"resource", "name", "patch", "ns"}  JSON merge patch behind the gateway's back
    POST /create {"resource", "object", "ns"}       create an object behind the gateway's back
    POST /delete {"resource", "name", "ns"}         delete an object behind the gateway's back
    POST /forbid {"verb", "resource"}   answer that verb on that resource with 403
    POST /fail-next {"statuses": [..]}  answer the next writes with these HTTP statuses
    """

    def __init__(self, server: "FakeServer"):
        self.server = server

    async def handle(self, reader, writer):
        try:
            line = await reader.readline()
            method, target, _ = line.decode().split(" ", 2)
            headers = {}
            while True:
                h = await reader.readline()
                if h in (b"\r\n", b"\n", b""):
                    break
                k, _, v = h.decode().partition(":")
                headers[k.strip().lower()] = v.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0") or 0))
            code, result = self.route(method, target, json.loads(body) if body else {})
        except APIError as e:
            code, result = e.code, e.body
        except Exception as e:  # noqa
            import traceback
            traceback.print_exc()
            code, result = 500, {"error": repr(e)}
        data = json.dumps(result).encode()
        writer.write(f"HTTP/1.1 {code} X\r\ncontent-type: application/json\r\ncontent-length: {len(data)}\r\n"
                     f"connection: close\r\n\r\n".encode() + data)
        await writer.drain()
        writer.close()

    def route(self, method, target, body):
        s = self.server
        url = urlsplit(target)
        q = {k: v[-1] for k, v in parse_qs(url.query).items()}
        ns = body.get("ns") or q.get("ns") or "default"
        path = url.path
        if method == "GET" and path.startswith("/objects/"):
            plural = path.split("/")[2]
            return 200, s.store.list(plural, ns, parse_selector(q.get("labelSelector")))
        if method == "GET" and path == "/writes":
            return 200, s.store.writes
        if method == "GET" and path == "/pods":
            return 200, [{"name": p.name, "deployment": p.deployment, "port": p.port, "ready": p.ready,
                          "pid": p.process.pid if p.process else None, "model": p.model, "version": p.version}
                         for p in s.cluster.pods.values()]
        if method == "GET" and path == "/stats":
            return 200, {"requests": s.requests, "watches": len(s.store.watches), "rv": s.store.rv,
                         "compacted": s.store.compacted, "connections": len(s.connections)}
        if method != "POST":
            return 404, {"error": f"no {method} {path}"}
        if path == "/wipe":
            s.cluster.wipe(ns)
            return 200, {"ok": True}
        if path == "/break-watches":
            mode = body.get("mode", "reset")
            for c in list(s.connections):
                c.break_watches(mode)
            return 200, {"ok": True}
        if path == "/compact":
            s.store.compacted = s.store.rv
            s.store.history.clear()
            return 200, {"compacted": s.store.compacted}
        if path == "/edit":
            old = s.store.get(body["resource"], ns, body["name"])
            if old is None:
                return 404, {"error": "not found"}
            stored = s.api.write(body["resource"], ns, body["name"], merge(old, body["patch"]), old, "kubectl-edit", "Update")
            return 200, stored
        if path == "/create":
            obj = body["object"]
            return 201, s.api.create(body["resource"], ns, obj, "kubectl-create")
        if path == "/delete":
            obj = s.store.remove(body["resource"], ns, body["name"])
            if obj is not None:
                s.cluster.deleted(body["resource"], obj)
            return 200, {"deleted": obj is not None}
        if path == "/forbid":
            s.api.forbidden.add((body["verb"], body["resource"]))
            return 200, {"ok": True}
        if path == "/fail-next":
            s.api.fail_next.extend(body["statuses"])
            return 200, {"ok": True}
        return 404, {"error": f"no POST {path}"}


class FakeServer:
    def __init__(self, echo_bin, state_dir: Path, bookmark_interval: float):
        self.store = Store()
        self.cluster = Cluster(self.store, echo_bin, state_dir)
        self.api = API(self.store, self.cluster)
        self.connections: set[H2Protocol] = set()
        self.requests = 0
        self.bookmark_interval = bookmark_interval

    async def bookmarks(self):
        while True:
            await asyncio.sleep(self.bookmark_interval)
            for c in list(self.connections):
                c.bookmark()


def split_hostport(text):
    host, _, port = text.rpartition(":")
    return host.strip("[]") or "127.0.0.1", int(port)


async def main_async(args):
    state_dir = Path(args.state_dir or os.environ.get("TMPDIR", "/tmp")) / f"fake-kube-{os.getpid()}"
    state_dir.mkdir(parents=True, exist_ok=True)
    server = FakeServer(args.echo_bin or os.environ.get("BYOC_ECHO_BIN"), state_dir, args.bookmark_interval)
    ssl_ctx = None
    if args.tls_cert:
        ssl_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ssl_ctx.load_cert_chain(args.tls_cert, args.tls_key)
        ssl_ctx.set_alpn_protocols(["h2"])
    loop = asyncio.get_running_loop()
    host, port = split_hostport(args.listen)
    api_server = await loop.create_server(lambda: H2Protocol(server), host, port, ssl=ssl_ctx)
    chost, cport = split_hostport(args.control)
    control = Control(server)
    control_server = await asyncio.start_server(control.handle, chost, cport)
    a = api_server.sockets[0].getsockname()
    c = control_server.sockets[0].getsockname()
    print(f"control on {c[0]}:{c[1]}", flush=True)
    print(f"listening on {a[0]}:{a[1]}", flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    bookmarks = asyncio.ensure_future(server.bookmarks())
    try:
        await stop.wait()
    finally:
        bookmarks.cancel()
        server.cluster.stop_all()


def main():
    p = argparse.ArgumentParser(description="fake Kubernetes API server (HTTP/2)")
    p.add_argument("--listen", default="127.0.0.1:0")
    p.add_argument("--control", default="127.0.0.1:0")
    p.add_argument("--tls-cert")
    p.add_argument("--tls-key")
    p.add_argument("--echo-bin")
    p.add_argument("--state-dir")
    p.add_argument("--bookmark-interval", type=float, default=2.0)
    args = p.parse_args()
    try:
        asyncio.run(main_async(args))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
