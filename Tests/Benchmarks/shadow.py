#!/usr/bin/env python3
"""The cost of a shadow (issue 14): the primary's latency and the gateway's CPU per primary call
with a 100 % shadow to a slow version, against the same gateway without the shadow.

Two byoc-echo-model servers: `iris` version 1 (the primary) and version 2 with `--delay-ms 500`
(the shadow). For every round, a fresh gateway (`--routes`) without the shadow and one with
`"shadow": {"version": "2", "percent": 100}` (in alternating order), each driven with the small
call naming no version (the shadowed kind) by h2load at 16x32 for `--duration` seconds after a
warm-up. Reports the primary's p50/p99, the gateway's CPU per primary call and their ratio, and
the gateway's byoc_shadow_* counters after each shadowed run (copies dropped as `behind` or
`unavailable` are expected: at 512 calls in flight and 500 ms per copy the shadow cannot keep up).
Standard library only; reuses bench.py's process, h2load and /proc helpers. See README.md.

    python3 Tests/Benchmarks/shadow.py --bin .build-rel/release [--duration 10] [--rounds 3]
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
from bench import Proc, Shape, log

ROOT = bench.ROOT


def scrape_shadow(port: int) -> dict[str, float]:
    """The gateway's byoc_shadow_* samples (`name{labels}` -> value) from /metrics."""
    out = subprocess.run(["curl", "-sS", "--noproxy", "*", "--http1.1", "--max-time", "10",
                          f"http://127.0.0.1:{port}/metrics"], capture_output=True, text=True, timeout=20,
                         env=bench.child_env())
    result = {}
    for line in out.stdout.splitlines():
        m = re.match(r"(byoc_shadow_\w+(?:\{[^}]*\})?) (\S+)$", line)
        if m and not m.group(1).startswith(("byoc_shadow_request_duration_seconds_bucket",)):
            result[m.group(1)] = float(m.group(2))
    return result


class ShadowBench:
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
                raise SystemExit(f"shadow: {src} is missing (build it: swift build -c release --scratch-path .build-rel)")
            (dst / name).write_bytes(src.read_bytes())
            (dst / name).chmod(0o755)
        self.bin = dst

    def start(self) -> None:
        echo = str(self.bin / "byoc-echo-model")
        self.primary = Proc("echo-v1", [echo, "--listen", "127.0.0.1:0", "--model", "iris", "--version", "1",
                                        "--workers", str(self.args.echo_workers)], self.logdir)
        self.shadow = Proc("echo-v2-slow", [echo, "--listen", "127.0.0.1:0", "--model", "iris", "--version", "2",
                                            "--workers", str(self.args.echo_workers),
                                            "--delay-ms", str(self.args.delay_ms)], self.logdir)
        self.primary.wait_listening()
        self.shadow.wait_listening()
        # The small call naming no version: the split (here the default, 1) serves it, and the
        # shadow gets a copy.
        self.body = self.work / "body-small-noversion.bin"
        self.body.write_bytes(bench.workload_body("small", version=""))
        for shadowed in (False, True):
            model = {"default": "1", "versions": {"1": [f"127.0.0.1:{self.primary.port}"],
                                                  "2": [f"127.0.0.1:{self.shadow.port}"]}}
            if shadowed:
                model["shadow"] = {"version": "2", "percent": self.args.percent}
            (self.work / f"routes-{'shadow' if shadowed else 'plain'}.json").write_text(json.dumps({"models": {"iris": model}}))

    def gateway(self, shadowed: bool) -> Proc:
        self.counter += 1
        routes = self.work / f"routes-{'shadow' if shadowed else 'plain'}.json"
        p = Proc(f"gateway-{'shadow' if shadowed else 'plain'}-{self.counter}",
                 [str(self.bin / "byoc-gateway"), "--listen", "127.0.0.1:0", "--routes", str(routes),
                  "--workers", str(self.args.workers)], self.logdir)
        p.wait_listening()
        return p

    def h2load(self, port: int, shape: Shape, log_file: Path | None) -> dict:
        b = bench.Bench.__new__(bench.Bench)   # only its h2load(), which reads h2load_threads and work
        b.h2load_threads, b.work = self.args.h2load_threads, self.work
        return bench.Bench.h2load(b, port, self.body, shape, log_file, shape.duration + 60)

    def measure(self, shadowed: bool, round_no: int) -> dict:
        a = self.args
        gw = self.gateway(shadowed)
        label = "shadow 100 %" if shadowed else "no shadow"
        row = {"target": label, "round": round_no}
        try:
            self.h2load(gw.port, Shape(a.conns, a.streams, duration=a.warmup), None)
            if shadowed:
                # Let the warm-up's copies finish or time out (500 ms each) before measuring.
                time.sleep(a.delay_ms / 1000 + 0.5)
            before = scrape_shadow(gw.port) if shadowed else {}
            log_file = self.work / f"h2load-{self.counter}.log"
            busy0, t0 = bench.system_busy_seconds(), time.monotonic()
            cpu0 = bench.proc_cpu_seconds(gw.pid)
            res = self.h2load(gw.port, Shape(a.conns, a.streams, duration=a.duration), log_file)
            cpu1 = bench.proc_cpu_seconds(gw.pid)
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
                       machine_cores_busy=busy / wall if wall > 0 else None,
                       errors=res["failed"] + res["errored"] + res["timeout"] + res["non2xx"])
            if shadowed:
                # The copies still in flight end with their 500 ms answers.
                time.sleep(a.delay_ms / 1000 + 0.5)
                after = scrape_shadow(gw.port)
                row["shadow"] = {k: v - before.get(k, 0) for k, v in after.items()
                                 if not k.endswith(("_sum", "_count")) or k.startswith("byoc_shadow_requests")}
            ok, detail = bench.Bench.grpc_status_check(self._checker(), gw.port, self.body, 4)
            row["grpc_check"] = "ok" if ok else detail
            log(f"{label:12} round {round_no}: {res['rps']:9.1f} req/s  p50 {bench.fmt(p50)} ms  p99 {bench.fmt(p99)} ms  "
                f"cpu/call {bench.fmt(row['cpu_us_per_call'])} µs  machine busy {row['machine_cores_busy']:.2f} cores  "
                f"check {row['grpc_check']}")
        finally:
            gw.stop()
        return row

    def _checker(self):
        b = bench.Bench.__new__(bench.Bench)
        b.work = self.work
        return b

    def run(self) -> None:
        for r in range(self.args.rounds):
            order = (False, True) if r % 2 == 0 else (True, False)
            for shadowed in order:
                self.rows.append(self.measure(shadowed, r + 1))
                time.sleep(bench.SETTLE_SECONDS)

    def render(self) -> str:
        a = self.args
        lines = [f"shadow cost: small calls naming no version, h2load -c {a.conns} -m {a.streams} -t {a.h2load_threads} "
                 f"-D {a.duration:g}s, gateway --workers {a.workers}, shadow = echo --delay-ms {a.delay_ms} at "
                 f"{a.percent} %; rounds {a.rounds}; load average {bench.load_text()}",
                 "", "| target | round | req/s | p50 ms | p99 ms | gateway CPU µs/call | machine busy cores | check |",
                 "|---|---|---|---|---|---|---|---|"]
        for r in self.rows:
            if "problem" in r:
                lines.append(f"| {r['target']} | {r['round']} | – | – | – | – | – | {r['problem']} |")
                continue
            lines.append(f"| {r['target']} | {r['round']} | {r['rps']:.0f} | {bench.fmt(r['p50_ms'])} | "
                         f"{bench.fmt(r['p99_ms'])} | {bench.fmt(r['cpu_us_per_call'])} | {r['machine_cores_busy']:.2f} | "
                         f"{r['grpc_check']}{', %d h2load errors' % r['errors'] if r['errors'] else ''} |")

        def med(target, key):
            xs = [r[key] for r in self.rows if r["target"] == target and r.get(key) is not None]
            return statistics.median(xs) if xs else None

        plain_p99, shadow_p99 = med("no shadow", "p99_ms"), med("shadow 100 %", "p99_ms")
        plain_p50, shadow_p50 = med("no shadow", "p50_ms"), med("shadow 100 %", "p50_ms")
        plain_cpu, shadow_cpu = med("no shadow", "cpu_us_per_call"), med("shadow 100 %", "cpu_us_per_call")
        lines.append("")
        if None not in (plain_p99, shadow_p99, plain_cpu, shadow_cpu):
            lines.append(f"median p50 {plain_p50:.2f} -> {shadow_p50:.2f} ms ({shadow_p50 - plain_p50:+.2f} ms); "
                         f"p99 {plain_p99:.2f} -> {shadow_p99:.2f} ms ({shadow_p99 - plain_p99:+.2f} ms; issue 14: <= +1 ms); "
                         f"gateway CPU per primary call {plain_cpu:.1f} -> {shadow_cpu:.1f} µs "
                         f"({shadow_cpu / plain_cpu:.2f}x; issue 14: <= 1.3x)")
        for r in self.rows:
            if r.get("shadow"):
                lines.append(f"byoc_shadow_* during round {r['round']} (deltas): " + ", ".join(
                    f"{k} {v:g}" for k, v in sorted(r["shadow"].items()) if v))
        return "\n".join(lines) + "\n"


def main() -> int:
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
    ap.add_argument("--delay-ms", type=int, default=500, help="the shadow's answer delay (default 500)")
    ap.add_argument("--percent", type=int, default=100, help="the shadow's percent (default 100)")
    ap.add_argument("--work", help="scratch directory (default: a new one under test-output/benchmarks)")
    ap.add_argument("--out", help="also write the table (markdown) to this file")
    args = ap.parse_args()
    if args.work is None:
        base = ROOT / "test-output" / "benchmarks"
        base.mkdir(parents=True, exist_ok=True)
        args.work = tempfile.mkdtemp(prefix=time.strftime("%Y%m%d-%H%M%S-shadow-"), dir=base)
    bench.raise_nofile()
    s = ShadowBench(args)
    try:
        s.snapshot_binaries()
        s.start()
        s.run()
    finally:
        Proc.stop_all()
    text = s.render()
    print()
    print(text, end="")
    if args.out:
        Path(args.out).write_text(text)
    return 0 if all("problem" not in r for r in s.rows) else 1


if __name__ == "__main__":
    sys.exit(main())
