#!/usr/bin/env python3
"""The benchmark driver behind Tests/Benchmarks/run (standard library only).

Starts two byoc-echo-model servers, the gateway (static routes) and the peer proxies nghttpx,
HAProxy and nginx (peers.py: the same two backends, the same worker count), drives each of the
proxies and one echo server directly with h2load using identical flags, and prints one table.
Then the extra measurements: RSS with idle client connections, throughput with 1,000 route
entries against 1, and RSS while 16 concurrent 8 MiB calls stream. See README.md in this directory.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import resource
import shlex
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import peers

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
PATH = "/byoc.v1.Inference/Predict"
GRPC_HEADERS = ["-H", "content-type: application/grpc", "-H", "te: trailers"]
KiB, MiB = 1 << 10, 1 << 20
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
SETPRIV = shutil.which("setpriv")
# Pause after a run that ended with requests in flight (h2load -D closes its connections with up
# to 2,048 streams open), before the next run or the checks: right after such a run HAProxy 2.6
# answers some new requests with RST_STREAM(REFUSED_STREAM) for a moment (and, unlike the gateway
# and nghttpx, does not retry them); 0.25 s was always enough. The same pause for every target.
SETTLE_SECONDS = 0.25


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------------- protobuf by hand

def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field_varint(number: int, value: int) -> bytes:
    return varint(number << 3) + varint(value)


def field_bytes(number: int, value: bytes) -> bytes:
    return varint(number << 3 | 2) + varint(len(value)) + value


def predict_request(model: str, version: str, *, floats: list[float] | None = None,
                    shape: list[int] | None = None, payload: bytes = b"") -> bytes:
    """byoc.v1.PredictRequest: model=1, version=2, inputs=3 (map<string,Tensor>), payload=4."""
    msg = field_bytes(1, model.encode()) + field_bytes(2, version.encode())
    if floats is not None:
        tensor = (field_varint(1, 1)                                            # dtype FLOAT32
                  + field_bytes(2, b"".join(varint(d) for d in shape or [len(floats)]))  # shape
                  + field_bytes(3, struct.pack(f"<{len(floats)}f", *floats)))            # floats
        msg += field_bytes(3, field_bytes(1, b"x") + field_bytes(2, tensor))
    if payload:
        msg += field_bytes(4, payload)
    return msg


def grpc_frame(message: bytes) -> bytes:
    return b"\x00" + struct.pack(">I", len(message)) + message


def workload_body(kind: str, model: str = "iris", version: str = "1") -> bytes:
    if kind == "small":   # one FLOAT32 tensor [4,4]: 93 bytes framed
        return grpc_frame(predict_request(model, version, floats=[i * 0.25 for i in range(16)], shape=[4, 4]))
    if kind == "64KiB":
        return grpc_frame(predict_request(model, version, payload=bytes(range(256)) * (64 * KiB // 256)))
    if kind == "8MiB":
        return grpc_frame(predict_request(model, version, payload=bytes(range(256)) * (8 * MiB // 256)))
    raise ValueError(kind)


# ------------------------------------------------------------------------- /proc

def proc_cpu_seconds(pid: int) -> float:
    """utime + stime of the whole process (all threads), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        stat = f.read()
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # fields 14 and 15 of stat(5)


def proc_status_kib(pid: int, key: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise KeyError(key)


def session_pids(sid: int) -> list[int]:
    """The live processes of session `sid` (a child started in its own session and its children)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        if int(stat[stat.rindex(")") + 2:].split()[3]) == sid:   # field 6 of stat(5): session
            pids.append(int(entry))
    return sorted(pids, key=lambda p: (p != sid, p))


def group_cpu_seconds(pids: list[int]) -> float:
    """utime + stime summed over `pids` (processes that have exited count 0)."""
    total = 0.0
    for p in pids:
        try:
            total += proc_cpu_seconds(p)
        except OSError:
            pass
    return total


def group_status_kib(pids: list[int], key: str) -> int:
    """A /proc/PID/status figure (VmHWM, VmRSS) summed over `pids`."""
    total = 0
    for p in pids:
        try:
            total += proc_status_kib(p, key)
        except OSError:
            pass
    return total


def system_busy_seconds() -> float:
    """CPU time all cores spent busy (user+nice+system+irq+softirq+steal), from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return (v[0] + v[1] + v[2] + v[5] + v[6] + (v[7] if len(v) > 7 else 0)) / CLK_TCK


def wait_quiet(max_seconds: float, threshold: float = 0.3, window: float = 2.0) -> str:
    """Waits (at most max_seconds) until other processes use < threshold cores over `window` s."""
    deadline = time.monotonic() + max_seconds
    busy = None
    while True:
        b0 = system_busy_seconds()
        time.sleep(window)
        busy = (system_busy_seconds() - b0) / window
        if busy < threshold:
            return f"quiet ({busy:.2f} cores busy)"
        if time.monotonic() >= deadline:
            return f"still busy after {max_seconds:.0f} s ({busy:.2f} cores busy)"
        log(f"waiting for a quieter machine: {busy:.2f} cores busy")


def children_cpu_seconds() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/statm") as f:   # cheaper than status for sampling
        return int(f.read().split()[1]) * PAGE // KiB


class RSSSampler:
    """Samples the VmRSS sum of processes every `interval` seconds on a thread; keeps the maximum."""

    def __init__(self, pids: list[int] | int | None, interval: float = 0.05):
        self.pids = [pids] if isinstance(pids, int) else list(pids or [])
        self.interval = interval
        self.max_kib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while True:
            try:
                self.max_kib = max(self.max_kib, sum(rss_kib(p) for p in self.pids))
            except (OSError, ValueError):
                return
            if self._stop.wait(self.interval):
                return

    def __enter__(self):
        if self.pids:
            self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        if self.pids:
            self._thread.join(timeout=2)


# ------------------------------------------------------------------------- processes

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: "Proc", timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not proc.alive:
            raise RuntimeError(f"{proc.name} exited ({proc.popen.returncode}):\n{proc.tail()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{proc.name} did not listen on {port} within {timeout} s:\n{proc.tail()}")


def child_env() -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("BYOC_") and k.lower() not in ("http_proxy", "https_proxy", "all_proxy")}
    env["no_proxy"] = env["NO_PROXY"] = "127.0.0.1,localhost"
    return env


class Proc:
    """A child in its own session (stop kills its group), PDEATHSIG=KILL where setpriv exists."""

    registry: list["Proc"] = []

    def __init__(self, name: str, argv: list[str], logdir: Path):
        self.name = name
        self.argv = argv
        self.log_path = logdir / f"{name}.log"
        self._log = open(self.log_path, "ab")
        cmd = [SETPRIV, "--pdeathsig", "KILL", "--", *argv] if SETPRIV else argv
        self.popen = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
                                      env=child_env(), start_new_session=True)
        self.port: int | None = None
        Proc.registry.append(self)

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def alive(self) -> bool:
        return self.popen.poll() is None

    def pids(self) -> list[int]:
        """This process and the children it started (its session: nginx's master and workers)."""
        return session_pids(self.pid) if self.alive else []

    def tail(self, n: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def wait_listening(self, timeout: float = 30.0) -> int:
        """Waits for the `listening on HOST:PORT` line (byoc binaries)."""
        deadline = time.monotonic() + timeout
        pattern = re.compile(r"listening on (\S+):(\d+)")
        while time.monotonic() < deadline:
            m = pattern.search(self.log_path.read_text(errors="replace"))
            if m:
                self.port = int(m.group(2))
                return self.port
            if not self.alive:
                raise RuntimeError(f"{self.name} exited ({self.popen.returncode}):\n{self.tail()}")
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} printed no 'listening on' line within {timeout} s:\n{self.tail()}")

    def stop(self) -> None:
        if self.alive:
            try:
                os.killpg(self.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.popen.wait(timeout=5)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.popen.wait(timeout=5)
        self._log.close()
        if self in Proc.registry:
            Proc.registry.remove(self)

    @classmethod
    def stop_all(cls) -> None:
        for p in list(reversed(cls.registry)):
            try:
                p.stop()
            except Exception as e:  # keep stopping the others
                log(f"stopping {p.name}: {e}")


# ------------------------------------------------------------------------- load and checks

def snapshot_binaries(src: Path, work: Path, who: str) -> Path:
    """Copies byoc-gateway and byoc-echo-model from `src` into `work`/bin (returned), so a rebuild
    during the run neither blocks nor changes them; `who` names the script in the error."""
    dst = work / "bin"
    dst.mkdir(exist_ok=True)
    for name in ("byoc-gateway", "byoc-echo-model"):
        if not ((src / name).is_file() and os.access(src / name, os.X_OK)):
            raise SystemExit(f"{who}: {src / name} is missing (build it: swift build -c release --scratch-path "
                             f".build-rel, or pass --bin DIR)")
        shutil.copy2(src / name, dst / name)
    return dst


def h2load(port: int, body: Path, shape: Shape, log_file: Path | None, timeout: float, threads: int = 1,
           path: str = PATH) -> dict:
    """One h2load run (`shape`: -c, -m and -D or -n) posting `body` to `path`; its figures, or `error`."""
    argv = ["h2load", "-c", str(shape.conns), "-m", str(shape.streams), "-t", str(threads)]
    if shape.requests:
        argv += ["-n", str(shape.requests)]
    else:
        argv += ["-D", f"{int(shape.duration * 1000)}ms"]
    argv += ["-d", str(body), *GRPC_HEADERS]
    if log_file:
        argv += ["--log-file", str(log_file)]
    argv.append(f"http://127.0.0.1:{port}{path}")
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=child_env())
    except subprocess.TimeoutExpired as e:
        return {"error": f"h2load timed out after {timeout:.0f} s", "argv": argv,
                "stdout": (e.stdout or b"").decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")}
    text = out.stdout
    res = {"argv": argv, "stdout": text, "rc": out.returncode}
    m = re.search(r"finished in ([\d.]+)(us|ms|s), ([\d.]+) req/s", text)
    if not m:
        res["error"] = f"h2load exit {out.returncode}: " + " ".join((out.stderr or text).split()[-40:])
        return res
    res["secs"] = float(m.group(1)) / {"us": 1e6, "ms": 1e3, "s": 1}[m.group(2)]
    res["rps"] = float(m.group(3))
    m = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, "
                  r"(\d+) errored, (\d+) timeout", text)
    res.update(dict(zip(["total", "started", "done", "succeeded", "failed", "errored", "timeout"],
                        map(int, m.groups()))))
    m = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", text)
    res["2xx"] = int(m.group(1))
    res["non2xx"] = sum(int(x) for x in m.groups()[1:])
    m = re.search(r"traffic: .*?, \S+ \((\d+)\) data", text)
    res["data"] = int(m.group(1)) if m else 0
    return res


def latencies(log_file: Path) -> tuple[float | None, float | None]:
    """p50 and p99 (ms) from h2load's --log-file (start µs, status, duration µs)."""
    durations = []
    try:
        with open(log_file) as f:
            for line in f:
                parts = line.split("\t")
                if len(parts) >= 3 and parts[1] != "-1":
                    durations.append(int(parts[2]))
    except OSError:
        return None, None
    if not durations:
        return None, None
    durations.sort()

    def pct(p):  # nearest rank
        return durations[min(len(durations) - 1, max(0, int(round(p / 100 * len(durations) + 0.5)) - 1))] / 1000

    return pct(50), pct(99)


def grpc_status_check(port: int, body: Path, count: int, path: str = PATH) -> tuple[bool, str]:
    """Sends `count` requests with nghttp and checks every response's trailers: grpc-status 0."""
    argv = ["nghttp", "-n", "-v", "-m", str(count), "-d", str(body), *GRPC_HEADERS,
            f"http://127.0.0.1:{port}{path}"]
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=120, env=child_env())
    except subprocess.TimeoutExpired:
        return False, "nghttp timed out"
    statuses = re.findall(r"recv \(stream_id=\d+\) grpc-status: (\S+)", out.stdout)
    http = re.findall(r"recv \(stream_id=\d+\) :status: (\S+)", out.stdout)
    ok = len(statuses) == count and all(s == "0" for s in statuses) and all(h == "200" for h in http)
    if ok:
        return True, f"0 x{count}"
    messages = re.findall(r"recv \(stream_id=\d+\) grpc-message: (.*)", out.stdout)
    return False, (f"grpc-status {statuses or 'missing'} :status {http or 'missing'} "
                   f"{messages[:1]} rc={out.returncode} {out.stderr.strip()[-200:]}")


def scrape_metrics(port: int, keep) -> dict[str, float]:
    """The gateway's /metrics samples (`name{labels}` -> value) whose series `keep(series)` accepts."""
    out = subprocess.run(["curl", "-sS", "--noproxy", "*", "--http1.1", "--max-time", "10",
                          f"http://127.0.0.1:{port}/metrics"], capture_output=True, text=True, timeout=20, env=child_env())
    result = {}
    for line in out.stdout.splitlines():
        m = re.match(r"([a-zA-Z_:][\w:]*(?:\{[^}]*\})?) (\S+)$", line)
        if m and keep(m.group(1)):
            result[m.group(1)] = float(m.group(2))
    return result


# ------------------------------------------------------------------------- the harness

@dataclass
class Result:
    workload: str
    shape: str
    target: str
    rps: float = 0.0
    p50_ms: float | None = None
    p99_ms: float | None = None
    cpu_per_10k: float | None = None
    backend_cpu_per_10k: float | None = None   # both echo servers' CPU, per 10k requests
    hwm_mib: float | None = None          # VmHWM after the run (fresh process per cell)
    rss_max_mib: float | None = None      # max of VmRSS sampled during the run
    rss_after_mib: float | None = None    # VmRSS right after the run
    done: int = 0
    succeeded: int = 0
    failed: int = 0
    errored: int = 0
    non2xx: int = 0
    data_per_req: float = 0.0
    grpc_check: str = "-"
    other_cores: float | None = None      # CPU used by processes this benchmark did not start
    rounds: list[float] = field(default_factory=list)   # req/s of each round when --rounds > 1
    problems: list[str] = field(default_factory=list)

    @property
    def check(self) -> str:
        return "ok" if not self.problems else "; ".join(self.problems)


@dataclass
class Shape:
    conns: int
    streams: int
    duration: float | None = None    # h2load -D (seconds), or
    requests: int | None = None      # h2load -n

    @property
    def label(self) -> str:
        return f"{self.conns}x{self.streams}"


class Bench:
    def __init__(self, args):
        self.args = args
        self.quick = args.quick
        self.workers = args.workers
        self.bin = Path(args.bin)
        self.work = Path(args.work)
        self.logdir = self.work / "logs"
        self.logdir.mkdir(parents=True, exist_ok=True)
        self.bodies: dict[str, Path] = {}
        self.echo: list[Proc] = []
        self.results: list[Result] = []
        self.extras: list[tuple[str, str]] = []   # (measurement, value) lines
        self.notes: list[str] = []
        self.counter = 0
        self.h2load_threads = args.h2load_threads
        self.machine = {}

    # ---------------------------------------------------------------- setup
    def write_bodies(self) -> None:
        for kind in ("small", "64KiB", "8MiB"):
            path = self.work / f"body-{kind}.bin"
            path.write_bytes(workload_body(kind))
            self.bodies[kind] = path
        log("request bodies: " + ", ".join(f"{k} {p.stat().st_size} B" for k, p in self.bodies.items()))

    def start_echo(self) -> None:
        for i in range(2):
            p = Proc(f"echo{i + 1}", [str(self.bin / "byoc-echo-model"), "--listen", "127.0.0.1:0", "--model", "iris",
                                      "--version", "1", "--workers", str(self.args.echo_workers)], self.logdir)
            p.wait_listening()
            self.echo.append(p)
        log(f"echo servers on {[p.port for p in self.echo]}")

    def routes_file(self, name: str, versions: int = 1) -> Path:
        endpoints = [f"127.0.0.1:{p.port}" for p in self.echo]
        if versions == 1:
            models = {"iris": {"default": "1", "versions": {"1": endpoints}}}
        else:  # `versions` route entries: 100 models x (versions/100) versions
            per_model = 10
            models = {}
            for m in range(versions // per_model):
                models[f"model-{m:03d}"] = {"default": "1",
                                            "versions": {str(v): endpoints for v in range(1, per_model + 1)}}
        path = self.work / name
        path.write_text(json.dumps({"models": models}))
        return path

    def start_gateway(self, routes: Path, tag: str = "") -> Proc:
        self.counter += 1
        p = Proc(f"gateway{tag}-{self.counter}", [str(self.bin / "byoc-gateway"), "--listen", "127.0.0.1:0",
                                                  "--routes", str(routes), "--workers", str(self.workers),
                                                  *self.gateway_args(tag)], self.logdir)
        p.wait_listening()
        return p

    def gateway_args(self, tag: str) -> list[str]:
        """`--gateway-args`, with `{work}` the run's directory and `{n}` this gateway's number."""
        return [a.replace("{work}", str(self.work)).replace("{n}", f"{tag}-{self.counter}")
                for a in shlex.split(self.args.gateway_args)]

    def start_peer(self, name: str) -> Proc:
        """A fresh peer proxy (peers.py) in front of both echo servers, on a free port."""
        self.counter += 1
        port = free_port()
        argv = peers.launch(name, port, [p.port for p in self.echo], self.workers, self.work / "configs")
        p = Proc(f"{name}-{self.counter}", argv, self.logdir)
        wait_port(port, p)
        p.port = port
        return p

    # ---------------------------------------------------------------- checks
    def grpc_body_check(self, port: int, body: Path, expect: bytes) -> tuple[bool, str]:
        """One call with curl: :status 200, trailer grpc-status 0, and the reply byte for byte."""
        out_path = self.work / f"curl-{port}.out"
        head_path = self.work / f"curl-{port}.head"
        argv = ["curl", "-sS", "--http2-prior-knowledge", "--max-time", "60", "--data-binary", f"@{body}",
                *GRPC_HEADERS, "-D", str(head_path), "-o", str(out_path), "-w", "%{http_code}",
                f"http://127.0.0.1:{port}{PATH}"]
        try:
            out = subprocess.run(argv, capture_output=True, text=True, timeout=90, env=child_env())
        except subprocess.TimeoutExpired:
            return False, "curl timed out"
        try:
            head = head_path.read_text(errors="replace")
            reply = out_path.read_bytes()
        except OSError:
            head, reply = "", b""
        head_path.unlink(missing_ok=True)
        out_path.unlink(missing_ok=True)
        # curl writes the trailers into the header dump after the headers.
        status = re.findall(r"^grpc-status:\s*(\S+)", head, re.M | re.I)
        if out.returncode == 0 and out.stdout.strip() == "200" and status == ["0"] and reply == expect:
            return True, "body ok"
        message = re.findall(r"^grpc-message:\s*(.*)$", head, re.M | re.I)
        return False, (f"curl: :status {out.stdout.strip() or '?'} grpc-status {status or 'missing'} {message[:1]} "
                       f"reply {len(reply)} B{' (differs)' if reply and reply != expect else ''}, expected "
                       f"{len(expect)} B; rc={out.returncode} {out.stderr.strip()[-200:]}")

    def measure(self, workload: str, shape: Shape, target: str, port: int, proc: Proc | None,
                body: Path, expect: bytes, warmup: Shape | None) -> Result:
        """One h2load run against `target`; `expect` is the gRPC reply (framed) every call must get."""
        r = Result(workload, shape.label, target)
        expect_bytes = len(expect)
        timeout = (shape.duration or 0) + (self.args.large_timeout if shape.requests else 60)
        if warmup:
            h2load(port, body, warmup, None, timeout, self.h2load_threads)
            time.sleep(SETTLE_SECONDS)
        log_file = self.work / f"h2load-{workload}-{shape.label}-{target}.log"
        # The proxy's processes (nginx: master and workers; the others: one process), taken
        # after the warm-up; CPU and RSS are summed over them.
        pids = proc.pids() if proc else []
        ours = [q for p in Proc.registry if p.alive for q in p.pids()]   # proxies and echo servers
        ours_cpu0, kids0, busy0, t0 = group_cpu_seconds(ours), children_cpu_seconds(), system_busy_seconds(), time.monotonic()
        backends = [q for e in self.echo for q in e.pids()]
        cpu0, backend0 = group_cpu_seconds(pids), group_cpu_seconds(backends)
        with RSSSampler(pids) as sampler:
            res = h2load(port, body, shape, log_file, timeout, self.h2load_threads)
        cpu1, backend1 = group_cpu_seconds(pids), group_cpu_seconds(backends)
        # Everything else that ran meanwhile (other engineers' builds): busy time not ours.
        wall = time.monotonic() - t0
        other = (system_busy_seconds() - busy0) - (group_cpu_seconds(ours) - ours_cpu0) - (children_cpu_seconds() - kids0)
        r.other_cores = max(0.0, other / wall) if wall > 0 else None
        if pids:
            r.hwm_mib = group_status_kib(pids, "VmHWM") / KiB
            r.rss_after_mib = group_status_kib(pids, "VmRSS") / KiB
            r.rss_max_mib = max(sampler.max_kib / KiB, r.rss_after_mib)
        if "error" in res:
            r.problems.append(res["error"])
            log(f"{workload} {shape.label} {target}: {res['error']}")
            return r
        r.rps, r.done, r.succeeded = res["rps"], res["done"], res["succeeded"]
        r.failed, r.errored, r.non2xx = res["failed"], res["errored"], res["non2xx"]
        r.p50_ms, r.p99_ms = latencies(log_file)
        log_file.unlink(missing_ok=True)
        if pids and r.done:
            r.cpu_per_10k = (cpu1 - cpu0) / r.done * 10_000
        if r.done:
            r.backend_cpu_per_10k = (backend1 - backend0) / r.done * 10_000
        if r.failed or r.errored or r.non2xx or res["timeout"]:
            r.problems.append(f"h2load: {r.failed} failed, {r.errored} errored, {res['timeout']} timeout, "
                              f"{r.non2xx} non-2xx of {res['total']}")
        if r.done == 0:
            r.problems.append("no request completed")
        else:
            r.data_per_req = res["data"] / r.done
            # A gRPC error is a trailers-only 200 with no body: response bytes come up short.
            if r.data_per_req < 0.98 * expect_bytes:
                r.problems.append(f"short responses: {r.data_per_req:.0f} B/request, expected {expect_bytes}")
        if proc and not proc.alive:
            r.problems.append(f"{target} exited ({proc.popen.returncode})")
        elif proc and [p for p in pids if p not in proc.pids()]:
            r.problems.append(f"{target}: a process exited during the run")
        count = 2 if workload == "8MiB" else 4
        time.sleep(SETTLE_SECONDS)
        ok, detail = grpc_status_check(port, body, count)
        body_ok, body_detail = self.grpc_body_check(port, body, expect)
        # `ok 0 xN`: N calls (nghttp's and curl's) all grpc-status 0, curl's reply byte for byte.
        r.grpc_check = f"ok 0 x{count + 1}" if ok and body_ok else "FAIL " + "; ".join(
            d for good, d in ((ok, detail), (body_ok, body_detail)) if not good)
        if not ok:
            r.problems.append(f"grpc-status check: {detail}")
        if not body_ok:
            r.problems.append(f"reply check: {body_detail}")
        log(f"{workload:5} {shape.label:6} {target:7} {r.rps:9.1f} req/s  p50 {fmt(r.p50_ms)} ms  "
            f"p99 {fmt(r.p99_ms)} ms  cpu/10k {fmt(r.cpu_per_10k)}  backend {fmt(r.backend_cpu_per_10k)}  rss {fmt(r.rss_max_mib)} MiB  "
            f"other {fmt(r.other_cores)} cores  {r.check}")
        return r

    # ---------------------------------------------------------------- the matrix
    def shapes(self, workload: str) -> list[Shape]:
        a = self.args
        if workload == "8MiB":
            if self.quick:
                return [Shape(4, 1, requests=8), Shape(16, 1, requests=16)]
            # 16x32 / 256x8 would put 4-16 GiB of 8 MiB messages in flight on this machine;
            # large messages use fewer streams and a request count instead of a duration.
            return [Shape(16, 1, requests=a.large_requests), Shape(64, 1, requests=2 * a.large_requests)]
        d = a.duration
        # 256x8 of 64 KiB is 128 MiB in flight: on a loaded machine a debug proxy may finish
        # none of it within a quick second (seen in CI-like runs), so quick runs give it 3 s.
        large = 3 * d if self.quick and workload == "64KiB" else d
        return [Shape(16, 32, duration=d), Shape(256, 8, duration=large)]

    def selected_shapes(self, workload: str) -> list[Shape]:
        """shapes(workload) narrowed by --shapes (labels such as 16x32), if given."""
        return [s for s in self.shapes(workload) if not self.args.shapes or s.label in self.args.shapes]

    def peers_for(self, workload: str) -> list[str]:
        """The peers measured in `workload`'s cells: --peers; with --quick, HAProxy and nginx
        only in the small workload (the smoke test stays fast and still runs each of them)."""
        if self.quick and not self.args.quick_all_peers:
            return [p for p in self.args.peers if p == "nghttpx" or workload == "small"]
        return list(self.args.peers)

    def warmup_shape(self, shape: Shape) -> Shape | None:
        if self.args.warmup <= 0:
            return None
        if shape.requests:
            return Shape(shape.conns, shape.streams, requests=shape.conns * shape.streams)
        return Shape(shape.conns, shape.streams, duration=self.args.warmup)

    def run_matrix(self) -> None:
        routes = self.routes_file("routes-1.json")
        for workload in self.args.workloads:
            body = self.bodies[workload]
            # The echo's PredictResponse has the request's field numbers (model iris, version 1,
            # the same tensor or payload): the reply is the request, byte for byte.
            expect = body.read_bytes()
            shapes = self.selected_shapes(workload)
            if not shapes:
                raise SystemExit(f"bench: --shapes {','.join(self.args.shapes)} leaves no shape of {workload} "
                                 f"(its shapes: {', '.join(s.label for s in self.shapes(workload))})")
            for shape in shapes:
                # Fresh proxies per cell: VmHWM then is this cell's peak.
                proxies = [("gateway", self.start_gateway(routes))]
                proxies += [(name, self.start_peer(name)) for name in self.peers_for(workload)]
                targets = [(name, p.port, p) for name, p in proxies] + [("direct", self.echo[0].port, None)]
                warm = self.warmup_shape(shape)
                runs: dict[str, list[Result]] = {name: [] for name, _, _ in targets}
                for rnd in range(self.args.rounds):
                    # Rotate the order each round so no target always runs first or last.
                    k = rnd % len(targets)
                    for name, port, proc in targets[k:] + targets[:k]:
                        runs[name].append(self.measure(workload, shape, name, port, proc, body, expect,
                                                       warm if rnd == 0 else None))
                for name, _, _ in targets:
                    self.results.append(combine(runs[name]))
                for _, p in proxies:
                    p.stop()

    # ---------------------------------------------------------------- extras
    def idle_connections(self) -> None:
        n = self.args.idle_conns
        routes = self.routes_file("routes-1.json")
        for name in ("gateway", "nghttpx"):
            proc = self.start_gateway(routes, "-idle") if name == "gateway" else self.start_peer(name)
            time.sleep(0.5)
            before = proc_status_kib(proc.pid, "VmRSS")
            client = subprocess.Popen([sys.executable, str(HERE / "idle_clients.py"), "127.0.0.1", str(proc.port), str(n)],
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            try:
                line = read_line(client, 180)
                m = re.match(r"open (\d+) (\d+)", line or "")
                if not m:
                    raise RuntimeError(f"idle client: {line!r} {client.stderr.read() if client.poll() is not None else ''}")
                opened, failed = int(m.group(1)), int(m.group(2))
                time.sleep(2.0)
                after = 0
                for _ in range(3):
                    time.sleep(0.2)
                    after = max(after, proc_status_kib(proc.pid, "VmRSS"))
                client.stdin.write("check\n")
                client.stdin.flush()
                alive_line = read_line(client, 30) or ""
                alive = int(alive_line.split()[1]) if alive_line.startswith("alive") else -1
            finally:
                try:
                    client.stdin.write("quit\n")
                    client.stdin.flush()
                except OSError:
                    pass
                try:
                    client.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    client.kill()
                    client.wait()
            per = (after - before) / max(opened, 1)
            problems = []
            if failed:
                problems.append(f"{failed} connects failed")
            if alive != opened:
                problems.append(f"only {alive} of {opened} still open after idling")
            if not proc.alive:
                problems.append(f"{name} exited")
            self.extras.append((f"idle connections: {name}",
                                f"{opened} open: RSS {before / KiB:.1f} -> {after / KiB:.1f} MiB = "
                                f"**{per:.1f} KiB per connection**" + (f" ({'; '.join(problems)})" if problems else "")))
            log(f"{self.extras[-1][0]}: {self.extras[-1][1]}")
            proc.stop()

    def many_versions(self) -> None:
        r1 = self.routes_file("routes-1.json")
        r1000 = self.routes_file("routes-1000.json", versions=1000)
        gw1, gw1000 = self.start_gateway(r1, "-1v"), self.start_gateway(r1000, "-1000v")
        body1 = self.bodies["small"]
        body1000 = self.work / "body-small-model-050.bin"
        body1000.write_bytes(workload_body("small", "model-050", "5"))
        shape = Shape(16, 32, duration=self.args.duration)
        warm = self.warmup_shape(shape)
        runs: dict[str, list[Result]] = {"1": [], "1000": []}
        for rnd in range(self.args.version_rounds):
            for key, gw, body in (("1", gw1, body1), ("1000", gw1000, body1000)):
                expect = workload_body("small")   # the echo answers as iris/1
                r = self.measure("small", shape, f"gateway {key} route(s)", gw.port, gw, body, expect,
                                 warm if rnd == 0 else None)
                runs[key].append(r)
        gw1.stop()
        gw1000.stop()
        rps1 = statistics.mean(r.rps for r in runs["1"])
        rps1000 = statistics.mean(r.rps for r in runs["1000"])
        cpu1 = mean_or_none([r.cpu_per_10k for r in runs["1"]])
        cpu1000 = mean_or_none([r.cpu_per_10k for r in runs["1000"]])
        problems = [p for rs in runs.values() for r in rs for p in r.problems]
        text = (f"1 version: {rps1:.0f} req/s ({' / '.join(f'{r.rps:.0f}' for r in runs['1'])}), "
                f"cpu {fmt(cpu1)} s/10k; 1,000 versions: {rps1000:.0f} req/s "
                f"({' / '.join(f'{r.rps:.0f}' for r in runs['1000'])}), cpu {fmt(cpu1000)} s/10k; "
                f"**ratio 1000/1 = {ratio(rps1000, rps1)}**")
        if problems:
            text += f" (problems: {'; '.join(problems)})"
        self.extras.append(("1,000 route entries vs 1 (small, 16x32, gateway)", text))
        log(f"{self.extras[-1][0]}: {self.extras[-1][1]}")

    def large_stream_rss(self) -> None:
        routes = self.routes_file("routes-1.json")
        body = self.bodies["8MiB"]
        n = 16 if self.quick else self.args.large_requests * 2
        for name in ("gateway", "nghttpx"):
            proc = self.start_gateway(routes, "-8mib") if name == "gateway" else self.start_peer(name)
            base = proc_status_kib(proc.pid, "VmRSS")
            shape = Shape(16, 1, requests=n)
            with RSSSampler(proc.pid, 0.02) as s:
                res = h2load(proc.port, body, shape, None, self.args.large_timeout, self.h2load_threads)
            hwm = proc_status_kib(proc.pid, "VmHWM")
            after = proc_status_kib(proc.pid, "VmRSS")
            ok = "error" not in res and res.get("succeeded") == n
            detail = (f"idle {base / KiB:.1f} MiB, **max sampled {max(s.max_kib, after) / KiB:.1f} MiB**, "
                      f"VmHWM {hwm / KiB:.1f} MiB, after {after / KiB:.1f} MiB; "
                      + (f"{res['succeeded']}/{n} ok, {res['rps']:.1f} req/s" if "rps" in res else res.get("error", "?")))
            if not ok:
                detail += " (FAILED requests)"
            self.extras.append((f"RSS, 16 concurrent 8 MiB calls: {name}", " ".join(detail.split())))
            log(f"{self.extras[-1][0]}: {self.extras[-1][1]}")
            proc.stop()

    # ---------------------------------------------------------------- output
    def machine_info(self) -> dict:
        cpu = "?"
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
        git = run_text(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"])
        dirty = run_text(["git", "-C", str(ROOT), "status", "--porcelain", "--", "Sources", "Package.swift"])
        return {
            "date": datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
            "command": self.args.command_line,
            "nproc": str(os.cpu_count()),
            "kernel": os.uname().release,
            "cpu": cpu,
            "mem": f"{os.sysconf('SC_PHYS_PAGES') * PAGE / (1 << 30):.1f} GiB",
            "git": f"{git}{' + uncommitted changes in Sources/' if dirty else ''}",
            "tools": ", ".join([run_text(["h2load", "--version"])]
                               + [peers.version(p) for p in self.args.peers if p != "nghttpx"]
                               + [peers.version("nghttpx")]),
            "load_before": load_text(),
            "binaries": str(self.args.bin),
        }

    def render(self, markdown: bool) -> str:
        m = self.machine
        lines = []
        lines.append(f"date: {m['date']}; command: `{m['command']}`")
        lines.append(f"machine: nproc {m['nproc']}, kernel {m['kernel']}, CPU {m['cpu']}, RAM {m['mem']}")
        lines.append(f"gateway: {m['git']}, binaries from {m['binaries']}; {m['tools']}")
        spelled = "; ".join([f"gateway --workers {self.workers}{' ' + self.args.gateway_args if self.args.gateway_args else ''}"] + [peers.describe(p, self.workers) for p in self.args.peers])
        lines.append(f"proxy workers {self.workers} each ({spelled}); echo servers 2 x {self.args.echo_workers} worker; "
                     f"h2load -t {self.h2load_threads}; rounds {self.args.rounds}"
                     f"{' (median per figure, max for RSS; order rotated)' if self.args.rounds > 1 else ''}; "
                     f"load average before: {m['load_before']}; after: {m.get('load_after', '?')}")
        lines.append("")
        header = ["workload", "conns x streams", "target", "req/s", "p50 ms", "p99 ms", "proxy CPU s/10k req",
                  "backend CPU s/10k req", "peak RSS MiB (VmHWM)", "max sampled RSS MiB", "other CPU (cores)", "grpc-status", "check"]
        rows = []
        for (workload, shape), group in group_cells(self.results):
            by = {r.target: r for r in group}
            for t in ("gateway", *peers.PEERS, "direct"):
                r = by.get(t)
                if not r:
                    continue
                rows.append([workload, shape, t, f"{r.rps:.0f}" if r.rps >= 100 else f"{r.rps:.1f}",
                             fmt(r.p50_ms), fmt(r.p99_ms), fmt(r.cpu_per_10k), fmt(r.backend_cpu_per_10k),
                             fmt(r.hwm_mib, 1),
                             fmt(r.rss_max_mib, 1), fmt(r.other_cores, 1), r.grpc_check, r.check])
            g = by.get("gateway")
            present = [by[p] for p in peers.PEERS if p in by]
            others = [(p.target, p) for p in present]
            if len(present) > 1:
                others.append(("best peer", best_of(present)))
            if "direct" in by:
                others.append(("direct", by["direct"]))
            for other, o in others:
                if not g:
                    continue
                rows.append([workload, shape, f"gateway/{other}", ratio(g.rps, o.rps), ratio(g.p50_ms, o.p50_ms),
                             ratio(g.p99_ms, o.p99_ms), ratio(g.cpu_per_10k, o.cpu_per_10k),
                             ratio(g.backend_cpu_per_10k, o.backend_cpu_per_10k),
                             ratio(g.hwm_mib, o.hwm_mib), ratio(g.rss_max_mib, o.rss_max_mib), "", "", ""])
        lines += table(header, rows, markdown)
        if self.extras:
            lines.append("")
            if markdown:
                lines += ["| measurement | result |", "|---|---|"]
                lines += [f"| {k} | {v} |" for k, v in self.extras]
            else:
                lines += [f"{k}: {v.replace('**', '')}" for k, v in self.extras]
        if self.notes:
            lines.append("")
            lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines) + "\n"

    def problems(self) -> list[str]:
        return [f"{r.workload} {r.shape} {r.target}: {r.check}" for r in self.results if r.problems]


class PairBench:
    """The frame of the side benchmarks that compare two targets (shadow.py, telemetry.py,
    stream_infer.py): a subclass sets `name` and `targets` and writes `start`, `measure` (one
    row, a dict with `target` and `round`; `problem` when it failed) and `render`. Each round
    measures both targets, in reverse order every other round, and `main` runs it all."""

    name = "pair"              # the scratch directory's tag, and the prefix of its errors
    targets = ("a", "b")

    def __init__(self, args):
        self.args = args
        self.work = Path(args.work)
        self.logdir = self.work / "logs"
        self.logdir.mkdir(parents=True, exist_ok=True)
        self.bin = snapshot_binaries(Path(args.bin), self.work, self.name)
        self.counter = 0
        self.rows: list[dict] = []

    @classmethod
    def arguments(cls, doc: str, *, conns: int = 16, streams: int = 32) -> argparse.ArgumentParser:
        """The flags every pair benchmark takes; the script adds its own."""
        ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
        ap.add_argument("--bin", default=str(ROOT / ".build-rel" / "release"),
                        help="directory holding byoc-gateway and byoc-echo-model (default .build-rel/release)")
        ap.add_argument("--duration", type=float, default=10.0, help="seconds per measured run (default 10)")
        ap.add_argument("--warmup", type=float, default=1.0, help="seconds of warm-up per run (default 1)")
        ap.add_argument("--rounds", type=int, default=1, help="pairs of runs, order alternating (default 1)")
        ap.add_argument("--conns", type=int, default=conns)
        ap.add_argument("--streams", type=int, default=streams)
        ap.add_argument("--workers", type=int, default=1, help="gateway --workers (default 1, as bench.py)")
        ap.add_argument("--echo-workers", type=int, default=1)
        ap.add_argument("--h2load-threads", type=int, default=1)
        ap.add_argument("--work", help="scratch directory (default: a new one under test-output/benchmarks)")
        ap.add_argument("--out", help="also write the table (markdown) to this file")
        return ap

    @classmethod
    def main(cls, ap: argparse.ArgumentParser) -> int:
        """Parses the flags, measures every round, prints the table (and writes `--out`); 1 when a
        row has a problem."""
        args = ap.parse_args()
        if args.work is None:
            base = ROOT / "test-output" / "benchmarks"
            base.mkdir(parents=True, exist_ok=True)
            args.work = tempfile.mkdtemp(prefix=time.strftime(f"%Y%m%d-%H%M%S-{cls.name}-"), dir=base)
        raise_nofile()
        try:
            b = cls(args)
            b.start()
            for r in range(args.rounds):
                for target in (b.targets if r % 2 == 0 else b.targets[::-1]):
                    b.rows.append(b.measure(target, r + 1))
                    time.sleep(SETTLE_SECONDS)
        finally:
            Proc.stop_all()
        text = b.render()
        print()
        print(text, end="")
        if args.out:
            Path(args.out).write_text(text)
        return 0 if b.ok() else 1

    def start(self) -> None:
        raise NotImplementedError

    def measure(self, target: str, round_no: int) -> dict:
        raise NotImplementedError

    def render(self) -> str:
        raise NotImplementedError

    def ok(self) -> bool:
        return all("problem" not in r for r in self.rows)

    def start_echo(self, name: str, model: str, version: str, *flags: str) -> Proc:
        """A byoc-echo-model server (--workers from --echo-workers), listening."""
        p = Proc(name, [str(self.bin / "byoc-echo-model"), "--listen", "127.0.0.1:0", "--model", model,
                        "--version", version, "--workers", str(self.args.echo_workers), *flags], self.logdir)
        p.wait_listening()
        return p

    def gateway(self, tag: str, routes: Path, *flags: str) -> Proc:
        """A fresh gateway on `routes` (--workers from --workers), listening."""
        self.counter += 1
        p = Proc(f"gateway-{tag}-{self.counter}", [str(self.bin / "byoc-gateway"), "--listen", "127.0.0.1:0",
                                                    "--routes", str(routes), "--workers", str(self.args.workers),
                                                    *flags], self.logdir)
        p.wait_listening()
        return p

    def h2load(self, port: int, body: Path, duration: float, log_file: Path | None = None, path: str = PATH) -> dict:
        """h2load at --conns x --streams for `duration` seconds."""
        a = self.args
        return h2load(port, body, Shape(a.conns, a.streams, duration=duration), log_file, duration + 60,
                      a.h2load_threads, path)

    def measured_run(self, gw: Proc, body: Path, row: dict, also: dict[str, Proc] | None = None) -> bool:
        """The measured h2load run (--duration) against `gw`. `row` gains rps, done, p50_ms, p99_ms,
        cpu_us_per_call (the gateway's), machine_cores_busy, errors (h2load's failed, errored,
        timed-out and non-2xx calls) and, for each of `also`, `NAME_cpu_s`; false (and `problem`)
        when h2load failed."""
        also = also or {}
        log_file = self.work / f"h2load-{self.counter}.log"
        busy0, t0 = system_busy_seconds(), time.monotonic()
        cpu0, also0 = proc_cpu_seconds(gw.pid), {k: proc_cpu_seconds(p.pid) for k, p in also.items()}
        res = self.h2load(gw.port, body, self.args.duration, log_file)
        cpu1, also1 = proc_cpu_seconds(gw.pid), {k: proc_cpu_seconds(p.pid) for k, p in also.items()}
        wall = time.monotonic() - t0
        busy = system_busy_seconds() - busy0
        if "error" in res:
            row["problem"] = res["error"]
            return False
        p50, p99 = latencies(log_file)
        log_file.unlink(missing_ok=True)
        done = res["done"]
        row.update(rps=res["rps"], done=done, p50_ms=p50, p99_ms=p99,
                   cpu_us_per_call=(cpu1 - cpu0) / done * 1e6 if done else None,
                   machine_cores_busy=busy / wall if wall > 0 else None,
                   errors=res["failed"] + res["errored"] + res["timeout"] + res["non2xx"])
        row.update({f"{k}_cpu_s": also1[k] - also0[k] for k in also})
        return True

    def measure_gateway(self, gw: Proc, body: Path, row: dict, series=None, wait_before: float = 0.0,
                        wait_after: float = 0.0, also: dict[str, Proc] | None = None) -> dict:
        """A warm-up, `measured_run` and four calls with nghttp (`grpc_check`: ok or what failed)
        against `gw`, which is stopped after. With `series` (a /metrics filter, as
        `scrape_metrics` takes), `row["deltas"]` holds how much those series grew, read
        `wait_before` seconds after the warm-up and `wait_after` seconds after the run."""
        try:
            self.h2load(gw.port, body, self.args.warmup)
            time.sleep(wait_before)
            before = scrape_metrics(gw.port, series) if series else {}
            if not self.measured_run(gw, body, row, also):
                return row
            if series:
                time.sleep(wait_after)
                row["deltas"] = {k: v - before.get(k, 0) for k, v in scrape_metrics(gw.port, series).items()}
            ok, detail = grpc_status_check(gw.port, body, 4)
            row["grpc_check"] = "ok" if ok else detail
            log(f"{row['target']:12} round {row['round']}: {row['rps']:9.1f} req/s  p50 {fmt(row['p50_ms'])} ms  "
                f"p99 {fmt(row['p99_ms'])} ms  cpu/call {fmt(row['cpu_us_per_call'])} µs  "
                f"machine busy {row['machine_cores_busy']:.2f} cores  check {row['grpc_check']}")
        finally:
            gw.stop()
        return row

    @staticmethod
    def load_header(*extra: str) -> list[str]:
        """The columns of `load_cells`."""
        return ["req/s", "p50 ms", "p99 ms", "gateway CPU µs/call", *extra, "machine busy cores", "check"]

    @staticmethod
    def load_cells(r: dict, *extra: str) -> list[str]:
        """A `measure_gateway` row's cells (`extra` after the gateway's CPU)."""
        return [f"{r['rps']:.0f}", fmt(r["p50_ms"]), fmt(r["p99_ms"]), fmt(r["cpu_us_per_call"]), *extra,
                f"{r['machine_cores_busy']:.2f}", f"{r['grpc_check']}{', %d h2load errors' % r['errors'] if r['errors'] else ''}"]

    def median(self, target: str, key: str):
        """The median of `key` over the rows of `target` that have it (None when none has)."""
        xs = [r[key] for r in self.rows if r["target"] == target and r.get(key) is not None]
        return statistics.median(xs) if xs else None

    def table(self, title: str, header: list[str], cells) -> list[str]:
        """The markdown table: `title`, then a row per measured row (`cells(row)`: the cells after
        target and round), a failed row as dashes and its problem."""
        lines = [title, "", "| " + " | ".join(["target", "round", *header]) + " |", "|---" * (len(header) + 2) + "|"]
        for r in self.rows:
            rest = ["–"] * (len(header) - 1) + [r["problem"]] if "problem" in r else cells(r)
            lines.append("| " + " | ".join([r["target"], str(r["round"]), *rest]) + " |")
        return lines


def best_of(rs: list[Result]) -> Result:
    """The best figure of each column over the peers (most req/s; least latency, CPU and RSS),
    each possibly from a different peer: `gateway/best peer` <= 1.0x (>= for req/s) beats them all."""
    r = Result(rs[0].workload, rs[0].shape, "best peer")

    def least(attr):
        xs = [getattr(x, attr) for x in rs if getattr(x, attr) is not None]
        return min(xs) if xs else None

    r.rps = max(x.rps for x in rs)
    r.p50_ms, r.p99_ms, r.cpu_per_10k = least("p50_ms"), least("p99_ms"), least("cpu_per_10k")
    r.backend_cpu_per_10k = least("backend_cpu_per_10k")
    r.hwm_mib, r.rss_max_mib = least("hwm_mib"), least("rss_max_mib")
    return r



def combine(rs: list[Result]) -> Result:
    """One row from several rounds: the median of each figure, the maximum of the RSS figures."""
    if len(rs) == 1:
        return rs[0]
    r = Result(rs[0].workload, rs[0].shape, rs[0].target)

    def med(attr):
        xs = [getattr(x, attr) for x in rs if getattr(x, attr) is not None]
        return statistics.median(xs) if xs else None

    def mx(attr):
        xs = [getattr(x, attr) for x in rs if getattr(x, attr) is not None]
        return max(xs) if xs else None

    r.rps = med("rps") or 0.0
    r.p50_ms, r.p99_ms, r.cpu_per_10k, r.other_cores = med("p50_ms"), med("p99_ms"), med("cpu_per_10k"), med("other_cores")
    r.backend_cpu_per_10k = med("backend_cpu_per_10k")
    r.hwm_mib, r.rss_max_mib, r.rss_after_mib = mx("hwm_mib"), mx("rss_max_mib"), mx("rss_after_mib")
    for attr in ("done", "succeeded", "failed", "errored", "non2xx"):
        setattr(r, attr, sum(getattr(x, attr) for x in rs))
    r.data_per_req = med("data_per_req") or 0.0
    r.problems = [p for x in rs for p in x.problems]
    checks = [x.grpc_check for x in rs]
    if all(c.startswith("ok 0 x") for c in checks):
        r.grpc_check = f"ok 0 x{sum(int(c.split('x')[-1]) for c in checks)}"
    else:
        r.grpc_check = next(c for c in checks if not c.startswith("ok"))
    r.rounds = [x.rps for x in rs]
    return r


def group_cells(results: list[Result]):
    order: list[tuple[str, str]] = []
    groups: dict[tuple[str, str], list[Result]] = {}
    for r in results:
        key = (r.workload, r.shape)
        if key not in groups:
            order.append(key)
            groups[key] = []
        groups[key].append(r)
    return [(k, groups[k]) for k in order]


def table(header: list[str], rows: list[list[str]], markdown: bool) -> list[str]:
    rows = [[" ".join(str(c).split()) for c in row] for row in rows]   # one line per cell
    if markdown:
        out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
        out += ["| " + " | ".join(c.replace("|", "/") for c in row) + " |" for row in rows]
        return out
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    fmt_row = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    return [fmt_row(header), fmt_row(["-" * w for w in widths])] + [fmt_row(r) for r in rows]


def fmt(x, digits: int = 2) -> str:
    if x is None:
        return "-"
    if digits == 2 and x >= 100:
        return f"{x:.0f}"
    return f"{x:.{digits}f}"


def ratio(a, b) -> str:
    if a is None or b is None or b == 0:
        return "-"
    return f"{a / b:.2f}x"


def mean_or_none(xs):
    xs = [x for x in xs if x is not None]
    return statistics.mean(xs) if xs else None


def run_text(argv: list[str]) -> str:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return "?"


def load_text() -> str:
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def read_line(p: subprocess.Popen, timeout: float) -> str | None:
    """One stdout line from `p`, or None after `timeout` seconds."""
    box: list[str] = []
    t = threading.Thread(target=lambda: box.append(p.stdout.readline()), daemon=True)
    t.start()
    t.join(timeout)
    return box[0].strip() if box else None


def raise_nofile() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", required=True, help="directory holding byoc-gateway and byoc-echo-model")
    ap.add_argument("--quick", action="store_true", help="short runs (the smoke test)")
    ap.add_argument("--workers", type=int, default=1,
                    help="workers of each proxy (gateway --workers, nghttpx --workers, HAProxy nbthread, "
                         "nginx worker_processes)")
    ap.add_argument("--peers", default=",".join(peers.PEERS),
                    help="peer proxies measured beside the gateway (default nghttpx,haproxy,nginx; nghttpx "
                         "always runs, the extra measurements compare with it)")
    ap.add_argument("--quick-all-peers", action="store_true",
                    help="with --quick, run HAProxy and nginx in every workload (default: small only)")
    ap.add_argument("--shapes", default="",
                    help="only these conns x streams shapes, e.g. 16x32 (default: every shape of each workload)")
    ap.add_argument("--gateway-args", default="",
                    help="extra byoc-gateway flags for every gateway started (shell words; {work} = the run's "
                         "directory, {n} = the gateway's number), e.g. \"--access-log {work}/access-{n}.log "
                         "--otlp-endpoint http://127.0.0.1:4318\" (telemetry.py compares on and off in one run)")
    ap.add_argument("--echo-workers", type=int, default=1)
    ap.add_argument("--h2load-threads", type=int, default=1)
    ap.add_argument("--out", help="also write the table as markdown to this file")
    ap.add_argument("--json", help="also write the raw results as JSON to this file")
    ap.add_argument("--work", help="scratch directory (default: a new directory under test-output/benchmarks)")
    ap.add_argument("--duration", type=float, help="seconds per small/64KiB run (default 10, quick 1)")
    ap.add_argument("--warmup", type=float, help="seconds of warm-up before each run (default 1, quick 0.3)")
    ap.add_argument("--large-requests", type=int, default=64, help="8 MiB requests at 16x1 (64x1 sends twice as many)")
    ap.add_argument("--large-timeout", type=float, default=300)
    ap.add_argument("--idle-conns", type=int, help="idle client connections (default 10000, quick 1000)")
    ap.add_argument("--version-rounds", type=int, help="alternating rounds of 1 vs 1,000 routes (default 2, quick 1)")
    ap.add_argument("--workloads", default="small,64KiB,8MiB")
    ap.add_argument("--rounds", type=int, default=1, help="measure each cell N times (median), order rotated")
    ap.add_argument("--skip-extras", action="store_true", help="only the main table")
    ap.add_argument("--wait-quiet", type=float, default=0, metavar="SECONDS",
                    help="first wait up to SECONDS until other processes use < 0.3 cores")
    ap.add_argument("--command-line", default=" ".join(sys.argv))
    args = ap.parse_args()
    q = args.quick
    args.duration = args.duration or (1.0 if q else 10.0)
    args.warmup = args.warmup if args.warmup is not None else (0.3 if q else 1.0)
    args.idle_conns = args.idle_conns or (1000 if q else 10000)
    args.version_rounds = args.version_rounds or (1 if q else 2)
    args.workloads = [w.strip() for w in args.workloads.split(",") if w.strip()]
    for w in args.workloads:
        if w not in ("small", "64KiB", "8MiB"):
            ap.error(f"unknown workload {w}")
    args.peers = [p.strip() for p in args.peers.split(",") if p.strip()]
    for p in args.peers:
        if p not in peers.PEERS:
            ap.error(f"unknown peer {p} (known: {', '.join(peers.PEERS)})")
    if "nghttpx" not in args.peers:
        args.peers.insert(0, "nghttpx")
    args.peers = [p for p in peers.PEERS if p in args.peers]   # table order
    args.shapes = [x.strip() for x in args.shapes.split(",") if x.strip()]
    if args.work is None:
        base = ROOT / "test-output" / "benchmarks"
        base.mkdir(parents=True, exist_ok=True)
        args.work = tempfile.mkdtemp(prefix=time.strftime("%Y%m%d-%H%M%S-"), dir=base)
    for tool in ("h2load", "nghttp", "curl", *args.peers):
        if not (peers.binary(tool) if tool in peers.PEERS else shutil.which(tool)):
            raise SystemExit(f"bench: {tool} not found (apt-get install nghttp2-client nghttp2-proxy curl "
                             f"haproxy nginx-light, or leave the peer out with --peers)")

    raise_nofile()

    def on_signal(signum, _frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGHUP, on_signal)

    b = Bench(args)
    started = time.monotonic()
    try:
        if args.wait_quiet > 0:
            b.notes.append(f"--wait-quiet: {wait_quiet(args.wait_quiet)} at the start")
        b.machine = b.machine_info()
        log(f"work directory {args.work}; load average {b.machine['load_before']}")
        b.bin = snapshot_binaries(b.bin, b.work, "bench")
        b.write_bodies()
        b.start_echo()
        b.run_matrix()
        if not args.skip_extras:
            b.idle_connections()
            b.many_versions()
            if "8MiB" in args.workloads:
                b.large_stream_rss()
        for e in b.echo:
            if not e.alive:
                b.notes.append(f"{e.name} exited during the run ({e.popen.returncode})")
    finally:
        Proc.stop_all()
    b.machine["load_after"] = load_text()
    b.notes.append(f"total time {time.monotonic() - started:.0f} s; logs in {args.work}/logs")
    text = b.render(markdown=False)
    print()
    print(text, end="")
    if args.out:
        Path(args.out).write_text(b.render(markdown=True))
        log(f"markdown table written to {args.out}")
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": b.machine, "results": [r.__dict__ for r in b.results],
                                               "extras": b.extras, "notes": b.notes}, indent=1, default=str))
    problems = b.problems()
    if problems:
        log("PROBLEMS:\n  " + "\n  ".join(problems))
    return 0


if __name__ == "__main__":
    sys.exit(main())
