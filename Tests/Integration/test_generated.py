"""Generated/ must be exactly what Protos/generate.sh produces from Protos/."""
from __future__ import annotations

import filecmp
import shutil
import subprocess
from pathlib import Path

import pytest

from harness import ROOT

GENERATED = ROOT / "Generated"
FIX = "Generated/ is stale: run Protos/generate.sh and commit the result"


def _outputs(d: Path) -> set[str]:
    return {str(p.relative_to(d)) for p in d.rglob("*")
            if p.is_file() and (p.name.endswith((".pb-c.c", ".pb-c.h")) or p.name == "module.modulemap")}


def test_generated_is_up_to_date(tmp_path):
    if shutil.which("protoc-c") is None:
        pytest.fail("protoc-c missing: apt-get install protobuf-c-compiler (Tests/run installs it)")
    out = tmp_path / "generated"
    run = subprocess.run(["bash", str(ROOT / "Protos" / "generate.sh"), str(out)],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, f"Protos/generate.sh failed:\n{run.stdout}\n{run.stderr}"
    fresh, committed = _outputs(out), _outputs(GENERATED)
    assert fresh, "Protos/generate.sh produced nothing"
    missing = sorted(fresh - committed)
    extra = sorted(committed - fresh)
    differ = sorted(f for f in fresh & committed
                    if not filecmp.cmp(out / f, GENERATED / f, shallow=False))
    problems = [f"missing from Generated/: {f}" for f in missing] \
        + [f"in Generated/ but not generated: {f}" for f in extra] \
        + [f"differs: Generated/{f}" for f in differ]
    assert not problems, FIX + ":\n  " + "\n  ".join(problems)
