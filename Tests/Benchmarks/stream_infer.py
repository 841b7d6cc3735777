#!/usr/bin/env python3
"""Streaming through the gateway (issue 15): messages/s of the Open Inference Protocol's
bidirectional ModelStreamInfer through the gateway against the same stream sent directly to
the model, and the gateway's CPU per message.

The model is byoc-echo-model, which answers each ModelStreamInfer request as it arrives. The
load is h2load with a request body of `--messages` framed ModelInferRequests (one small raw
input each), so every h2load request is one stream carrying that many requests and answers,
full duplex within HTTP/2 flow control; messages/s = streams/s x messages. The gateway checks
every request of a stream against the model of its first (StreamInferGuard) and forwards the
answers, so this measures that path too. Each round runs direct, then through a fresh gateway
(`--routes`), alternating the order; a check call with nghttp confirms grpc-status 0.
Standard library only; reuses bench.py's process, /proc and formatting helpers. See README.md.

    python3 Tests/Benchmarks/stream_infer.py --bin .build-rel/release [--duration 10] [--rounds 3]
"""
from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import bench
from bench import Proc, log

ROOT = bench.ROOT
PATH = "/inference.GRPCInferenceService/ModelStreamInfer"


def stream_body(messages: int, model: str = "echo") -> bytes:
    """`messages` framed ModelInferRequests: model_name=1, id=3, raw_input_contents=7 (16 bytes)."""
    return b"".join(bench.grpc_frame(bench.field_bytes(1, model.encode()) + bench.field_bytes(3, str(i).encode())
                                     + bench.field_bytes(7, bytes(range(16)))) for i in range(messages))


class StreamBench:
    def __init__(self, args):
        self.args = args
        self.work = Path(args.work)
        self.logdir = self.work / "logs"
        self.logdir.mkdir(parents=True, exist_ok=True)
        self.bin = Path(args.bin)
        self.rows: list[dict] = []
        self.counter = 0

    def start(self) -> None:
        for name in ("byoc-gateway", "byoc-echo-model"):
            if not (self.bin / name).is_file():
                raise SystemExit(f"stream_infer: {self.bin / name} is missing (swift build -c release --scratch-path .build-rel)")
        self.echo = Proc("echo", [str(self.bin / "byoc-echo-model"), "--listen", "127.0.0.1:0", "--model", "echo",
                                  "--version", "1", "--workers", str(self.args.echo_workers)], self.logdir)
        self.echo.wait_listening()
        self.routes = self.work / "routes.json"
        self.routes.write_text(json.dumps({"models": {"echo": {"default": "1", "versions": {
            "1": [f"127.0.0.1:{self.echo.port}"]}}}}))
        self.body = self.work / "stream-body.bin"
        self.body.write_bytes(stream_body(self.args.messages))

    def h2load(self, port: int, duration: float) -> dict:
        a = self.args
        argv = ["h2load", "-c", str(a.conns), "-m", str(a.streams), "-t", "1", "-D", f"{int(duration * 1000)}ms",
                "-d", str(self.body), *bench.GRPC_HEADERS, f"http://127.0.0.1:{port}{PATH}"]
        out = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 120, env=bench.child_env())
        m = re.search(r"finished in ([\d.]+)(us|ms|s), ([\d.]+) req/s", out.stdout)
        if not m:
            return {"error": f"h2load exit {out.returncode}: " + " ".join((out.stderr or out.stdout).split()[-40:])}
        done = int(re.search(r"requests: \d+ total, \d+ started, (\d+) done", out.stdout).group(1))
        bad = re.search(r"(\d+) failed, (\d+) errored, (\d+) timeout", out.stdout)
        return {"streams_per_s": float(m.group(3)), "done": done, "errors": sum(int(x) for x in bad.groups())}

    def check(self, port: int) -> str:
        """One stream with nghttp: grpc-status 0 and every answer's bytes (messages x echo size)."""
        argv = ["nghttp", "-v", "-d", str(self.body), *bench.GRPC_HEADERS, f"http://127.0.0.1:{port}{PATH}"]
        out = subprocess.run(argv, capture_output=True, text=True, timeout=120, env=bench.child_env())
        statuses = re.findall(r"recv \(stream_id=\d+\) grpc-status: (\S+)", out.stdout)
        return "ok" if statuses == ["0"] else f"grpc-status {statuses or 'missing'} rc={out.returncode}"

    def measure(self, target: str, round_no: int) -> dict:
        a = self.args
        gw = None
        if target == "gateway":
            self.counter += 1
            gw = Proc(f"gateway-{self.counter}", [str(self.bin / "byoc-gateway"), "--listen", "127.0.0.1:0",
                                                   "--routes", str(self.routes), "--workers", str(a.workers)], self.logdir)
            port = gw.wait_listening()
        else:
            port = self.echo.port
        row = {"target": target, "round": round_no}
        try:
            self.h2load(port, a.warmup)
            cpu_gw0 = bench.proc_cpu_seconds(gw.pid) if gw else 0.0
            cpu_echo0 = bench.proc_cpu_seconds(self.echo.pid)
            busy0, t0 = bench.system_busy_seconds(), time.monotonic()
            res = self.h2load(port, a.duration)
            wall = time.monotonic() - t0
            if "error" in res:
                row["problem"] = res["error"]
                return row
            messages = res["done"] * a.messages
            row.update(msgs_per_s=res["streams_per_s"] * a.messages, messages=messages, errors=res["errors"],
                       gw_cpu_us_per_msg=(bench.proc_cpu_seconds(gw.pid) - cpu_gw0) / messages * 1e6 if gw and messages else None,
                       echo_cpu_us_per_msg=(bench.proc_cpu_seconds(self.echo.pid) - cpu_echo0) / messages * 1e6 if messages else None,
                       busy_cores=(bench.system_busy_seconds() - busy0) / wall if wall > 0 else None,
                       check=self.check(port))
            log(f"{target:8} round {round_no}: {row['msgs_per_s']:10.0f} msgs/s  gateway CPU/msg "
                f"{bench.fmt(row['gw_cpu_us_per_msg'])} µs  echo CPU/msg {bench.fmt(row['echo_cpu_us_per_msg'])} µs  "
                f"check {row['check']}")
        finally:
            if gw:
                gw.stop()
        return row

    def run(self) -> None:
        for r in range(self.args.rounds):
            for target in (("direct", "gateway") if r % 2 == 0 else ("gateway", "direct")):
                self.rows.append(self.measure(target, r + 1))
                time.sleep(bench.SETTLE_SECONDS)

    def render(self) -> str:
        a = self.args
        lines = [f"ModelStreamInfer: {a.messages} requests per stream, h2load -c {a.conns} -m {a.streams} -D {a.duration:g}s, "
                 f"gateway --workers {a.workers}, echo --workers {a.echo_workers}; rounds {a.rounds}; "
                 f"load average {bench.load_text()}",
                 "", "| target | round | messages/s | gateway CPU µs/msg | echo CPU µs/msg | machine busy cores | check |",
                 "|---|---|---|---|---|---|---|"]
        for r in self.rows:
            if "problem" in r:
                lines.append(f"| {r['target']} | {r['round']} | – | – | – | – | {r['problem']} |")
                continue
            lines.append(f"| {r['target']} | {r['round']} | {r['msgs_per_s']:.0f} | {bench.fmt(r['gw_cpu_us_per_msg'])} | "
                         f"{bench.fmt(r['echo_cpu_us_per_msg'])} | {r['busy_cores']:.2f} | {r['check']}"
                         f"{', %d h2load errors' % r['errors'] if r['errors'] else ''} |")
        direct = [r["msgs_per_s"] for r in self.rows if r["target"] == "direct" and "msgs_per_s" in r]
        through = [r["msgs_per_s"] for r in self.rows if r["target"] == "gateway" and "msgs_per_s" in r]
        if direct and through:
            lines += ["", f"median messages/s: direct {statistics.median(direct):.0f}, through the gateway "
                          f"{statistics.median(through):.0f} ({statistics.median(through) / statistics.median(direct):.2f}x)"]
        return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=str(ROOT / ".build-rel" / "release"),
                    help="directory holding byoc-gateway and byoc-echo-model (default .build-rel/release)")
    ap.add_argument("--duration", type=float, default=10.0, help="seconds per measured run (default 10)")
    ap.add_argument("--warmup", type=float, default=1.0, help="seconds of warm-up per run (default 1)")
    ap.add_argument("--rounds", type=int, default=1, help="pairs of runs, order alternating (default 1)")
    ap.add_argument("--messages", type=int, default=100, help="requests per stream (default 100)")
    ap.add_argument("--conns", type=int, default=4)
    ap.add_argument("--streams", type=int, default=8)
    ap.add_argument("--workers", type=int, default=1, help="gateway --workers (default 1, as bench.py)")
    ap.add_argument("--echo-workers", type=int, default=1)
    ap.add_argument("--work", help="scratch directory (default: a new one under test-output/benchmarks)")
    ap.add_argument("--out", help="also write the table (markdown) to this file")
    args = ap.parse_args()
    if args.work is None:
        base = ROOT / "test-output" / "benchmarks"
        base.mkdir(parents=True, exist_ok=True)
        args.work = tempfile.mkdtemp(prefix=time.strftime("%Y%m%d-%H%M%S-stream-"), dir=base)
    bench.raise_nofile()
    s = StreamBench(args)
    try:
        s.start()
        s.run()
    finally:
        Proc.stop_all()
    text = s.render()
    print()
    print(text, end="")
    if args.out:
        Path(args.out).write_text(text)
    return 0 if all("problem" not in r and r.get("check") == "ok" for r in s.rows) else 1


if __name__ == "__main__":
    sys.exit(main())
