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
Standard library only; bench.PairBench runs it (processes, h2load, /proc, the table). See README.md.

    python3 Tests/Benchmarks/telemetry.py --bin .build-rel/release [--duration 10] [--rounds 3]
"""
from __future__ import annotations

import socketserver
import sys
from pathlib import Path

import bench

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


class TelemetryBench(bench.PairBench):
    name = "telemetry"
    targets = ("both off", "log+trace on")

    def start(self) -> None:
        self.echo = [self.start_echo(f"echo{i + 1}", "iris", "1") for i in range(2)]
        self.sink = bench.Proc("otlp-sink", [sys.executable, str(Path(__file__).resolve()), "--sink"], self.logdir)
        self.sink.wait_listening()
        self.body = self.work / "body-small.bin"
        self.body.write_bytes(bench.workload_body("small"))
        endpoints = [f"127.0.0.1:{p.port}" for p in self.echo]
        self.routes = self.work / "routes.json"
        self.routes.write_text('{"models": {"iris": {"default": "1", "versions": {"1": %s}}}}'
                               % str(endpoints).replace("'", '"'))

    def measure(self, target: str, round_no: int) -> dict:
        a = self.args
        observed = target == "log+trace on"
        flags = []
        if observed:
            flags = ["--access-log", str(self.work / f"access-{self.counter + 1}.log"),
                     "--otlp-endpoint", f"http://127.0.0.1:{self.sink.port}", "--trace-sample-ratio", "1",
                     "--otlp-protocol", a.otlp_protocol]
        gw = self.gateway("on" if observed else "off", self.routes, *flags)
        # After the run, the last 100 ms batches reach the writer and the exporter.
        return self.measure_gateway(gw, self.body, {"target": target, "round": round_no},
                                    series=COUNTERS.__contains__ if observed else None, wait_after=0.5,
                                    also={"sink": self.sink} if observed else None)

    def render(self) -> str:
        a = self.args
        lines = self.table(
            f"observability cost: small calls, h2load -c {a.conns} -m {a.streams} -t {a.h2load_threads} "
            f"-D {a.duration:g}s, gateway --workers {a.workers}; on = --access-log FILE --otlp-endpoint (local "
            f"sink, {a.otlp_protocol}) --trace-sample-ratio 1; rounds {a.rounds}; load average {bench.load_text()}",
            self.load_header("sink CPU s"), lambda r: self.load_cells(r, bench.fmt(r.get("sink_cpu_s"))))
        off_rps, on_rps = self.median("both off", "rps"), self.median("log+trace on", "rps")
        off_cpu, on_cpu = self.median("both off", "cpu_us_per_call"), self.median("log+trace on", "cpu_us_per_call")
        lines.append("")
        if None not in (off_rps, on_rps, off_cpu, on_cpu):
            lines.append(f"median req/s {off_rps:.0f} -> {on_rps:.0f} ({on_rps / off_rps:.2f}x; issue 16: >= 0.9x); "
                         f"gateway CPU per call {off_cpu:.2f} -> {on_cpu:.2f} µs ({on_cpu / off_cpu:.2f}x)")
        for r in self.rows:
            if r.get("deltas"):
                lines.append(f"round {r['round']} counters (deltas over the run): " + ", ".join(
                    f"{k} {v:g}" for k, v in sorted(r["deltas"].items())))
        return "\n".join(lines) + "\n"


def main() -> int:
    if sys.argv[1:] == ["--sink"]:
        return run_sink()
    ap = TelemetryBench.arguments(__doc__)
    ap.add_argument("--otlp-protocol", default="http/json", choices=["http/protobuf", "http/json"],
                    help="the export's encoding (default http/json, the gateway's default)")
    return TelemetryBench.main(ap)


if __name__ == "__main__":
    sys.exit(main())
