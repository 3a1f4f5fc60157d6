"""The benchmark harness must keep working: a ``--quick`` run gives every row of the table.

Benchmarks are not tests, so nothing here looks at a timing; this only checks
that the harness runs end to end (loopback server, workers, all six plugins
and their raw-httpx baselines, the fallback engine) and reports a value for
every row.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RUN = ROOT / "benchmarks" / "run.py"

PROVIDERS = ("mistral", "openai", "anthropic", "gemini", "ollama", "bedrock")
EXPECTED_ROWS = [
    "cold/pass",
    "cold/httpx",
    "cold/clawdesk",
    "cold/httpx-rss",
    "cold/clawdesk-rss",
    *(
        f"{bench}/{side}-{provider}"
        for bench in ("chat", "stream", "first")
        for provider in PROVIDERS
        for side in ("raw", "clawdesk")
    ),
    *(
        f"{shape}/{side}-{provider}{suffix}"
        for shape in ("concurrent", "concurrent-200")
        for provider in PROVIDERS
        for suffix in ("", "-rss")
        for side in ("raw", "clawdesk")
    ),
    "fallback/target",
    "fallback/direct",
    "fallback/one",
    "fallback/refused",
]


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], dict[str, object]]:
    """One ``--quick`` run of the harness with tiny counts, shared by the tests below."""
    out = tmp_path_factory.mktemp("bench") / "results.json"
    args = [sys.executable, str(RUN), "--quick", "--cold-runs", "1", "--json", str(out)]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=180, cwd=ROOT)
    data = json.loads(out.read_text()) if out.exists() else {}
    return proc, data


def test_quick_run_reports_every_row_with_a_value(
    quick_run: tuple[subprocess.CompletedProcess[str], dict[str, object]],
) -> None:
    """Every benchmark row is present, has at least one measurement and no error."""
    proc, data = quick_run
    assert data, f"no JSON written; stderr: {proc.stderr[-2000:]}"
    rows = {row["key"]: row for row in data["rows"]}  # type: ignore[attr-defined]
    assert sorted(rows) == sorted(EXPECTED_ROWS)
    failed = {key: row["errors"] for key, row in rows.items() if row["errors"] or not row["values"]}
    assert not failed, failed
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_quick_run_prints_the_table(quick_run: tuple[subprocess.CompletedProcess[str], dict[str, object]]) -> None:
    """The printed table has its header, the machine line and one line per row."""
    proc, data = quick_run
    assert "machine:" in proc.stdout
    assert "vs baseline" in proc.stdout
    for row in data.get("rows", []):  # type: ignore[attr-defined]
        assert row["label"] in proc.stdout
    ratio_rows = [r for r in data.get("rows", []) if r["ratios"] is not None]  # type: ignore[attr-defined]
    assert ratio_rows
    assert all(r["ratios"] for r in ratio_rows), "a compared row has no ratio"
