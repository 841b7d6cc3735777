"""deploy/: the kustomize base and production overlay render, and every object is valid.

Rendering uses the real `kubectl kustomize` (kubectl ships kustomize; the machines this project
runs on have kubectl installed). Without kubectl on PATH these tests are skipped, not faked.

Validation uses the `kubernetes-validate` package (the Kubernetes OpenAPI schemas as JSON
schema) in strict mode, which rejects unknown fields as the API server's strict field
validation does, against the oldest supported Kubernetes minor and a newer one.

On top of schema validity the tests pin the platform's deployment rules: RBAC is exactly the
set of calls the gateway makes (no wildcards), every container runs non-root with a read-only
root filesystem and no privilege escalation, every container has probes and resources, the
gateway's registry lives on a PersistentVolume at /var/lib/byoc, no platform object carries the
label that marks gateway-owned model workloads (the gateway would garbage-collect it), and the
Docker images install the shared libraries the binaries actually link.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

import harness

kubernetes_validate = pytest.importorskip("kubernetes_validate")

DEPLOY = harness.ROOT / "deploy"
OVERLAYS = {"base": DEPLOY / "base", "production": DEPLOY / "overlays" / "production"}
# The oldest Kubernetes minor the manifests support (gRPC probes are GA since 1.27, StatefulSet
# PVC retention policy is in the schema since 1.27), and a newer one.
K8S_VERSIONS = ["1.30", "1.33"]
NAMESPACE = "byoc"
GATEWAY_IMAGE = "ghcr.io/example/byoc-gateway"
OWNED_LABEL = "app.kubernetes.io/managed-by"  # =byoc marks model workloads the gateway owns

KUBECTL = shutil.which("kubectl")
needs_kubectl = pytest.mark.skipif(KUBECTL is None, reason="kubectl (with kustomize) is not on PATH")


def kustomize(path: Path) -> list[dict]:
    out = subprocess.run([KUBECTL, "kustomize", str(path)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, f"kubectl kustomize {path} failed:\n{out.stderr}"
    objects = [doc for doc in yaml.safe_load_all(out.stdout) if doc]
    assert objects, f"kubectl kustomize {path} rendered nothing"
    return objects


_rendered: dict[str, list[dict]] = {}


def rendered(overlay: str) -> list[dict]:
    if overlay not in _rendered:
        _rendered[overlay] = kustomize(OVERLAYS[overlay])
    return _rendered[overlay]


def by_kind(objects: list[dict], kind: str) -> dict[str, dict]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def one(objects: list[dict], kind: str, name: str) -> dict:
    found = by_kind(objects, kind)
    assert name in found, f"no {kind}/{name}; have {sorted(found)}"
    return found[name]


def validate(obj: dict, version: str) -> None:
    try:
        kubernetes_validate.validate(obj, version, strict=True)
    except kubernetes_validate.ValidationError as e:
        where = ".".join(str(p) for p in e.path) or "(root)"
        pytest.fail(f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')} invalid for Kubernetes {version} "
                    f"at {where}: {e.message}")


def workloads(objects: list[dict]) -> list[dict]:
    return [o for o in objects if o["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob")]


def pod_spec(workload: dict) -> dict:
    if workload["kind"] == "CronJob":
        return workload["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return workload["spec"]["template"]["spec"]


def containers(spec: dict) -> list[dict]:
    return spec.get("initContainers", []) + spec["containers"]


def labels_match(selector: dict, labels: dict) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


overlays = pytest.mark.parametrize("overlay", list(OVERLAYS))


# --------------------------------------------------------------------------- render + schema

@needs_kubectl
@overlays
@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_renders_and_every_object_validates(overlay, version):
    objects = rendered(overlay)
    for obj in objects:
        validate(obj, version)
    kinds = {o["kind"] for o in objects}
    assert {"Namespace", "ServiceAccount", "Role", "RoleBinding", "StatefulSet", "Deployment", "Service",
            "HorizontalPodAutoscaler", "NetworkPolicy"} <= kinds
    for obj in objects:
        if obj["kind"] != "Namespace":
            assert obj["metadata"].get("namespace") == NAMESPACE, f"{obj['kind']}/{obj['metadata']['name']}"
        assert obj["metadata"]["labels"].get("app.kubernetes.io/part-of") == "byoc"


@needs_kubectl
def test_strict_validation_rejects_what_an_api_server_rejects():
    """Negative control: the validator really is strict (unknown field, wrong type, missing field)."""
    sts = one(rendered("base"), "StatefulSet", "byoc-gateway")
    broken = yaml.safe_load(yaml.safe_dump(sts))
    pod_spec(broken)["containers"][0]["readOnlyRootFileSystem"] = True  # misspelt: belongs in securityContext
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSIONS[0], strict=True)
    broken = yaml.safe_load(yaml.safe_dump(sts))
    broken["spec"]["replicas"] = "one"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSIONS[0], strict=True)
    broken = yaml.safe_load(yaml.safe_dump(sts))
    del pod_spec(broken)["containers"][0]["name"]
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSIONS[0], strict=True)


# --------------------------------------------------------------------------- RBAC

GATEWAY_RULES = {
    ("apps", "deployments"): {"get", "list", "watch", "create", "patch", "delete"},
    ("", "services"): {"get", "list", "watch", "create", "patch", "delete"},
    ("", "pods"): {"get", "list", "watch"},
    ("", "pods/log"): {"get"},
    ("autoscaling", "horizontalpodautoscalers"): {"get", "list", "watch", "create", "patch", "delete"},
    ("policy", "poddisruptionbudgets"): {"get", "list", "watch", "create", "patch", "delete"},
    ("discovery.k8s.io", "endpointslices"): {"get", "list", "watch"},
    ("coordination.k8s.io", "leases"): {"get", "create", "update"},
    ("", "configmaps"): {"get", "list", "watch", "create", "patch"},
    ("", "secrets/byoc-gateway-tokens"): {"get", "list", "watch", "patch"},
}
ROUTER_RULES = {
    ("discovery.k8s.io", "endpointslices"): {"get", "list", "watch"},
    ("", "configmaps"): {"get", "list", "watch"},
    ("coordination.k8s.io", "leases"): {"get"},
    ("", "secrets/byoc-gateway-tokens"): {"get", "list", "watch"},
}
# Rules restricted by name: only the token Secret (keyed "secrets/<name>" in role_grants).
NAMED_RESOURCES = {("", "secrets"): {"byoc-gateway-tokens"}}
TOKENS_SECRET = "byoc-gateway-tokens"
ADMIN_TOKEN_SECRET = "byoc-admin-token"
WRITE_VERBS = {"create", "update", "patch", "delete", "deletecollection", "escalate", "bind", "impersonate"}


def role_grants(role: dict) -> dict[tuple[str, str], set[str]]:
    grants: dict[tuple[str, str], set[str]] = {}
    for rule in role["rules"]:
        assert "nonResourceURLs" not in rule, rule
        for verb in rule["verbs"]:
            assert verb != "*", f"wildcard verb in {role['metadata']['name']}: {rule}"
        for group in rule["apiGroups"]:
            assert group != "*", f"wildcard API group in {role['metadata']['name']}: {rule}"
            for resource in rule["resources"]:
                assert "*" not in resource, f"wildcard resource in {role['metadata']['name']}: {rule}"
                names = rule.get("resourceNames")
                if names is None:
                    grants.setdefault((group, resource), set()).update(rule["verbs"])
                    continue
                assert set(names) <= NAMED_RESOURCES.get((group, resource), set()), rule
                assert not {"create", "deletecollection"} & set(rule["verbs"]), f"not restrictable by name: {rule}"
                for name in names:
                    grants.setdefault((group, f"{resource}/{name}"), set()).update(rule["verbs"])
    return grants


@needs_kubectl
@overlays
def test_rbac_is_exactly_what_the_gateway_uses(overlay):
    objects = rendered(overlay)
    assert not [o for o in objects if o["kind"] in ("ClusterRole", "ClusterRoleBinding")], \
        "the platform needs no cluster-wide rights"
    assert role_grants(one(objects, "Role", "byoc-gateway")) == GATEWAY_RULES
    router = role_grants(one(objects, "Role", "byoc-router"))
    assert router == ROUTER_RULES
    assert not set().union(*router.values()) & WRITE_VERBS, "routers must not be able to write (or take the Lease)"

    accounts = by_kind(objects, "ServiceAccount")
    for name in ("byoc-gateway", "byoc-router"):
        binding = one(objects, "RoleBinding", name)
        assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name}
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": name, "namespace": NAMESPACE}]
        assert name in accounts
    assert pod_spec(one(objects, "StatefulSet", "byoc-gateway"))["serviceAccountName"] == "byoc-gateway"
    assert pod_spec(one(objects, "Deployment", "byoc-router"))["serviceAccountName"] == "byoc-router"


@needs_kubectl
@overlays
def test_every_replica_checks_api_tokens(overlay):
    """--require-auth on the gateway and the routers, the admin token from the Secret
    byoc-admin-token, the token table from the Secret the Roles name (which exists, so the
    gateway needs no create right on Secrets)."""
    objects = rendered(overlay)
    tokens = one(objects, "Secret", TOKENS_SECRET)
    assert tokens["type"] == "Opaque" and "data" not in tokens and "stringData" not in tokens, \
        "the leader writes the data; kubectl apply must not reset it"
    assert tokens["metadata"]["labels"].get(OWNED_LABEL) != "byoc"
    for kind, name in (("StatefulSet", "byoc-gateway"), ("Deployment", "byoc-router")):
        spec = pod_spec(one(objects, kind, name))
        [c] = spec["containers"]
        args = dict(a[2:].split("=", 1) if "=" in a else (a[2:], "true") for a in c["args"])
        assert args.get("require-auth") == "true", f"{kind}/{name}"
        assert args.get("tokens-secret") == TOKENS_SECRET, f"{kind}/{name}"
        token_dir, _, key = args["admin-token-file"].rpartition("/")
        [mount] = [m for m in c["volumeMounts"] if m["mountPath"] == token_dir]
        assert mount.get("readOnly") is True
        [volume] = [v for v in spec["volumes"] if v["name"] == mount["name"]]
        assert volume["secret"]["secretName"] == ADMIN_TOKEN_SECRET and key == "token"
        assert volume["secret"]["defaultMode"] & 0o007 == 0, "not world-readable"
        assert not volume["secret"].get("optional"), "a missing admin token Secret must not start the pod open"


# --------------------------------------------------------------------------- pods

@needs_kubectl
@overlays
def test_every_container_is_locked_down(overlay):
    for workload in workloads(rendered(overlay)):
        name = f"{workload['kind']}/{workload['metadata']['name']}"
        spec = pod_spec(workload)
        pod = spec.get("securityContext", {})
        assert not spec.get("hostNetwork") and not spec.get("hostPID") and not spec.get("hostIPC"), name
        for c in containers(spec):
            sc = c.get("securityContext", {})
            where = f"{name} container {c['name']}"
            assert sc.get("runAsNonRoot", pod.get("runAsNonRoot")) is True, where
            uid = sc.get("runAsUser", pod.get("runAsUser"))
            assert uid is not None and uid != 0, f"{where}: runAsUser {uid}"
            assert sc.get("readOnlyRootFilesystem") is True, where
            assert sc.get("allowPrivilegeEscalation") is False, where
            assert not sc.get("privileged"), where
            assert sc.get("capabilities", {}).get("drop") == ["ALL"], where
            assert not sc.get("capabilities", {}).get("add"), where
            seccomp = sc.get("seccompProfile", pod.get("seccompProfile", {}))
            assert seccomp.get("type") == "RuntimeDefault", where
            resources = c.get("resources", {})
            for kind in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(resources.get(kind, {})), f"{where}: resources.{kind}"


@needs_kubectl
@overlays
def test_every_serving_container_has_grpc_probes(overlay):
    for workload in workloads(rendered(overlay)):
        for c in pod_spec(workload)["containers"]:
            where = f"{workload['kind']}/{workload['metadata']['name']} container {c['name']}"
            ports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
            assert ports.get("grpc") == 8080, where
            for probe in ("readinessProbe", "livenessProbe"):
                assert c.get(probe, {}).get("grpc", {}).get("port") == 8080, f"{where}: {probe}"


@needs_kubectl
@overlays
def test_gateway_keeps_the_registry_on_a_persistent_volume(overlay):
    objects = rendered(overlay)
    sts = one(objects, "StatefulSet", "byoc-gateway")
    assert sts["spec"]["replicas"] == 1, "one writer of the SQLite registry"
    assert sts["spec"]["serviceName"] in by_kind(objects, "Service")
    claims = {t["metadata"]["name"]: t["spec"] for t in sts["spec"]["volumeClaimTemplates"]}
    assert claims["registry"]["accessModes"] == ["ReadWriteOnce"]
    assert claims["registry"]["resources"]["requests"]["storage"] == "1Gi"
    spec = pod_spec(sts)
    assert spec["securityContext"].get("fsGroup") == 65532, "the volume must be writable by uid 65532"
    [gateway] = spec["containers"]
    mounts = {m["name"]: m for m in gateway["volumeMounts"]}
    assert mounts["registry"]["mountPath"] == "/var/lib/byoc"
    assert not mounts["registry"].get("readOnly")
    args = gateway["args"]
    assert "--runtime=kubernetes" in args
    assert "--db=/var/lib/byoc/registry.sqlite" in args
    assert "--state-dir=/var/lib/byoc" in args
    assert "--namespace=$(POD_NAMESPACE)" in args
    env = {e["name"]: e for e in gateway["env"]}
    assert env["POD_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"
    assert env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert env["POD_IP"]["valueFrom"]["fieldRef"]["fieldPath"] == "status.podIP", "the leader's Admin address"
    assert not any(a.startswith("--role") for a in args), "the gateway campaigns for the Lease (role all)"
    # Routers never lead and keep no registry: nothing of theirs is persistent.
    router = pod_spec(one(objects, "Deployment", "byoc-router"))
    # (emptyDirs, and the read-only admin token from its Secret.)
    assert all("emptyDir" in v or v.get("secret", {}).get("secretName") == ADMIN_TOKEN_SECRET for v in router["volumes"])
    [router_container] = router["containers"]
    assert "--role=router" in router_container["args"] and "--runtime=kubernetes" in router_container["args"]
    assert {e["name"] for e in router_container["env"]} >= {"POD_NAMESPACE", "POD_NAME", "POD_IP"}


@needs_kubectl
@overlays
def test_no_platform_object_looks_like_a_model_workload(overlay):
    """The gateway deletes objects labelled managed-by=byoc that its registry does not have."""
    for obj in rendered(overlay):
        assert obj["metadata"].get("labels", {}).get(OWNED_LABEL) != "byoc", obj["metadata"]["name"]
        if obj["kind"] in ("Deployment", "StatefulSet"):
            assert pod_spec(obj).get("automountServiceAccountToken", True)
            assert obj["spec"]["template"]["metadata"]["labels"].get(OWNED_LABEL) != "byoc"


# --------------------------------------------------------------------------- services, scaling, network

@needs_kubectl
@overlays
def test_services_select_the_right_pods(overlay):
    objects = rendered(overlay)
    gateway_pod = one(objects, "StatefulSet", "byoc-gateway")["spec"]["template"]["metadata"]["labels"]
    router_pod = one(objects, "Deployment", "byoc-router")["spec"]["template"]["metadata"]["labels"]
    predict = one(objects, "Service", "byoc-predict")
    admin = one(objects, "Service", "byoc-admin")
    assert labels_match(predict["spec"]["selector"], gateway_pod) and labels_match(predict["spec"]["selector"], router_pod)
    assert labels_match(admin["spec"]["selector"], gateway_pod) and not labels_match(admin["spec"]["selector"], router_pod)
    for svc in (predict, admin):
        assert [(p["name"], p["port"]) for p in svc["spec"]["ports"]] == [("grpc", 8080)]
    for workload in workloads(objects):
        assert labels_match(workload["spec"]["selector"]["matchLabels"], workload["spec"]["template"]["metadata"]["labels"])


@needs_kubectl
def test_router_tier_scales_and_production_adds_capacity():
    base, prod = rendered("base"), rendered("production")
    for objects in (base, prod):
        hpa = one(objects, "HorizontalPodAutoscaler", "byoc-router")
        assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "byoc-router"}
        assert [m["resource"]["name"] for m in hpa["spec"]["metrics"]] == ["cpu"]
        # The HPA owns the replica count: a replicas field would be reset on every apply.
        assert "replicas" not in one(objects, "Deployment", "byoc-router")["spec"]
    base_hpa = one(base, "HorizontalPodAutoscaler", "byoc-router")["spec"]
    prod_hpa = one(prod, "HorizontalPodAutoscaler", "byoc-router")["spec"]
    assert base_hpa["minReplicas"] == 2
    assert prod_hpa["minReplicas"] > base_hpa["minReplicas"] and prod_hpa["maxReplicas"] > base_hpa["maxReplicas"]

    def cpu_limit(objects, kind, name):
        return pod_spec(one(objects, kind, name))["containers"][0]["resources"]["limits"]["cpu"]
    assert cpu_limit(prod, "Deployment", "byoc-router") != cpu_limit(base, "Deployment", "byoc-router")
    assert cpu_limit(prod, "StatefulSet", "byoc-gateway") != cpu_limit(base, "StatefulSet", "byoc-gateway")

    pdb = one(prod, "PodDisruptionBudget", "byoc-router")
    router_pod = one(prod, "Deployment", "byoc-router")["spec"]["template"]["metadata"]["labels"]
    assert labels_match(pdb["spec"]["selector"]["matchLabels"], router_pod)


@needs_kubectl
@overlays
def test_network_policy(overlay):
    objects = rendered(overlay)
    policy = one(objects, "NetworkPolicy", "byoc-gateway")
    for workload in workloads(objects):
        assert labels_match(policy["spec"]["podSelector"]["matchLabels"], workload["spec"]["template"]["metadata"]["labels"])
    assert set(policy["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    [ingress] = policy["spec"]["ingress"]
    assert ingress["ports"] == [{"protocol": "TCP", "port": 8080}]
    peers = ingress["from"]
    assert {"podSelector": {}} in peers
    assert any(p.get("namespaceSelector", {}).get("matchLabels") for p in peers), "a labelled client namespace selector"
    egress = policy["spec"]["egress"]
    to_models = [r for r in egress if any(p.get("podSelector", {}).get("matchLabels") == {OWNED_LABEL: "byoc"}
                                          for p in r["to"])]
    assert to_models and to_models[0]["ports"] == [{"protocol": "TCP"}], "model pods on any TCP port"
    assert any({"protocol": "UDP", "port": 53} in r.get("ports", []) for r in egress), "DNS"
    assert any({"protocol": "TCP", "port": 443} in r.get("ports", []) for r in egress), "API server"


def selects(selector: dict, labels: dict) -> bool:
    """A LabelSelector (matchLabels and matchExpressions) evaluated as the API server does."""
    if not labels_match(selector.get("matchLabels", {}), labels):
        return False
    for e in selector.get("matchExpressions", []):
        key, op, values = e["key"], e["operator"], e.get("values", [])
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


# The labels and port name of a model pod exactly as the gateway builds them (KubeNames,
# KubeObjects.deployment): see test_kubernetes.py for the objects themselves.
MODEL_POD_LABELS = {OWNED_LABEL: "byoc", "byoc.dev/model": "iris", "byoc.dev/version": "1"}
MODEL_PORT_NAME = "grpc"


@needs_kubectl
@overlays
def test_model_pods_accept_only_the_gateway_and_routers(overlay):
    objects = rendered(overlay)
    policy = one(objects, "NetworkPolicy", "byoc-models")
    spec = policy["spec"]
    assert selects(spec["podSelector"], MODEL_POD_LABELS)
    assert not selects(spec["podSelector"], {OWNED_LABEL: "byoc"}), "only pods with a model label"
    assert not selects(spec["podSelector"], {"byoc.dev/model": "iris"}), "only pods the gateway manages"
    platform_pods = [w["spec"]["template"]["metadata"]["labels"] for w in workloads(objects)]
    assert platform_pods and not any(selects(spec["podSelector"], p) for p in platform_pods)
    assert spec["policyTypes"] == ["Ingress"]
    [rule] = spec["ingress"]
    assert rule["ports"] == [{"protocol": "TCP", "port": MODEL_PORT_NAME}]
    # Every peer is a pod selector in this namespace (no namespaceSelector, no ipBlock), and it
    # admits the gateway and the routers and nothing else this deployment runs.
    assert rule["from"] and all(set(peer) == {"podSelector"} for peer in rule["from"])
    admitted = lambda labels: any(selects(peer["podSelector"], labels) for peer in rule["from"])  # noqa: E731
    gateway = one(objects, "StatefulSet", "byoc-gateway")["spec"]["template"]["metadata"]["labels"]
    router = one(objects, "Deployment", "byoc-router")["spec"]["template"]["metadata"]["labels"]
    assert admitted(gateway) and admitted(router)
    assert not admitted(MODEL_POD_LABELS) and not admitted({}) and not admitted({"app": "client"})


@needs_kubectl
@overlays
def test_prometheus_namespace_reaches_the_metrics_port(overlay):
    ingress = one(rendered(overlay), "NetworkPolicy", "byoc-gateway")["spec"]["ingress"][0]
    prometheus = ingress["from"][2]
    assert prometheus == {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}},
                          "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}}}
    assert {"protocol": "TCP", "port": 8080} in ingress["ports"]


@needs_kubectl
def test_prometheus_namespace_is_set_as_documented(tmp_path):
    """The patch documented in base/networkpolicy.yaml sets another Prometheus namespace."""
    text = (DEPLOY / "base" / "networkpolicy.yaml").read_text()
    lines = []
    for line in text[text.index("#   patches:"):].splitlines():
        m = re.match(r"\s*#   (.*)$", line)
        if not m:
            break
        lines.append(m.group(1))
    documented = "\n".join(lines)
    rel = os.path.relpath(DEPLOY / "base", tmp_path)
    (tmp_path / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
        f"resources:\n  - {rel}\n" + documented + "\n")
    objects = kustomize(tmp_path)
    policy = one(objects, "NetworkPolicy", "byoc-gateway")
    for version in K8S_VERSIONS:
        validate(policy, version)
    peer = policy["spec"]["ingress"][0]["from"][2]
    assert peer["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": "observability"}


@needs_kubectl
@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_monitoring_overlay_adds_a_service_monitor(version):
    objects = kustomize(DEPLOY / "overlays" / "monitoring")
    crds = [o for o in objects if o["apiVersion"].startswith("monitoring.coreos.com/")]
    for obj in objects:
        if obj not in crds:
            validate(obj, version)
    [monitor] = crds
    assert monitor["kind"] == "ServiceMonitor" and monitor["metadata"]["namespace"] == NAMESPACE
    spec = monitor["spec"]
    assert set(spec) == {"selector", "namespaceSelector", "endpoints"}
    assert spec["namespaceSelector"] == {"matchNames": [NAMESPACE]}
    services = by_kind(objects, "Service")
    selected = [name for name, svc in services.items() if selects(spec["selector"], svc["metadata"]["labels"])]
    assert selected == ["byoc-predict"], "one Service whose endpoints are every gateway and router pod, once"
    [endpoint] = spec["endpoints"]
    assert endpoint["path"] == "/metrics" and endpoint["scheme"] == "http"
    assert endpoint["port"] in {p["name"] for p in services["byoc-predict"]["spec"]["ports"]}
    assert set(endpoint) <= {"port", "path", "scheme", "interval", "scrapeTimeout"}
    # Otherwise the production overlay, unchanged.
    production = {(o["kind"], o["metadata"]["name"]) for o in rendered("production")}
    assert {(o["kind"], o["metadata"]["name"]) for o in objects if o not in crds} == production
    peer = one(objects, "NetworkPolicy", "byoc-gateway")["spec"]["ingress"][0]["from"][2]
    assert peer["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": "monitoring"}


@needs_kubectl
def test_production_api_server_egress_patch_renders(tmp_path):
    """The optional overlay patch that narrows the API-server rule applies and stays valid."""
    shutil.copy(DEPLOY / "overlays" / "production" / "networkpolicy-apiserver.yaml", tmp_path)
    rel = os.path.relpath(DEPLOY / "overlays" / "production", tmp_path)
    (tmp_path / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
        f"resources:\n  - {rel}\n"
        "patches:\n  - path: networkpolicy-apiserver.yaml\n    target:\n      kind: NetworkPolicy\n"
        "      name: byoc-gateway\n")
    objects = kustomize(tmp_path)
    policy = one(objects, "NetworkPolicy", "byoc-gateway")
    validate(policy, K8S_VERSIONS[0])
    api_rule = policy["spec"]["egress"][3]
    assert {"protocol": "TCP", "port": 443} in api_rule["ports"]
    assert all(p["ipBlock"]["cidr"].endswith("/32") for p in api_rule["to"])


@needs_kubectl
@overlays
def test_images(overlay):
    for workload in workloads(rendered(overlay)):
        for c in containers(pod_spec(workload)):
            name, _, tag = c["image"].rpartition(":")
            assert name == GATEWAY_IMAGE, c["image"]
            assert tag and tag != "latest", c["image"]
            if overlay == "production":
                assert re.fullmatch(r"\d+\.\d+\.\d+", tag), f"production pins a release: {c['image']}"


# --------------------------------------------------------------------------- flags and README

def gateway_help() -> str:
    try:
        path = harness.binary("byoc-gateway")
    except (FileNotFoundError, RuntimeError) as e:
        pytest.skip(str(e))
    out = subprocess.run([path, "--help"], capture_output=True, text=True, timeout=30)
    return out.stdout + out.stderr


@needs_kubectl
def test_manifest_flags_are_flags_the_gateway_knows():
    """Every --flag the manifests pass is one byoc-gateway accepts (it exits on unknown flags)."""
    usage = gateway_help()
    used = set()
    for overlay in OVERLAYS:
        for workload in workloads(rendered(overlay)):
            for c in pod_spec(workload)["containers"]:
                used.update(re.match(r"--([a-z0-9-]+)", a).group(1) for a in c.get("args", []) if a.startswith("--"))
                used.update(e["name"][len("BYOC_"):].lower().replace("_", "-")
                            for e in c.get("env", []) if e["name"].startswith("BYOC_"))
    unknown = sorted(f for f in used if f"--{f}" not in usage)
    assert not unknown, f"byoc-gateway --help does not list {unknown}:\n{usage}"


@needs_kubectl
def test_readme_kubernetes_snippets_validate():
    """YAML blocks in deploy/README.md that are Kubernetes objects are valid too."""
    text = (DEPLOY / "README.md").read_text()
    blocks = re.findall(r"```yaml\n(.*?)```", text, flags=re.S)
    objects = [doc for block in blocks for doc in yaml.safe_load_all(block)
               if isinstance(doc, dict) and "apiVersion" in doc and "kind" in doc]
    assert objects, "deploy/README.md shows the backup CronJob"
    for obj in objects:
        validate(obj, K8S_VERSIONS[0])
        for workload in workloads([obj]):
            for c in containers(pod_spec(workload)):
                sc = c.get("securityContext", {})
                assert sc.get("readOnlyRootFilesystem") is True and sc.get("allowPrivilegeEscalation") is False, c["name"]


# --------------------------------------------------------------------------- Dockerfiles

BASE_IMAGE_PACKAGES = {"libc6", "libgcc-s1", "libstdc++6"}  # in debian:bookworm-slim already


def runtime_packages(dockerfile: Path, stage_from: str) -> set[str]:
    """Packages `apt-get install`ed in the stage that starts FROM stage_from."""
    text = dockerfile.read_text().replace("\\\n", " ")
    stages = re.split(r"^FROM\s+", text, flags=re.M)
    stage = next(s for s in stages if s.startswith(stage_from))
    packages = set()
    for m in re.finditer(r"apt-get install ([^&\n]*)", stage):
        packages.update(w for w in m.group(1).split() if not w.startswith("-"))
    return packages


def linked_packages(binary_path: str) -> set[str]:
    """Debian packages of the shared libraries a binary loads, outside the Swift toolchain."""
    out = subprocess.run(["ldd", binary_path], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    packages = set()
    swift_lib = re.compile(r"/swift/|libswift|libFoundation|lib_FoundationICU|libdispatch|libBlocksRuntime")
    for line in out.stdout.splitlines():
        m = re.search(r"=>\s+(/\S+)", line) or re.match(r"\s*(/\S+)", line)
        if not m or swift_lib.search(m.group(1)):
            continue  # vdso, or a Swift runtime library (linked statically in the images)
        real = os.path.realpath(m.group(1))
        owner = None
        for candidate in (m.group(1), real, real.replace("/usr/lib/", "/lib/"), real.replace("/lib/", "/usr/lib/", 1)):
            q = subprocess.run(["dpkg", "-S", candidate], capture_output=True, text=True)
            if q.returncode == 0:
                owner = q.stdout.split(":")[0]
                break
        assert owner, f"no Debian package owns {m.group(1)}"
        packages.add(owner)
    return packages


@pytest.mark.skipif(shutil.which("dpkg") is None, reason="not a Debian system")
@pytest.mark.parametrize("product,dockerfile,stage", [
    ("byoc-gateway", DEPLOY / "Dockerfile", "${RUNTIME_IMAGE} AS runtime"),
    ("byocctl", DEPLOY / "Dockerfile", "${RUNTIME_IMAGE} AS runtime"),
    ("byoc-echo-model", DEPLOY / "examples" / "echo" / "Dockerfile", "${RUNTIME_IMAGE}\n"),
])
def test_runtime_image_has_every_library_the_binary_links(product, dockerfile, stage):
    try:
        path = harness.binary(product)
    except (FileNotFoundError, RuntimeError) as e:
        pytest.skip(str(e))
    missing = linked_packages(path) - runtime_packages(dockerfile, stage) - BASE_IMAGE_PACKAGES
    assert not missing, f"{dockerfile.relative_to(harness.ROOT)} runtime stage lacks {sorted(missing)} for {product}"


@pytest.mark.parametrize("dockerfile", [DEPLOY / "Dockerfile", DEPLOY / "examples" / "echo" / "Dockerfile",
                                        DEPLOY / "examples" / "iris" / "Dockerfile"])
def test_dockerfiles_run_non_root_and_have_a_context_filter(dockerfile):
    text = dockerfile.read_text()
    users = re.findall(r"^USER\s+(\S+)", text, flags=re.M)
    assert users and users[-1] == "65532:65532", f"{dockerfile}: last USER {users}"
    assert Path(str(dockerfile) + ".dockerignore").is_file(), "keeps .build*/ out of the build context"
    if "swift build" in text:
        assert "--static-swift-stdlib" in text and "-c release" in text
        assert re.search(r"^FROM \$\{SWIFT_IMAGE\} AS build", text, flags=re.M)
        assert re.search(r"^ARG SWIFT_IMAGE=swift:6\.\d+(\.\d+)?-bookworm$", text, flags=re.M)
        assert re.search(r"^ARG RUNTIME_IMAGE=debian:bookworm-slim$", text, flags=re.M)
