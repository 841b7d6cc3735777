"""Fixtures for the integration tests.

Stubs: generated from Protos/ with grpc_tools.protoc into Tests/Integration/gen/ (gitignored)
at the start of every session, before collection, so test modules may import them at the top.

Binaries: $BYOC_BIN, else `swift build --show-bin-path` in the repository root.

Every test starts its own processes through the `procs` fixture; teardown kills them all
(process group, SIGKILL) whatever happened, and prints their log tails when the test failed.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass

import pytest

import harness


def pytest_configure(config):
    harness.generate_protos()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


@pytest.fixture(scope="session")
def protos():
    """The generated modules (pb.inference, pb.health, pb.oip, ... and their *_grpc)."""
    assert (harness.GEN / "byoc" / "v1" / "inference_pb2.py").exists()
    return harness.pb


@pytest.fixture(scope="session")
def bin_dir():
    return harness.bin_dir()


@pytest.fixture
def procs(request, tmp_path):
    """Starts processes and channels for one test; everything is torn down afterwards."""
    mgr = harness.Processes(tmp_path)
    try:
        yield mgr
    finally:
        mgr.close()
        rep = getattr(request.node, "rep_call", None)
        if rep is None or rep.failed or getattr(request.node, "rep_setup", None) and request.node.rep_setup.failed:
            sys.stderr.write(f"\nprocess logs (in {tmp_path}):\n{mgr.report()}\n")


@dataclass
class Cluster:
    """The standard topology: iris v1 (2 endpoints, default) and v2 (1), wine v1 (1)."""
    gateway: harness.Proc
    iris1a: harness.Proc
    iris1b: harness.Proc
    iris2: harness.Proc
    wine1: harness.Proc
    procs: harness.Processes

    @property
    def address(self) -> str:
        return self.gateway.address

    def channel(self, local_pool: bool = False):
        return self.procs.channel(self.gateway.address, local_pool=local_pool)

    def stub(self, channel=None):
        return harness.pb.inference_grpc.InferenceStub(channel or self.channel())


def start_cluster(procs: harness.Processes, gateway_extra=(), workers: int = 2) -> Cluster:
    iris1a = procs.echo("iris", "1", id="iris-1-a")
    iris1b = procs.echo("iris", "1", id="iris-1-b")
    iris2 = procs.echo("iris", "2", id="iris-2-a")
    wine1 = procs.echo("wine", "1", id="wine-1-a")
    gw = procs.gateway({
        "iris": {"default": "1", "versions": {"1": [iris1a, iris1b], "2": [iris2]}},
        "wine": {"default": "1", "versions": {"1": [wine1]}},
    }, workers=workers, extra=list(gateway_extra))
    return Cluster(gw, iris1a, iris1b, iris2, wine1, procs)


@pytest.fixture
def cluster(procs) -> Cluster:
    return start_cluster(procs)
