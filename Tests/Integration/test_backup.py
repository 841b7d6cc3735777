"""`byoc-gateway backup` / `restore` (issue 17, item 6): an online, consistent copy of the
registry while the gateway serves and writes, and the restore that brings every version back
(locally, and on Kubernetes after the cluster and the PVC are lost)."""
from __future__ import annotations

import sqlite3
import subprocess
import threading

import grpc
import harness
from harness import binary

from test_local_runtime import echo_cmd


def gateway_cmd(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([binary("byoc-gateway"), *args], capture_output=True, text=True, timeout=timeout,
                          env=harness.child_env())


def rows(path, sql):
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


def test_backup_while_writing_is_consistent_and_has_every_acknowledged_write(procs, tmp_path):
    gw = procs.registry_gateway()
    acknowledged: list[str] = []
    stop = threading.Event()
    errors: list[Exception] = []

    def writer():
        n = 0
        while not stop.is_set() and n < 400:
            try:
                gw.register(f"m{n}", "1", image=f"example.com/m{n}:1", timeout=10)
                acknowledged.append(f"m{n}")
            except grpc.RpcError as error:  # nothing may fail here
                errors.append(error)
            n += 1

    thread = threading.Thread(target=writer)
    thread.start()
    copies = []
    try:
        for i in range(3):
            harness.wait_until(lambda: len(acknowledged) > 10 * (i + 1), timeout=30)
            seen_before = len(acknowledged)
            out = tmp_path / f"backup-{i}.sqlite"
            result = gateway_cmd("backup", "--to", str(out), "--db", str(gw.db))
            assert result.returncode == 0, result.stderr
            assert f"backed up {gw.db} to {out}" in result.stdout
            copies.append((out, seen_before))
    finally:
        stop.set()
        thread.join(60)
    assert not errors, errors
    for out, seen_before in copies:
        assert rows(out, "PRAGMA integrity_check") == [("ok",)]
        models = {name for (name,) in rows(out, "SELECT name FROM models")}
        versions = {model for (model,) in rows(out, "SELECT model FROM versions")}
        # A consistent snapshot: every model row has its version row and the other way round.
        assert models == versions
        # Every write acknowledged before the backup started is in it.
        assert set(acknowledged[:seen_before]) <= models
        assert rows(out, "PRAGMA journal_mode") == [("delete",)], "a backup is one standalone file"
    # After the writes stop, a backup has all of them.
    final = tmp_path / "final.sqlite"
    assert gateway_cmd("backup", "--to", str(final), "--db", str(gw.db)).returncode == 0
    assert {name for (name,) in rows(final, "SELECT name FROM models")} == set(acknowledged)


def test_restore_after_losing_everything_brings_every_version_back(procs, tmp_path):
    gw = procs.registry_gateway(state_dir=tmp_path / "state", db=tmp_path / "state" / "registry.sqlite")
    gw.register("alpha", "1", echo_cmd())
    gw.register("alpha", "2", echo_cmd(), min_replicas=2)
    gw.register("beta", "1", echo_cmd())
    gw.admin.SetDefaultVersion(harness.pb.admin.SetDefaultVersionRequest(model="alpha", version="2"), timeout=10)
    for model, version in [("alpha", "1"), ("alpha", "2"), ("beta", "1")]:
        gw.wait_state(model, version, "READY")
    backup = tmp_path / "offsite" / "registry-backup.sqlite"
    backup.parent.mkdir()
    result = gateway_cmd("backup", "--to", str(backup), "--state-dir", str(gw.state_dir))
    assert result.returncode == 0, result.stderr
    assert "2 models, 3 versions" in result.stdout

    # Disaster: the gateway dies and its whole state (registry, logs) is gone.
    gw.proc.kill()
    gw.proc.wait(10)
    subprocess.run(["rm", "-rf", str(gw.state_dir)], check=True)

    restored_state = tmp_path / "new-state"
    result = gateway_cmd("restore", "--from", str(backup), "--state-dir", str(restored_state))
    assert result.returncode == 0, result.stderr
    assert "restored" in result.stdout and "2 models, 3 versions" in result.stdout
    again = procs.registry_gateway(state_dir=restored_state, db=restored_state / "registry.sqlite", name="restored")
    for model, version in [("alpha", "1"), ("alpha", "2"), ("beta", "1")]:
        again.wait_state(model, version, "READY")
    assert len(again.wait_replica_count("alpha", "2", 2)) == 2
    # The default version came back too: a call naming no version goes to alpha 2.
    assert again.predict("alpha").version == "2"
    assert again.predict("beta").version == "1"


def test_restore_is_refused_while_a_gateway_holds_the_registry(procs, tmp_path):
    gw = procs.registry_gateway()
    gw.register("keep", "1", image="example.com/keep:1")
    backup = tmp_path / "b.sqlite"
    assert gateway_cmd("backup", "--to", str(backup), "--db", str(gw.db)).returncode == 0
    result = gateway_cmd("restore", "--from", str(backup), "--db", str(gw.db))
    assert result.returncode == 1
    assert "in use by another byoc-gateway" in result.stderr and f"pid {gw.pid}" in result.stderr, result.stderr
    assert "stop that gateway first" in result.stderr
    assert gw.get_version("keep", "1") is not None


def test_restore_from_a_file_that_is_not_a_registry_leaves_the_registry_alone(procs, tmp_path):
    gw = procs.registry_gateway()
    gw.register("keep", "1", image="example.com/keep:1")
    db = gw.db
    gw.proc.terminate()
    gw.proc.wait(20)
    before = rows(db, "SELECT model, version FROM versions")
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not a database" * 100)
    other = tmp_path / "other.sqlite"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.close()
    for bad, words in [(junk, "cannot read"), (other, "not a byoc registry"), (tmp_path / "missing.sqlite", "no backup at")]:
        result = gateway_cmd("restore", "--from", str(bad), "--db", str(db))
        assert result.returncode == 1, (bad, result.stdout, result.stderr)
        assert words in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert rows(db, "SELECT model, version FROM versions") == before


def test_backup_errors_are_one_line(tmp_path):
    result = gateway_cmd("backup", "--to", str(tmp_path / "x.sqlite"), "--db", str(tmp_path / "nothing.sqlite"))
    assert result.returncode == 1 and "no registry at" in result.stderr
    assert not (tmp_path / "nothing.sqlite").exists(), "backup never creates the registry it reads"
    result = gateway_cmd("backup")
    assert result.returncode == 2 and "backup needs --to FILE" in result.stderr
    result = gateway_cmd("backup", "--to", "x", "--bogus", "1")
    assert result.returncode == 2 and "unknown flag --bogus" in result.stderr


def test_disaster_recovery_drill_on_kubernetes(procs, tmp_path):
    """deploy/README.md's drill against the fake Kubernetes API: a gateway with --runtime
    kubernetes runs versions; the registry is backed up while it serves; then the cluster and
    the PVC are lost (the API server and every object in it, the registry file); the backup is
    restored onto a new volume and a gateway started against a fresh API server rebuilds every
    version's objects and serves calls again, default version included."""
    from test_kubernetes import KINDS, FakeKube, admin, register, served_by_set, start_gateway, wait_pods_serving, wait_state

    fake = FakeKube(procs)
    pvc = tmp_path / "pvc"
    pvc.mkdir()
    gw = start_gateway(procs, fake, pvc / "registry.sqlite")
    stub = admin(procs, gw)
    register(stub, "iris", "1", "example/iris:1", min_replicas=2, max_replicas=3)
    register(stub, "iris", "2", "example/iris:2")
    register(stub, "wine", "1", "example/wine:1", min_replicas=2, max_replicas=2)
    stub.SetDefaultVersion(harness.pb.admin.SetDefaultVersionRequest(model="iris", version="2"), timeout=10)
    for model, version in (("iris", "1"), ("iris", "2"), ("wine", "1")):
        wait_state(stub, model, version)
    before = fake.workload()
    assert all(before[k] for k in ("deployments", "services")), before

    backup = tmp_path / "offsite" / "registry-backup.sqlite"
    backup.parent.mkdir()
    result = gateway_cmd("backup", "--to", str(backup), "--db", str(pvc / "registry.sqlite"))
    assert result.returncode == 0, result.stderr
    assert "2 models, 3 versions" in result.stdout, result.stdout

    # The cluster and the PVC are lost: the gateway with them, every API object, the file.
    gw.kill()
    fake.call("POST", "/wipe", {})
    assert fake.workload() == {k: set() for k in KINDS} and fake.pods() == []
    fake.proc.terminate()
    fake.proc.wait(10)
    subprocess.run(["rm", "-rf", str(pvc)], check=True)

    # A new cluster: a fresh API server and an empty volume the backup is restored onto.
    new_pvc = tmp_path / "new-pvc"
    result = gateway_cmd("restore", "--from", str(backup), "--db", str(new_pvc / "registry.sqlite"))
    assert result.returncode == 0, result.stderr
    assert "2 models, 3 versions" in result.stdout, result.stdout
    fresh = FakeKube(procs, name="fake-kube-new")
    assert fresh.workload() == {k: set() for k in KINDS}
    gw2 = start_gateway(procs, fresh, new_pvc / "registry.sqlite", name="gateway-new")
    stub2 = admin(procs, gw2)
    assert harness.wait_until(lambda: fresh.workload() == before, 20), (fresh.workload(), before)
    for model, version in (("iris", "1"), ("iris", "2"), ("wine", "1")):
        wait_state(stub2, model, version)
    wait_pods_serving(procs, gw2, "wine", "1", 2)
    wait_pods_serving(procs, gw2, "iris", "1", 2)
    # The default version came back too: calls naming no version go to iris 2.
    assert {v for v, _ in served_by_set(procs, gw2, "iris", calls=5)} == {"2"}
