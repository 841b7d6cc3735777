"""GetLogs (issue 16 item 1): a version's replica logs, tail and follow, on the local runtime
(the replicas' files) and on Kubernetes (the pods' log API of the fake API server); byocctl
logs; errors and auth."""
from __future__ import annotations

import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import grpc
import pytest

import harness
from harness import binary, child_env, pb

HERE = Path(__file__).resolve().parent

pytestmark = pytest.mark.timeout(120)


def talking_model(tmp_path: Path) -> str:
    """An echo model that first prints two lines, then prints whatever the test writes to
    `say-<replica>` in `tmp_path` (so the test decides when a replica writes a new line)."""
    script = tmp_path / "talk.sh"
    script.write_text(f"""#!/bin/sh
echo "hello from replica $BYOC_REPLICA"
echo "warming up $BYOC_REPLICA" >&2
( while :; do f="{tmp_path}/say-$BYOC_REPLICA"; if [ -f "$f" ]; then cat "$f"; rm -f "$f"; fi; sleep 0.05; done ) &
exec {binary("byoc-echo-model")}
""")
    script.chmod(0o755)
    return str(script)


def get_logs(stub, model, version="", tail=0, follow=False, timeout=20, metadata=None):
    return stub.GetLogs(pb.admin.GetLogsRequest(model=model, version=version, tail_lines=tail, follow=follow),
                        timeout=timeout, metadata=metadata)


class Follower:
    """Reads a following GetLogs stream on a thread; lines arrive in `lines`."""

    def __init__(self, call):
        self.call = call
        self.lines: queue.Queue = queue.Queue()
        self.error = None
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        try:
            for line in self.call:
                self.lines.put(line)
        except grpc.RpcError as e:
            self.error = e

    def wait_for(self, text: str, timeout: float):
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                return None
            if text in line.line:
                return line


def test_local_tail_follow_and_errors(procs, tmp_path):
    gw = procs.registry_gateway(extra=["--resync-ms", "500"])
    gw.register("talk", "1", command=[talking_model(tmp_path)], min_replicas=2, max_replicas=2)
    gw.wait_state("talk", "1", "READY", ready=2)
    assert harness.wait_until(lambda: len(list(get_logs(gw.admin, "talk"))) >= 6, 10, 0.1)

    lines = list(get_logs(gw.admin, "talk", "1"))
    by_replica = {r: [l.line for l in lines if l.replica == r] for r in ("0", "1")}
    for r, got in by_replica.items():
        assert f"hello from replica {r}" in got and f"warming up {r}" in got, lines
        assert any(l.startswith("listening on ") for l in got), got
    assert all(l.time_unix_ms > 0 for l in lines)
    tail = list(get_logs(gw.admin, "talk", tail=1))  # "" = the default version
    assert sorted(l.replica for l in tail) == ["0", "1"], tail
    assert all(l.line.startswith("listening on ") for l in tail), tail

    follower = Follower(get_logs(gw.admin, "talk", tail=1, follow=True, timeout=60))
    assert follower.wait_for("listening on", 5), "the tail comes first"
    start = time.monotonic()
    (tmp_path / "say-1").write_text("a new line from one\n")
    got = follower.wait_for("a new line from one", 2)
    assert got is not None and got.replica == "1", got
    assert time.monotonic() - start < 2
    follower.call.cancel()
    follower.thread.join(5)
    assert follower.error is not None and follower.error.code() == grpc.StatusCode.CANCELLED

    for kw, code in (({"model": "nope"}, grpc.StatusCode.NOT_FOUND),
                     ({"model": "talk", "version": "9"}, grpc.StatusCode.NOT_FOUND),
                     ({"model": "talk", "tail": -1}, grpc.StatusCode.INVALID_ARGUMENT),
                     ({"model": ""}, grpc.StatusCode.INVALID_ARGUMENT)):
        with pytest.raises(grpc.RpcError) as err:
            list(get_logs(gw.admin, **kw))
        assert err.value.code() == code, (kw, err.value)


def test_byocctl_logs_tail_and_follow(procs, tmp_path):
    gw = procs.registry_gateway(extra=["--resync-ms", "500"])
    gw.register("talk", "1", command=[talking_model(tmp_path)])
    gw.wait_state("talk", "1", "READY")
    url = f"http://{gw.address}"
    argv = [binary("byocctl"), "logs", "--server", url, "talk"]
    assert harness.wait_until(lambda: "listening on" in subprocess.run(argv, capture_output=True, text=True,
                                                                        env=child_env()).stdout, 10, 0.1)
    out = subprocess.run(argv + ["1", "--tail", "2"], capture_output=True, text=True, env=child_env(), timeout=30)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[-1].startswith("0: listening on "), out.stdout
    assert len(out.stdout.splitlines()) == 2, out.stdout

    missing = subprocess.run([binary("byocctl"), "logs", "--server", url, "talk", "7"], capture_output=True, text=True,
                             env=child_env(), timeout=30)
    assert missing.returncode == 1 and missing.stderr.startswith("byocctl: NOT_FOUND: "), missing.stderr

    # Ctrl-C (SIGINT) stops following; restored to its default action in the child because a
    # test run started in the background (`Tests/run &`) hands its children SIGINT ignored.
    follow = subprocess.Popen(argv + ["-f", "--tail", "1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=child_env(), preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        assert follow.stdout.readline().startswith("0: listening on ")
        (tmp_path / "say-0").write_text("followed by byocctl\n")
        got = queue.Queue()
        threading.Thread(target=lambda: got.put(follow.stdout.readline()), daemon=True).start()
        assert got.get(timeout=2) == "0: followed by byocctl\n"
        assert follow.poll() is None, "-f keeps following"
    finally:
        follow.send_signal(signal.SIGINT)
        follow.wait(10)


def test_logs_need_an_admin_token(procs, tmp_path):
    token = harness.make_token()
    token_file = tmp_path / "admin-token"
    token_file.write_text(token + "\n")
    token_file.chmod(0o600)
    gw = procs.registry_gateway(extra=["--require-auth", "--admin-token-file", str(token_file)])
    with pytest.raises(grpc.RpcError) as err:
        list(get_logs(gw.admin, "talk"))
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    with pytest.raises(grpc.RpcError) as err:
        list(get_logs(gw.admin, "talk", metadata=[("authorization", f"Bearer {token}")]))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND  # authenticated; no such model


def test_kubernetes_pod_logs_tail_follow_and_previous(procs, tmp_path):
    sys.path.insert(0, str(HERE))
    from test_kubernetes import FakeKube, admin, register, start_gateway, wait_state
    fake = FakeKube(procs)
    gw = start_gateway(procs, fake, tmp_path / "registry.sqlite")
    stub = admin(procs, gw)
    register(stub, "iris", "1", "example/iris:1", min_replicas=2, max_replicas=2)
    register(stub, "torch", "1", "crash/torch:1", env={"CRASH_MESSAGE": "No module named 'torch'"})
    wait_state(stub, "iris", "1", ready=2)
    pods = sorted(p["name"] for p in fake.pods() if p["model"] == "iris")
    assert len(pods) == 2

    lines = list(get_logs(stub, "iris"))
    assert sorted({l.replica for l in lines}) == pods, lines
    assert all(l.line.startswith("listening on ") for l in lines), lines
    # timestamps=true: the API's time, not the line's text
    assert all(abs(l.time_unix_ms / 1000 - time.time()) < 60 for l in lines), lines

    follower = Follower(get_logs(stub, "iris", "1", tail=1, follow=True, timeout=60))
    assert follower.wait_for("listening on", 5)
    log_dir = next(procs.dir.glob("fake-kube-*"))
    start = time.monotonic()
    with open(log_dir / f"{pods[1]}.log", "a") as f:  # the container writes a line
        f.write("a line written later\n")
    got = follower.wait_for("a line written later", 2)
    assert got is not None and got.replica == pods[1], got
    assert time.monotonic() - start < 2
    follower.call.cancel()

    # A crashed container waiting to restart: its previous run's output, cause included.
    wait_state(stub, "torch", "1", "FAILED", timeout=30)
    crashed = list(get_logs(stub, "torch"))
    assert [l.line for l in crashed] == ["starting", "No module named 'torch'"], crashed

    with pytest.raises(grpc.RpcError) as err:
        list(get_logs(stub, "iris", "2"))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


def test_kubernetes_follower_forwards_to_the_leader(procs, tmp_path):
    """The runtime reading the pods' logs runs on the leader: a follower forwards GetLogs to it
    (with the caller's credentials, like every Admin call), follow included."""
    sys.path.insert(0, str(HERE))
    from test_kubernetes import FakeKube, admin, register, start_gateway, wait_state
    fake = FakeKube(procs)
    db = tmp_path / "registry.sqlite"
    start_gateway(procs, fake, db, name="gateway-a", token="token-a")
    follower = start_gateway(procs, fake, db, name="gateway-b", token="token-b", leader=False)
    stub_b = admin(procs, follower)
    register(stub_b, "iris", "1", "example/iris:1")
    wait_state(stub_b, "iris", "1", ready=1)
    (pod,) = [p["name"] for p in fake.pods() if p["model"] == "iris"]
    assert harness.wait_until(lambda: len(list(get_logs(stub_b, "iris"))) >= 1, 10, 0.2)
    lines = list(get_logs(stub_b, "iris", "1"))
    assert [l.replica for l in lines] == [pod] and lines[-1].line.startswith("listening on "), lines
    with pytest.raises(grpc.RpcError) as err:
        list(get_logs(stub_b, "iris", "7"))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND, err.value

    follow = Follower(get_logs(stub_b, "iris", tail=1, follow=True, timeout=60))
    assert follow.wait_for("listening on", 5)
    with open(next(procs.dir.glob("fake-kube-*")) / f"{pod}.log", "a") as f:
        f.write("through the follower\n")
    assert follow.wait_for("through the follower", 2)
    follow.call.cancel()
    assert follower.count(r"became the leader") == 0


def test_shutdown_ends_open_follows(procs, tmp_path):
    """A follow never ends on its own: graceful shutdown ends it with UNAVAILABLE rather than
    waiting out the grace period (10 s by default)."""
    gw = procs.registry_gateway(extra=["--resync-ms", "500"])
    gw.register("talk", "1", command=[talking_model(tmp_path)])
    gw.wait_state("talk", "1", "READY")
    follower = Follower(get_logs(gw.admin, "talk", follow=True, timeout=60))
    assert follower.wait_for("hello from replica 0", 5)
    start = time.monotonic()
    gw.proc.terminate()
    assert gw.proc.wait(8) == 0
    assert time.monotonic() - start < 5, "the open follow held the drain"
    follower.thread.join(5)
    assert follower.error is not None and follower.error.code() == grpc.StatusCode.UNAVAILABLE, follower.error
    assert "shutting down" in follower.error.details()
