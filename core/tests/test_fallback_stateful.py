"""A hypothesis state machine drives the fallback engine against scripted fake providers.

Each provider answers from a queue of scripted steps (success, every error
kind, Retry-After values, streams that fail after some events) and has a
capability set. Every chat or stream is checked against a small independent
model of the documented rules, and against the engine's invariants:

- a request that some candidate could serve (before anything that stops the
  chain) is served, by the first such candidate;
- no candidate is tried more than 1 + max_retries_per_provider times;
- an invalid request is never retried;
- no wait is longer than configured (Retry-After waits are exactly the
  server's value, backoff waits are under the exponential cap) and no wait
  overshoots the deadline;
- a provider that keeps failing cools down for the configured time, then is
  tried again;
- a provider with a rate budget gets each try only in a free slot: the engine
  waits for it (up to the limit's bound) or skips the candidate as
  ``rate_budget``, exactly as the model's generic cell rate algorithm says,
  and each answer's usage is charged to its token budget;
- stream events reach the caller at most once and in order, and an
  interrupted stream's ``delivered`` is exactly what the caller got;
- every provider call appears as an attempt in the result or the error.
"""

from __future__ import annotations

import itertools
import random
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
import httpx
import pytest
from attrs import frozen
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

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
    FallbackConfig,
    FallbackEngine,
    Finish,
    FinishReason,
    ImagePart,
    InvalidRequest,
    LocalState,
    Message,
    ModelNotFound,
    PermissionDenied,
    RateLimit,
    RateLimited,
    Registry,
    ResponseFormat,
    StreamEvent,
    StreamInterrupted,
    TextDelta,
    TimedOut,
    Tool,
    Usage,
    UsageEvent,
    required_capabilities,
)
from clawdesk.provider import hookimpl
from clawdesk.testing import FakeClock

RETRYABLE = {"rate_limited", "connection_failed", "timeout", "api_error_503"}
KINDS = [
    "ok",
    "rate_limited",
    "connection_failed",
    "timeout",
    "api_error_503",
    "api_error_418",
    "auth_failed",
    "permission_denied",
    "model_not_found",
    "capability_missing",
    "invalid_request",
    "plugin_bug",
]
#: The error kind an attempt reports for each scripted step kind.
REPORTED = {"api_error_503": "api_error", "api_error_418": "api_error", "plugin_bug": "plugin_error", "ok": None}
OPTIONAL_CAPS = [Capability.STREAMING, Capability.FUNCTION_CALLING, Capability.JSON_MODE, Capability.VISION]


@frozen
class Step:
    """One scripted answer: ``kind``, a Retry-After for rate limits, events before a stream fails."""

    kind: str
    retry_after: float | None = None
    cut: int = 0


OK = Step("ok")
#: Every answer's usage: 6 tokens, charged to a token budget.
USAGE = Usage(4, 2)
TOKENS = 6
#: Rate budgets a provider may get (None: none); waits are whole or half seconds, bounds vary.
LIMITS = [
    None,
    None,
    RateLimit(requests_per_minute=60, when_exhausted="next"),
    RateLimit(requests_per_minute=30, burst=2, max_wait_secs=1.0),
    RateLimit(requests_per_minute=120, max_wait_secs=5.0),
    RateLimit(tokens_per_minute=12, when_exhausted="next"),
    RateLimit(requests_per_minute=60, tokens_per_minute=24, max_wait_secs=40.0),
]


def error_for(step: Step, name: str) -> Exception:
    if step.kind == "rate_limited":
        return RateLimited("", provider=name, status=429, retry_after=step.retry_after)
    makers: dict[str, Callable[[], Exception]] = {
        "connection_failed": lambda: ConnectionFailed("reset", provider=name),
        "timeout": lambda: TimedOut("slow", provider=name),
        "api_error_503": lambda: ApiError("down", provider=name, status=503),
        "api_error_418": lambda: ApiError("teapot", provider=name, status=418),
        "auth_failed": lambda: AuthFailed("no", provider=name, status=401),
        "permission_denied": lambda: PermissionDenied("no", provider=name, status=403),
        "model_not_found": lambda: ModelNotFound("no", provider=name, status=404),
        "capability_missing": lambda: CapabilityMissing("no", provider=name),
        "invalid_request": lambda: InvalidRequest("bad", provider=name, status=422),
        "plugin_bug": lambda: RuntimeError("oops"),
    }
    return makers[step.kind]()


class FakeProvider:
    """Answers from ``steps`` (an empty queue answers ``default``); logs every call into the shared ``log``."""

    CLAWDESK_CONTRACT = 2

    def __init__(
        self, name: str, caps: frozenset[Capability] | None, log: list[tuple[str, str]], default: Step
    ) -> None:
        self.name = name
        self.caps = caps
        self.default = default
        self.steps: deque[Step] = deque()
        self.log = log
        self.serial = itertools.count()

    @hookimpl
    def provider_name(self) -> str:
        return self.name

    @hookimpl
    async def provider_models(self) -> list[Any]:
        return []

    @hookimpl
    def provider_capabilities(self, model: str) -> frozenset[Capability] | None:
        return self.caps

    def _next(self, request: ChatRequest, stream: bool) -> Step:
        if self.caps is not None and not required_capabilities(request, stream=stream) <= self.caps:
            self.log.append((self.name, "lacking"))
            raise CapabilityMissing("lacking", provider=self.name)
        step = self.steps.popleft() if self.steps else self.default
        self.log.append((self.name, step.kind))
        return step

    @hookimpl
    async def provider_chat(self, request: ChatRequest) -> ChatResponse:
        step = self._next(request, stream=False)
        await anyio.lowlevel.checkpoint()
        if step.kind != "ok":
            raise error_for(step, self.name)
        return ChatResponse(
            message=Message.assistant(self.name),
            finish_reason=FinishReason.STOP,
            provider=self.name,
            model="m",
            usage=USAGE,
        )

    @hookimpl
    def provider_stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        return self._events(request)

    async def _events(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        step = self._next(request, stream=True)
        serial = next(self.serial)
        for i in range(3 if step.kind == "ok" else step.cut):
            await anyio.lowlevel.checkpoint()
            yield TextDelta(f"{self.name}:{serial}:{i}")
        if step.kind != "ok":
            raise error_for(step, self.name)
        yield UsageEvent(USAGE)
        yield Finish(FinishReason.STOP)


steps = st.builds(
    Step,
    # Retryable kinds twice as likely: retries, waits and the deadline get exercised.
    kind=st.sampled_from(KINDS + sorted(RETRYABLE)),
    retry_after=st.sampled_from([None, 0.0, 5.0, 10.0, 40.0, 1200.0]),
    cut=st.sampled_from([0, 0, 1, 2]),
)
capability_sets = st.one_of(
    st.none(), st.sets(st.sampled_from(OPTIONAL_CAPS)).map(lambda s: frozenset({Capability.CHAT, *s}))
)
REQUESTS = ["plain", "tools", "json", "image"]
#: What a provider answers when its script is empty: healthy, or persistently failing in some way.
DEFAULTS = [OK, OK, Step("connection_failed"), Step("rate_limited", 1.0), Step("api_error_503"), Step("auth_failed")]


def build_request(kind: str) -> tuple[list[Message], ChatOptions]:
    if kind == "image":
        return [Message.user([ImagePart(url="https://example.invalid/cat.png")])], ChatOptions()
    options = {
        "plain": ChatOptions(),
        "tools": ChatOptions(tools=[Tool("lookup")]),
        "json": ChatOptions(response_format=ResponseFormat.json()),
    }[kind]
    return [Message.user("hi")], options


class ScriptedJitter(random.Random):
    """A Random whose ``uniform(a, b)`` walks through given fractions of the range, so the model can follow."""

    def __init__(self, fractions: list[float]) -> None:
        super().__init__(0)
        self.fractions = fractions
        self.drawn = 0

    def uniform(self, a: float, b: float) -> float:
        fraction = self.fractions[self.drawn % len(self.fractions)]
        self.drawn += 1
        return a + (b - a) * fraction


#: Failure kinds that never count towards a cooldown (they are about the request, not the provider).
NOT_HEALTH = {"invalid_request", "capability_missing", "model_not_found"}


class Model:
    """The documented rules, written out plainly: what the engine must do, given the scripts and its state.

    State carried between runs: the clock, each provider's recent failures and
    cooldown end, and how many jitter fractions were drawn.
    """

    def __init__(self, cfg: FallbackConfig, fractions: list[float]) -> None:
        self.cfg = cfg
        self.fractions = fractions
        self.now = 0.0
        self.failures: dict[str, list[float]] = {}
        self.until: dict[str, float] = {}
        self.request_tat: dict[str, float] = {}
        self.token_tat: dict[str, float] = {}
        self.drawn = 0
        self.deadline_moves = 0  # how often the deadline made the engine move on (for coverage checks)

    def copy(self) -> Model:
        other = Model(self.cfg, self.fractions)
        other.now, other.drawn = self.now, self.drawn
        other.failures = {k: list(v) for k, v in self.failures.items()}
        other.until = dict(self.until)
        other.request_tat = dict(self.request_tat)
        other.token_tat = dict(self.token_tat)
        return other

    def fail(self, name: str, kind: str) -> None:
        cfg = self.cfg
        if kind in NOT_HEALTH or cfg.cooldown_failures == 0 or cfg.cooldown_secs == 0:
            return
        recent = [t for t in [*self.failures.get(name, []), self.now] if self.now - t <= cfg.cooldown_window_secs]
        if len(recent) >= cfg.cooldown_failures:
            self.until[name] = self.now + cfg.cooldown_secs
            recent = []
        self.failures[name] = recent

    def slot(self, name: str, limit: RateLimit) -> float | None:
        """The documented budget rule: the wait for the next slot (taking it), or None when it is too far."""
        now, wait, tat = self.now, 0.0, self.now
        rpm = limit.requests_per_minute
        if rpm:
            interval = 60.0 / rpm
            tat = max(self.request_tat.get(name, now), now)
            wait = max(wait, tat - (limit.burst - 1) * interval - now)
        if limit.tokens_per_minute:
            wait = max(wait, self.token_tat.get(name, now) - 60.0 - now)
        if wait > limit.max_wait:
            return None
        if rpm:
            self.request_tat[name] = max(tat, now + wait) + 60.0 / rpm
        return wait

    def charge(self, name: str) -> None:
        limit = self.cfg.limits.get(name)
        if limit is not None and limit.tokens_per_minute:
            now = self.now
            self.token_tat[name] = max(self.token_tat.get(name, now), now) + TOKENS * 60.0 / limit.tokens_per_minute

    def jitter(self, cap: float) -> float:
        fraction = self.fractions[self.drawn % len(self.fractions)]
        self.drawn += 1
        return cap * fraction

    def run(
        self, providers: list[FakeProvider], needed: frozenset[Capability], stream: bool
    ) -> tuple[tuple[Any, ...], list[tuple[str, str]], list[tuple[str, str, str | None]], list[float]]:
        """The outcome, the provider calls, the attempts (provider, outcome, kind) and the waits of one run."""
        cfg = self.cfg
        start = self.now
        queues = {p.name: deque(p.steps) for p in providers}
        calls: list[tuple[str, str]] = []
        attempts: list[tuple[str, str, str | None]] = []
        waits: list[float] = []
        for provider in providers:
            name = provider.name
            if self.until.get(name, 0.0) > self.now:
                attempts.append((name, "skipped", "cooling_down"))
                continue
            lacking = provider.caps is not None and not needed <= provider.caps
            if lacking and cfg.strategy == "capability-match":
                attempts.append((name, "skipped", "capability_missing"))
                continue
            tries = 0
            limit = cfg.limits.get(name)
            while True:
                if limit is not None:  # every try takes a slot first, even one the plugin then refuses
                    budget = self.slot(name, limit)
                    if budget is None:
                        attempts.append((name, "skipped", "rate_budget"))
                        break
                    if budget > 0:
                        waits.append(budget)
                        self.now += budget
                if lacking:
                    calls.append((name, "lacking"))
                    attempts.append((name, "failed", "capability_missing"))
                    break
                tries += 1
                queue = queues[name]
                step = queue.popleft() if queue else provider.default
                calls.append((name, step.kind))
                if step.kind == "ok":
                    self.failures.pop(name, None)
                    attempts.append((name, "ok", None))
                    self.charge(name)
                    return ("served", name), calls, attempts, waits
                if stream and step.cut > 0:
                    self.failures.pop(name, None)  # it started fine...
                    self.fail(name, "stream_interrupted")  # ...then broke
                    attempts.append((name, "failed", "stream_interrupted"))
                    return ("interrupted", name, step.cut), calls, attempts, waits
                kind = REPORTED.get(step.kind, step.kind)
                assert kind is not None
                self.fail(name, kind)
                attempts.append((name, "failed", kind))
                if step.kind == "invalid_request" and cfg.stop_on_invalid_request:
                    return ("invalid", name), calls, attempts, waits
                if step.kind not in RETRYABLE or tries > cfg.max_retries_per_provider:
                    break
                if step.kind == "rate_limited" and step.retry_after is not None:
                    if step.retry_after > cfg.max_retry_after_secs:
                        break
                    wait = step.retry_after
                else:
                    wait = self.jitter(min(cfg.backoff_max_secs, cfg.backoff_base_secs * 2 ** (tries - 1)))
                if cfg.deadline_secs is not None and wait >= cfg.deadline_secs - (self.now - start):
                    self.deadline_moves += 1
                    break
                waits.append(wait)
                self.now += wait
        return ("all_failed",), calls, attempts, waits


class FallbackMachine(RuleBasedStateMachine):
    backend = "asyncio"

    def __init__(self) -> None:
        super().__init__()
        self.log: list[tuple[str, str]] = []
        self.providers: list[FakeProvider] = []
        self.client: Clawdesk | None = None

    @initialize(
        caps=st.lists(capability_sets, min_size=1, max_size=3),
        strategy=st.sampled_from(["sequential", "capability-match"]),
        max_retries=st.integers(0, 3),
        max_retry_after=st.sampled_from([0.0, 10.0, 50.0]),
        stop_on_invalid=st.booleans(),
        backoff=st.sampled_from([(1.0, 3.0), (5.0, 80.0), (20.0, 20.0)]),
        deadline=st.sampled_from([None, 5.0, 20.0]),
        cooldown=st.sampled_from([(0, 600.0, 300.0), (2, 600.0, 300.0), (3, 50.0, 100.0), (1, 600.0, 0.0)]),
        # Quarter steps keep every sum of waits a multiple of 0.25 s, so an attempt never starts with a
        # sliver of the deadline left: the engine enforces the deadline in real time while the model runs
        # on the fake clock, and a few milliseconds of budget would make the outcome a race on a loaded
        # machine. (Hence times ten times a real config's: waits cost nothing on the fake clock, and the
        # least budget an attempt starts with is 0.25 s of real time, not the 25 ms that lost races.)
        fractions=st.lists(st.sampled_from([0.0, 0.25, 0.5, 0.75, 1.0]), min_size=1, max_size=5),
        defaults=st.lists(st.sampled_from(DEFAULTS), min_size=3, max_size=3),
        limit=st.sampled_from(LIMITS),
        limited=st.integers(0, 2),
    )
    def setup(
        self,
        caps: list[frozenset[Capability] | None],
        strategy: str,
        max_retries: int,
        max_retry_after: float,
        stop_on_invalid: bool,
        backoff: tuple[float, float],
        deadline: float | None = None,
        cooldown: tuple[int, float, float] = (0, 60.0, 30.0),
        fractions: tuple[float, ...] = (0.5,),
        defaults: tuple[Step, ...] = (OK, OK, OK),
        limit: RateLimit | None = None,
        limited: int = 0,
    ) -> None:
        registry = Registry(discover=False)
        for index, cap in enumerate(caps):
            provider = FakeProvider(f"p{index}", cap, self.log, defaults[index])
            registry.register(provider)
            self.providers.append(provider)
        self.config = FallbackConfig(
            chain=tuple(f"{p.name}/m" for p in self.providers),
            strategy=strategy,  # type: ignore[arg-type]
            max_retries_per_provider=max_retries,
            max_retry_after_secs=max_retry_after,
            stop_on_invalid_request=stop_on_invalid,
            backoff_base_secs=backoff[0],
            backoff_max_secs=backoff[1],
            # A budget's wait may end a hair before a real-time deadline the model cannot see: the two
            # are kept apart here, and tested together in test_state.py.
            deadline_secs=deadline if limit is None else None,
            cooldown_failures=cooldown[0],
            cooldown_window_secs=cooldown[1],
            cooldown_secs=cooldown[2],
            limits={f"p{limited % len(caps)}": limit} if limit is not None else {},
        )
        # No provider here does I/O; a transport keeps httpx from building TLS contexts.
        self.client = Clawdesk(
            registry=registry,
            config=Config(fallback=self.config),
            transport=httpx.MockTransport(lambda request: httpx.Response(599)),
        )
        # One engine for the machine's life: cooldown state carries over between runs.
        self.time = FakeClock()
        self.engine = FallbackEngine(
            self.client, clock=self.time.clock, sleep=self.time.sleep, rng=ScriptedJitter(list(fractions))
        )
        self.model = Model(self.config, list(fractions))

    def teardown(self) -> None:
        if self.client is not None:
            anyio.run(self.client.aclose, backend=self.backend)

    # -- rules ---------------------------------------------------------------------

    @rule(data=st.data(), script=st.lists(steps, min_size=1, max_size=5))
    def script(self, data: st.DataObject, script: list[Step]) -> None:
        provider = data.draw(st.sampled_from(self.providers))
        provider.steps.extend(script)

    @rule(seconds=st.sampled_from([10.0, 60.0, 310.0, 610.0]))
    def time_passes(self, seconds: float) -> None:
        self.time.now += seconds
        self.model.now += seconds

    @rule(request=st.sampled_from(REQUESTS), stream=st.booleans())
    def run(self, request: str, stream: bool) -> None:
        assert self.client is not None
        messages, options = build_request(request)
        needed = required_capabilities(ChatRequest("m", messages, options), stream=stream)
        model = self.model.copy()
        expected, expected_calls, expected_attempts, expected_waits = model.run(self.providers, needed, stream)
        self.log.clear()
        self.time.waits.clear()
        engine = self.engine
        seen: list[Attempt] = []
        received: list[StreamEvent] = []
        caught: list[BaseException] = []

        async def go() -> tuple[Any, ...]:
            if not stream:
                try:
                    result = await engine.chat(None, messages, options, on_attempt=seen.append)
                except (InvalidRequest, AllProvidersFailed) as exc:
                    caught.append(exc)
                    return ("invalid", exc.provider) if isinstance(exc, InvalidRequest) else ("all_failed",)
                assert list(result.attempts) == seen
                assert result.response.provider == result.target.provider
                return ("served", result.target.provider)
            events = engine.stream(None, messages, options, on_attempt=seen.append)
            try:
                async with events:
                    async for event in events:
                        received.append(event)
            except (InvalidRequest, AllProvidersFailed, StreamInterrupted) as exc:
                caught.append(exc)
                if isinstance(exc, InvalidRequest):
                    return ("invalid", exc.provider)
                if isinstance(exc, StreamInterrupted):
                    return ("interrupted", exc.provider, len(received))
                return ("all_failed",)
            assert events.target is not None
            assert list(events.attempts) == seen
            return ("served", events.target.provider)

        outcome = anyio.run(go, backend=self.backend)
        for exc in caught:
            if isinstance(exc, AllProvidersFailed):
                assert list(exc.attempts) == seen, "every failure is accounted for in the final error"
            if isinstance(exc, StreamInterrupted):
                assert list(exc.delivered) == received, "delivered is exactly what the caller got"
        if outcome[0] == "interrupted":
            # The committed try was first reported as ok, then again as interrupted.
            assert seen[-2].outcome == "ok"
            assert (seen[-2].provider, seen[-2].number) == (seen[-1].provider, seen[-1].number)
            del seen[-2]
        assert outcome == expected, "served exactly when the rules say some candidate could serve"
        assert self.log == expected_calls
        assert [(a.provider, a.outcome, a.kind) for a in seen] == expected_attempts
        assert self.time.waits == expected_waits
        assert self.time.now == model.now
        self.model = model
        self.check_attempts(seen)
        self.check_waits(seen)
        if stream:
            self.check_events(received, outcome)

    # -- invariants that hold whatever the model says --------------------------------

    def check_attempts(self, seen: list[Attempt]) -> None:
        for provider in self.providers:
            mine = [a for a in seen if a.provider == provider.name and a.outcome != "skipped"]
            assert len(mine) <= 1 + self.config.max_retries_per_provider, "retry count exceeded"
            assert [a.number for a in mine] == list(range(1, len(mine) + 1))
            kinds = [a.kind for a in mine]
            if "invalid_request" in kinds:
                assert kinds.index("invalid_request") == len(kinds) - 1, "an invalid request is never retried"
        for attempt in seen:
            if attempt.outcome == "skipped" and attempt.kind == "capability_missing":
                provider = next(p for p in self.providers if p.name == attempt.provider)
                assert provider.caps is not None, "an unknown capability set never rules a candidate out"

    def check_waits(self, seen: list[Attempt]) -> None:
        cfg = self.config
        assert sum(a.wait_secs for a in seen) == pytest.approx(sum(self.time.waits))
        if not cfg.limits:
            assert [a.wait_secs for a in seen if a.wait_secs] == [w for w in self.time.waits if w]
        assert sum(self.time.waits) < (cfg.deadline_secs or float("inf")), "no wait overshoots the deadline"
        previous: Attempt | None = None
        for attempt in seen:
            if attempt.provider in cfg.limits:
                previous = attempt
                continue  # its waits include the budget's (the model checks those exactly)
            if attempt.number > 1 and attempt.outcome != "skipped":
                assert previous is not None
                error = previous.error
                if isinstance(error, RateLimited) and error.retry_after is not None:
                    assert attempt.wait_secs == error.retry_after <= cfg.max_retry_after_secs
                else:
                    cap = min(cfg.backoff_max_secs, cfg.backoff_base_secs * 2 ** (attempt.number - 2))
                    assert 0 <= attempt.wait_secs <= cap
            else:
                assert attempt.wait_secs == 0
            previous = attempt

    def check_events(self, received: list[StreamEvent], outcome: tuple[Any, ...]) -> None:
        texts = [e.text for e in received if isinstance(e, TextDelta)]
        assert len(set(texts)) == len(texts), "no event is delivered twice"
        if outcome[0] == "served":
            assert isinstance(received[-1], Finish)
            assert len(texts) == 3
        if texts:
            name, serial, _ = texts[0].split(":")
            assert name == outcome[1], "events come from the chosen provider only"
            assert texts == [f"{name}:{serial}:{i}" for i in range(len(texts))], "events arrive in order"
        else:
            assert outcome[0] in ("all_failed", "invalid")

    def _state(self) -> LocalState:
        state = self.engine.state
        assert isinstance(state, LocalState)
        return state

    @invariant()
    def cooldowns_agree(self) -> None:
        if self.client is None:
            return
        for provider in self.providers:
            left = self._state().remaining(provider.name)
            assert left == pytest.approx(max(0.0, self.model.until.get(provider.name, 0.0) - self.model.now))


class TrioFallbackMachine(FallbackMachine):
    backend = "trio"


class TestFallbackAsyncio(FallbackMachine.TestCase):  # type: ignore[misc,valid-type]
    """The engine keeps its invariants over random scripts on asyncio."""

    settings = settings(max_examples=60, stateful_step_count=20, deadline=None)


class TestFallbackTrio(TrioFallbackMachine.TestCase):  # type: ignore[misc,valid-type]
    """The engine keeps its invariants over random scripts on trio."""

    settings = settings(max_examples=25, stateful_step_count=15, deadline=None)


def test_the_model_agrees_with_a_known_case() -> None:
    """The test's own model predicts a retried rate limit followed by a fall-through to a healthy provider."""
    machine = FallbackMachine()
    machine.setup(
        caps=[None, None],
        strategy="sequential",
        max_retries=1,
        max_retry_after=5.0,
        stop_on_invalid=True,
        backoff=(0.1, 0.3),
    )
    machine.providers[0].steps.extend([Step("rate_limited", 1.0), Step("rate_limited", 1.0)])
    try:
        assert machine.model.copy().run(machine.providers, frozenset({Capability.CHAT}), False) == (
            ("served", "p1"),
            [("p0", "rate_limited"), ("p0", "rate_limited"), ("p1", "ok")],
            [("p0", "failed", "rate_limited"), ("p0", "failed", "rate_limited"), ("p1", "ok", None)],
            [1.0],
        )
        machine.run("plain", False)
    finally:
        machine.teardown()


def test_the_model_follows_a_cooldown() -> None:
    """The model puts a provider in cooldown after the configured failures and lets it back in after the time."""
    machine = FallbackMachine()
    machine.setup(
        caps=[None, None],
        strategy="sequential",
        max_retries=0,
        max_retry_after=0.0,
        stop_on_invalid=True,
        backoff=(0.1, 0.3),
        cooldown=(2, 60.0, 30.0),
    )
    machine.providers[0].steps.extend([Step("timeout")] * 3)
    try:
        machine.run("plain", False)
        machine.run("plain", False)
        assert machine._state().remaining("p0") == 30.0
        machine.run("plain", False)
        assert machine.log == [("p1", "ok")]
        machine.time_passes(31.0)
        machine.run("plain", False)
        assert machine.log == [("p0", "timeout"), ("p1", "ok")]
    finally:
        machine.teardown()


# Passing takes seconds; a failure's shrinking may take minutes, and its minimal example is the point.
pytestmark = pytest.mark.timeout(400)
