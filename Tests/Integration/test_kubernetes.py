"""The Kubernetes runtime (`byoc-gateway --runtime kubernetes`) against the fake API server in
fake_kube/ (HTTP/2, h2c or TLS; schema validation with kubernetes-validate; pods that are real
byoc-echo-model processes; EndpointSlices per ready pod).

Covers issue 4's "Done when": the objects per model version (valid, labelled, probes, security
context, HPA, PDB), scale / set-default / delete, drift and garbage collection, rebuild after a
restart on an empty cluster, two gateways with a Lease (only the holder writes; failover while
routing), broken watches and 410 Gone, TLS to the API server, Predict balanced per pod.
"""
from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import grpc
import pytest

import harness
from fake_kube import validation

HERE = Path(__file__).resolve().parent
MANAGED = "app.kubernetes.io/managed-by"
KINDS = ("deployments", "services", "horizontalpodautoscalers", "poddisruptionbudgets")
RESYNC_MS = 2000

pytestmark = pytest.mark.timeout(90)


# --------------------------------------------------------------------------- helpers

class FakeKube:
    """The fake API server process and its HTTP/1.1 control API."""

    def __init__(self, procs: harness.Processes, name="fake-kube", tls: tuple[str, str] | None = None):
        argv = [sys.executable, "-m", "fake_kube.server", "--listen", "127.0.0.1:0", "--control", "127.0.0.1:0",
                "--state-dir", str(procs.dir), "--bookmark-interval", "1"]
        if tls:
            argv += ["--tls-cert", tls[0], "--tls-key", tls[1]]
        self.proc = procs.start(name, argv, env={"BYOC_ECHO_BIN": harness.binary("byoc-echo-model"),
                                                 "PYTHONPATH": str(HERE)})
        m = None
        for _ in range(100):
            import re
            m = re.search(r"control on (\S+):(\d+)", self.proc.log())
            if m:
                break
            time.sleep(0.02)
        assert m, self.proc.log_tail()
        self.control = f"http://{m.group(1)}:{m.group(2)}"
        self.url = ("https" if tls else "http") + f"://{self.proc.address}"

    def call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.control + path, data=data, method=method)
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(req, timeout=10) as r:
                return json.loads(r.read())
        except urllib.error.HTTPError as e:
            return json.loads(e.read())

    def objects(self, plural, managed_only=True):
        items = self.call("GET", f"/objects/{plural}")
        return {o["metadata"]["name"]: o for o in items
                if not managed_only or (o["metadata"].get("labels") or {}).get(MANAGED) == "byoc"}

    def names(self, plural):
        return set(self.objects(plural))

    def workload(self):
        return {k: self.names(k) for k in KINDS}

    def pods(self):
        return self.call("GET", "/pods")

    def writes(self):
        return self.call("GET", "/writes")


def start_gateway(procs, fake: FakeKube, db: Path, name="gateway", token="token-a", extra=(), leader=True):
    """A `byoc-gateway --runtime kubernetes` on the fake; with `leader`, waits until it leads."""
    token_file = procs.dir / f"{name}.token"
    token_file.write_text(token + "\n")
    argv = [harness.binary("byoc-gateway"), "--listen", "127.0.0.1:0", "--runtime", "kubernetes",
            "--kube-api", fake.url, "--kube-token-file", str(token_file), "--db", str(db),
            "--state-dir", str(procs.dir / f"{name}-state"), "--workers", "2", "--resync-ms", str(RESYNC_MS),
            "--grace-period-ms", "1000", *extra]
    gw = procs.start(name, argv)
    if leader:
        assert gw.wait_for_log(r"became the leader", 10), gw.log_tail()
    return gw


def admin(procs, gw):
    return harness.admin_stub(procs.channel(gw.address))


def register(stub, model, version, image, **kw):
    pb = harness.pb.admin
    resources = kw.pop("resources", None)
    req = pb.RegisterModelRequest(model=model, version=version, image=image, **kw)
    if resources:
        req.resources.CopyFrom(pb.Resources(**resources))
    return stub.RegisterModel(req, timeout=10)


def version_state(stub, model, version):
    m = stub.GetModel(harness.pb.admin.GetModelRequest(model=model), timeout=10)
    for v in m.versions:
        if v.version == version:
            return harness.state_name(v.state), v.ready_replicas, v.message
    return None, 0, ""


def wait_state(stub, model, version, state="READY", timeout=20.0, ready=None):
    last = None

    def ok():
        nonlocal last
        try:
            last = version_state(stub, model, version)
        except grpc.RpcError as e:
            last = ("rpc error", 0, str(e))
            return False
        return last[0] == state and (ready is None or last[1] == ready)

    assert harness.wait_until(ok, timeout, 0.1), f"{model}/{version}: wanted {state} (ready {ready}), last {last}"
    return last


def served_by_set(procs, gw, model, version="", calls=20):
    stub = harness.pb.inference_grpc.InferenceStub(procs.channel(gw.address))
    seen = []
    for _ in range(calls):
        resp, call = stub.Predict.with_call(harness.predict_request(model, version, b"x"), timeout=5)
        seen.append((resp.version, harness.served_by(call)))
    return seen


def wait_pods_serving(procs, gw, model, version, n, timeout=20.0):
    """Until Predict through the gateway reaches n distinct pods of model/version."""
    seen = set()

    def ok():
        try:
            for v, pod in served_by_set(procs, gw, model, version, calls=4 * n):
                if v == version:
                    seen.add(pod)
        except grpc.RpcError:
            return False
        return len(seen) >= n

    assert harness.wait_until(ok, timeout, 0.1), f"{model}/{version}: reached only {sorted(seen)}"
    return seen


@pytest.fixture
def fake(procs):
    return FakeKube(procs)


# --------------------------------------------------------------------------- tests

def test_objects_per_version_are_valid_and_complete(procs, fake, tmp_path):
    gw = start_gateway(procs, fake, tmp_path / "registry.sqlite")
    stub = admin(procs, gw)
    register(stub, "iris", "1", "example/iris:1", min_replicas=2, max_replicas=4,
             resources={"cpu_request": "250m", "memory_request": "128Mi", "cpu_limit": "1", "memory_limit": "256Mi"},
             env={"MODEL_KIND": "forest"}, port=9000)
    register(stub, "iris", "2.1", "example/iris:2")
    register(stub, "wine", "1", "example/wine:1", min_replicas=1, max_replicas=3, target_cpu_utilization=60)
    for model, version in (("iris", "1"), ("iris", "2.1"), ("wine", "1")):
        wait_state(stub, model, version)

    iris2 = next(n for n in fake.names("deployments") if n.startswith("iris-2-1"))
    assert fake.workload() == {
        "deployments": {"iris-1", iris2, "wine-1"},
        "services": {"iris-1", iris2, "wine-1"},
        "horizontalpodautoscalers": {"iris-1", "wine-1"},
        "poddisruptionbudgets": {"iris-1"},
    }
    assert len(iris2) == len("iris-2-1-") + 8  # a dotted version gets a hash suffix
    for plural in KINDS:
        for name, obj in fake.objects(plural).items():
            validation.validate(obj)  # the fake validated it on write; check once more
            labels = obj["metadata"]["labels"]
            assert labels[MANAGED] == "byoc"
            assert labels["byoc.dev/model"] in ("iris", "wine")
            assert labels["byoc.dev/version"] in ("1", "2.1")
            assert [f["manager"] for f in obj["metadata"]["managedFields"]][-1] == "byoc"

    dep = fake.objects("deployments")["iris-1"]
    assert "replicas" not in dep["spec"]  # the HPA owns replicas
    pod = dep["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    assert c["image"] == "example/iris:1"
    env = {e["name"]: e["value"] for e in c["env"]}
    assert env == {"PORT": "9000", "BYOC_MODEL": "iris", "BYOC_VERSION": "1", "MODEL_KIND": "forest"}
    assert c["ports"] == [{"name": "grpc", "containerPort": 9000, "protocol": "TCP"}]
    assert c["readinessProbe"]["grpc"] == {"port": 9000}
    assert c["resources"] == {"requests": {"cpu": "250m", "memory": "128Mi"}, "limits": {"cpu": "1", "memory": "256Mi"}}
    sc = c["securityContext"]
    assert sc["runAsNonRoot"] is True and sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False and sc["capabilities"] == {"drop": ["ALL"]}
    assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert dep["spec"]["selector"]["matchLabels"] == {"byoc.dev/model": "iris", "byoc.dev/version": "1"}
    assert fake.objects("deployments")[iris2]["spec"]["replicas"] == 1

    svc = fake.objects("services")["iris-1"]
    assert svc["spec"]["clusterIP"] == "None"
    assert svc["spec"]["ports"][0]["name"] == "grpc" and svc["spec"]["ports"][0]["port"] == 9000

    hpa = fake.objects("horizontalpodautoscalers")
    assert (hpa["iris-1"]["spec"]["minReplicas"], hpa["iris-1"]["spec"]["maxReplicas"]) == (2, 4)
    assert hpa["iris-1"]["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "iris-1"}
    target = lambda h: h["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"]  # noqa: E731
    assert target(hpa["iris-1"]) == 80 and target(hpa["wine-1"]) == 60
    assert fake.objects("poddisruptionbudgets")["iris-1"]["spec"]["maxUnavailable"] == 1

    # Predict through the gateway reaches the fake's pods, balanced per request.
    pods = wait_pods_serving(procs, gw, "iris", "1", 2)
    assert pods == {p["name"] for p in fake.pods() if p["deployment"] == "iris-1"}
    seen = served_by_set(procs, gw, "iris", "", calls=40)
    assert {v for v, _ in seen} == {"1"}
    assert all(sum(1 for _, p in seen if p == name) >= 5 for name in pods), seen


def test_pod_options_in_the_applied_deployment(procs, fake, tmp_path):
    gw = start_gateway(procs, fake, tmp_path / "registry.sqlite")
    stub = admin(procs, gw)
    pb = harness.pb.admin
    register(stub, "llm", "1", "example/llm:1", resources={"gpus": 2, "memory_limit": "1Gi"},
             node_selector={"pool": "gpu"}, image_pull_secrets=["regcred"], allow_root=True,
             tolerations=[pb.Toleration(key="nvidia.com/gpu", operator="Exists", effect="NoSchedule"),
                          pb.Toleration(key="pool", operator="Equal", value="ml", effect="NoExecute")])
    register(stub, "plain", "1", "example/plain:1")
    wait_state(stub, "llm", "1")
    wait_state(stub, "plain", "1")

    deps = fake.objects("deployments")
    for dep in deps.values():
        validation.validate(dep)
    pod = deps["llm-1"]["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"pool": "gpu"}
    assert pod["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
                                  {"key": "pool", "operator": "Equal", "value": "ml", "effect": "NoExecute"}]
    assert pod["imagePullSecrets"] == [{"name": "regcred"}]
    assert "runAsNonRoot" not in pod["securityContext"]
    (c,) = pod["containers"]
    assert "runAsNonRoot" not in c["securityContext"] and c["securityContext"]["readOnlyRootFilesystem"] is True
    assert c["resources"] == {"requests": {"cpu": "100m", "nvidia.com/gpu": "2"},
                              "limits": {"memory": "1Gi", "nvidia.com/gpu": "2"}}
    assert c["livenessProbe"]["grpc"] == {"port": 8080} and c["startupProbe"]["grpc"] == {"port": 8080}
    assert c["startupProbe"]["periodSeconds"] * c["startupProbe"]["failureThreshold"] >= 300

    plain = deps["plain-1"]["spec"]["template"]["spec"]
    assert not {"nodeSelector", "tolerations", "imagePullSecrets"} & set(plain)
    assert plain["securityContext"]["runAsNonRoot"] is True
    assert plain["containers"][0]["securityContext"]["runAsNonRoot"] is True
    assert plain["containers"][0]["resources"] == {"requests": {"cpu": "100m", "memory": "128Mi"}}
    # Both serve: the probes and options do not keep the pods from becoming ready.
    wait_pods_serving(procs, gw, "llm", "1", 1)
    wait_pods_serving(procs, gw, "plain", "1", 1)


def test_scale_set_default_delete(procs, fake, tmp_path):
    gw = start_gateway(procs, fake, tmp_path / "registry.sqlite")
    stub = admin(procs, gw)
    pb = harness.pb.admin
    register(stub, "iris", "1", "example/iris:1", min_replicas=2, max_replicas=3)
    register(stub, "iris", "2", "example/iris:2")
    register(stub, "wine", "1", "example/wine:1")
    wait_state(stub, "iris", "1", ready=2)
    wait_state(stub, "iris", "2")
    wait_state(stub, "wine", "1")

    # Scale iris/1 to exactly 1: no HPA, no PDB, replicas 1.
    stub.ScaleModelVersion(pb.ScaleModelVersionRequest(model="iris", version="1", min_replicas=1, max_replicas=1), timeout=10)
    assert harness.wait_until(lambda: "iris-1" not in fake.names("horizontalpodautoscalers")
                              and "iris-1" not in fake.names("poddisruptionbudgets"), 10)
    assert fake.objects("deployments")["iris-1"]["spec"]["replicas"] == 1
    wait_state(stub, "iris", "1", ready=1)
    # ... and up to 3 fixed replicas: PDB back, still no HPA.
    stub.ScaleModelVersion(pb.ScaleModelVersionRequest(model="iris", version="1", min_replicas=3, max_replicas=3), timeout=10)
    wait_state(stub, "iris", "1", ready=3)
    assert "iris-1" in fake.names("poddisruptionbudgets") and "iris-1" not in fake.names("horizontalpodautoscalers")
    wait_pods_serving(procs, gw, "iris", "1", 3)

    # Set default: an empty version now reaches iris/2.
    stub.SetDefaultVersion(pb.SetDefaultVersionRequest(model="iris", version="2"), timeout=10)
    assert harness.wait_until(lambda: {v for v, _ in served_by_set(procs, gw, "iris", calls=4)} == {"2"}, 10)
    routes = json.loads(fake.objects("configmaps", managed_only=True)["byoc-gateway-routes"]["data"]["routes.json"])
    assert routes["models"]["iris"]["default"] == "2"

    # Delete a version and a whole model: nothing of them is left.
    stub.DeleteModel(pb.DeleteModelRequest(model="iris", version="1"), timeout=10)
    stub.DeleteModel(pb.DeleteModelRequest(model="wine"), timeout=10)
    want = {"deployments": {"iris-2"}, "services": {"iris-2"}, "horizontalpodautoscalers": set(),
            "poddisruptionbudgets": set()}
    assert harness.wait_until(lambda: fake.workload() == want, 10), fake.workload()
    assert harness.wait_until(lambda: {p["deployment"] for p in fake.pods()} == {"iris-2"}, 10)
    assert harness.wait_until(lambda: {o["metadata"]["labels"]["kubernetes.io/service-name"]
                                       for o in fake.objects("endpointslices").values()} == {"iris-2"}, 10)
    with pytest.raises(grpc.RpcError) as err:
        served_by_set(procs, gw, "wine", calls=1)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


def test_drift_is_put_back_and_orphans_removed(procs, fake, tmp_path):
    gw = start_gateway(procs, fake, tmp_path / "registry.sqlite")
    stub = admin(procs, gw)
    register(stub, "iris", "1", "example/iris:1", min_replicas=2, max_replicas=4)
    wait_state(stub, "iris", "1", ready=2)
    full = fake.workload()
    assert all(full[k] == {"iris-1"} for k in KINDS)

    # Delete every object behind the gateway's back: back within one resync.
    for plural in KINDS:
        fake.call("POST", "/delete", {"resource": plural, "name": "iris-1"})
    t0 = time.monotonic()
    assert harness.wait_until(lambda: fake.workload() == full, RESYNC_MS / 1000 + 3), fake.workload()
    assert time.monotonic() - t0 < RESYNC_MS / 1000 + 3
    wait_state(stub, "iris", "1", ready=2)

    # Edit the image, the HPA bounds and a label: put back.
    fake.call("POST", "/edit", {"resource": "deployments", "name": "iris-1", "patch": {"spec": {"template": {"spec": {
        "containers": [{"name": "model", "image": "evil/iris:666"}]}}}}})
    fake.call("POST", "/edit", {"resource": "horizontalpodautoscalers", "name": "iris-1",
                                "patch": {"spec": {"minReplicas": 1, "maxReplicas": 9}}})
    fake.call("POST", "/edit", {"resource": "services", "name": "iris-1",
                                "patch": {"metadata": {"labels": {"byoc.dev/version": None}}}})

    def restored():
        dep = fake.objects("deployments").get("iris-1")
        hpa = fake.objects("horizontalpodautoscalers").get("iris-1")
        svc = fake.objects("services").get("iris-1")
        return (dep and dep["spec"]["template"]["spec"]["containers"][0]["image"] == "example/iris:1"
                and hpa and (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 4)
                and svc and svc["metadata"]["labels"].get("byoc.dev/version") == "1")
    assert harness.wait_until(restored, RESYNC_MS / 1000 + 3)
    wait_state(stub, "iris", "1", ready=2)

    # A labelled orphan (a version the registry does not have) is removed, other objects stay.
    orphan = {"apiVersion": "v1", "kind": "Service",
              "metadata": {"name": "ghost-1", "labels": {MANAGED: "byoc", "byoc.dev/model": "ghost", "byoc.dev/version": "1"}},
              "spec": {"clusterIP": "None", "selector": {"byoc.dev/model": "ghost"}, "ports": [{"name": "grpc", "port": 8080}]}}
    unrelated = json.loads(json.dumps(orphan))
    unrelated["metadata"] = {"name": "someone-else", "labels": {"app": "other"}}
    assert fake.call("POST", "/create", {"resource": "services", "object": orphan})["metadata"]["name"] == "ghost-1"
    fake.call("POST", "/create", {"resource": "services", "object": unrelated})
    assert harness.wait_until(lambda: "ghost-1" not in fake.names("services"), RESYNC_MS / 1000 + 3)
    assert "someone-else" in fake.objects("services", managed_only=False)
    assert fake.names("services") == {"iris-1"}


def test_rebuild_after_restart_on_an_empty_cluster(procs, fake, tmp_path):
    db = tmp_path / "registry.sqlite"
    gw = start_gateway(procs, fake, db)
    stub = admin(procs, gw)
    register(stub, "iris", "1", "example/iris:1", min_replicas=2, max_replicas=3)
    register(stub, "iris", "2", "example/iris:2")
    register(stub, "wine", "1", "example/wine:1", min_replicas=2, max_replicas=2)
    for m, v in (("iris", "1"), ("iris", "2"), ("wine", "1")):
        wait_state(stub, m, v)
    before = fake.workload()

    gw.terminate()
    assert gw.wait(timeout=15) == 0
    fake.call("POST", "/wipe", {})
    assert fake.workload() == {k: set() for k in KINDS} and fake.pods() == []

    gw2 = start_gateway(procs, fake, db, name="gateway-2")
    stub2 = admin(procs, gw2)
    assert harness.wait_until(lambda: fake.workload() == before, 15), fake.workload()
    for m, v in (("iris", "1"), ("iris", "2"), ("wine", "1")):
        wait_state(stub2, m, v)
    wait_pods_serving(procs, gw2, "wine", "1", 2)


def test_two_gateways_lease_failover_keeps_routing(procs, fake, tmp_path):
    db = tmp_path / "registry.sqlite"
    a = start_gateway(procs, fake, db, name="gateway-a", token="token-a")
    b = start_gateway(procs, fake, db, name="gateway-b", token="token-b", leader=False)
    stub_b = admin(procs, b)
    # Admin calls to the follower are forwarded to the leader.
    register(stub_b, "iris", "1", "example/iris:1", min_replicas=2, max_replicas=2)
    wait_state(stub_b, "iris", "1", ready=2)
    wait_pods_serving(procs, b, "iris", "1", 2)  # the follower routes (ConfigMap + EndpointSlices)
    assert b.count(r"became the leader") == 0

    # Only the Lease holder wrote: every write so far carries A's token.
    writers = {w["token"] for w in fake.writes()}
    assert writers == {"token-a"}, fake.writes()

    # Route through B continuously while A dies.
    failures, calls, stop = [], [0], threading.Event()

    def loop():
        stub = harness.pb.inference_grpc.InferenceStub(harness.make_channel(b.address))
        while not stop.is_set():
            try:
                stub.Predict(harness.predict_request("iris", "", b"x"), timeout=5)
                calls[0] += 1
            except grpc.RpcError as e:
                failures.append(f"{e.code()}: {e.details()}")
            time.sleep(0.02)

    t = threading.Thread(target=loop, daemon=True)
    t.start()
    time.sleep(1)
    killed = time.monotonic()
    killed_wall = time.time()
    a.kill()
    lease_duration = 15
    assert b.wait_for_log(r"became the leader", lease_duration + 5), b.log_tail()
    took = time.monotonic() - killed
    # Takeover within the lease duration (+ one follower poll of the Lease).
    assert took <= lease_duration + 3, took
    time.sleep(1)
    # The new leader reconciles and writes.
    register(stub_b, "wine", "1", "example/wine:1")
    wait_state(stub_b, "wine", "1")
    stop.set()
    t.join(timeout=10)
    assert calls[0] > 50 and failures == [], (calls, failures[:5])
    late = [w for w in fake.writes() if w["time"] > killed_wall and w["resource"] != "leases"]
    assert late and {w["token"] for w in late} == {"token-b"}, late


def test_routes_configmap_is_recreated_after_deletion(procs, fake, tmp_path):
    db = tmp_path / "registry.sqlite"
    a = start_gateway(procs, fake, db, name="gateway-a", token="token-a")
    stub = admin(procs, a)
    register(stub, "iris", "1", "example/iris:1")
    wait_state(stub, "iris", "1")
    name = "byoc-gateway-routes"
    assert harness.wait_until(lambda: name in fake.objects("configmaps"), 10)
    written = fake.objects("configmaps")[name]["data"]

    # Deleted behind the leader's back with nothing else changing: it comes back, same table.
    for _ in range(2):
        assert fake.call("POST", "/delete", {"resource": "configmaps", "name": name})["deleted"]
        assert harness.wait_until(lambda: name in fake.objects("configmaps"), 5), a.log_tail()
        assert fake.objects("configmaps")[name]["data"] == written
    assert a.wait_for_log(r"routes ConfigMap .* missing or changed", 5)

    # Edited: put back too.
    fake.call("POST", "/edit", {"resource": "configmaps", "name": name,
                                "patch": {"data": {"routes.json": '{"models": {}}'}}})
    assert harness.wait_until(lambda: fake.objects("configmaps")[name]["data"] == written, 5)

    # Level-triggered, not a write loop: with nothing changing, the leader does not write.
    cm_writes = lambda: sum(1 for w in fake.writes() if w["resource"] == "configmaps")  # noqa: E731
    before = cm_writes()
    time.sleep(RESYNC_MS / 1000 + 0.5)
    assert cm_writes() == before, [w for w in fake.writes() if w["resource"] == "configmaps"][-5:]

    # A follower started after the deletion routes with it, and follows later changes.
    b = start_gateway(procs, fake, db, name="gateway-b", token="token-b", leader=False)
    wait_pods_serving(procs, b, "iris", "1", 1)
    fake.call("POST", "/delete", {"resource": "configmaps", "name": name})
    register(admin(procs, b), "wine", "1", "example/wine:1")
    wait_state(stub, "wine", "1")
    wait_pods_serving(procs, b, "wine", "1", 1)
    assert b.count(r"became the leader") == 0


def _md(token):
    return [("authorization", f"Bearer {token}")]


def _status(fn, *args, **kw):
    try:
        fn(*args, **kw)
        return grpc.StatusCode.OK, ""
    except grpc.RpcError as e:
        return e.code(), e.details() or ""


def test_auth_on_every_replica(procs, fake, tmp_path):
    """Two --require-auth replicas: the admin token from the (mounted) file works on both; a
    token created on the leader works on the follower within 10 s, its revocation too; the
    token Secret holds hashes only."""
    db = tmp_path / "registry.sqlite"
    admin_token = harness.make_token()
    token_file = tmp_path / "admin.token"
    token_file.write_text(admin_token + "\n")
    auth = ["--require-auth", "--admin-token-file", str(token_file)]
    a = start_gateway(procs, fake, db, name="gateway-a", token="token-a", extra=auth)
    b = start_gateway(procs, fake, db, name="gateway-b", token="token-b", extra=auth, leader=False)
    pb = harness.pb.admin
    stub_a, stub_b = admin(procs, a), admin(procs, b)
    infer_b = harness.pb.inference_grpc.InferenceStub(procs.channel(b.address))

    # No token: refused on both. The file's admin token: accepted on both (b forwards Admin).
    for stub in (stub_a, stub_b):
        assert _status(stub.ListModels, pb.ListModelsRequest(), timeout=10)[0] == grpc.StatusCode.UNAUTHENTICATED
        assert _status(stub.ListModels, pb.ListModelsRequest(), timeout=10, metadata=_md(admin_token))[0] == grpc.StatusCode.OK
    stub_a.RegisterModel(pb.RegisterModelRequest(model="iris", version="1", image="example/iris:1"),
                         timeout=10, metadata=_md(admin_token))
    assert harness.wait_until(lambda: _status(infer_b.Predict, harness.predict_request("iris", "", b"x"), timeout=5,
                                              metadata=_md(admin_token))[0] == grpc.StatusCode.OK, 20)

    # The JSON API on the follower: checked there, forwarded with the caller's token.
    def api(method, path, token, body=None):
        req = urllib.request.Request(f"http://{b.address}{path}", method=method,
                                     data=None if body is None else json.dumps(body).encode(),
                                     headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(req, timeout=10) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code
    assert api("POST", "/api/v1/models", admin_token, {"model": "wine", "version": "1", "image": "example/wine:1"}) == 201
    assert api("GET", "/api/v1/models/wine", admin_token) == 200
    assert api("GET", "/api/v1/models", harness.make_token()) == 401

    # A predict token created on the leader: usable on the follower within 10 s.
    created = stub_a.CreateToken(pb.CreateTokenRequest(scope="predict", models=["iris"]), timeout=10,
                                 metadata=_md(admin_token))
    predict = lambda: _status(infer_b.Predict, harness.predict_request("iris", "", b"x"), timeout=5,  # noqa: E731
                              metadata=_md(created.secret))
    t0 = time.monotonic()
    assert harness.wait_until(lambda: predict()[0] == grpc.StatusCode.OK, 10, 0.05), predict()
    assert time.monotonic() - t0 < 10
    # Its scope holds on the follower too: no Admin calls with a predict token.
    assert _status(stub_b.ListModels, pb.ListModelsRequest(), timeout=10,
                   metadata=_md(created.secret))[0] == grpc.StatusCode.PERMISSION_DENIED

    # The Secret: the leader's, hashes only, never a secret.
    secret = fake.objects("secrets", managed_only=False)["byoc-gateway-tokens"]
    validation.validate(secret)
    assert [f["manager"] for f in secret["metadata"]["managedFields"]] == ["byoc"]
    import base64
    table = base64.b64decode(secret["data"]["tokens.json"]).decode()
    doc = json.loads(table)
    assert {t["id"] for t in doc["tokens"]} >= {created.token.id, admin_token.split("_")[1]}
    for text in (admin_token, created.secret):
        assert text.split("_", 2)[2] not in table and text not in table
    assert all(len(t["sha256"]) == 64 for t in doc["tokens"])
    assert {w["token"] for w in fake.writes() if w["resource"] == "secrets"} == {"token-a"}
    secret_writes = lambda: sum(1 for w in fake.writes() if w["resource"] == "secrets")  # noqa: E731
    before = secret_writes()
    time.sleep(1.5)
    assert secret_writes() == before, "no write loop on the token Secret"

    # Revoked on the leader (here through the follower, which forwards the caller's token):
    # refused on the follower within 10 s.
    stub_b.RevokeToken(pb.RevokeTokenRequest(id=created.token.id), timeout=10, metadata=_md(admin_token))
    t0 = time.monotonic()
    assert harness.wait_until(lambda: predict()[0] == grpc.StatusCode.UNAUTHENTICATED, 10, 0.05), predict()
    assert time.monotonic() - t0 < 10
    assert "revoked" in predict()[1]

    # The Secret deleted behind the leader's back comes back; a follower started meanwhile
    # gets the table from it.
    fake.call("POST", "/delete", {"resource": "secrets", "name": "byoc-gateway-tokens"})
    assert harness.wait_until(lambda: "byoc-gateway-tokens" in fake.objects("secrets", managed_only=False), 5)
    c = start_gateway(procs, fake, db, name="gateway-c", token="token-c", extra=["--require-auth"], leader=False)
    stub_c = admin(procs, c)
    assert harness.wait_until(lambda: _status(stub_c.ListModels, pb.ListModelsRequest(), timeout=5,
                                              metadata=_md(admin_token))[0] == grpc.StatusCode.OK, 10)
    infer_c = harness.pb.inference_grpc.InferenceStub(procs.channel(c.address))
    assert _status(infer_c.Predict, harness.predict_request("iris", "", b"x"), timeout=5,
                   metadata=_md(created.secret))[0] == grpc.StatusCode.UNAUTHENTICATED


def test_router_follows_the_token_table_of_a_restored_registry(procs, fake, tmp_path):
    """A router keeps running while the registry is restored from an older backup: the new
    leader's table (lower versions than the router's last one) still replaces it."""
    db = tmp_path / "registry.sqlite"
    admin_token = harness.make_token()
    token_file = tmp_path / "admin.token"
    token_file.write_text(admin_token + "\n")
    auth = ["--require-auth", "--admin-token-file", str(token_file)]
    a = start_gateway(procs, fake, db, name="gateway-a", token="token-a", extra=auth)
    router = start_gateway(procs, fake, db, name="router", token="token-r", extra=[*auth, "--role", "router"],
                           leader=False)
    pb = harness.pb.admin
    stub_a, stub_r = admin(procs, a), admin(procs, router)
    list_with = lambda stub, token: _status(stub.ListModels, pb.ListModelsRequest(), timeout=5,  # noqa: E731
                                            metadata=_md(token))[0]
    backup = tmp_path / "backup.sqlite"
    out = subprocess.run([harness.binary("byoc-gateway"), "backup", "--to", str(backup), "--db", str(db)],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    later = [stub_a.CreateToken(pb.CreateTokenRequest(scope="admin"), timeout=10, metadata=_md(admin_token)).secret
             for _ in range(5)]
    assert harness.wait_until(lambda: all(list_with(stub_r, t) == grpc.StatusCode.OK for t in later), 10)

    a.terminate()
    assert a.wait(timeout=15) == 0
    out = subprocess.run([harness.binary("byoc-gateway"), "restore", "--from", str(backup), "--db", str(db)],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    a2 = start_gateway(procs, fake, db, name="gateway-a2", token="token-a", extra=auth)
    fresh = admin(procs, a2).CreateToken(pb.CreateTokenRequest(scope="admin"), timeout=10,
                                         metadata=_md(admin_token)).secret
    # The restored registry's table reaches the router: the new token works there, the ones
    # created after the backup no longer do, the admin token from the file still does.
    assert harness.wait_until(lambda: list_with(stub_r, fresh) == grpc.StatusCode.OK, 10), list_with(stub_r, fresh)
    assert all(list_with(stub_r, t) == grpc.StatusCode.UNAUTHENTICATED for t in later)
    assert list_with(stub_r, admin_token) == grpc.StatusCode.OK


def test_broken_watch_and_410_lose_no_endpoint_change(procs, fake, tmp_path):
    gw = start_gateway(procs, fake, tmp_path / "registry.sqlite")
    stub = admin(procs, gw)
    pb = harness.pb.admin
    register(stub, "iris", "1", "example/iris:1", min_replicas=1, max_replicas=1)
    wait_state(stub, "iris", "1", ready=1)
    wait_pods_serving(procs, gw, "iris", "1", 1)

    # Break every watch mid-stream (RST_STREAM) and change the endpoints while the gateway
    # reconnects: the resumed watch replays what happened since its last resourceVersion.
    fake.call("POST", "/break-watches", {"mode": "reset"})
    stub.ScaleModelVersion(pb.ScaleModelVersionRequest(model="iris", version="1", min_replicas=2, max_replicas=2), timeout=10)
    wait_state(stub, "iris", "1", ready=2)
    wait_pods_serving(procs, gw, "iris", "1", 2)
    assert gw.wait_for_log(r"broke .*resuming from resourceVersion", 5)

    # Compact the history and close the connection: the watches get 410 Gone and relist; the
    # endpoint change made meanwhile still arrives.
    fake.call("POST", "/compact", {})
    fake.call("POST", "/break-watches", {"mode": "close"})
    stub.ScaleModelVersion(pb.ScaleModelVersionRequest(model="iris", version="1", min_replicas=3, max_replicas=3), timeout=10)
    wait_state(stub, "iris", "1", ready=3)
    wait_pods_serving(procs, gw, "iris", "1", 3)
    assert gw.wait_for_log(r"gone \(410\); listing again", 10), gw.log_tail()


def test_failures_surface_with_reasons(procs, fake, tmp_path):
    gw = start_gateway(procs, fake, tmp_path / "registry.sqlite")
    stub = admin(procs, gw)
    # A bad image: FAILED with the pods' reason, not DEPLOYING forever.
    register(stub, "bad", "1", "bad/image:1")
    _, _, message = wait_state(stub, "bad", "1", "FAILED")
    assert "ErrImagePull" in message or "ImagePullBackOff" in message, message
    # A command-only version cannot run on Kubernetes.
    register(stub, "cmd", "1", "", command=["python3", "serve.py"])
    _, _, message = wait_state(stub, "cmd", "1", "FAILED")
    assert "the kubernetes runtime needs an image" in message
    # Missing RBAC permission: the error names verb, resource and namespace.
    fake.call("POST", "/forbid", {"verb": "patch", "resource": "poddisruptionbudgets"})
    register(stub, "pdb", "1", "example/pdb:1", min_replicas=2, max_replicas=2)
    _, _, message = wait_state(stub, "pdb", "1", "FAILED")
    assert "may not patch poddisruptionbudgets.policy in namespace default" in message, message
    # Quantities the API server would reject are refused up front.
    with pytest.raises(grpc.RpcError) as err:
        register(stub, "quota", "1", "example/q:1", resources={"cpu_request": "lots"})
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "resources.cpu_request" in err.value.details()
    # Throttling and server errors are retried (429 honours Retry-After).
    fake.call("POST", "/fail-next", {"statuses": [429, 503, 500]})
    register(stub, "retry", "1", "example/retry:1")
    wait_state(stub, "retry", "1")


def test_tls_to_the_api_server(procs, tmp_path):
    cert, key = tmp_path / "api.pem", tmp_path / "api.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "1", "-subj", "/CN=fake-kube", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                   check=True, capture_output=True)
    fake = FakeKube(procs, tls=(str(cert), str(key)))
    assert fake.url.startswith("https://")
    gw = start_gateway(procs, fake, tmp_path / "registry.sqlite", extra=["--kube-ca-file", str(cert)])
    stub = admin(procs, gw)
    register(stub, "iris", "1", "example/iris:1")
    wait_state(stub, "iris", "1")
    wait_pods_serving(procs, gw, "iris", "1", 1)

    # A CA that did not sign the server's certificate: nothing is trusted, nothing is written.
    other, other_key = tmp_path / "other.pem", tmp_path / "other.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(other_key), "-out",
                    str(other), "-days", "1", "-subj", "/CN=other"], check=True, capture_output=True)
    writes = len(fake.writes())
    bad = start_gateway(procs, fake, tmp_path / "other.sqlite", name="gateway-bad-ca",
                        extra=["--kube-ca-file", str(other), "--lease-name", "other-lease"], leader=False)
    assert bad.wait_for_log(r"cannot read or renew Lease", 10), bad.log_tail()
    assert bad.count(r"became the leader") == 0
    assert len([w for w in fake.writes() if w["resource"] == "leases" and w["name"] == "other-lease"]) == 0
    assert len(fake.writes()) >= writes


def test_two_replicas_agree_on_a_sticky_keys_target(procs, fake, tmp_path):
    """Issue 14: a split set on the leader travels in the routes ConfigMap, so a follower
    routes every `byoc-split-key` to the same version as the leader (a stable hash, the same
    split order), with an alias in the split and a shadow too."""
    db = tmp_path / "registry.sqlite"
    a = start_gateway(procs, fake, db, name="gateway-a", token="token-a")
    b = start_gateway(procs, fake, db, name="gateway-b", token="token-b", leader=False)
    stub = admin(procs, a)
    pb = harness.pb.admin
    for version in ("1", "2", "3"):
        register(stub, "iris", version, f"example/iris:{version}")
    for version in ("1", "2", "3"):
        wait_state(stub, "iris", version)
        wait_pods_serving(procs, b, "iris", version, 1)
    stub.SetAlias(pb.SetAliasRequest(model="iris", alias="canary", version="3"), timeout=10)
    req = pb.SetTrafficRequest(model="iris", targets=[pb.TrafficTarget(version="2", percent=30),
                                                      pb.TrafficTarget(version="1", percent=45),
                                                      pb.TrafficTarget(version="canary", percent=25)])
    req.shadow.CopyFrom(pb.TrafficTarget(version="3", percent=50))
    stub.SetTraffic(req, timeout=10)

    name = "byoc-gateway-routes"

    def published():
        cm = fake.objects("configmaps").get(name)
        return cm and json.loads(cm["data"]["routes.json"])["models"]["iris"].get("split")

    assert harness.wait_until(published, 10), fake.objects("configmaps").get(name)
    entry = json.loads(fake.objects("configmaps")[name]["data"]["routes.json"])["models"]["iris"]
    assert entry["split"] == [{"version": "2", "percent": 30}, {"version": "1", "percent": 45},
                              {"version": "3", "percent": 25}], entry
    assert entry["aliases"] == {"canary": "3"} and entry["shadow"] == {"version": "3", "percent": 50}, entry

    stubs = {gw.name: harness.pb.inference_grpc.InferenceStub(procs.channel(gw.address)) for gw in (a, b)}

    def target(gw_name, key):
        resp, call = stubs[gw_name].Predict.with_call(harness.predict_request("iris", "", b"x"),
                                                      metadata=[("byoc-split-key", key)], timeout=5)
        assert dict(call.initial_metadata())["byoc-served-version"] == resp.version
        return resp.version

    # The follower picks the split up from the ConfigMap: wait until it routes to all three.
    assert harness.wait_until(lambda: {target(b.name, f"probe-{i}") for i in range(60)} == {"1", "2", "3"}, 10)
    keys = [f"user-{i}" for i in range(300)]
    on_a = {k: target(a.name, k) for k in keys}
    on_b = {k: target(b.name, k) for k in keys}
    differ = {k: (on_a[k], on_b[k]) for k in keys if on_a[k] != on_b[k]}
    assert not differ, f"{len(differ)} of {len(keys)} keys differ (leader, follower): {list(differ.items())[:5]}"
    # Sticky on each replica, and spread like the split.
    assert all(target(b.name, k) == on_a[k] for k in keys[:30])
    shares = {v: sum(1 for t in on_a.values() if t == v) / len(keys) for v in ("1", "2", "3")}
    assert 0.33 < shares["1"] < 0.57 and 0.2 < shares["2"] < 0.4 and 0.15 < shares["3"] < 0.35, shares
    # The alias and the shadow travel too: the follower resolves `canary` and copies calls to 3.
    assert {v for v, _ in served_by_set(procs, b, "iris", "canary", calls=5)} == {"3"}
    from test_metrics import samples, scrape, value
    copies = lambda: value(samples(scrape(b.address)), "byoc_shadow_requests_total",  # noqa: E731
                           model="iris", version="3", code="OK") or 0
    assert harness.wait_until(lambda: copies() > 0, 10)
    assert b.count(r"became the leader") == 0
