"""The fallback engine's rules, one at a time, against in-memory scripted providers and a fake clock."""

from __future__ import annotations

import logging
import random
from collections import deque
from collections.abc import AsyncIterator, Iterable
from typing import Any

import anyio
import pytest

from clawdesk import (
    AllProvidersFailed,
    ApiError,
    Attempt,
    AuthFailed,
    Capability,
    CapabilityMissing,
    ChatOptions,
    ChatRequest,
    ChatResponse,
    Clawdesk,
    Config,
    ConnectionFailed,
    ContentFiltered,
    ContextLengthExceeded,
    FallbackConfig,
    FallbackEngine,
    Finish,
    FinishReason,
    ImagePart,
    InvalidRequest,
    Message,
    ModelNotFound,
    PermissionDenied,
    QuotaExceeded,
    RateLimited,
    Registry,
    RetryPolicy,
    StreamEvent,
    StreamInterrupted,
    TextDelta,
    Tool,
)
from clawdesk._fallback import summarize
from clawdesk.provider import hookimpl
from clawdesk.testing import FakeClock

# -- a scripted in-memory provider -------------------------------------------------

OK = "ok"


class Cut:
    """A stream step: deliver ``count`` text events, then fail with ``error``."""

    def __init__(self, count: int, error: Exception) -> None:
        self.count = count
        self.error = error


STALL = "stall"


class Scripted:
    """A provider plugin answering from a queue of steps: OK, an exception, a Cut or STALL.

    An empty queue answers OK. ``caps`` is what provider_capabilities says;
    when a request needs a capability outside a known set, the provider
    raises CapabilityMissing without using a step (as a real backend would).
    """

    CLAWDESK_CONTRACT = 2

    def __init__(self, name: str, steps: Iterable[Any] = (), caps: frozenset[Capability] | None = None) -> None:
        self.name = name
        self.steps: deque[Any] = deque(steps)
        self.caps = caps
        self.calls: list[str] = []
        self.closed = 0

    @hookimpl
    def provider_name(self) -> str:
        return self.name

    @hookimpl
    async def provider_models(self) -> list[Any]:
        return []

    @hookimpl
    def provider_capabilities(self, model: str) -> frozenset[Capability] | None:
        return self.caps

    def _step(self, request: ChatRequest, stream: bool) -> Any:
        from clawdesk import required_capabilities

        if self.caps is not None:
            lacking = required_capabilities(request, stream=stream) - self.caps
            if lacking:
                self.calls.append("capability_missing")
                raise CapabilityMissing("cannot", provider=self.name, capability=min(lacking))
        step = self.steps.popleft() if self.steps else OK
        self.calls.append(step if isinstance(step, str) else type(step).__name__)
        return step

    @hookimpl
    async def provider_chat(self, request: ChatRequest) -> ChatResponse:
        step = self._step(request, stream=False)
        if step == STALL:
            await anyio.sleep_forever()
        if isinstance(step, Cut):
            raise step.error
        if isinstance(step, Exception):
            raise step
        return ChatResponse(
            message=Message.assistant(f"{self.name} says hi"),
            finish_reason=FinishReason.STOP,
            provider=self.name,
            model=request.model,
        )

    @hookimpl
    def provider_stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        return self._events(request)

    async def _events(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        try:
            step = self._step(request, stream=True)
            if step == STALL:
                await anyio.sleep_forever()
            if isinstance(step, Exception):
                raise step
            count = step.count if isinstance(step, Cut) else 3
            for i in range(count):
                yield TextDelta(f"{self.name}-{i}")
            if isinstance(step, Cut):
                raise step.error
            yield Finish(FinishReason.STOP)
        finally:
            self.closed += 1


def make(
    *providers: Scripted,
    time: FakeClock | None = None,
    seed: int = 0,
    tables: dict[str, dict[str, Any]] | None = None,
    **fallback: Any,
) -> tuple[Clawdesk, FallbackEngine, FakeClock]:
    """A client with ``providers`` registered, each with default_model 'm' (plus ``tables``), and an engine on a
    fake clock."""
    registry = Registry(discover=False)
    for provider in providers:
        registry.register(provider)
    fallback.setdefault("chain", tuple(p.name for p in providers))
    config = Config(
        providers={p.name: {"default_model": "m", **(tables or {}).get(p.name, {})} for p in providers},
        fallback=FallbackConfig(**fallback),
    )
    client = Clawdesk(registry=registry, config=config)
    time = time or FakeClock(start=1000.0)  # not 0, so that 0 is never a plausible "now"
    engine = FallbackEngine(client, clock=time.clock, sleep=time.sleep, rng=random.Random(seed))
    client.engine = engine
    return client, engine, time


def outcomes(attempts: Iterable[Attempt]) -> list[tuple[str, str, str | None]]:
    return [(a.provider, a.outcome, a.kind) for a in attempts]


def connection_failed(name: str) -> ConnectionFailed:
    return ConnectionFailed("refused", provider=name)


# -- chat --------------------------------------------------------------------------


@pytest.mark.anyio
async def test_first_candidate_answers() -> None:
    """A working first candidate answers and is the only attempt."""
    a, b = Scripted("a"), Scripted("b")
    client, _engine, _ = make(a, b)
    result = await client.chat_with_attempts(None, "hi")
    assert result.response.provider == "a"
    assert str(result.target) == "a/m"
    assert outcomes(result.attempts) == [("a", "ok", None)]
    assert b.calls == []


@pytest.mark.anyio
async def test_retryable_errors_are_retried_with_bounded_backoff() -> None:
    """Connection failures are retried on the same candidate with full-jitter waits under the cap."""
    a = Scripted("a", [connection_failed("a"), connection_failed("a"), OK])
    _client, engine, time = make(a, max_retries_per_provider=2, backoff_base_secs=1.0, backoff_max_secs=1.5)
    result = await engine.chat(None, "hi")
    assert outcomes(result.attempts) == [("a", "failed", "connection_failed")] * 2 + [("a", "ok", None)]
    assert [at.number for at in result.attempts] == [1, 2, 3]
    assert len(time.waits) == 2
    assert 0 <= time.waits[0] <= 1.0
    assert 0 <= time.waits[1] <= 1.5
    assert [at.wait_secs for at in result.attempts] == [0.0, *time.waits]


@pytest.mark.anyio
async def test_retries_are_capped_then_next_candidate() -> None:
    """After max_retries_per_provider retries the engine moves on; the retry count is never exceeded."""
    a = Scripted("a", [ApiError("down", status=503, provider="a")] * 5)
    b = Scripted("b")
    _client, engine, time = make(a, b, max_retries_per_provider=1)
    result = await engine.chat(None, "hi")
    assert a.calls == ["ApiError", "ApiError"]
    assert outcomes(result.attempts) == [("a", "failed", "api_error")] * 2 + [("b", "ok", None)]
    assert result.attempts[0].status == 503
    assert len(time.waits) == 1


@pytest.mark.anyio
async def test_retry_after_is_waited_exactly() -> None:
    """A Retry-After within max_retry_after_secs is waited for exactly, instead of a backoff."""
    a = Scripted("a", [RateLimited("slow down", retry_after=2.5, provider="a", status=429), OK])
    _client, engine, time = make(a, max_retry_after_secs=3)
    result = await engine.chat(None, "hi")
    assert time.waits == [2.5]
    assert result.attempts[-1].wait_secs == 2.5


@pytest.mark.anyio
async def test_long_retry_after_moves_on_at_once() -> None:
    """A Retry-After longer than max_retry_after_secs moves on to the next candidate without waiting."""
    a = Scripted("a", [RateLimited("slow down", retry_after=60, provider="a", status=429), OK])
    b = Scripted("b")
    _client, engine, time = make(a, b, max_retry_after_secs=30)
    result = await engine.chat(None, "hi")
    assert time.waits == []
    assert outcomes(result.attempts) == [("a", "failed", "rate_limited"), ("b", "ok", None)]
    assert list(a.steps) == [OK]


@pytest.mark.anyio
@pytest.mark.parametrize(
    "error",
    [
        AuthFailed("no", provider="a", status=401),
        PermissionDenied("no", provider="a", status=403),
        ModelNotFound("no", provider="a", status=404),
        CapabilityMissing("no", provider="a"),
        ContextLengthExceeded("too long", provider="a", status=400),
        QuotaExceeded("no credit", provider="a", status=402),
        ContentFiltered("blocked", provider="a", reason="SAFETY"),
        ApiError("teapot", provider="a", status=418),
        ConnectionFailed("bad url", provider="a", retryable=False),
        RuntimeError("plugin bug"),
    ],
)
async def test_non_retryable_errors_move_on_without_retry(error: Exception) -> None:
    """Auth, permission, model-not-found, capability, other non-retryable errors and plugin bugs move on at once."""
    a = Scripted("a", [error, OK])
    b = Scripted("b")
    _client, engine, time = make(a, b, max_retries_per_provider=3)
    result = await engine.chat(None, "hi")
    assert len(a.calls) == 1
    assert result.attempts[0].outcome == "failed"
    assert result.attempts[0].kind == (
        "plugin_error" if isinstance(error, RuntimeError) else getattr(error, "kind", None)
    )
    assert result.response.provider == "b"
    assert time.waits == []


@pytest.mark.anyio
async def test_invalid_request_stops_the_chain_and_is_raised_as_is() -> None:
    """An invalid request is raised unchanged, never retried, and no later candidate is asked."""
    error = InvalidRequest("bad temperature", provider="a", status=422)
    a, b = Scripted("a", [error]), Scripted("b")
    seen: list[Attempt] = []
    _client, engine, _ = make(a, b, max_retries_per_provider=3)
    with pytest.raises(InvalidRequest) as info:
        await engine.chat(None, "hi", on_attempt=seen.append)
    assert info.value is error
    assert b.calls == []
    assert len(a.calls) == 1
    assert outcomes(seen) == [("a", "failed", "invalid_request")]


@pytest.mark.anyio
async def test_invalid_request_moves_on_when_configured() -> None:
    """With stop_on_invalid_request = false an invalid request moves on, still without a retry."""
    a, b = Scripted("a", [InvalidRequest("no", provider="a", status=400), OK]), Scripted("b")
    _client, engine, _ = make(a, b, stop_on_invalid_request=False, max_retries_per_provider=3)
    result = await engine.chat(None, "hi")
    assert outcomes(result.attempts) == [("a", "failed", "invalid_request"), ("b", "ok", None)]


@pytest.mark.anyio
async def test_all_failed_carries_every_attempt_and_a_one_line_summary() -> None:
    """When every candidate fails, AllProvidersFailed lists every try and summarises them on one line."""
    a = Scripted("a", [RateLimited("", provider="a", status=429)] * 3)
    b = Scripted("b", [connection_failed("b")] * 3)
    _client, engine, time = make(a, b, max_retries_per_provider=2)
    with pytest.raises(AllProvidersFailed) as info:
        await engine.chat(None, "hi")
    error = info.value
    assert (
        outcomes(error.attempts) == [("a", "failed", "rate_limited")] * 3 + [("b", "failed", "connection_failed")] * 3
    )
    assert str(error) == "all 2 providers failed: a/m: rate_limited (HTTP 429) x3; b/m: connection_failed x3"
    assert "\n" not in str(error)
    assert len(time.waits) == 4
    assert all(isinstance(at.error, (RateLimited, ConnectionFailed)) for at in error.attempts)


@pytest.mark.anyio
async def test_pinned_model_retries_and_reports_as_the_only_provider() -> None:
    """A pinned provider/model is retried; when it keeps failing, the summary names it as the only provider."""
    a, b = Scripted("a", [connection_failed("a")] * 3), Scripted("b")
    client, _engine, time = make(a, b, tables={"a": {"max_retries": 2}}, max_retries_per_provider=0)
    with pytest.raises(AllProvidersFailed, match=r"^the only provider failed: a/x: connection_failed x3: refused$"):
        await client.chat("a/x", "hi")
    assert b.calls == []
    assert len(time.waits) == 2


@pytest.mark.anyio
async def test_pinned_model_uses_the_providers_own_max_retries() -> None:
    """A pinned model retries up to its provider's max_retries, not the chain's max_retries_per_provider."""
    a = Scripted("a", [connection_failed("a")] * 3)
    client, _engine, time = make(a, tables={"a": {"max_retries": 3}}, max_retries_per_provider=1)
    result = await client.chat_with_attempts("a/x", "hi")
    assert outcomes(result.attempts) == [("a", "failed", "connection_failed")] * 3 + [("a", "ok", None)]
    assert len(time.waits) == 3


@pytest.mark.anyio
async def test_pinned_unknown_provider_is_raised_as_is() -> None:
    """A pinned model naming an unknown provider raises ProviderNotFound, not a chain failure."""
    from clawdesk import ProviderNotFound

    client, _, _ = make(Scripted("a"))
    with pytest.raises(ProviderNotFound):
        await client.chat("nope/x", "hi")


@pytest.mark.anyio
async def test_bad_chain_entries_are_skipped_with_reasons() -> None:
    """Unknown providers, providers without default_model and broken provider config are skipped with reasons."""
    a, b = Scripted("a"), Scripted("b")
    registry = Registry(discover=False)
    registry.register(a)
    registry.register(b)
    config = Config(
        providers={"a": {"timeout_secs": "soon"}, "b": {"default_model": "m"}},
        fallback=FallbackConfig(chain=("ghost", "a", "b/n", "b")),
    )
    client = Clawdesk(registry=registry, config=config)
    result = await client.chat_with_attempts(None, "hi")
    assert outcomes(result.attempts) == [
        ("ghost", "skipped", "provider_not_found"),
        ("a", "skipped", "config_error"),
        ("b", "ok", None),
    ]
    assert "providers.a.timeout_secs" in (result.attempts[1].reason or "")
    assert str(result.target) == "b/n"


@pytest.mark.anyio
async def test_capability_match_skips_candidates_lacking_a_capability() -> None:
    """capability-match skips a candidate lacking what the request needs, with the capability named."""
    a = Scripted("a", caps=frozenset({Capability.CHAT, Capability.STREAMING}))
    b = Scripted("b", caps=None)  # unknown: allowed to try
    _client, engine, _ = make(a, b, strategy="capability-match")
    options = ChatOptions(tools=[Tool("lookup")])
    result = await engine.chat(None, [Message.user([ImagePart(url="https://x/y.png")])], options)
    assert outcomes(result.attempts) == [("a", "skipped", "capability_missing"), ("b", "ok", None)]
    assert result.attempts[0].reason == "lacks function_calling, vision"
    assert a.calls == []


@pytest.mark.anyio
async def test_sequential_lets_the_lacking_candidate_fail() -> None:
    """sequential tries a candidate lacking a capability; its CapabilityMissing moves on."""
    a = Scripted("a", caps=frozenset({Capability.CHAT}))
    b = Scripted("b")
    _client, engine, _ = make(a, b, strategy="sequential")
    result = await engine.chat(None, "hi", ChatOptions(tools=[Tool("lookup")]))
    assert outcomes(result.attempts) == [("a", "failed", "capability_missing"), ("b", "ok", None)]


@pytest.mark.anyio
async def test_only_skips_give_a_clear_error() -> None:
    """When every candidate is skipped, the error says that no provider could take the request."""
    a = Scripted("a", caps=frozenset({Capability.CHAT}))
    _client, engine, _ = make(a, strategy="capability-match")
    with pytest.raises(AllProvidersFailed, match=r"^no provider could take the request: a/m: skipped \(lacks vision\)"):
        await engine.chat(None, [Message.user([ImagePart(url="https://x/y.png")])])


# -- cooldown ----------------------------------------------------------------------


@pytest.mark.anyio
async def test_cooldown_skips_a_failing_provider_then_tries_it_again() -> None:
    """A provider with cooldown_failures failures in the window is skipped for cooldown_secs, then tried again."""
    a = Scripted("a", [connection_failed("a")] * 3)
    b = Scripted("b")
    _client, engine, time = make(
        a, b, max_retries_per_provider=0, cooldown_failures=2, cooldown_window_secs=60, cooldown_secs=30
    )
    for _ in range(2):
        result = await engine.chat(None, "hi")
        assert outcomes(result.attempts) == [("a", "failed", "connection_failed"), ("b", "ok", None)]
    result = await engine.chat(None, "hi")
    assert outcomes(result.attempts)[0] == ("a", "skipped", "cooling_down")
    assert (result.attempts[0].reason or "").startswith("cooling down for another 30.0s")
    assert await engine.cooldown_remaining("a") == 30.0
    time.now += 30.5
    assert await engine.cooldown_remaining("a") == 0.0
    result = await engine.chat(None, "hi")
    assert outcomes(result.attempts) == [("a", "failed", "connection_failed"), ("b", "ok", None)]


@pytest.mark.anyio
async def test_failures_outside_the_window_do_not_add_up() -> None:
    """Failures further apart than cooldown_window_secs never put a provider in cooldown."""
    a = Scripted("a", [connection_failed("a")] * 3)
    _client, engine, time = make(a, Scripted("b"), max_retries_per_provider=0, cooldown_failures=2)
    for _ in range(3):
        await engine.chat(None, "hi")
        time.now += 61
    assert a.calls == ["ConnectionFailed"] * 3


@pytest.mark.anyio
async def test_cooldown_is_per_engine() -> None:
    """Cooldown state belongs to the engine object: a fresh engine has none."""
    a = Scripted("a", [connection_failed("a")] * 2)
    client, engine, time = make(a, Scripted("b"), max_retries_per_provider=0, cooldown_failures=1)
    await engine.chat(None, "hi")
    assert await engine.cooldown_remaining("a") > 0
    other = FallbackEngine(client, clock=time.clock, sleep=time.sleep)
    assert await other.cooldown_remaining("a") == 0.0


@pytest.mark.anyio
async def test_invalid_requests_do_not_count_towards_cooldown() -> None:
    """Failures caused by the request (invalid, missing capability, unknown model) never cool a provider down."""
    a = Scripted("a", [ModelNotFound("no", provider="a")] * 3)
    _client, engine, _ = make(a, Scripted("b"), cooldown_failures=1)
    await engine.chat(None, "hi")
    assert await engine.cooldown_remaining("a") == 0.0


# -- deadline ----------------------------------------------------------------------


@pytest.mark.anyio
async def test_no_wait_overshoots_the_deadline() -> None:
    """A wait that would pass deadline_secs is not taken: the engine moves on instead."""
    a = Scripted("a", [RateLimited("", provider="a", retry_after=5, status=429), OK])
    b = Scripted("b")
    _client, engine, time = make(a, b, deadline_secs=4, max_retry_after_secs=10)
    result = await engine.chat(None, "hi")
    assert time.waits == []
    assert outcomes(result.attempts) == [("a", "failed", "rate_limited"), ("b", "ok", None)]


@pytest.mark.anyio
async def test_deadline_cancels_the_running_attempt() -> None:
    """At the deadline the running try is cancelled; later candidates are reported as not reached."""
    a, b = Scripted("a", [STALL]), Scripted("b")
    client, engine, _ = make(a, b, deadline_secs=0.2)
    engine = FallbackEngine(client)  # the real clock: the deadline is a real cancel scope
    with anyio.fail_after(5):
        with pytest.raises(AllProvidersFailed) as info:
            await engine.chat(None, "hi")
    assert outcomes(info.value.attempts) == [("a", "failed", "timeout"), ("b", "skipped", "deadline")]
    assert "deadline of 0.2s" in (info.value.attempts[0].reason or "")
    assert b.calls == []


# -- cancellation ------------------------------------------------------------------


@pytest.mark.anyio
async def test_cancelling_the_caller_starts_no_further_attempt() -> None:
    """Cancelling the caller's scope stops the running try and nothing else is tried."""
    a, b = Scripted("a", [STALL]), Scripted("b")
    _client, engine, _ = make(a, b)
    seen: list[Attempt] = []
    with anyio.move_on_after(0.1) as scope:
        await engine.chat(None, "hi", on_attempt=seen.append)
    assert scope.cancelled_caught
    assert seen == []
    assert b.calls == []


@pytest.mark.anyio
async def test_cancelling_a_stream_closes_it() -> None:
    """Cancelling the caller while a stream waits closes the provider's stream and tries nothing else."""
    a, b = Scripted("a", [STALL]), Scripted("b")
    _client, engine, _ = make(a, b)
    with anyio.move_on_after(0.1):
        async with engine.stream(None, "hi") as events:
            async for _ in events:
                pass
    assert a.closed == 1
    assert b.calls == []


# -- streams -----------------------------------------------------------------------


async def collect(stream: Any, *, into: list[StreamEvent] | None = None) -> list[StreamEvent]:
    got: list[StreamEvent] = [] if into is None else into
    async with stream as events:
        async for event in events:
            got.append(event)
    return got


@pytest.mark.anyio
async def test_stream_falls_back_before_the_first_event() -> None:
    """A stream failing before its first event moves on; the caller sees only the answering provider's events."""
    a = Scripted("a", [Cut(0, connection_failed("a"))])
    b = Scripted("b")
    client, _engine, _ = make(a, b, max_retries_per_provider=0)
    stream = client.stream(None, "hi")
    assert stream.target is None
    got = await collect(stream)
    assert got == [TextDelta("b-0"), TextDelta("b-1"), TextDelta("b-2"), Finish(FinishReason.STOP)]
    assert str(stream.target) == "b/m"
    assert outcomes(stream.attempts) == [("a", "failed", "connection_failed"), ("b", "ok", None)]
    assert a.closed == 1
    assert b.closed == 1


@pytest.mark.anyio
async def test_stream_failing_after_events_is_interrupted_never_restarted() -> None:
    """After the first event a failure raises StreamInterrupted with exactly the delivered events; nothing restarts."""
    a = Scripted("a", [Cut(2, connection_failed("a")), OK])
    b = Scripted("b")
    _client, engine, _ = make(a, b, max_retries_per_provider=3)
    got: list[StreamEvent] = []
    stream = engine.stream(None, "hi")
    with pytest.raises(StreamInterrupted) as info:
        await collect(stream, into=got)
    assert got == [TextDelta("a-0"), TextDelta("a-1")]
    assert info.value.delivered == tuple(got)
    assert isinstance(info.value.cause, ConnectionFailed)
    assert a.calls == ["Cut"]
    assert b.calls == []
    assert outcomes(stream.attempts) == [("a", "failed", "stream_interrupted")]


@pytest.mark.anyio
async def test_leaving_a_stream_early_closes_it() -> None:
    """Breaking out of a started stream closes the provider's stream."""
    a = Scripted("a")
    _client, engine, _ = make(a)
    async with engine.stream(None, "hi") as events:
        async for _ in events:
            break
    assert a.closed == 1


@pytest.mark.anyio
async def test_stream_all_failed() -> None:
    """A stream whose candidates all fail before the first event raises AllProvidersFailed."""
    a = Scripted("a", [AuthFailed("no", provider="a", status=401)])
    _client, engine, _ = make(a)
    with pytest.raises(AllProvidersFailed, match=r"a/m: auth_failed \(HTTP 401\)"):
        await collect(engine.stream(None, "hi"))


# -- records -----------------------------------------------------------------------


def test_summary_groups_consecutive_equal_failures() -> None:
    """The summary counts repeated identical failures per candidate and keeps different ones apart."""
    attempts = [
        Attempt(provider="a", model="m", outcome="failed", kind="timeout"),
        Attempt(provider="a", model="m", outcome="failed", kind="rate_limited", status=429),
        Attempt(provider="a", model="m", outcome="failed", kind="rate_limited", status=429),
        Attempt(provider="b", model=None, outcome="skipped", reason="cooling down"),
    ]
    assert summarize(attempts) == (
        "all 2 providers failed: a/m: timeout, rate_limited (HTTP 429) x2; b: skipped (cooling down)"
    )


def test_attempt_dict_and_str_leave_the_exception_out() -> None:
    """An attempt's dict is JSON-ready and its text is one line."""
    error = RateLimited("slow", provider="a", status=429, retry_after=1)
    attempt = Attempt(
        provider="a", model="m", outcome="failed", kind="rate_limited", status=429, reason=error.detail, error=error
    )
    data = attempt.to_dict()
    assert data["kind"] == "rate_limited"
    assert data["status"] == 429
    assert "error" not in data
    assert str(attempt) == "a/m try 1: rate_limited (HTTP 429) in 0.00s: slow; retry after 1s"
    assert "error" not in repr(attempt)


def test_the_default_chain() -> None:
    """Without a model the [fallback] chain is used, else default_model, else configured providers."""
    from clawdesk import default_candidates

    registry = Registry(discover=False)
    registry.register(Scripted("a"))
    registry.register(Scripted("b"))
    chained = Clawdesk(registry=registry, config=Config(fallback=FallbackConfig(chain=("b",))))
    assert chained.engine.candidates(None) == ["b"]
    assert default_candidates(Clawdesk(registry=registry, config=Config(default_model="a/x"))) == ["a/x"]
    assert default_candidates(Clawdesk(registry=registry, config=Config(providers={"b": {}}))) == ["b"]
    assert default_candidates(Clawdesk(registry=registry, config=Config())) == ["a", "b"]


class BrokenCapabilities(Scripted):
    """A provider whose provider_capabilities hook is broken."""

    @hookimpl
    def provider_capabilities(self, model: str) -> frozenset[Capability] | None:
        raise RuntimeError("no idea")


@pytest.mark.anyio
async def test_capability_match_skips_a_provider_whose_capabilities_hook_breaks() -> None:
    """Under capability-match a broken provider_capabilities hook skips the candidate as a plugin error."""
    a, b = BrokenCapabilities("a"), Scripted("b")
    _client, engine, _ = make(a, b, strategy="capability-match")
    result = await engine.chat(None, "hi")
    assert outcomes(result.attempts) == [("a", "skipped", "plugin_error"), ("b", "ok", None)]
    assert "no idea" in (result.attempts[0].reason or "")
    assert a.calls == []


@pytest.mark.anyio
async def test_a_single_target_stream_knows_its_target() -> None:
    """stream_target's stream names its target at once and has no attempts (no engine involved)."""
    a = Scripted("a")
    client, _engine, _ = make(a)
    target = client.resolve("a/m")
    stream = client.stream_target(target, ChatRequest("m", [Message.user("hi")]))
    assert stream.target == target
    assert stream.attempts == ()
    assert await collect(stream) == [TextDelta("a-0"), TextDelta("a-1"), TextDelta("a-2"), Finish(FinishReason.STOP)]


@pytest.mark.anyio
async def test_a_chain_given_in_code_is_honoured() -> None:
    """FallbackEngine(client, FallbackConfig(chain=...)) walks that chain, not the client config's."""
    a, b = Scripted("a", [connection_failed("a")]), Scripted("b")
    client, _engine, time = make(a, b, chain=("a", "b"))
    engine = FallbackEngine(
        client, FallbackConfig(chain=("b",)), clock=time.clock, sleep=time.sleep, rng=random.Random(0)
    )
    result = await engine.chat(None, "hi")
    assert outcomes(result.attempts) == [("b", "ok", None)]
    assert a.calls == []


@pytest.mark.anyio
async def test_a_chain_per_call() -> None:
    """A list of model ids is this call's chain: tried in order, each with the chain's retries."""
    a, b, c = Scripted("a", [connection_failed("a")] * 5), Scripted("b"), Scripted("c")
    client, _engine, _time = make(a, b, c, chain=("c",), max_retries_per_provider=1)
    result = await client.chat_with_attempts(["a/m", "b/m"], "hi")
    assert outcomes(result.attempts) == [("a", "failed", "connection_failed")] * 2 + [("b", "ok", None)]
    assert c.calls == []


@pytest.mark.anyio
async def test_fallbacks_follow_a_pinned_model() -> None:
    """fallbacks= adds candidates after the model; the model is then a chain entry, not pinned."""
    a, b = Scripted("a", [AuthFailed("bad key", provider="a", status=401)]), Scripted("b")
    client, _engine, _time = make(a, b)
    response = await client.chat("a/m", "hi", fallbacks=["b/m"])
    assert response.provider == "b"
    events = [e async for e in client.stream("a/m", "hi", fallbacks=["b/m"])]
    assert isinstance(events[-1], Finish)


@pytest.mark.anyio
async def test_an_empty_chain_is_refused() -> None:
    """An empty list is no chain at all: a clear error, not the default chain in disguise."""
    client, _engine, _time = make(Scripted("a"))
    with pytest.raises(ValueError, match="must not be empty"):
        await client.chat([], "hi")


@pytest.mark.anyio
async def test_attempts_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    """Each failed try and each success is a record on the clawdesk.fallback logger, one line each."""
    a, b = Scripted("a", [ModelNotFound("no such model", provider="a", status=404)]), Scripted("b")
    client, _engine, _time = make(a, b)
    with caplog.at_level(logging.DEBUG, logger="clawdesk.fallback"):
        await client.chat(None, "hi")
    lines = [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "clawdesk.fallback"]
    assert lines == [
        (logging.INFO, "a/m try 1: model_not_found (HTTP 404) in 0.00s: no such model"),
        (logging.DEBUG, "b/m try 1: ok in 0.00s"),
    ]


@pytest.mark.anyio
async def test_a_retry_policy_given_in_code_decides() -> None:
    """The engine asks its policy: one that never retries moves on after the first failure."""
    a, b = Scripted("a", [connection_failed("a"), OK]), Scripted("b")
    client, _engine, time = make(a, b, max_retries_per_provider=5)
    engine = FallbackEngine(client, policy=RetryPolicy(max_retries=0), clock=time.clock, sleep=time.sleep)
    result = await engine.chat(None, "hi")
    assert outcomes(result.attempts) == [("a", "failed", "connection_failed"), ("b", "ok", None)]
