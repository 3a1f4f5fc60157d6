"""State stores without Redis: the [state] and [fallback.limits] config, Redis URLs, rate budgets in LocalState,
and the engine's use of budgets (wait, move on, deadline, token charges)."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote

import hiredis
import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from clawdesk import (
    Admission,
    AllProvidersFailed,
    ChatRequest,
    ChatResponse,
    Clawdesk,
    Config,
    ConfigError,
    FallbackConfig,
    FallbackEngine,
    Finish,
    FinishReason,
    LocalState,
    Message,
    RateLimit,
    Registry,
    Secret,
    StateConfig,
    StreamEvent,
    TextDelta,
    Usage,
    UsageEvent,
    _secret,
    parse_config,
)
from clawdesk._redis import pack
from clawdesk._redis_url import parse_redis_url
from clawdesk._state import make_state
from clawdesk.provider import hookimpl
from clawdesk.testing import FakeClock

# -- config ------------------------------------------------------------------------------


def test_state_and_limits_tables_are_read() -> None:
    """[state] and [fallback.limits.<name>] become a StateConfig and RateLimits with every key honoured."""
    config = parse_config(
        """
[state]
backend = "redis"
url = "redis://:hunter2-pass@127.0.0.1:6390/3"
key_prefix = "app1"
timeout_secs = 0.25
retry_interval_secs = 2

[fallback]
chain = ["mistral", "gpu2"]

[fallback.limits.mistral]
requests_per_minute = 60
tokens_per_minute = 100000
burst = 2
when_exhausted = "next"

[fallback.limits.gpu2]
requests_per_minute = 6.5
max_wait_secs = 3
"""
    )
    state = config.state
    assert (state.backend, state.key_prefix, state.timeout_secs, state.retry_interval_secs) == (
        "redis",
        "app1",
        0.25,
        2.0,
    )
    assert state.url == Secret("redis://:hunter2-pass@127.0.0.1:6390/3")
    assert "hunter2" not in repr(config)
    limits = config.fallback.limits
    assert limits["mistral"] == RateLimit(
        requests_per_minute=60, tokens_per_minute=100000, burst=2, when_exhausted="next"
    )
    assert limits["mistral"].max_wait == 0.0
    assert limits["gpu2"] == RateLimit(requests_per_minute=6.5, max_wait_secs=3.0)
    assert limits["gpu2"].max_wait == 3.0


@pytest.mark.parametrize(
    ("text", "path", "words"),
    [
        ('[state]\nbackend = "memcached"', "state.backend", "expected one of"),
        ('[state]\nurl = "http://:hunter2-pass@example/"', "state.url", "unsupported scheme 'http'"),
        ('[state]\nurl = "redis://:hunter2-pass@host:99999/0"', "state.url", "not a valid URL"),
        ('[state]\nurl = "redis://:hunter2-pass@host/x"', "state.url", "database must be a number"),
        ('[state]\nkey_prefix = "my app"', "state.key_prefix", "letters, digits"),
        ("[state]\ntimeout_secs = 0", "state.timeout_secs", "between 0"),
        ("[state]\nretry_interval_secs = -1", "state.retry_interval_secs", "> 0"),
        ("[state]\nport = 1", "state.port", "unknown key"),
        ('state = "redis"', "state", "expected a table"),
        ("[fallback.limits.mistral]\nrequests_per_minute = 0", "fallback.limits.mistral.requests_per_minute", "> 0"),
        ("[fallback.limits.mistral]\nburst = 0", "fallback.limits.mistral.burst", ">= 1"),
        ('[fallback.limits.mistral]\nwhen_exhausted = "drop"', "fallback.limits.mistral.when_exhausted", "one of"),
        ("[fallback.limits.mistral]\nrpm = 60", "fallback.limits.mistral.rpm", "unknown key"),
        ("[fallback.limits.Mistral]\nrequests_per_minute = 1", "fallback.limits.Mistral", "not a provider name"),
        ("[fallback]\nlimits = 3", "fallback.limits", "expected a table"),
    ],
)
def test_bad_state_and_limit_keys_are_refused_with_their_path(text: str, path: str, words: str) -> None:
    """Each wrong key is a ConfigError naming its key path, and a URL's password never shows in it."""
    with pytest.raises(ConfigError) as caught:
        parse_config(text, source="config.toml")
    message = str(caught.value)
    assert f"config.toml: {path}: " in message
    assert words in message
    assert "hunter2" not in message


def test_the_backend_and_url_come_from_the_environment_when_unset() -> None:
    """$CLAWDESK_STATE_BACKEND and $CLAWDESK_REDIS_URL fill what [state] leaves out; the file wins over them."""
    env = {"CLAWDESK_STATE_BACKEND": "redis", "CLAWDESK_REDIS_URL": "redis://127.0.0.1:6391/2"}
    resolved = StateConfig().resolve(env)
    assert resolved.backend == "redis"
    assert resolved.url == Secret("redis://127.0.0.1:6391/2")
    written = StateConfig(backend="local", url=Secret("redis://10.1.1.1/0")).resolve(env)
    assert (written.backend, written.url) == ("local", Secret("redis://10.1.1.1/0"))
    assert StateConfig().resolve({}).backend == "local"
    other = StateConfig(url_env="APP_REDIS").resolve({"APP_REDIS": "unix:///run/redis.sock?db=1"})
    assert other.url == Secret("unix:///run/redis.sock?db=1")


@pytest.mark.parametrize(
    ("state", "env", "words"),
    [
        (StateConfig(backend="redis"), {}, "state.url: backend 'redis' needs the server's URL: set state.url or"),
        (StateConfig(), {"CLAWDESK_STATE_BACKEND": "etcd"}, "$CLAWDESK_STATE_BACKEND: expected 'local' or 'redis'"),
        (StateConfig(backend="redis"), {"CLAWDESK_REDIS_URL": "http://u:hunter2-pass@x"}, "$CLAWDESK_REDIS_URL"),
    ],
)
def test_an_unusable_state_setting_is_one_clear_error(state: StateConfig, env: dict[str, str], words: str) -> None:
    """A Redis backend without a URL, or a bad value in a variable, is a ConfigError that shows no password."""
    with pytest.raises(ConfigError) as caught:
        state.resolve(env)
    assert words in str(caught.value)
    assert "hunter2" not in str(caught.value)


def test_the_local_backend_never_imports_the_redis_module() -> None:
    """With the default [state], the engine's store is a LocalState and clawdesk._redis stays unimported."""
    import subprocess
    import sys

    code = (
        "import sys, time\n"
        "from clawdesk import Config, FallbackConfig\n"
        "from clawdesk._state import make_state\n"
        "store = make_state(Config().state, FallbackConfig(), time.monotonic, env={})\n"
        "print(type(store).__name__, 'clawdesk._redis' in sys.modules, 'hiredis' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.split() == ["LocalState", "False", "False"]


def test_the_redis_backend_builds_a_redis_store_without_connecting() -> None:
    """backend = "redis" gives a RedisState whose repr shows where, never the password; nothing connects yet."""
    store = make_state(
        StateConfig(backend="redis", url=Secret("redis://user:hunter2-pass@127.0.0.1:1/4")),
        FallbackConfig(),
        lambda: 0.0,
        env={},
    )
    assert repr(store) == "RedisState('redis://127.0.0.1:1/4', key_prefix='clawdesk')"
    assert store.connections.opened == 0  # type: ignore[attr-defined]


# -- Redis URLs ------------------------------------------------------------------------------


@contextmanager
def forgetting_secrets() -> Iterator[None]:
    """Forget the secrets made inside: every Secret is scrubbed from all later log text, and random
    passwords ("no host", "000000") would then blank words out of other tests' messages."""
    known = set(_secret._known)
    try:
        yield
    finally:
        _secret._known.intersection_update(known)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("redis://localhost", ("redis", "localhost", 6379, 0, None, None, "redis://localhost:6379/0")),
        ("redis://h:7000/5", ("redis", "h", 7000, 5, None, None, "redis://h:7000/5")),
        ("redis://:p%40ss@h", ("redis", "h", 6379, 0, None, "p@ss", "redis://h:6379/0")),
        ("rediss://app:pw@h:6380/1", ("rediss", "h", 6380, 1, "app", "pw", "rediss://h:6380/1")),
        ("redis://h?db=3", ("redis", "h", 6379, 3, None, None, "redis://h:6379/3")),
        ("redis://[::1]:6379", ("redis", "::1", 6379, 0, None, None, "redis://[::1]:6379/0")),
        ("unix:///run/redis.sock?db=2", ("unix", "", 6379, 2, None, None, "unix:///run/redis.sock?db=2")),
    ],
)
def test_redis_urls_are_read(url: str, expected: tuple[Any, ...]) -> None:
    """Scheme, host, port, database, user and password come out of each accepted form; ``safe`` drops the login."""
    parsed = parse_redis_url(url)
    password = parsed.password.reveal() if parsed.password is not None else None
    assert (parsed.scheme, parsed.host, parsed.port, parsed.db, parsed.username, password, parsed.safe) == expected
    assert "pw" not in repr(parsed)
    assert "p@ss" not in repr(parsed)


@pytest.mark.parametrize(
    "url",
    [
        "memcache://h",
        "redis://",
        "redis://user@h",
        "redis://h/1?db=2",
        "redis://h?timeout=1",
        "redis://h#x",
        "unix://host/sock",
        "unix://",
    ],
)
def test_unusable_redis_urls_are_refused(url: str) -> None:
    """Forms that cannot be honoured exactly are refused, not half-read."""
    with pytest.raises(ValueError, match=r"expected|needs|twice|query|unsupported"):
        parse_redis_url(url)


@given(password=st.text(min_size=6, max_size=30).filter(lambda p: p.strip() == p and len(p.strip()) >= 6))
def test_any_password_round_trips_and_never_shows(password: str) -> None:
    """Whatever the password, percent-encoded in a URL it comes back exactly, and no repr or safe form shows it."""
    with forgetting_secrets():
        parsed = parse_redis_url(f"redis://:{quote(password, safe='')}@127.0.0.1:6379/0")
    assert parsed.password is not None
    assert parsed.password.reveal() == password
    assert password not in repr(parsed)
    assert password not in parsed.safe


@given(
    scheme=st.sampled_from(["redis", "rediss", "http", "unix", ""]),
    rest=st.text(st.characters(codec="ascii", exclude_categories=("Cc",)), max_size=40),
)
def test_errors_about_any_url_never_quote_the_password(scheme: str, rest: str) -> None:
    """Whatever is wrong with a URL holding a password, the error message does not contain that password."""
    url = f"{scheme}://:S3cretpw@{rest}"
    message = ""
    try:
        with forgetting_secrets():
            parse_redis_url(url)
    except ValueError as exc:
        message = str(exc)
    assert "S3cretpw" not in message


# -- the wire: commands as Redis reads them -------------------------------------------------


@given(command=st.lists(st.one_of(st.binary(max_size=40), st.text(max_size=20), st.integers()), min_size=1))
def test_commands_are_packed_as_redis_reads_them(command: list[bytes | str | int]) -> None:
    """Every command packs into one RESP array that hiredis (Redis's own parser) reads back as the same arguments."""
    reader = hiredis.Reader()
    reader.feed(pack(tuple(command)))
    expected = [arg if isinstance(arg, bytes) else str(arg).encode() for arg in command]
    assert reader.gets() == expected
    assert reader.gets() is False


# -- LocalState's rate budgets ---------------------------------------------------------------

steps = st.lists(
    st.tuples(st.floats(0, 5, allow_nan=False), st.sampled_from([0.0, 0.5, 1.0, 3.0, 30.0])), min_size=1, max_size=60
)


@given(rpm=st.sampled_from([1, 6, 60, 90, 600]), burst=st.integers(1, 4), script=steps)
def test_request_budgets_space_slots_and_refusals_take_nothing(
    rpm: int, burst: int, script: list[tuple[float, float]]
) -> None:
    """Over any calls at any times, granted slots keep to floor(d/T) + burst per span d; a refusal takes nothing."""
    clock = FakeClock()
    state = LocalState(FallbackConfig(), clock.clock)
    shadow = LocalState(FallbackConfig(), clock.clock)  # sees only the granted calls
    limit = RateLimit(requests_per_minute=rpm, burst=burst)
    interval = 60.0 / rpm
    slots: list[float] = []
    for advance, max_wait in script:
        clock.now += advance
        admission = state.take("p", limit, max_wait)
        if admission.granted:
            assert 0.0 <= admission.wait <= max_wait
            assert shadow.take("p", limit, max_wait) == admission
            slots.append(clock.now + admission.wait)
        else:
            assert admission.wait > max_wait
    slots.sort()
    for i, first in enumerate(slots):
        for j in range(i + 1, len(slots)):
            # j - i + 1 slots within [first, slots[j]]: at most floor(span / T) + burst of them.
            assert j - i + 1 <= math.floor((slots[j] - first) / interval + 1e-9) + burst


@given(
    tpm=st.sampled_from([100, 1000, 60000]),
    per_answer=st.integers(1, 5000),
    seconds=st.integers(1, 300),
)
def test_token_budgets_hold_a_minute_of_tokens_plus_one_answer(tpm: int, per_answer: int, seconds: int) -> None:
    """Sending as fast as allowed, the tokens sent in any run stay within the documented bound."""
    clock = FakeClock()
    state = LocalState(FallbackConfig(), clock.clock)
    limit = RateLimit(tokens_per_minute=tpm, max_wait_secs=1e9)
    sent = 0
    while True:
        admission = state.take("p", limit, limit.max_wait)
        assert admission.granted
        clock.now += admission.wait
        if clock.now > seconds:
            break
        sent += per_answer
        state.charge("p", limit, per_answer)
    # A minute's budget may go at once, then tpm per minute; the last answer may overshoot by its own size.
    assert sent * 60 <= tpm * (seconds + 60) + per_answer * 60  # in whole numbers: no rounding at the edge


def test_a_request_budget_waits_then_refuses_beyond_the_bound() -> None:
    """At 60 per minute: one slot now, the next 1 s later, then 2 s; a slot 3 s away is refused with 0.5 s allowed."""
    clock = FakeClock()
    state = LocalState(FallbackConfig(), clock.clock)
    limit = RateLimit(requests_per_minute=60)
    assert [state.take("p", limit, 5.0) for _ in range(3)] == [
        Admission(True, 0.0),
        Admission(True, 1.0),
        Admission(True, 2.0),
    ]
    assert state.take("p", limit, 0.5) == Admission(False, 3.0)
    assert state.take("other", limit, 0.0) == Admission(True, 0.0)  # budgets are per provider
    clock.now += 10
    assert state.take("p", limit, 0.0) == Admission(True, 0.0)


# -- the engine with budgets -----------------------------------------------------------------


class Counting:
    """A provider that answers every chat and stream, counting calls, with usage of 10 + 5 tokens."""

    CLAWDESK_CONTRACT = 2

    def __init__(self, name: str) -> None:
        self.name = name
        self.calls = 0

    @hookimpl
    def provider_name(self) -> str:
        return self.name

    @hookimpl
    async def provider_models(self) -> list[Any]:
        return []

    @hookimpl
    def provider_capabilities(self, model: str) -> None:
        return None

    @hookimpl
    async def provider_chat(self, request: ChatRequest) -> ChatResponse:
        self.calls += 1
        return ChatResponse(
            message=Message.assistant(self.name),
            finish_reason=FinishReason.STOP,
            provider=self.name,
            model="m",
            usage=Usage(10, 5),
        )

    @hookimpl
    def provider_stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        return self._events()

    async def _events(self) -> AsyncIterator[StreamEvent]:
        self.calls += 1
        yield TextDelta(self.name)
        yield UsageEvent(Usage(10, 5))
        yield Finish(FinishReason.STOP)


def _engine(limits: dict[str, RateLimit], **fallback: Any) -> tuple[FallbackEngine, FakeClock, list[Counting]]:
    providers = [Counting("a"), Counting("b")]
    registry = Registry(discover=False)
    for provider in providers:
        registry.register(provider)
    config = FallbackConfig(chain=("a/m", "b/m"), limits=limits, **fallback)
    client = Clawdesk(
        registry=registry,
        config=Config(fallback=config),
        transport=httpx.MockTransport(lambda request: httpx.Response(599)),
    )
    clock = FakeClock()
    return FallbackEngine(client, clock=clock.clock, sleep=clock.sleep), clock, providers


@pytest.mark.anyio
async def test_the_engine_waits_for_a_slot_when_told_to_wait() -> None:
    """With when_exhausted = "wait", back-to-back calls at 60/min go to the first provider one second apart."""
    engine, clock, (a, b) = _engine({"a": RateLimit(requests_per_minute=60, max_wait_secs=5)})
    results = [await engine.chat(None, "hi") for _ in range(3)]
    assert [r.target.provider for r in results] == ["a", "a", "a"]
    assert clock.waits == [1.0, 1.0]
    assert [r.attempts[0].wait_secs for r in results] == [0.0, 1.0, 1.0]
    assert clock.now == 2.0
    assert (a.calls, b.calls) == (3, 0)


@pytest.mark.anyio
async def test_the_engine_moves_on_when_told_to_or_when_the_slot_is_too_far() -> None:
    """With "next" (or a slot past max_wait_secs) the candidate is skipped as rate_budget and the next one answers."""
    engine, clock, (a, b) = _engine({"a": RateLimit(requests_per_minute=60, when_exhausted="next")})
    first = await engine.chat(None, "hi")
    second = await engine.chat(None, "hi")
    assert first.target.provider == "a"
    assert second.target.provider == "b"
    skipped = second.attempts[0]
    assert (skipped.provider, skipped.outcome, skipped.kind) == ("a", "skipped", "rate_budget")
    assert skipped.reason == "over its rate budget (requests_per_minute = 60): the next slot is 1.0s away"
    assert clock.waits == []
    assert (a.calls, b.calls) == (1, 1)


@pytest.mark.anyio
async def test_no_wait_for_a_slot_passes_the_deadline() -> None:
    """A slot 1 s away with 0.5 s of deadline left is refused; the chain moves on instead of waiting into it."""
    engine, clock, (_a, _b) = _engine({"a": RateLimit(requests_per_minute=60, max_wait_secs=30)}, deadline_secs=0.5)
    await engine.chat(None, "hi")
    second = await engine.chat(None, "hi")
    assert second.target.provider == "b"
    assert second.attempts[0].kind == "rate_budget"
    assert clock.waits == []


@pytest.mark.anyio
async def test_a_pinned_model_over_budget_fails_with_the_reason() -> None:
    """A pinned model whose budget says "next" has nowhere to go: AllProvidersFailed names the budget."""
    engine, _, (a, _b) = _engine({"a": RateLimit(requests_per_minute=1, when_exhausted="next")})
    await engine.chat("a/m", "hi")
    with pytest.raises(AllProvidersFailed) as caught:
        await engine.chat("a/m", "hi")
    assert "over its rate budget (requests_per_minute = 1)" in str(caught.value)
    assert a.calls == 1


@pytest.mark.anyio
@pytest.mark.parametrize("stream", [False, True])
async def test_usage_is_charged_to_the_token_budget(stream: bool) -> None:
    """Each answer's 15 tokens (from the response or the stream's UsageEvent) count against a 30/min budget."""
    engine, clock, (_a, _b) = _engine({"a": RateLimit(tokens_per_minute=30, when_exhausted="next")})
    served = []
    for _ in range(4):
        if stream:
            events = engine.stream(None, "hi")
            async with events:
                async for _event in events:
                    pass
            assert events.target is not None
            served.append(events.target.provider)
        else:
            served.append((await engine.chat(None, "hi")).target.provider)
    # Requests go while at most a minute's budget is outstanding: after 0, 15 and 30 tokens (the third
    # answer overshoots, as documented); with 45 tokens outstanding the fourth moves on.
    assert served == ["a", "a", "a", "b"]
    clock.now += 60
    assert (await engine.chat(None, "hi")).target.provider == "a"


@pytest.mark.anyio
async def test_providers_without_a_budget_never_ask_the_store() -> None:
    """No limit, no acquire: a store without rate methods still serves an engine whose chain has no budgets."""

    class Minimal:
        async def cooldown_remaining(self, provider: str) -> float:
            return 0.0

        async def note_failure(self, provider: str, kind: str) -> None:
            return None

        async def note_success(self, provider: str) -> None:
            return None

    engine, _, _ = _engine({})
    engine.state = Minimal()  # type: ignore[assignment]
    assert (await engine.chat(None, "hi")).target.provider == "a"
