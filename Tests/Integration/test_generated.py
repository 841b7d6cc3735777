"""Generated/ and Sources/Shared/Messages/Generated/ must be exactly what Protos/generate.sh produces."""
from __future__ import annotations

import filecmp
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness import ROOT

FIX = "generated code is stale: run Protos/generate.sh and commit the result"

# Each generated folder, relative to the tree root, and which of its files the script writes.
FOLDERS = {
    # protoc-c output, its module map and the FileDescriptorSet (served by gRPC reflection).
    "Generated": lambda p: p.name.endswith((".pb-c.c", ".pb-c.h"))
    or p.name in ("module.modulemap", "descriptors.binpb"),
    # The Swift bindings: every file in the folder is generated.
    "Sources/Shared/Messages/Generated": lambda p: True,
}


def _outputs(d: Path, generated) -> set[str]:
    return {str(p.relative_to(d)) for p in d.rglob("*") if p.is_file() and generated(p)}


@pytest.fixture(scope="module")
def fresh(tmp_path_factory) -> Path:
    """A tree root holding what Protos/generate.sh writes now."""
    if shutil.which("protoc-c") is None:
        pytest.fail("protoc-c missing: apt-get install protobuf-c-compiler (Tests/run installs it)")
    root = tmp_path_factory.mktemp("fresh")
    run = subprocess.run(["bash", str(ROOT / "Protos" / "generate.sh"), str(root)],
                         capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHON": sys.executable})
    assert run.returncode == 0, f"Protos/generate.sh failed:\n{run.stdout}\n{run.stderr}"
    return root


@pytest.mark.parametrize("folder", sorted(FOLDERS))
def test_generated_is_up_to_date(fresh, folder):
    generated = FOLDERS[folder]
    out, committed_dir = fresh / folder, ROOT / folder
    new, committed = _outputs(out, generated), _outputs(committed_dir, generated)
    assert new, f"Protos/generate.sh produced nothing in {folder}/"
    missing = sorted(new - committed)
    extra = sorted(committed - new)
    differ = sorted(f for f in new & committed
                    if not filecmp.cmp(out / f, committed_dir / f, shallow=False))
    problems = [f"missing from {folder}/: {f}" for f in missing] \
        + [f"in {folder}/ but not generated: {f}" for f in extra] \
        + [f"differs: {folder}/{f}" for f in differ]
    assert not problems, FIX + ":\n  " + "\n  ".join(problems)


def test_descriptor_set_names_every_proto(fresh):
    """descriptors.binpb holds every .proto under Protos/, with its source comments."""
    from google.protobuf import descriptor_pb2

    fds = descriptor_pb2.FileDescriptorSet.FromString((ROOT / "Generated" / "descriptors.binpb").read_bytes())
    protos = sorted(str(p.relative_to(ROOT / "Protos")) for p in (ROOT / "Protos").rglob("*.proto"))
    assert sorted(f.name for f in fds.file) == protos
    assert all(f.source_code_info.location for f in fds.file)



def _generator():
    sys.path.insert(0, str(ROOT / "Protos"))
    try:
        import swift_bindings
    finally:
        sys.path.pop(0)
    return swift_bindings


def _file(name: str, syntax: str = "proto3", messages=()):
    from google.protobuf import descriptor_pb2

    fd = descriptor_pb2.FileDescriptorProto(name=name, package="t", syntax=syntax)
    for message in messages:
        fd.message_type.add(name=message)
    return fd


@pytest.mark.parametrize("files, says", [
    ([_file("a.proto", syntax="proto2", messages=["A"])], "only proto3"),
    ([_file("a.proto", messages=["Same"]), _file("b.proto", messages=["Same"])], "Swift type name Same"),
])
def test_generator_refuses_what_it_cannot_bind(files, says):
    """Unsupported protos fail generation with a reason instead of producing wrong Swift."""
    gen = _generator()
    with pytest.raises(gen.GeneratorError, match=says):
        gen.Model(files)
