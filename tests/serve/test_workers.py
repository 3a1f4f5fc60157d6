"""Two worker processes behind one port: key budgets hold across them through Redis."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from backends import KEY_B, GatewayProcess, sha256

from clawdesk.testing import RedisServer
from conftest import Backends

BODY = {"model": "ollama/llama3.2", "messages": [{"role": "user", "content": "Say hello."}]}


@pytest.fixture
def two_workers(backends: Backends, redis: RedisServer, tmp_path: Path) -> Iterator[GatewayProcess]:
    """`clawdesk serve --workers 2` with [state] on a real Redis."""
    path = tmp_path / "config.toml"
    state = f'[state]\nbackend = "redis"\nurl = "{redis.url}"\nkey_prefix = "serve-test"\n'
    path.write_text(backends.config(state=state), encoding="utf-8")
    process = GatewayProcess(path, workers=2)
    yield process
    process.close()


def test_key_budget_holds_across_two_workers(
    two_workers: GatewayProcess, backends: Backends, redis: RedisServer
) -> None:
    """team-b's 3 requests a minute hold over 2 workers: of 12 calls, 3 pass and 9 get 429, and /metrics sums both."""
    pids = {httpx.get(f"{two_workers.url}/healthz", headers={"connection": "close"}).json()["pid"] for _ in range(30)}
    assert len(pids) == 2, "the calls must really be spread over both workers"
    statuses = []
    for _ in range(12):
        with httpx.Client(timeout=30) as fresh:  # a new connection each time, so the kernel spreads them
            response = fresh.post(
                f"{two_workers.url}/v1/chat/completions", headers={"authorization": f"Bearer {KEY_B}"}, json=BODY
            )
        statuses.append(response.status_code)
        if response.status_code == 429:
            assert int(response.headers["retry-after"]) >= 1
            assert response.json()["error"]["code"] == "rate_limit_exceeded"
    assert statuses.count(200) == 3
    assert statuses.count(429) == 9
    assert backends.ollama.count == 3
    time.sleep(1.5)  # every worker's counters reach the shared snapshots within a second
    text = httpx.get(f"{two_workers.url}/metrics", headers={"connection": "close"}).text
    counts = dict(line.rsplit(" ", 1) for line in text.splitlines() if not line.startswith("#"))
    route = 'route="/v1/chat/completions"'
    assert int(counts[f'clawdesk_gateway_requests_total{{{route},provider="ollama",status="200"}}']) == 3
    assert int(counts[f'clawdesk_gateway_requests_total{{{route},provider="none",status="429"}}']) == 9
    keys = redis.cli("KEYS", "*")
    assert "serve-test:serve-key.team-b:rpm" in keys
    assert KEY_B not in keys
    assert sha256(KEY_B).removeprefix("sha256:") not in keys


def test_workers_without_shared_state_are_warned_about(backends: Backends, tmp_path: Path) -> None:
    """Two workers on local state: the gateway says at start that budgets and cooldowns are per worker."""
    path = tmp_path / "config.toml"
    path.write_text(backends.config(), encoding="utf-8")
    process = GatewayProcess(path, workers=2)
    try:
        assert 'each worker keeps its own key budgets and cooldowns with [state] backend "local"' in process.log
    finally:
        process.close()
