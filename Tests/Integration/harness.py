"""Shared helpers for the integration tests: generated stubs, child processes, channels.

Imported by conftest.py and by the test modules (pytest puts this directory on sys.path).
"""
from __future__ import annotations

import atexit
import base64
import importlib
import json
import os
import re
import shutil
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
PROTOS = ROOT / "Protos"
GEN = HERE / "gen"

PROTO_FILES = [
    "byoc/v1/inference.proto",
    "byoc/v1/admin.proto",
    "grpc/health/v1/health.proto",
    "inference/grpc_predict_v2.proto",
]

MiB = 1 << 20

# Every server under test prints this line (flushed) once it accepts connections.
LISTEN_RE = re.compile(r"listening on (\S+):(\d+)")

GRPC_OPTIONS = [
    ("grpc.max_send_message_length", -1),
    ("grpc.max_receive_message_length", -1),
    # Never send 127.0.0.1 traffic through an http_proxy from the environment.
    ("grpc.enable_http_proxy", 0),
]


# --------------------------------------------------------------------------- generated stubs

def generate_protos() -> None:
    """(Re)generates Python stubs for PROTO_FILES into GEN and makes them importable.

    Imports are `byoc.v1.inference_pb2`, `inference.grpc_predict_v2_pb2`, and
    `grpc.health.v1.health_pb2` (the last one lives under the real grpcio package: GEN/grpc is
    appended to `grpc.__path__`, and GEN/grpc gets no __init__.py so it never shadows grpcio).
    """
    from grpc_tools import protoc  # noqa: imported late: only needed here
    import grpc

    if GEN.exists():
        shutil.rmtree(GEN)
    GEN.mkdir(parents=True)
    well_known = Path(protoc.__file__).resolve().parent / "_proto"
    args = [
        "grpc_tools.protoc",
        f"-I{PROTOS}",
        f"-I{well_known}",
        f"--python_out={GEN}",
        f"--grpc_python_out={GEN}",
        *PROTO_FILES,
    ]
    rc = protoc.main(args)
    if rc != 0:
        raise RuntimeError(f"grpc_tools.protoc failed ({rc}): {' '.join(args)}")
    for d in [p for p in GEN.rglob("*") if p.is_dir()]:
        if d == GEN / "grpc":
            continue
        (d / "__init__.py").touch()

    if str(GEN) not in sys.path:
        sys.path.append(str(GEN))  # appended: GEN must never shadow an installed package
    gen_grpc = str(GEN / "grpc")
    if gen_grpc not in grpc.__path__:
        grpc.__path__.append(gen_grpc)
    importlib.invalidate_caches()


class _Stubs:
    """Lazy access to the generated modules: `pb.inference`, `pb.inference_grpc`, ..."""

    _names = {
        "inference": "byoc.v1.inference_pb2",
        "inference_grpc": "byoc.v1.inference_pb2_grpc",
        "admin": "byoc.v1.admin_pb2",
        "admin_grpc": "byoc.v1.admin_pb2_grpc",
        "health": "grpc.health.v1.health_pb2",
        "health_grpc": "grpc.health.v1.health_pb2_grpc",
        "oip": "inference.grpc_predict_v2_pb2",
        "oip_grpc": "inference.grpc_predict_v2_pb2_grpc",
    }

    def __getattr__(self, name):
        if name not in self._names:
            raise AttributeError(name)
        module = importlib.import_module(self._names[name])
        setattr(self, name, module)
        return module


pb = _Stubs()


# --------------------------------------------------------------------------- binaries

_bin_dir: Path | None = None


def swift_env() -> dict:
    env = dict(os.environ)
    if shutil.which("swift", path=env.get("PATH")) is None and Path("/opt/swift/usr/bin/swift").exists():
        env["PATH"] = "/opt/swift/usr/bin:" + env.get("PATH", "")
    return env


def bin_dir() -> Path:
    """env BYOC_BIN, else `swift build --show-bin-path` in the repository root."""
    global _bin_dir
    if _bin_dir is None:
        if os.environ.get("BYOC_BIN"):
            _bin_dir = Path(os.environ["BYOC_BIN"])
        else:
            out = subprocess.run(["swift", "build", "--show-bin-path"], cwd=ROOT, env=swift_env(),
                                 capture_output=True, text=True, timeout=300)
            if out.returncode != 0:
                raise RuntimeError(f"swift build --show-bin-path failed: {out.stderr.strip()}")
            _bin_dir = Path(out.stdout.strip().splitlines()[-1])
    return _bin_dir


def binary(name: str) -> str:
    path = bin_dir() / name
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise FileNotFoundError(f"{path} is missing: run `swift build` (or set BYOC_BIN)")
    return str(path)


# --------------------------------------------------------------------------- processes

_SETPRIV = shutil.which("setpriv")
_ALL: list["Proc"] = []  # every Proc of the session, killed at exit as a last resort


@atexit.register
def _kill_leftovers() -> None:
    for p in _ALL:
        try:
            p.stop()
        except Exception:
            pass


def child_env(extra: dict | None = None) -> dict:
    """This process's environment without proxies, plus `extra` (a value of None removes the name)."""
    env = {k: v for k, v in os.environ.items()
           if k.lower() not in ("http_proxy", "https_proxy", "grpc_proxy", "all_proxy")}
    env["no_proxy"] = env["NO_PROXY"] = "127.0.0.1,localhost"
    for name, value in (extra or {}).items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


class Proc:
    """A child process whose stdout+stderr go to a log file.

    It runs in its own session (so a stop kills its whole process group) and, where
    util-linux setpriv exists, with PDEATHSIG=KILL so it dies with the test runner even if
    the runner itself is killed.
    """

    def __init__(self, name: str, argv: list[str], log_path: Path, env: dict | None = None):
        self.name = name
        self.argv = list(argv)
        self.log_path = Path(log_path)
        self._log = open(self.log_path, "wb")
        cmd = self.argv
        if _SETPRIV:
            cmd = [_SETPRIV, "--pdeathsig", "KILL", "--", *cmd]
        self.started = time.monotonic()
        self.popen = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self._log,
                                      stderr=subprocess.STDOUT, env=child_env(env),
                                      start_new_session=True)
        self.host: str | None = None
        self.port: int | None = None
        _ALL.append(self)

    # -- state
    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def alive(self) -> bool:
        return self.popen.poll() is None

    @property
    def returncode(self):
        return self.popen.poll()

    @property
    def address(self) -> str:
        assert self.port is not None, f"{self.name} has not reported its address"
        return f"{self.host}:{self.port}"

    # -- log
    def log(self) -> str:
        try:
            return self.log_path.read_bytes().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log().splitlines()[-lines:])

    def count(self, pattern: str) -> int:
        return len(re.findall(pattern, self.log(), flags=re.M))

    def wait_for_log(self, pattern: str, timeout: float, count: int = 1) -> bool:
        """True once `pattern` (a regex) occurs at least `count` times in the log."""
        deadline = time.monotonic() + timeout
        while True:
            if self.count(pattern) >= count:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)

    def wait_listening(self, timeout: float = 30.0) -> str:
        """Waits (bounded) for `listening on HOST:PORT`; returns HOST:PORT."""
        deadline = time.monotonic() + timeout
        while True:
            m = LISTEN_RE.search(self.log())
            if m:
                self.host, self.port = m.group(1), int(m.group(2))
                return self.address
            if not self.alive:
                raise RuntimeError(f"{self.name} exited with {self.returncode} before listening:\n"
                                   f"$ {' '.join(self.argv)}\n{self.log_tail()}")
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{self.name} printed no `listening on` line within {timeout} s:\n"
                                   f"$ {' '.join(self.argv)}\n{self.log_tail()}")
            time.sleep(0.02)

    # -- control
    def send_signal(self, sig: int) -> None:
        if self.alive:
            self.popen.send_signal(sig)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL to the process group, then reap. Only signals while the leader is unreaped
        (running or a zombie), so the group id cannot have been reused."""
        if self.popen.returncode is None:
            try:
                os.killpg(self.popen.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            self.popen.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass

    def wait(self, timeout: float) -> int:
        """The exit status; raises subprocess.TimeoutExpired if still running after `timeout`."""
        return self.popen.wait(timeout=timeout)

    def stop(self) -> None:
        """Teardown: whatever state it is in, it is gone afterwards (its group too, when the
        leader was still ours to signal: a reaped PID may already belong to someone else)."""
        if self.popen.returncode is None:
            self.kill()
        if not self._log.closed:
            self._log.close()

    def __repr__(self):
        return f"<Proc {self.name} pid={self.pid} addr={self.host}:{self.port}>"


def write_routes(path: Path, models: dict) -> Path:
    """Writes a routes file. `models` maps name -> {"default": V, "versions": {V: [addr|Proc]}}."""
    doc = {"models": {}}
    for name, spec in models.items():
        versions = {v: [e.address if isinstance(e, Proc) else str(e) for e in eps]
                    for v, eps in spec["versions"].items()}
        doc["models"][name] = {"default": spec["default"], "versions": versions}
    path = Path(path)
    path.write_text(json.dumps(doc, indent=2))
    return path


def make_channel(address: str, local_pool: bool = False, options=()):
    """An insecure channel with unlimited message sizes; `local_pool` forces its own connection."""
    import grpc
    opts = list(GRPC_OPTIONS)
    if local_pool:
        opts.append(("grpc.use_local_subchannel_pool", 1))
    opts.extend(options)
    return grpc.insecure_channel(address, options=opts)


def wait_channel_ready(channel, timeout: float = 10.0) -> None:
    import grpc
    grpc.channel_ready_future(channel).result(timeout=timeout)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on (bound then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout: float, interval: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


class Processes:
    """Per-test registry of child processes and channels; `close()` cleans everything up."""

    def __init__(self, tmp_path: Path):
        self.dir = Path(tmp_path)
        self.procs: list[Proc] = []
        self.channels = []
        self._n = 0

    def start(self, name: str, argv: list[str], env: dict | None = None, wait: bool = True,
              timeout: float = 30.0) -> Proc:
        self._n += 1
        p = Proc(name, argv, self.dir / f"{self._n:02d}-{name}.log", env=env)
        self.procs.append(p)
        if wait:
            p.wait_listening(timeout)
        return p

    def echo(self, model: str, version: str, id: str | None = None, workers: int = 1,
             extra: list[str] = ()) -> Proc:
        """A `byoc-echo-model` on 127.0.0.1, port 0, started and listening."""
        argv = [binary("byoc-echo-model"), "--listen", "127.0.0.1:0", "--model", model,
                "--version", version, "--workers", str(workers)]
        if id is not None:
            argv += ["--id", id]
        argv += list(extra)
        return self.start(id or f"echo-{model}-{version}", argv)

    def gateway(self, models: dict, workers: int = 2, extra: list[str] = (),
                name: str = "gateway") -> Proc:
        """A `byoc-gateway --routes` with `models` (see write_routes), started and listening."""
        self._n += 1
        routes = write_routes(self.dir / f"routes-{self._n}.json", models)
        argv = [binary("byoc-gateway"), "--listen", "127.0.0.1:0", "--routes", str(routes),
                "--workers", str(workers), *extra]
        return self.start(name, argv)

    def channel(self, address: str, local_pool: bool = False, options=()):
        ch = make_channel(address, local_pool=local_pool, options=options)
        self.channels.append(ch)
        return ch

    def close(self) -> None:
        for ch in self.channels:
            try:
                ch.close()
            except Exception:
                pass
        self.channels.clear()
        for p in self.procs:
            p.stop()
        # A gateway SIGKILLed above takes its replicas with it (PR_SET_PDEATHSIG), but not the
        # processes they started themselves (a wrapper script's loop): those carry the local
        # runtime's BYOC_REPLICA_OF marker, as the runtime's own orphan reaper finds them.
        state_dirs = [self.dir] + [Path(p.argv[i + 1]) for p in self.procs
                                   for i, word in enumerate(p.argv[:-1]) if word == "--state-dir"]
        kill_replica_descendants(state_dirs)

    def report(self) -> str:
        parts = []
        for p in self.procs:
            state = "running" if p.alive else f"exit {p.returncode}"
            parts.append(f"--- {p.name} ({state}) {p.log_path}\n{p.log_tail(60)}")
        return "\n".join(parts)


# --------------------------------------------------------------------------- gRPC helpers

def predict_request(model: str = "", version: str = "", payload: bytes = b"", **parameters):
    req = pb.inference.PredictRequest(model=model, version=version, payload=payload)
    for k, v in parameters.items():
        req.parameters[k] = str(v)
    return req


def served_by(call) -> str | None:
    """The `byoc-served-by` initial-metadata value of a finished call (or future)."""
    for key, value in call.initial_metadata() or ():
        if key == "byoc-served-by":
            return value
    return None


def make_token() -> str:
    """A well-formed API token text (byoc_<12 hex>_<43 base64url>) that no gateway has seen."""
    secret = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")
    return f"byoc_{secrets.token_hex(6)}_{secret}"


# --------------------------------------------------------------------------- registry gateway
# A `byoc-gateway --state-dir DIR --db PATH` (Admin API + local runtime), plus what the
# control-plane tests need to look at: version states through the Admin API and the model
# replica processes through /proc (the runtime's children carry BYOC_MODEL/BYOC_VERSION).

def admin_stub(channel):
    return pb.admin_grpc.AdminStub(channel)


def state_name(state: int) -> str:
    return pb.admin.VersionState.Name(state)


def proc_stat(pid: int) -> tuple[int, str, int] | None:
    """(ppid, state letter, start time in clock ticks) of a live pid, or None if it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    fields = text[text.rindex(")") + 2:].split()  # after "pid (comm) "
    return int(fields[1]), fields[0], int(fields[19])


def proc_environ(pid: int) -> dict:
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return {}
    env = {}
    for item in raw.split(b"\0"):
        if b"=" in item:
            k, _, v = item.partition(b"=")
            env[k.decode(errors="replace")] = v.decode(errors="replace")
    return env


def kill_replica_descendants(state_dirs: list[Path]) -> list[int]:
    """SIGKILLs every process whose BYOC_REPLICA_OF (the local runtime's marker) is one of
    `state_dirs` or below one; returns their pids."""
    roots = {os.path.abspath(d) for d in state_dirs} | {os.path.realpath(d) for d in state_dirs}
    killed = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        marker = proc_environ(int(entry)).get("BYOC_REPLICA_OF")
        if marker and any(marker == root or marker.startswith(root + "/") for root in roots):
            try:
                os.kill(int(entry), signal.SIGKILL)
                killed.append(int(entry))
            except ProcessLookupError:
                pass
    return killed


class Replica:
    """One live model replica process (identified by pid and start time, so pid reuse shows)."""

    def __init__(self, pid: int, ppid: int, start: int, env: dict):
        self.pid, self.ppid, self.start = pid, ppid, start
        self.model = env.get("BYOC_MODEL", "")
        self.version = env.get("BYOC_VERSION", "")
        self.replica = env.get("BYOC_REPLICA", "")
        self.port = int(env.get("PORT", "0") or 0)

    @property
    def ident(self) -> tuple[int, int]:
        return (self.pid, self.start)

    def alive(self) -> bool:
        st = proc_stat(self.pid)
        return st is not None and st[1] not in ("Z", "X") and st[2] == self.start

    def __repr__(self):
        return (f"<Replica {self.model}/{self.version}#{self.replica} pid={self.pid} ppid={self.ppid} "
                f"port={self.port}>")


def model_processes(model: str | None = None, version: str | None = None,
                    parent: int | None = None) -> list[Replica]:
    """Live (non-zombie) processes whose environment has BYOC_MODEL/BYOC_VERSION (filtered by
    `model`, `version`, and parent pid `parent` when given)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pid = int(entry)
        st = proc_stat(pid)
        if st is None or st[1] in ("Z", "X"):
            continue
        if parent is not None and st[0] != parent:
            continue
        env = proc_environ(pid)
        if "BYOC_MODEL" not in env or "BYOC_VERSION" not in env:
            continue
        if model is not None and env["BYOC_MODEL"] != model:
            continue
        if version is not None and env["BYOC_VERSION"] != version:
            continue
        found.append(Replica(pid, st[0], st[2], env))
    return sorted(found, key=lambda r: (r.model, r.version, r.replica, r.pid))


class RegistryGateway:
    """A gateway on the registry (`--state-dir`, `--db`) with the local runtime."""

    def __init__(self, procs: "Processes", state_dir: Path, db: Path, extra: list[str], env: dict | None,
                 name: str):
        self.procs = procs
        self.state_dir = Path(state_dir)
        self.db = Path(db)
        self.extra = list(extra)
        self.env = env
        self.name = name
        self.proc: Proc | None = None
        self.channel = None
        self.admin = None
        self.inference = None
        self.health = None

    def start(self, workers: int = 2, timeout: float = 30.0) -> "RegistryGateway":
        self.state_dir.mkdir(parents=True, exist_ok=True)
        argv = [binary("byoc-gateway"), "--listen", "127.0.0.1:0", "--state-dir", str(self.state_dir),
                "--db", str(self.db), "--workers", str(workers), *self.extra]
        self.proc = self.procs.start(self.name, argv, env=self.env, timeout=timeout)
        self.channel = self.procs.channel(self.proc.address)
        self.admin = admin_stub(self.channel)
        self.inference = pb.inference_grpc.InferenceStub(self.channel)
        self.health = pb.health_grpc.HealthStub(self.channel)
        return self

    @property
    def address(self) -> str:
        return self.proc.address

    @property
    def pid(self) -> int:
        return self.proc.pid

    # -- admin
    def register(self, model: str, version: str, command=None, timeout: float = 20, **fields):
        req = pb.admin.RegisterModelRequest(model=model, version=version, command=list(command or []), **fields)
        return self.admin.RegisterModel(req, timeout=timeout)

    def get_version(self, model: str, version: str):
        """The version's ModelVersion from GetModel, or None when the model or version is unknown."""
        import grpc
        try:
            m = self.admin.GetModel(pb.admin.GetModelRequest(model=model), timeout=20)
        except grpc.RpcError as e:
            if e.code() == grpc.StatusCode.NOT_FOUND:
                return None
            raise
        for v in m.versions:
            if v.version == version:
                return v
        return None

    def wait_state(self, model: str, version: str, state: str = "READY", timeout: float = 60.0,
                   ready: int | None = None):
        """Polls GetModel until the version is in `state` (and has `ready` ready replicas when
        given); returns the ModelVersion; raises AssertionError with the last one on timeout."""
        deadline = time.monotonic() + timeout
        last = None
        while True:
            last = self.get_version(model, version)
            if last is not None and state_name(last.state) == state and (
                    ready is None or last.ready_replicas == ready):
                return last
            if time.monotonic() >= deadline:
                desc = "missing" if last is None else (
                    f"{state_name(last.state)} ready={last.ready_replicas} message={last.message!r}")
                raise AssertionError(f"{model}/{version} not {state}"
                                     f"{'' if ready is None else f' with {ready} ready'} within {timeout} s: "
                                     f"{desc}\n{self.replica_logs(model, version)}")
            time.sleep(0.1)

    # -- data plane
    def predict(self, model: str, version: str = "", timeout: float = 20, with_call: bool = False, **kw):
        req = predict_request(model, version, **kw)
        if with_call:
            return self.inference.Predict.with_call(req, timeout=timeout)
        return self.inference.Predict(req, timeout=timeout)

    def wait_predict_ok(self, model: str, version: str = "", timeout: float = 30.0, request=None):
        """Retries Predict until it succeeds (route tables are published asynchronously)."""
        import grpc
        deadline = time.monotonic() + timeout
        while True:
            try:
                return self.inference.Predict(request or predict_request(model, version), timeout=10)
            except grpc.RpcError as e:
                if time.monotonic() >= deadline:
                    raise AssertionError(f"Predict {model}/{version!r} still fails after {timeout} s: "
                                         f"{e.code()} {e.details()}")
            time.sleep(0.1)

    # -- processes and logs
    def replicas(self, model: str | None = None, version: str | None = None) -> list[Replica]:
        """The gateway's live child processes for `model`/`version`."""
        return model_processes(model, version, parent=self.pid)

    def wait_replica_count(self, model: str, version: str, count: int, timeout: float = 30.0) -> list[Replica]:
        found = []

        def ok():
            nonlocal found
            found = self.replicas(model, version)
            return len(found) == count
        if not wait_until(ok, timeout, interval=0.1):
            raise AssertionError(f"{model}/{version}: expected {count} replica processes within {timeout} s, "
                                 f"found {found}")
        return found

    def replica_logs(self, model: str, version: str, lines: int = 20) -> str:
        folder = self.state_dir / "logs" / model / version
        parts = []
        if folder.is_dir():
            for f in sorted(folder.glob("*.log")):
                text = f.read_bytes().decode("utf-8", "replace").splitlines()[-lines:]
                parts.append(f"--- {f}\n" + "\n".join(text))
        return "\n".join(parts) or f"(no replica logs under {folder})"


def _registry_gateway(self: "Processes", state_dir: Path | None = None, db: Path | None = None,
                      extra: list[str] = (), env: dict | None = None, workers: int = 2,
                      name: str = "gateway", start: bool = True) -> RegistryGateway:
    """A started registry-mode gateway (state in `state_dir`, default TMP/state)."""
    state_dir = Path(state_dir) if state_dir else self.dir / "state"
    db = Path(db) if db else self.dir / "registry.sqlite"
    gw = RegistryGateway(self, state_dir, db, list(extra), env, name)
    return gw.start(workers=workers) if start else gw


Processes.registry_gateway = _registry_gateway
