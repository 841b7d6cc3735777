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
Standard library only; bench.PairBench runs it (processes, h2load, /proc, the table). See README.md.

    python3 Tests/Benchmarks/stream_infer.py --bin .build-rel/release [--duration 10] [--rounds 3]
"""
from __future__ import annotations

import json
import statistics
import sys
import time

import bench
from bench import Shape, log

PATH = "/inference.GRPCInferenceService/ModelStreamInfer"


def stream_body(messages: int, model: str = "echo") -> bytes:
    """`messages` framed ModelInferRequests: model_name=1, id=3, raw_input_contents=7 (16 bytes)."""
    return b"".join(bench.grpc_frame(bench.field_bytes(1, model.encode()) + bench.field_bytes(3, str(i).encode())
                                     + bench.field_bytes(7, bytes(range(16)))) for i in range(messages))


class StreamBench(bench.PairBench):
    name = "stream"
    targets = ("direct", "gateway")

    def start(self) -> None:
        self.echo = self.start_echo("echo", "echo", "1")
        self.routes = self.work / "routes.json"
        self.routes.write_text(json.dumps({"models": {"echo": {"default": "1", "versions": {
            "1": [f"127.0.0.1:{self.echo.port}"]}}}}))
        self.body = self.work / "stream-body.bin"
        self.body.write_bytes(stream_body(self.args.messages))

    def streams(self, port: int, duration: float) -> dict:
        """h2load of whole streams: streams/s, done, and the failed, errored and timed-out ones."""
        a = self.args
        res = bench.h2load(port, self.body, Shape(a.conns, a.streams, duration=duration), None, duration + 120, a.h2load_threads, PATH)
        if "error" in res:
            return res
        return {"streams_per_s": res["rps"], "done": res["done"], "errors": res["failed"] + res["errored"] + res["timeout"]}

    def measure(self, target: str, round_no: int) -> dict:
        a = self.args
        gw = self.gateway("stream", self.routes) if target == "gateway" else None
        port = gw.port if gw else self.echo.port
        row = {"target": target, "round": round_no}
        try:
            self.streams(port, a.warmup)
            cpu_gw0 = bench.proc_cpu_seconds(gw.pid) if gw else 0.0
            cpu_echo0 = bench.proc_cpu_seconds(self.echo.pid)
            busy0, t0 = bench.system_busy_seconds(), time.monotonic()
            res = self.streams(port, a.duration)
            wall = time.monotonic() - t0
            if "error" in res:
                row["problem"] = res["error"]
                return row
            messages = res["done"] * a.messages
            # One stream with nghttp: grpc-status 0.
            ok, detail = bench.grpc_status_check(port, self.body, 1, PATH)
            row.update(msgs_per_s=res["streams_per_s"] * a.messages, messages=messages, errors=res["errors"],
                       gw_cpu_us_per_msg=(bench.proc_cpu_seconds(gw.pid) - cpu_gw0) / messages * 1e6 if gw and messages else None,
                       echo_cpu_us_per_msg=(bench.proc_cpu_seconds(self.echo.pid) - cpu_echo0) / messages * 1e6 if messages else None,
                       busy_cores=(bench.system_busy_seconds() - busy0) / wall if wall > 0 else None,
                       check="ok" if ok else detail)
            log(f"{target:8} round {round_no}: {row['msgs_per_s']:10.0f} msgs/s  gateway CPU/msg "
                f"{bench.fmt(row['gw_cpu_us_per_msg'])} µs  echo CPU/msg {bench.fmt(row['echo_cpu_us_per_msg'])} µs  "
                f"check {row['check']}")
        finally:
            if gw:
                gw.stop()
        return row

    def ok(self) -> bool:
        return super().ok() and all(r.get("check") == "ok" for r in self.rows)

    def render(self) -> str:
        a = self.args
        lines = self.table(
            f"ModelStreamInfer: {a.messages} requests per stream, h2load -c {a.conns} -m {a.streams} -D {a.duration:g}s, "
            f"gateway --workers {a.workers}, echo --workers {a.echo_workers}; rounds {a.rounds}; "
            f"load average {bench.load_text()}",
            ["messages/s", "gateway CPU µs/msg", "echo CPU µs/msg", "machine busy cores", "check"],
            lambda r: [f"{r['msgs_per_s']:.0f}", bench.fmt(r["gw_cpu_us_per_msg"]), bench.fmt(r["echo_cpu_us_per_msg"]),
                       f"{r['busy_cores']:.2f}", f"{r['check']}{', %d h2load errors' % r['errors'] if r['errors'] else ''}"])
        direct = [r["msgs_per_s"] for r in self.rows if r["target"] == "direct" and "msgs_per_s" in r]
        through = [r["msgs_per_s"] for r in self.rows if r["target"] == "gateway" and "msgs_per_s" in r]
        if direct and through:
            lines += ["", f"median messages/s: direct {statistics.median(direct):.0f}, through the gateway "
                          f"{statistics.median(through):.0f} ({statistics.median(through) / statistics.median(direct):.2f}x)"]
        return "\n".join(lines) + "\n"


def main() -> int:
    ap = StreamBench.arguments(__doc__, conns=4, streams=8)
    ap.add_argument("--messages", type=int, default=100, help="requests per stream (default 100)")
    return StreamBench.main(ap)


if __name__ == "__main__":
    sys.exit(main())
