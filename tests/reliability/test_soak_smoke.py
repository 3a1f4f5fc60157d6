"""The soak script (scripts/soak.py) in miniature, so it cannot rot between real soak runs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SOAK = Path(__file__).resolve().parents[2] / "scripts" / "soak.py"


@pytest.mark.slow
def test_soak_smoke() -> None:
    """150 requests through the fault-injecting chain end with every invariant holding and every id accounted for."""
    proc = subprocess.run(
        [sys.executable, str(SOAK), "-n", "150", "--concurrency", "8", "--timeout", "0.5", "--seed", "3", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    summary = json.loads(proc.stdout)
    assert summary["failures"] == []
    assert sum(summary["outcomes"].values()) == 150
    assert summary["outcomes"].get("served", 0) > 100
    assert summary["server_attempts"] > 150  # faults were injected and retried
    assert set(summary["faults"]) - {"ok", "ok_slow"}
