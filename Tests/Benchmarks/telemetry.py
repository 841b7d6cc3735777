#!/usr/bin/env python3
"""The cost of observability (issue 16): proxy throughput and CPU per call with the access log
and 100 % tracing on, against the same gateway with both off.

Two byoc-echo-model servers as `iris` version 1. For every round, a fresh gateway (`--routes`)
with neither, and one with `--access-log FILE --otlp-endpoint http://127.0.0.1:PORT` (sample
ratio 1: every call is traced and exported) in alternating order, each driven with the small
call by h2load at 16x32 for `--duration` seconds after a warm-up. The spans go to a local OTLP
sink (this script with `--sink`: reads and discards each POST) whose CPU is reported apart;
`--otlp-protocol` picks the export's encoding (default http/json, as the gateway's). Reports req/s, p50/p99, the gateway's CPU per call,
the ratios, and the gateway's byoc_access_log_* / byoc_spans_* counters after each run.
Standard library only; reuses bench.py's process, h2load and /proc helpers. See README.md.

    python3 Tests/Benchmarks/telemetry.py --bin .build-rel/release [--duration 10] [--rounds 3]
"""
from __future__ import annotations

import argparse
import re
import socketserver
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import bench
from bench import Proc, Shape, log

ROOT = bench.ROOT
COUNTERS = ("byoc_access_log_lines_total", "byoc_access_log_dropped_total", "byoc_spans_exported_total",
            "byoc_spans_dropped_total")


def run_sink() -> int:
    """An OTLP/HTTP sink: answers every POST 200 after reading its body (HTTP/1.1 keep-alive)."""
    class Handler(socketserver.StreamRequestHandler):
        def handle(self):
            while True:
                length = 0
                line = self.rfile.readline()
                if not line:
                    return
                while line not in (b"\r\n", b"\n", b""):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                    line = self.rfile.readline()
                left = length
                while left > 0:
                    chunk = self.rfile.read(min(left, 1 << 20))
                    if not chunk:
                        return
                    left -= len(chunk)
                self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
                self.wfile.flush()

    socketserver.ThreadingTCPServer.allow_reuse_address = True
    with socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler) as server:
        print(f"listening on 127.0.0.1:{server.server_address[1]}", flush=True)
        server.serve_forever()
    return 0


def scrape(port: int) -> dict[str, float]:
    out = subprocess.run(["curl", "-sS", "--noproxy", "*", "--http1.1", "--max-time", "10",
                          f"http://127.0.0.1:{port}/metrics"], capture_output=True, text=True, timeout=20,
                         env=bench.child_env())
    result = {}
    for line in out.stdout.splitlines():
        m = re.match(r"(\w+) (\S+)$", line)
        if m and m.group(1) in COUNTERS:
            result[m.group(1)] = float(m.group(2))
    return result


class TelemetryBench:
    def __init__(self, args):
        self.args = args
        self.work = Path(args.work)
        self.logdir = self.work / "logs"
        self.logdir.mkdir(parents=True, exist_ok=True)
        self.bin = Path(args.bin)
        self.counter = 0
        self.rows: list[dict] = []

    def snapshot_binaries(self) -> None:
        dst = self.work / "bin"
        dst.mkdir(exist_ok=True)
        for name in ("byoc-gateway", "byoc-echo-model"):
            src = self.bin / name
            if not src.is_file():
                raise SystemExit(f"telemetry: {src} is missing (build it: swift build -c release --scratch-path .build-rel)")
            (dst / name).write_bytes(src.read_bytes())
            (dst / name).chmod(0o755)
        self.bin = dst

    def start(self) -> None:
        echo = str(self.bin / "byoc-echo-model")
        self.echo = []
        for i in range(2):
            p = Proc(f"echo{i + 1}", [echo, "--listen", "127.0.0.1:0", "--model", "iris", "--version", "1",
                                      "--workers", str(self.args.echo_workers)], self.logdir)
            p.wait_listening()
            self.echo.append(p)
        self.sink = Proc("otlp-sink", [sys.executable, str(Path(__file__).resolve()), "--sink"], self.logdir)
        self.sink.wait_listening()
        self.body = self.work / "body-small.bin"
        self.body.write_bytes(bench.workload_body("small"))
        endpoints = [f"127.0.0.1:{p.port}" for p in self.echo]
        self.routes = self.work / "routes.json"
        self.routes.write_text('{"models": {"iris": {"default": "1", "versions": {"1": %s}}}}'
                               % str(endpoints).replace("'", '"'))

    def gateway(self, observed: bool) -> Proc:
        self.counter += 1
        argv = [str(self.bin / "byoc-gateway"), "--listen", "127.0.0.1:0", "--routes", str(self.routes),
                "--workers", str(self.args.workers)]
        if observed:
            argv += ["--access-log", str(self.work / f"access-{self.counter}.log"),
                     "--otlp-endpoint", f"http://127.0.0.1:{self.sink.port}", "--trace-sample-ratio", "1",
                     "--otlp-protocol", self.args.otlp_protocol]
        p = Proc(f"gateway-{'on' if observed else 'off'}-{self.counter}", argv, self.logdir)
        p.wait_listening()
        return p

    def h2load(self, port: int, shape: Shape, log_file: Path | None) -> dict:
        b = bench.Bench.__new__(bench.Bench)   # only its h2load(), which reads h2load_threads and work
        b.h2load_threads, b.work = self.args.h2load_threads, self.work
        return bench.Bench.h2load(b, port, self.body, shape, log_file, shape.duration + 60)

    def measure(self, observed: bool, round_no: int) -> dict:
        a = self.args
        gw = self.gateway(observed)
        label = "log+trace on" if observed else "both off"
        row = {"target": label, "round": round_no}
        try:
            self.h2load(gw.port, Shape(a.conns, a.streams, duration=a.warmup), None)
            before = scrape(gw.port) if observed else {}
            log_file = self.work / f"h2load-{self.counter}.log"
            busy0, t0 = bench.system_busy_seconds(), time.monotonic()
            cpu0, sink0 = bench.proc_cpu_seconds(gw.pid), bench.proc_cpu_seconds(self.sink.pid)
            res = self.h2load(gw.port, Shape(a.conns, a.streams, duration=a.duration), log_file)
            cpu1, sink1 = bench.proc_cpu_seconds(gw.pid), bench.proc_cpu_seconds(self.sink.pid)
            wall = time.monotonic() - t0
            busy = bench.system_busy_seconds() - busy0
            if "error" in res:
                row["problem"] = res["error"]
                return row
            p50, p99 = bench.Bench.latencies(log_file)
            log_file.unlink(missing_ok=True)
            done = res["done"]
            row.update(rps=res["rps"], done=done, p50_ms=p50, p99_ms=p99,
                       cpu_us_per_call=(cpu1 - cpu0) / done * 1e6 if done else None,
                       sink_cpu_s=sink1 - sink0 if observed else None,
                       machine_cores_busy=busy / wall if wall > 0 else None,
                       errors=res["failed"] + res["errored"] + res["timeout"] + res["non2xx"])
            if observed:
                time.sleep(0.5)   # the last 100 ms batches reach the writer and the exporter
                after = scrape(gw.port)
                row["counters"] = {k: v - before.get(k, 0) for k, v in after.items()}
            b = bench.Bench.__new__(bench.Bench)
            b.work = self.work
            ok, detail = bench.Bench.grpc_status_check(b, gw.port, self.body, 4)
            row["grpc_check"] = "ok" if ok else detail
            log(f"{label:12} round {round_no}: {res['rps']:9.1f} req/s  p50 {bench.fmt(p50)} ms  p99 {bench.fmt(p99)} ms  "
                f"cpu/call {bench.fmt(row['cpu_us_per_call'])} µs  machine busy {row['machine_cores_busy']:.2f} cores  "
                f"check {row['grpc_check']}")
        finally:
            gw.stop()
        return row

    def run(self) -> None:
        for r in range(self.args.rounds):
            order = (False, True) if r % 2 == 0 else (True, False)
            for observed in order:
                self.rows.append(self.measure(observed, r + 1))
                time.sleep(bench.SETTLE_SECONDS)

    def render(self) -> str:
        a = self.args
        lines = [f"observability cost: small calls, h2load -c {a.conns} -m {a.streams} -t {a.h2load_threads} "
                 f"-D {a.duration:g}s, gateway --workers {a.workers}; on = --access-log FILE --otlp-endpoint (local "
                 f"sink, {a.otlp_protocol}) --trace-sample-ratio 1; rounds {a.rounds}; load average {bench.load_text()}",
                 "", "| target | round | req/s | p50 ms | p99 ms | gateway CPU µs/call | sink CPU s | machine busy cores | check |",
                 "|---|---|---|---|---|---|---|---|---|"]
        for r in self.rows:
            if "problem" in r:
                lines.append(f"| {r['target']} | {r['round']} | – | – | – | – | – | – | {r['problem']} |")
                continue
            lines.append(f"| {r['target']} | {r['round']} | {r['rps']:.0f} | {bench.fmt(r['p50_ms'])} | "
                         f"{bench.fmt(r['p99_ms'])} | {bench.fmt(r['cpu_us_per_call'])} | "
                         f"{bench.fmt(r['sink_cpu_s'])} | {r['machine_cores_busy']:.2f} | "
                         f"{r['grpc_check']}{', %d h2load errors' % r['errors'] if r['errors'] else ''} |")

        def med(target, key):
            xs = [r[key] for r in self.rows if r["target"] == target and r.get(key) is not None]
            return statistics.median(xs) if xs else None

        off_rps, on_rps = med("both off", "rps"), med("log+trace on", "rps")
        off_cpu, on_cpu = med("both off", "cpu_us_per_call"), med("log+trace on", "cpu_us_per_call")
        lines.append("")
        if None not in (off_rps, on_rps, off_cpu, on_cpu):
            lines.append(f"median req/s {off_rps:.0f} -> {on_rps:.0f} ({on_rps / off_rps:.2f}x; issue 16: >= 0.9x); "
                         f"gateway CPU per call {off_cpu:.2f} -> {on_cpu:.2f} µs ({on_cpu / off_cpu:.2f}x)")
        for r in self.rows:
            if r.get("counters"):
                lines.append(f"round {r['round']} counters (deltas over the run): " + ", ".join(
                    f"{k} {v:g}" for k, v in sorted(r["counters"].items())))
        return "\n".join(lines) + "\n"


def main() -> int:
    if sys.argv[1:] == ["--sink"]:
        return run_sink()
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=str(ROOT / ".build-rel" / "release"),
                    help="directory holding byoc-gateway and byoc-echo-model (default .build-rel/release)")
    ap.add_argument("--duration", type=float, default=10.0, help="seconds per measured run (default 10)")
    ap.add_argument("--warmup", type=float, default=1.0, help="seconds of warm-up per gateway (default 1)")
    ap.add_argument("--rounds", type=int, default=1, help="pairs of runs, order alternating (default 1)")
    ap.add_argument("--conns", type=int, default=16)
    ap.add_argument("--streams", type=int, default=32)
    ap.add_argument("--workers", type=int, default=1, help="gateway --workers (default 1, as bench.py)")
    ap.add_argument("--echo-workers", type=int, default=1)
    ap.add_argument("--h2load-threads", type=int, default=1)
    ap.add_argument("--otlp-protocol", default="http/json", choices=["http/protobuf", "http/json"],
                    help="the export's encoding (default http/json, the gateway's default)")
    ap.add_argument("--work", help="scratch directory (default: a new one under test-output/benchmarks)")
    ap.add_argument("--out", help="also write the table (markdown) to this file")
    args = ap.parse_args()
    if args.work is None:
        base = ROOT / "test-output" / "benchmarks"
        base.mkdir(parents=True, exist_ok=True)
        args.work = tempfile.mkdtemp(prefix=time.strftime("%Y%m%d-%H%M%S-telemetry-"), dir=base)
    bench.raise_nofile()
    t = TelemetryBench(args)
    try:
        t.snapshot_binaries()
        t.start()
        t.run()
    finally:
        Proc.stop_all()
    text = t.render()
    print()
    print(text, end="")
    if args.out:
        Path(args.out).write_text(text)
    return 0 if all("problem" not in r for r in t.rows) else 1


if __name__ == "__main__":
    sys.exit(main())
