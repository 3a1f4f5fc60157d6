"""The gateway load run keeps working: `benchmarks/gateway.py --quick` delivers every stream both ways.

Not a timing test: only that the harness runs end to end and loses nothing.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_gateway_benchmark_quick_run_loses_nothing(tmp_path: Path) -> None:
    """A quick run: every stream delivered whole, directly and through the gateway, with percentiles reported."""
    out = tmp_path / "gateway.json"
    run = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "gateway.py"), "--quick", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        cwd=ROOT,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    results = json.loads(out.read_text())
    for side in ("direct", "gateway"):
        assert results[side]["delivered"] == results[side]["requests"] == 20
        assert results[side]["lost"] == 0
        assert results[side]["latency_p99_ms"] >= results[side]["latency_p50_ms"] > 0
