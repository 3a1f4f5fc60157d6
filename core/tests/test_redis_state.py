"""RedisState against a real redis-server on a loopback port: sharing, atomicity, expiry, prefixes, secrets,
and what happens when Redis is killed, restarted, refuses the login, stalls or is not Redis at all."""

from __future__ import annotations

import itertools
import logging
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from clawdesk import (
    Admission,
    Clawdesk,
    FallbackConfig,
    RateLimit,
    RedisState,
    Secret,
    StateConfig,
    parse_config,
)
from clawdesk.testing import FakeClock, RedisServer, Reply, ScriptedServer

FAST = FallbackConfig(cooldown_failures=2, cooldown_window_secs=60, cooldown_secs=30)


def store(url: str, *, prefix: str = "clawdesk", clock: FakeClock | None = None, **state: float) -> RedisState:
    config = StateConfig(backend="redis", url=Secret(url), key_prefix=prefix, **state)  # type: ignore[arg-type]
    return RedisState(config, FAST, clock=clock.clock if clock is not None else time.monotonic)


def keys(redis: RedisServer) -> list[str]:
    return sorted(redis.cli("--scan").split())


@pytest.mark.anyio
async def test_a_cooldown_seen_by_one_store_is_seen_by_another(redis_server: RedisServer) -> None:
    """Two stores on one Redis (two processes' views) share failures and cooldowns; a success clears the count."""
    a, b = store(redis_server.url), store(redis_server.url)
    await a.note_failure("mistral", "timeout")
    await b.note_success("mistral")  # clears the shared count: one more failure is not enough
    await a.note_failure("mistral", "timeout")
    assert await b.cooldown_remaining("mistral") == 0.0
    await b.note_failure("mistral", "rate_limited")
    left = await a.cooldown_remaining("mistral")
    assert 29.0 < left <= 30.0
    assert await a.cooldown_remaining("ollama") == 0.0
    await b.note_failure("ollama", "invalid_request")  # about the request, never the provider's health
    await b.note_failure("ollama", "invalid_request")
    assert await a.cooldown_remaining("ollama") == 0.0
    assert (a.failures, b.failures) == (0, 0)
    await a.aclose()
    await b.aclose()


@pytest.mark.anyio
async def test_a_cooldown_ends_on_its_own(redis_server: RedisServer) -> None:
    """The cooldown key expires with the cooldown: afterwards every store sees the provider as usable."""
    short = FallbackConfig(cooldown_failures=1, cooldown_secs=0.3)
    a = RedisState(StateConfig(backend="redis", url=Secret(redis_server.url)), short, clock=time.monotonic)
    await a.note_failure("gpu2", "connection_failed")
    assert 0.0 < await a.cooldown_remaining("gpu2") <= 0.3
    await anyio.sleep(0.35)
    assert await a.cooldown_remaining("gpu2") == 0.0
    assert "clawdesk:gpu2:cooldown" not in keys(redis_server)
    await a.aclose()


@pytest.mark.anyio
async def test_every_key_is_named_by_prefix_and_provider_and_expires(redis_server: RedisServer) -> None:
    """The keys are <prefix>:<name>:failures|cooldown|rpm|tpm, each with a TTL; another prefix sees none of it."""
    app1, app2 = store(redis_server.url, prefix="app1"), store(redis_server.url, prefix="app2")
    limit = RateLimit(requests_per_minute=60, tokens_per_minute=1000)
    await app1.note_failure("mistral", "timeout")
    await app1.note_failure("gpu2", "timeout")
    await app1.note_failure("gpu2", "timeout")
    await app1.acquire("mistral", limit, 5.0)
    await app1.note_usage("mistral", limit, 300)
    assert keys(redis_server) == ["app1:gpu2:cooldown", "app1:mistral:failures", "app1:mistral:rpm", "app1:mistral:tpm"]
    for key in keys(redis_server):
        ttl = int(redis_server.cli("PTTL", key))
        assert ttl > 0, f"{key} would live for ever"
    assert int(redis_server.cli("PTTL", "app1:mistral:failures")) <= 61_000
    assert await app2.cooldown_remaining("gpu2") == 0.0
    assert await app2.acquire("mistral", limit, 0.0) == Admission(True, 0.0)
    await app1.aclose()
    await app2.aclose()


@pytest.mark.anyio
async def test_rate_budgets_are_shared_and_a_refusal_takes_nothing(redis_server: RedisServer) -> None:
    """At 60/min two stores get slots 0, ~1 s and ~2 s away in turn; a refused slot leaves the next one unchanged."""
    a, b = store(redis_server.url), store(redis_server.url)
    limit = RateLimit(requests_per_minute=60)
    first = await a.acquire("mistral", limit, 5.0)
    second = await b.acquire("mistral", limit, 5.0)
    refused = await a.acquire("mistral", limit, 0.5)
    third = await a.acquire("mistral", limit, 5.0)
    assert first == Admission(True, 0.0)
    assert second.granted
    assert 0.9 < second.wait <= 1.0
    assert not refused.granted
    assert 1.9 < refused.wait <= 2.0
    assert third.granted
    assert 1.9 < third.wait <= 2.0
    assert third.wait <= refused.wait
    await a.aclose()
    await b.aclose()


@pytest.mark.anyio
async def test_token_charges_are_shared(redis_server: RedisServer) -> None:
    """Tokens one store charges hold back the other: past a minute's budget the next request waits or is refused."""
    a, b = store(redis_server.url), store(redis_server.url)
    limit = RateLimit(tokens_per_minute=600)
    assert await b.acquire("mistral", limit, 0.0) == Admission(True, 0.0)
    await a.note_usage("mistral", limit, 700)  # 70 s of budget: 10 s past a minute
    refused = await b.acquire("mistral", limit, 1.0)
    assert not refused.granted
    assert 9.5 < refused.wait <= 10.0
    await a.aclose()
    await b.aclose()


@pytest.mark.anyio
async def test_concurrent_slots_from_many_stores_never_collide(redis_server: RedisServer) -> None:
    """40 takers over 4 stores at 600/min get 40 distinct slots 0.1 s apart: each update is atomic."""
    stores = [store(redis_server.url) for _ in range(4)]
    limit = RateLimit(requests_per_minute=600, max_wait_secs=60)
    waits: list[float] = []

    async def take(index: int) -> None:
        admission = await stores[index % 4].acquire("mistral", limit, 60.0)
        assert admission.granted
        waits.append(admission.wait)

    started = time.monotonic()
    async with anyio.create_task_group() as group:
        for index in range(40):
            group.start_soon(take, index)
    elapsed = time.monotonic() - started
    slots = sorted(waits)
    gaps = [later - earlier for earlier, later in itertools.pairwise(slots)]
    # Slots are 0.1 s apart on the server's clock; the takers ran within `elapsed` of each other.
    assert all(gap > 0.1 - elapsed - 0.01 for gap in gaps), gaps
    assert slots[-1] > 3.9 - elapsed
    for each in stores:
        await each.aclose()


@pytest.mark.anyio
async def test_a_flushed_script_cache_is_refilled(redis_server: RedisServer) -> None:
    """After SCRIPT FLUSH (or a new server) EVALSHA says NOSCRIPT; the store runs the script with EVAL instead."""
    a = store(redis_server.url)
    await a.note_failure("mistral", "timeout")
    redis_server.cli("SCRIPT", "FLUSH")
    await a.note_failure("mistral", "timeout")
    assert await a.cooldown_remaining("mistral") > 29
    assert a.failures == 0
    await a.aclose()


@pytest.mark.anyio
async def test_idle_connections_the_server_dropped_are_replaced_quietly(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    """A pooled connection Redis closed (client timeout, CLIENT KILL) is replaced without a warning or a failure."""
    a = store(redis_server.url)
    await a.cooldown_remaining("mistral")
    redis_server.cli("CLIENT", "KILL", "TYPE", "normal")
    with caplog.at_level(logging.WARNING, logger="clawdesk.state"):
        assert await a.cooldown_remaining("mistral") == 0.0
    assert a.failures == 0
    assert not caplog.records
    assert a.connections.opened == 2
    await a.aclose()


@pytest.mark.anyio
async def test_killed_redis_means_local_state_and_one_warning_per_interval(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    """With Redis gone every call still answers (from local state), the warning comes once per retry interval,
    Redis is left alone in between, and after a restart the store shares state again."""
    clock = FakeClock()
    a = store(redis_server.url, clock=clock, retry_interval_secs=5)
    b = store(redis_server.url)
    limit = RateLimit(requests_per_minute=60)
    await a.note_failure("mistral", "timeout")
    redis_server.kill()
    with caplog.at_level(logging.INFO, logger="clawdesk.state"):
        for _ in range(20):  # 20 rounds of calls over 10 fake seconds
            assert await a.cooldown_remaining("ollama") == 0.0
            assert (await a.acquire("ollama", limit, 60.0)).granted
            await a.note_failure("mistral", "timeout")
            clock.now += 0.5
        warnings = [r.getMessage() for r in caplog.records if "unreachable" in r.getMessage()]
        assert len(warnings) == 2, warnings  # at 0 s and at 5 s
        assert a.failures == 2  # tried twice, once per interval: no connection storm
        assert "redis://127.0.0.1:" in warnings[0]
        assert "tries again in 5s" in warnings[0]
        # Local state took over: two local failures put the provider in cooldown in this process.
        assert await a.cooldown_remaining("mistral") > 0
        redis_server.start()
        clock.now += 5
        await b.note_failure("ollama", "timeout")
        await b.note_failure("ollama", "timeout")
        assert await a.cooldown_remaining("ollama") > 29  # shared again
        assert await a.cooldown_remaining("mistral") == 0.0  # Redis's view, not the local one
    assert any("reachable again" in r.getMessage() for r in caplog.records)
    await a.aclose()
    await b.aclose()


@pytest.mark.anyio
async def test_a_refused_login_is_a_warning_without_the_password(caplog: pytest.LogCaptureFixture) -> None:
    """Redis refusing the password sends the store to local state; the warning names the refusal, not the password."""
    try:
        server = RedisServer(password="right-password-123").start()
    except FileNotFoundError:
        pytest.skip("redis-server is not installed")
    try:
        wrong = store(f"redis://:wrong-password-456@127.0.0.1:{server.port}/0")
        right = store(server.url)
        with caplog.at_level(logging.WARNING, logger="clawdesk.state"):
            assert await wrong.cooldown_remaining("mistral") == 0.0
            await right.note_failure("mistral", "timeout")
            await right.note_failure("mistral", "timeout")
            assert await right.cooldown_remaining("mistral") > 29
        text = "\n".join(r.getMessage() for r in caplog.records)
        assert "AUTH refused: WRONGPASS" in text
        assert "wrong-password-456" not in text
        assert "right-password-123" not in text
        assert right.failures == 0
        await wrong.aclose()
        await right.aclose()
    finally:
        server.stop()


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A loopback port that accepts connections and never says a word."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join(5)
    for conn in held:
        conn.close()
    listener.close()


@pytest.mark.anyio
async def test_a_stalled_server_costs_at_most_the_timeout(silent_port: int, caplog: pytest.LogCaptureFixture) -> None:
    """A server that never answers holds a call for timeout_secs at most, then local state answers."""
    a = store(f"redis://127.0.0.1:{silent_port}/0", timeout_secs=0.2)
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="clawdesk.state"):
        assert await a.acquire("mistral", RateLimit(requests_per_minute=60), 1.0) == Admission(True, 0.0)
        assert await a.cooldown_remaining("mistral") == 0.0  # within the interval: not tried again
    assert time.monotonic() - started < 0.6
    assert "TimeoutError" in caplog.records[0].getMessage()
    await a.aclose()


@pytest.mark.anyio
async def test_a_server_that_is_not_redis_is_treated_as_away(caplog: pytest.LogCaptureFixture) -> None:
    """An HTTP server at the Redis URL's address (a wrong port) is not Redis: a warning, then local state."""
    with ScriptedServer() as http:
        http.add(Reply.text("hello"))
        a = store(f"redis://127.0.0.1:{http.port}/0")
        with caplog.at_level(logging.WARNING, logger="clawdesk.state"):
            await a.note_failure("mistral", "timeout")
            await a.note_failure("mistral", "timeout")
        assert await a.cooldown_remaining("mistral") > 29  # local state counted both
        assert "unreachable" in caplog.records[0].getMessage()
        await a.aclose()


def test_a_store_survives_a_new_event_loop(redis_server: RedisServer) -> None:
    """Connections opened under one anyio.run are not reused under the next; the store goes on working."""
    a = store(redis_server.url)
    for backend in ("asyncio", "trio", "asyncio"):
        anyio.run(a.note_failure, "mistral", "timeout", backend=backend)
    assert anyio.run(a.cooldown_remaining, "mistral", backend="trio") > 29
    assert a.failures == 0
    assert a.connections.opened == 4
    anyio.run(a.aclose, backend="asyncio")


@pytest.mark.parametrize("anyio_name", ["asyncio", "trio"])
def test_nothing_secret_reaches_redis(redis_server: RedisServer, tmp_path: Path, anyio_name: str) -> None:
    """Every command Redis receives (MONITOR) during failing and answered chats holds names and numbers only:
    no API key, no password, no URL."""
    api_key = "sk-live-0123456789abcdefXYZ"
    monitor_log = tmp_path / "monitor.txt"
    with monitor_log.open("w") as out:
        monitor = subprocess.Popen(["redis-cli", "-p", str(redis_server.port), "monitor"], stdout=out)
    try:
        time.sleep(0.3)
        with ScriptedServer() as backend:
            backend.add(Reply.json({"message": "overloaded"}, status=503))
            backend.route(
                "POST",
                "/v1/chat/completions",
                Reply.json(
                    {
                        "id": "x",
                        "object": "chat.completion",
                        "model": "m",
                        "created": 1,
                        "choices": [
                            {"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}
                        ],
                        "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
                    }
                ),
            )
            config = parse_config(
                f"""
[providers.mistral]
base_url = "{backend.url}/v1"
api_key = "{api_key}"
[fallback]
chain = ["mistral/m"]
[fallback.limits.mistral]
requests_per_minute = 6000
tokens_per_minute = 100000
[state]
backend = "redis"
url = "{redis_server.url}"
"""
            )

            async def chat() -> str:
                async with Clawdesk(config=config) as cd:
                    return (await cd.chat(None, "hello")).message.text

            assert anyio.run(chat, backend=anyio_name) == "hi"
        time.sleep(0.3)
    finally:
        monitor.terminate()
        monitor.wait(5)
    seen = monitor_log.read_text()
    assert "EVALSHA" in seen or "EVAL" in seen
    assert '"clawdesk:mistral:failures"' in seen
    assert '"clawdesk:mistral:tpm"' in seen
    for secret in (api_key, "redis://", "127.0.0.1:" + str(redis_server.port) + '"'):
        assert secret not in seen


def test_connection_refused_is_quick() -> None:
    """Nothing listening: a store answers from local state at once (no hang), e.g. in a worker starting first."""
    from clawdesk.testing import unused_port

    a = store(f"redis://127.0.0.1:{unused_port()}/0")

    async def go() -> float:
        return await a.cooldown_remaining("mistral")

    started = time.monotonic()
    assert anyio.run(go) == 0.0
    assert time.monotonic() - started < 0.5
    assert a.failures == 1


@pytest.fixture
def yes_port() -> Iterator[int]:
    """A loopback port whose server answers +OK to every line it reads: it speaks RESP, but it is no Redis."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.1)
    stop = threading.Event()

    def serve(conn: socket.socket) -> None:
        conn.settimeout(0.1)
        with conn:
            while not stop.is_set():
                try:
                    data = conn.recv(65536)
                except TimeoutError:
                    continue
                except OSError:
                    return
                if not data:
                    return
                conn.sendall(b"+OK\r\n" * data.count(b"*"))

    def accept() -> None:
        while not stop.is_set():
            try:
                conn = listener.accept()[0]
            except OSError:
                continue
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join(5)
    listener.close()


@pytest.mark.anyio
async def test_replies_of_the_wrong_shape_never_fail_a_call(yes_port: int, caplog: pytest.LogCaptureFixture) -> None:
    """A server answering +OK to everything: budgets fall back to local state with a warning, nothing raises."""
    a = store(f"redis://127.0.0.1:{yes_port}/0", clock=FakeClock())
    limit = RateLimit(requests_per_minute=60)
    with caplog.at_level(logging.WARNING, logger="clawdesk.state"):
        assert await a.acquire("mistral", limit, 5.0) == Admission(True, 0.0)
        assert await a.acquire("mistral", limit, 5.0) == Admission(True, 1.0)  # local state's second slot
    assert "not two integers" in caplog.records[0].getMessage()
    await a.aclose()


def _mistral_answer() -> Reply:
    return Reply.json(
        {
            "id": "x",
            "object": "chat.completion",
            "model": "m",
            "created": 1,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
        }
    )


def test_sync_clients_share_state_and_close_their_connections(redis_server: RedisServer) -> None:
    """Two SyncClawdesk (a portal task per call, no ``async with``) share a cooldown through Redis; closing
    them closes their Redis connections."""
    from clawdesk import SyncClawdesk

    with ScriptedServer() as backend:
        backend.route("POST", "/v1/chat/completions", Reply.json({"message": "overloaded"}, status=503))
        text = f"""
[providers.mistral]
base_url = "{backend.url}/v1"
api_key = "sk-sync-test-0123456789"
max_retries = 0
[fallback]
chain = ["mistral/m"]
max_retries_per_provider = 0
cooldown_failures = 1
[state]
backend = "redis"
url = "{redis_server.url}"
"""
        first, second = SyncClawdesk(config=parse_config(text)), SyncClawdesk(config=parse_config(text))
        try:
            with pytest.raises(Exception, match="api_error"):
                first.chat("mistral/m", "hi")
            assert len(backend.requests) == 1
            with pytest.raises(Exception, match="cooling down"):
                second.chat("mistral/m", "hi")
            assert len(backend.requests) == 1, "the second client skipped the provider the first saw failing"
            clients = [line for line in redis_server.cli("CLIENT", "LIST").splitlines() if "cmd=" in line]
            assert len(clients) == 3  # one idle connection per client, and redis-cli's own
        finally:
            first.close()
            second.close()
        time.sleep(0.2)
        clients = [line for line in redis_server.cli("CLIENT", "LIST").splitlines() if "cmd=" in line]
        assert len(clients) == 1, clients  # redis-cli's own: every store connection was closed


TLS_DIR = Path(__file__).resolve().parents[2] / "tests" / "reliability" / "tls"


@pytest.fixture
def tls_redis() -> Iterator[RedisServer]:
    """A redis-server speaking only TLS with the repository's throw-away 127.0.0.1 certificate."""
    try:
        server = RedisServer(tls=(TLS_DIR / "localhost-cert.pem", TLS_DIR / "localhost-key.pem"))
    except FileNotFoundError:
        pytest.skip("redis-server is not installed")
    with server:
        yield server


@pytest.mark.anyio
async def test_rediss_checks_the_certificate(
    tls_redis: RedisServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """rediss:// speaks TLS and checks the server's certificate against the trusted CAs (SSL_CERT_FILE here):
    trusted, state is shared; not trusted, the store warns and keeps to local state."""
    assert tls_redis.url.startswith("rediss://")
    untrusted = store(tls_redis.url)
    with caplog.at_level(logging.WARNING, logger="clawdesk.state"):
        await untrusted.note_failure("mistral", "timeout")
    assert "CERTIFICATE_VERIFY_FAILED" in caplog.records[0].getMessage()
    monkeypatch.setenv("SSL_CERT_FILE", str(TLS_DIR / "localhost-cert.pem"))
    a, b = store(tls_redis.url), store(tls_redis.url)
    await a.note_failure("mistral", "timeout")
    await a.note_failure("mistral", "timeout")
    assert await b.cooldown_remaining("mistral") > 29
    assert (a.failures, b.failures) == (0, 0)
    assert "clawdesk:mistral:cooldown" in tls_redis.cli("--scan").split()
    for each in (untrusted, a, b):
        await each.aclose()
