"""The iris example (deploy/examples/iris/serve.py) on the local runtime, end to end through
the Admin API and byoc.v1.Inference/Predict: register v1 (logistic regression) and v2 (random
forest) by command, wait for READY, predict on both and on the default, flip the default,
scale v1 to 3 replicas and back to 1, delete v2.

The tests of this module share one gateway (training and starting iris replicas is the slow
part) and run in file order: each leaves v1 as the default, v2 registered, 1 replica each,
except the last one, which deletes v2.

Iris does not say which process answered, so the spread over replicas is checked two ways:
on iris, every replica port ends up with an established connection from the gateway after
the calls; on the echo model, the `byoc-served-by` header names 3 distinct replicas.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import grpc
import pytest

import harness
from harness import binary, pb, state_name

pytestmark = pytest.mark.timeout(300)

IRIS = harness.ROOT / "deploy" / "examples" / "iris" / "serve.py"
SETOSA = [5.1, 3.5, 1.4, 0.2]
VERSICOLOR = [6.0, 2.7, 4.2, 1.3]
VIRGINICA = [6.9, 3.1, 5.8, 2.3]
CLASSES = ["setosa", "versicolor", "virginica"]
READY_TIMEOUT = 120  # python + scikit-learn start and train on a loaded 2-core machine


def _sklearn_missing() -> str | None:
    try:
        import sklearn  # noqa: F401
    except ImportError:
        return f"scikit-learn is not installed in {sys.executable} (Tests/Integration/requirements.txt)"
    return None


def iris_cmd() -> list[str]:
    return [sys.executable, str(IRIS)]


def x_request(model: str, version: str = "", rows=(SETOSA,)):
    req = pb.inference.PredictRequest(model=model, version=version)
    t = req.inputs["x"]
    t.dtype = pb.inference.FLOAT32
    t.shape.extend([len(rows), 4])
    t.floats.extend(v for row in rows for v in row)
    return req


def gateway_connections_to(gateway_pid: int, port: int) -> int:
    """ESTABLISHED TCP connections owned by `gateway_pid` whose remote port is `port`."""
    inodes = set()
    fd_dir = Path(f"/proc/{gateway_pid}/fd")
    for fd in fd_dir.iterdir():
        try:
            target = fd.readlink() if hasattr(fd, "readlink") else Path(str(fd.resolve()))
        except OSError:
            continue
        text = str(target)
        if text.startswith("socket:["):
            inodes.add(text[8:-1])
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except FileNotFoundError:
            continue
        for line in lines:
            parts = line.split()
            if len(parts) > 9 and parts[3] == "01" and int(parts[2].rsplit(":", 1)[1], 16) == port \
                    and parts[9] in inodes:
                count += 1
    return count


@pytest.fixture(scope="module")
def iris(tmp_path_factory):
    missing = _sklearn_missing()
    if missing:
        pytest.fail(missing)
    procs = harness.Processes(tmp_path_factory.mktemp("iris"))
    try:
        gw = procs.registry_gateway(extra=["--resync-ms", "500", "--grace-period-ms", "2000",
                                           "--max-replicas", "8"])
        v1 = gw.register("iris", "1", iris_cmd())
        v2 = gw.register("iris", "2", iris_cmd())
        assert state_name(v1.state) in ("PENDING", "DEPLOYING", "READY")
        assert state_name(v2.state) in ("PENDING", "DEPLOYING", "READY")
        gw.wait_state("iris", "1", "READY", timeout=READY_TIMEOUT, ready=1)
        gw.wait_state("iris", "2", "READY", timeout=READY_TIMEOUT, ready=1)
        yield gw
    except BaseException:
        sys.stderr.write(f"\niris gateway logs:\n{procs.report()}\n")
        raise
    finally:
        procs.close()


def check_outputs(resp, n: int):
    out = resp.outputs
    assert set(out) >= {"label", "class", "probabilities"}, set(out)
    assert out["label"].dtype == pb.inference.INT64 and list(out["label"].shape) == [n]
    assert out["class"].dtype == pb.inference.STRING and list(out["class"].shape) == [n]
    assert out["probabilities"].dtype == pb.inference.FLOAT32 and list(out["probabilities"].shape) == [n, 3]
    labels = list(out["label"].ints)
    classes = list(out["class"].strings)
    probs = list(out["probabilities"].floats)
    assert [CLASSES[label] for label in labels] == classes
    for i in range(n):
        row = probs[3 * i:3 * i + 3]
        assert abs(sum(row) - 1.0) < 1e-3, row
        assert max(range(3), key=lambda j: row[j]) == labels[i], (row, labels[i])
    return classes


def test_predict_on_both_versions_and_the_default(iris):
    rows = (SETOSA, VERSICOLOR, VIRGINICA)
    for version in ("1", "2"):
        resp = iris.wait_predict_ok("iris", version, request=x_request("iris", version, rows))
        assert (resp.model, resp.version) == ("iris", version)
        assert check_outputs(resp, 3) == CLASSES, f"version {version} misclassifies the textbook examples"
    # the default is the first registered version
    assert iris.admin.GetModel(pb.admin.GetModelRequest(model="iris"), timeout=20).default_version == "1"
    resp = iris.inference.Predict(x_request("iris"), timeout=20)
    assert resp.version == "1"
    assert check_outputs(resp, 1) == ["setosa"]
    # the two versions are different models: their probabilities differ
    p1 = list(iris.inference.Predict(x_request("iris", "1", rows), timeout=20).outputs["probabilities"].floats)
    p2 = list(iris.inference.Predict(x_request("iris", "2", rows), timeout=20).outputs["probabilities"].floats)
    assert p1 != p2, "v1 (logistic regression) and v2 (random forest) answered identically"


def test_set_default_flips_the_route(iris):
    try:
        m = iris.admin.SetDefaultVersion(pb.admin.SetDefaultVersionRequest(model="iris", version="2"), timeout=20)
        assert m.default_version == "2"
        assert harness.wait_until(lambda: iris.inference.Predict(x_request("iris"), timeout=20).version == "2",
                                  15, 0.05), "the default route did not flip to version 2"
        for _ in range(10):
            assert iris.inference.Predict(x_request("iris"), timeout=20).version == "2"
        assert iris.inference.Predict(x_request("iris", "1"), timeout=20).version == "1"
    finally:
        iris.admin.SetDefaultVersion(pb.admin.SetDefaultVersionRequest(model="iris", version="1"), timeout=20)
    assert harness.wait_until(lambda: iris.inference.Predict(x_request("iris"), timeout=20).version == "1", 15, 0.05)


def test_scale_v1_to_3_spreads_calls_then_back_to_1(iris):
    [first] = iris.wait_replica_count("iris", "1", 1)
    mv = iris.admin.ScaleModelVersion(pb.admin.ScaleModelVersionRequest(model="iris", version="1", min_replicas=3),
                                      timeout=20)
    assert (mv.min_replicas, mv.max_replicas) == (3, 3)
    iris.wait_state("iris", "1", "READY", timeout=READY_TIMEOUT, ready=3)
    replicas = iris.wait_replica_count("iris", "1", 3, timeout=30)
    assert first.ident in {r.ident for r in replicas}, "scaling up must keep the running replica"
    for r in replicas:
        cmdline = Path(f"/proc/{r.pid}/cmdline").read_bytes().split(b"\0")
        assert str(IRIS).encode() in cmdline, cmdline
    assert len({r.port for r in replicas}) == 3
    assert len(iris.replicas("iris", "2")) == 1, "scaling v1 must not touch v2"

    # calls spread: after enough calls the gateway is connected to every replica
    ports = {r.port for r in replicas}
    deadline = time.monotonic() + 60
    calls = 0
    while True:
        for _ in range(10):
            resp = iris.inference.Predict(x_request("iris", "1"), timeout=20)
            assert resp.version == "1" and list(resp.outputs["class"].strings) == ["setosa"]
            calls += 1
        reached = {p for p in ports if gateway_connections_to(iris.pid, p) > 0}
        if reached == ports:
            break
        assert time.monotonic() < deadline, \
            f"after {calls} calls the gateway is connected to replica ports {sorted(reached)} of {sorted(ports)}"

    # back to 1: exactly one process left, and it serves
    mv = iris.admin.ScaleModelVersion(pb.admin.ScaleModelVersionRequest(model="iris", version="1", min_replicas=1),
                                      timeout=20)
    assert (mv.min_replicas, mv.max_replicas) == (1, 1)
    [left] = iris.wait_replica_count("iris", "1", 1, timeout=30)
    for r in replicas:
        if r.ident != left.ident:
            assert harness.wait_until(lambda: not r.alive(), 15), f"{r} still running after scale-down"
    iris.wait_state("iris", "1", "READY", timeout=30, ready=1)
    for _ in range(20):
        resp = iris.inference.Predict(x_request("iris", "1"), timeout=20)
        assert list(resp.outputs["class"].strings) == ["setosa"]
    assert gateway_connections_to(iris.pid, left.port) > 0


def test_delete_v2_stops_its_processes_and_route(iris):
    [v2] = iris.wait_replica_count("iris", "2", 1)
    assert iris.inference.Predict(x_request("iris", "2"), timeout=20).version == "2"
    resp = iris.admin.DeleteModel(pb.admin.DeleteModelRequest(model="iris", version="2"), timeout=20)
    assert [(d.model, d.version) for d in resp.deleted] == [("iris", "2")]
    assert harness.wait_until(lambda: not v2.alive(), 20, 0.05), f"{v2} still running after delete"
    assert iris.replicas("iris", "2") == []

    def gone():
        try:
            iris.inference.Predict(x_request("iris", "2"), timeout=10)
        except grpc.RpcError as e:
            return e.code() == grpc.StatusCode.NOT_FOUND
        return False
    assert harness.wait_until(gone, 15, 0.05), "iris/2 still routed after delete"
    m = iris.admin.GetModel(pb.admin.GetModelRequest(model="iris"), timeout=20)
    assert [v.version for v in m.versions] == ["1"] and m.default_version == "1"
    # v1 untouched
    assert iris.inference.Predict(x_request("iris"), timeout=20).version == "1"
    assert len(iris.replicas("iris", "1")) == 1


# --------------------------------------------------------------------------- spread, attributed

def test_echo_calls_spread_over_3_processes(procs):
    gw = procs.registry_gateway(extra=["--resync-ms", "500"])
    gw.register("spread", "1", [binary("byoc-echo-model")])
    gw.wait_state("spread", "1", "READY", timeout=60, ready=1)
    gw.admin.ScaleModelVersion(pb.admin.ScaleModelVersionRequest(model="spread", version="1", min_replicas=3),
                               timeout=20)
    gw.wait_state("spread", "1", "READY", timeout=60, ready=3)
    replicas = gw.wait_replica_count("spread", "1", 3)
    ports = {r.port for r in replicas}
    counts: dict[int, int] = {}
    deadline = time.monotonic() + 30
    n = 0
    while set(counts) != ports or n < 60:
        _, call = gw.predict("spread", with_call=True)
        port = int(harness.served_by(call).rsplit(":", 1)[1])
        counts[port] = counts.get(port, 0) + 1
        n += 1
        assert time.monotonic() < deadline, f"calls by replica port: {counts}, replicas: {sorted(ports)}"
    assert set(counts) == ports, f"calls went to ports {counts}, replicas listen on {sorted(ports)}"
    assert min(counts.values()) >= n // 10, f"uneven spread over 3 replicas: {counts}"

    gw.admin.ScaleModelVersion(pb.admin.ScaleModelVersionRequest(model="spread", version="1", min_replicas=1),
                               timeout=20)
    [left] = gw.wait_replica_count("spread", "1", 1, timeout=30)
    gw.wait_state("spread", "1", "READY", timeout=30, ready=1)
    served = set()
    for _ in range(30):
        _, call = gw.predict("spread", with_call=True)
        served.add(harness.served_by(call))
    assert {int(s.rsplit(":", 1)[1]) for s in served} == {left.port}, served


def test_iris_replicas_generate_their_stubs_concurrently(procs, tmp_path):
    """A fresh checkout has no deploy/examples/iris/gen: replicas starting together must all
    manage to generate (or reuse) the stubs."""
    if _sklearn_missing():
        pytest.fail(_sklearn_missing())
    gw = procs.registry_gateway(extra=["--resync-ms", "500"])
    gen = tmp_path / "iris-gen"
    gw.register("fresh", "1", iris_cmd(), min_replicas=3, env={"BYOC_IRIS_GEN": str(gen)})
    gw.wait_state("fresh", "1", "READY", timeout=READY_TIMEOUT, ready=3)
    resp = gw.wait_predict_ok("fresh", "1", request=x_request("fresh", "1", (VIRGINICA,)))
    assert list(resp.outputs["class"].strings) == ["virginica"]
