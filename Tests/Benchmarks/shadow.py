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
Standard library only; bench.PairBench runs it (processes, h2load, /proc, the table). See README.md.

    python3 Tests/Benchmarks/shadow.py --bin .build-rel/release [--duration 10] [--rounds 3]
"""
from __future__ import annotations

import json
import sys

import bench


def shadow_counter(series: str) -> bool:
    """The byoc_shadow_* counters' series (not the duration histogram's)."""
    return series.startswith("byoc_shadow_") and not series.startswith("byoc_shadow_request_duration_seconds")


class ShadowBench(bench.PairBench):
    name = "shadow"
    targets = ("no shadow", "shadow 100 %")

    def start(self) -> None:
        a = self.args
        self.primary = self.start_echo("echo-v1", "iris", "1")
        self.shadow = self.start_echo("echo-v2-slow", "iris", "2", "--delay-ms", str(a.delay_ms))
        # The small call naming no version: the split (here the default, 1) serves it, and the
        # shadow gets a copy.
        self.body = self.work / "body-small-noversion.bin"
        self.body.write_bytes(bench.workload_body("small", version=""))
        self.routes = {}
        for target in self.targets:
            model = {"default": "1", "versions": {"1": [f"127.0.0.1:{self.primary.port}"],
                                                  "2": [f"127.0.0.1:{self.shadow.port}"]}}
            tag = "plain"
            if target != "no shadow":
                model["shadow"] = {"version": "2", "percent": a.percent}
                tag = "shadow"
            self.routes[target] = self.work / f"routes-{tag}.json"
            self.routes[target].write_text(json.dumps({"models": {"iris": model}}))

    def measure(self, target: str, round_no: int) -> dict:
        a = self.args
        shadowed = target != "no shadow"
        gw = self.gateway("shadow" if shadowed else "plain", self.routes[target])
        # Before measuring, the warm-up's copies finish or time out (500 ms each); after, the
        # copies still in flight end with their 500 ms answers.
        wait = a.delay_ms / 1000 + 0.5 if shadowed else 0.0
        return self.measure_gateway(gw, self.body, {"target": target, "round": round_no},
                                    series=shadow_counter if shadowed else None, wait_before=wait, wait_after=wait)

    def render(self) -> str:
        a = self.args
        lines = self.table(
            f"shadow cost: small calls naming no version, h2load -c {a.conns} -m {a.streams} -t {a.h2load_threads} "
            f"-D {a.duration:g}s, gateway --workers {a.workers}, shadow = echo --delay-ms {a.delay_ms} at "
            f"{a.percent} %; rounds {a.rounds}; load average {bench.load_text()}",
            self.load_header(), self.load_cells)
        plain_p99, shadow_p99 = self.median("no shadow", "p99_ms"), self.median("shadow 100 %", "p99_ms")
        plain_p50, shadow_p50 = self.median("no shadow", "p50_ms"), self.median("shadow 100 %", "p50_ms")
        plain_cpu, shadow_cpu = self.median("no shadow", "cpu_us_per_call"), self.median("shadow 100 %", "cpu_us_per_call")
        lines.append("")
        if None not in (plain_p99, shadow_p99, plain_cpu, shadow_cpu):
            lines.append(f"median p50 {plain_p50:.2f} -> {shadow_p50:.2f} ms ({shadow_p50 - plain_p50:+.2f} ms); "
                         f"p99 {plain_p99:.2f} -> {shadow_p99:.2f} ms ({shadow_p99 - plain_p99:+.2f} ms; issue 14: <= +1 ms); "
                         f"gateway CPU per primary call {plain_cpu:.1f} -> {shadow_cpu:.1f} µs "
                         f"({shadow_cpu / plain_cpu:.2f}x; issue 14: <= 1.3x)")
        for r in self.rows:
            if r.get("deltas"):
                lines.append(f"byoc_shadow_* during round {r['round']} (deltas): " + ", ".join(
                    f"{k} {v:g}" for k, v in sorted(r["deltas"].items()) if v))
        return "\n".join(lines) + "\n"


def main() -> int:
    ap = ShadowBench.arguments(__doc__)
    ap.add_argument("--delay-ms", type=int, default=500, help="the shadow's answer delay (default 500)")
    ap.add_argument("--percent", type=int, default=100, help="the shadow's percent (default 100)")
    return ShadowBench.main(ap)


if __name__ == "__main__":
    sys.exit(main())
