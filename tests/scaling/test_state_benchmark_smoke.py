"""benchmarks/state.py keeps working: a --quick run prints every row of its table with a number."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from clawdesk.testing import redis_server_path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "state.py"


@pytest.mark.slow
def test_the_state_benchmark_runs() -> None:
    """Eight rows (four set-ups on asyncio and trio), each with a per-call figure; Redis rows with a cost."""
    if redis_server_path() is None:
        pytest.skip("redis-server is not installed")
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick"], capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    rows = [line for line in done.stdout.splitlines() if re.match(r"\| (asyncio|trio) \|", line)]
    assert len(rows) == 8, done.stdout
    for row in rows:
        assert re.search(r"\| \d+ \[\d+-\d+\] \| \d+ \|", row), row
        if "| redis" in row:
            assert re.search(r"\+-?\d+ µs / \+-?\d+ µs", row), row
