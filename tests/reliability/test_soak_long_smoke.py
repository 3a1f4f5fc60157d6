"""The long soak script (scripts/soak_long.py) for a few seconds, so it cannot rot between its 30-minute runs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SOAK_LONG = Path(__file__).resolve().parents[2] / "scripts" / "soak_long.py"


@pytest.mark.slow
def test_soak_long_smoke() -> None:
    """Five seconds of 40 callers through the abusive servers: every request ends, nothing leaks, report is whole."""
    proc = subprocess.run(
        [sys.executable, str(SOAK_LONG), "--minutes", "0.08", "--callers", "40", "--max-connections", "8", "--json"],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads(proc.stdout)
    assert report["failures"] == []
    assert report["requests"] == report["ended"] > 40
    assert report["outcomes"].get("served", 0) > 0
    assert report["busy_at_end"] == []
    assert len(report["rss_mib"]) >= 2
    assert set(report["faults"]) & {"drip", "keepalive_only", "stall_mid_stream"}
