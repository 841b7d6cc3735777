"""Smoke runs of the benchmark harness (Tests/Benchmarks/run --quick) and of the instruction
counter (Tests/Benchmarks/callgrind), so they cannot rot.

Uses the binaries under test ($BYOC_BIN / swift build --show-bin-path, usually debug) and
asserts only that the harness works: rows for gateway, nghttpx and direct (and, in the small
workload, HAProxy and nginx) with non-zero requests/s, and every grpc-status check passed.
Figures are reported, never asserted.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import time

import pytest

import harness

RUN = harness.ROOT / "Tests" / "Benchmarks" / "run"
TARGETS = ("gateway", "nghttpx", "direct")
QUICK_PEERS = {"small": ("haproxy", "nginx")}   # --quick runs HAProxy and nginx in the small workload only
WORKLOADS = ("small", "64KiB", "8MiB")


def parse_markdown_rows(text: str) -> list[dict]:
    """The main table's rows as dicts keyed by its header."""
    lines = text.splitlines()
    start = next(i for i, l in enumerate(lines) if l.startswith("| workload |"))
    header = [c.strip() for c in lines[start].strip().strip("|").split("|")]
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        rows.append(dict(zip(header, cells)))
    return rows


@pytest.mark.timeout(330)
def test_benchmark_quick(tmp_path, bin_dir):
    for tool in ("h2load", "nghttpx", "nghttp"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} not installed (Tests/run installs nghttp2-client and nghttp2-proxy)")
    out = tmp_path / "table.md"
    argv = [str(RUN), "--quick", "--bin", str(bin_dir), "--out", str(out), "--work", str(tmp_path / "work"),
            "--idle-conns", "500"]
    started = time.monotonic()
    # About 60-80 s on a quiet machine; a loaded one (debug binaries, other builds) needs more.
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=300, env=harness.child_env())
    elapsed = time.monotonic() - started
    sys.stdout.write(proc.stdout)
    sys.stderr.write(proc.stderr[-4000:])
    assert proc.returncode == 0, f"run --quick exited {proc.returncode}:\n{proc.stderr[-2000:]}"
    assert out.exists(), "no markdown table written"
    text = out.read_text()
    rows = parse_markdown_rows(text)
    print(f"benchmark smoke run: {elapsed:.0f} s")

    for workload in WORKLOADS:
        extra = QUICK_PEERS.get(workload, ())
        for target in TARGETS + extra:
            mine = [r for r in rows if r["workload"] == workload and r["target"] == target]
            assert mine, f"no {workload} row for {target}:\n{text}"
            for r in mine:
                assert float(r["req/s"]) > 0, f"{workload} {r['conns x streams']} {target}: zero req/s:\n{text}"
                assert r["grpc-status"].startswith("ok "), \
                    f"{workload} {r['conns x streams']} {target}: grpc-status check {r['grpc-status']}"
        ratios = [r for r in rows if r["workload"] == workload and r["target"].startswith("gateway/")]
        expected = {"gateway/nghttpx", "gateway/direct"} | {f"gateway/{p}" for p in extra}
        if extra:
            expected.add("gateway/best peer")
        assert {r["target"] for r in ratios} == expected, text
    for measurement in ("idle connections: gateway", "1,000 route entries vs 1", "16 concurrent 8 MiB calls: gateway"):
        assert measurement in text, f"missing extra measurement {measurement!r}:\n{text}"


@pytest.mark.timeout(180)
@pytest.mark.parametrize("gateway_args", ["", "--access-log {out}/access.log --otlp-endpoint http://{sink} --trace-sample-ratio 1"],
                         ids=["plain", "log-and-trace"])
def test_callgrind_counts_instructions_per_call(bin_dir, gateway_args):
    if shutil.which("valgrind") is None or shutil.which("h2load") is None:
        pytest.skip("valgrind or h2load not installed (Tests/run installs them)")
    script = harness.ROOT / "Tests" / "Benchmarks" / "callgrind"
    proc = subprocess.run([str(script), "gateway", "300"], capture_output=True, text=True, timeout=170,
                          env=harness.child_env({"BYOC_BIN": str(bin_dir), "GATEWAY_ARGS": gateway_args}))
    sys.stdout.write(proc.stdout)
    sys.stderr.write(proc.stderr[-4000:])
    assert proc.returncode == 0, f"callgrind exited {proc.returncode}:\n{proc.stderr[-2000:]}"
    assert "300 succeeded" in proc.stdout, "every measured call succeeded"
    line = next((l for l in proc.stdout.splitlines() if "instructions for 300 calls" in l), None)
    assert line, f"no instructions-per-call line:\n{proc.stdout[-2000:]}"
    per_call = int(line.split("= ")[1].split()[0])
    assert per_call > 1000, line


@pytest.mark.timeout(180)
def test_stream_infer_benchmark(tmp_path, bin_dir):
    """Tests/Benchmarks/stream_infer.py (ModelStreamInfer through the gateway vs direct) runs."""
    for tool in ("h2load", "nghttp"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} not installed (Tests/run installs nghttp2-client)")
    out = tmp_path / "stream.md"
    proc = subprocess.run([sys.executable, str(harness.ROOT / "Tests" / "Benchmarks" / "stream_infer.py"),
                           "--bin", str(bin_dir), "--duration", "1", "--warmup", "0.3", "--messages", "20",
                           "--work", str(tmp_path / "work"), "--out", str(out)],
                          capture_output=True, text=True, timeout=170, env=harness.child_env())
    sys.stdout.write(proc.stdout)
    assert proc.returncode == 0, f"stream_infer.py exited {proc.returncode}:\n{proc.stderr[-2000:]}"
    text = out.read_text()
    rows = [l for l in text.splitlines() if l.startswith(("| direct |", "| gateway |"))]
    assert len(rows) == 2 and all(l.split("|")[3].strip().isdigit() and l.rstrip(" |").endswith("ok") for l in rows), text
    assert "through the gateway" in text
