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
  server's value, backoff waits are under the exponential cap);
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
    Message,
    ModelNotFound,
    PermissionDenied,
    RateLimited,
    Registry,
    ResponseFormat,
    StreamEvent,
    StreamInterrupted,
    TextDelta,
    Timeout,
    Tool,
    hookimpl,
    required_capabilities,
)

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


def error_for(step: Step, name: str) -> Exception:
    if step.kind == "rate_limited":
        return RateLimited("", provider=name, status=429, retry_after=step.retry_after)
    makers: dict[str, Callable[[], Exception]] = {
        "connection_failed": lambda: ConnectionFailed("reset", provider=name),
        "timeout": lambda: Timeout("slow", provider=name),
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
    """Answers from ``steps`` (an empty queue answers ok); logs every call into the shared ``log``."""

    def __init__(self, name: str, caps: frozenset[Capability] | None, log: list[tuple[str, str]]) -> None:
        self.name = name
        self.caps = caps
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
        step = self.steps.popleft() if self.steps else OK
        self.log.append((self.name, step.kind))
        return step

    @hookimpl
    async def provider_chat(self, request: ChatRequest) -> ChatResponse:
        step = self._next(request, stream=False)
        await anyio.lowlevel.checkpoint()
        if step.kind != "ok":
            raise error_for(step, self.name)
        return ChatResponse(
            message=Message.assistant(self.name), finish_reason=FinishReason.STOP, provider=self.name, model="m"
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
        yield Finish(FinishReason.STOP)


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.waits: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds
        await anyio.lowlevel.checkpoint()


steps = st.builds(
    Step,
    kind=st.sampled_from(KINDS),
    retry_after=st.sampled_from([None, 0.0, 0.5, 1.0, 4.0, 120.0]),
    cut=st.sampled_from([0, 0, 1, 2]),
)
capability_sets = st.one_of(
    st.none(), st.sets(st.sampled_from(OPTIONAL_CAPS)).map(lambda s: frozenset({Capability.CHAT, *s}))
)
REQUESTS = ["plain", "tools", "json", "image"]


def build_request(kind: str) -> tuple[list[Message], ChatOptions]:
    if kind == "image":
        return [Message.user([ImagePart(url="https://example.invalid/cat.png")])], ChatOptions()
    options = {
        "plain": ChatOptions(),
        "tools": ChatOptions(tools=[Tool("lookup")]),
        "json": ChatOptions(response_format=ResponseFormat.json()),
    }[kind]
    return [Message.user("hi")], options


class FallbackMachine(RuleBasedStateMachine):
    backend = "asyncio"

    def __init__(self) -> None:
        super().__init__()
        self.log: list[tuple[str, str]] = []
        self.providers: list[FakeProvider] = []
        self.client: Clawdesk | None = None
        self.runs = 0

    @initialize(
        caps=st.lists(capability_sets, min_size=1, max_size=3),
        strategy=st.sampled_from(["sequential", "capability-match"]),
        max_retries=st.integers(0, 3),
        max_retry_after=st.sampled_from([0.0, 1.0, 5.0]),
        stop_on_invalid=st.booleans(),
        backoff=st.sampled_from([(0.1, 0.3), (0.5, 8.0), (2.0, 2.0)]),
        seed=st.integers(0, 2**16),
    )
    def setup(
        self,
        caps: list[frozenset[Capability] | None],
        strategy: str,
        max_retries: int,
        max_retry_after: float,
        stop_on_invalid: bool,
        backoff: tuple[float, float],
        seed: int,
    ) -> None:
        registry = Registry(discover=False)
        for index, cap in enumerate(caps):
            provider = FakeProvider(f"p{index}", cap, self.log)
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
            cooldown_failures=0,
        )
        # No provider here does I/O; a transport keeps httpx from building TLS contexts.
        self.client = Clawdesk(
            registry=registry,
            config=Config(fallback=self.config),
            transport=httpx.MockTransport(lambda request: httpx.Response(599)),
        )
        self.seed = seed

    def teardown(self) -> None:
        if self.client is not None:
            anyio.run(self.client.aclose, backend=self.backend)

    # -- scripting -----------------------------------------------------------------

    @rule(data=st.data(), script=st.lists(steps, min_size=1, max_size=5))
    def script(self, data: st.DataObject, script: list[Step]) -> None:
        provider = data.draw(st.sampled_from(self.providers))
        provider.steps.extend(script)

    # -- the model -----------------------------------------------------------------

    def predict(self, needed: frozenset[Capability], stream: bool) -> tuple[tuple[Any, ...], list[tuple[str, str]]]:
        """What the documented rules say happens: the outcome and the calls each provider gets."""
        cfg = self.config
        queues = {p.name: deque(p.steps) for p in self.providers}
        calls: list[tuple[str, str]] = []
        for provider in self.providers:
            if provider.caps is not None and not needed <= provider.caps:
                if cfg.strategy == "sequential":
                    calls.append((provider.name, "lacking"))
                continue
            tries = 0
            while True:
                tries += 1
                queue = queues[provider.name]
                step = queue.popleft() if queue else OK
                calls.append((provider.name, step.kind))
                if step.kind == "ok":
                    return ("served", provider.name), calls
                if stream and step.cut > 0:
                    return ("interrupted", provider.name, step.cut), calls
                if step.kind == "invalid_request" and cfg.stop_on_invalid_request:
                    return ("invalid", provider.name), calls
                if step.kind not in RETRYABLE or tries > cfg.max_retries_per_provider:
                    break
                if step.kind == "rate_limited" and (step.retry_after or 0.0) > cfg.max_retry_after_secs:
                    break
        return ("all_failed",), calls

    # -- runs ----------------------------------------------------------------------

    @rule(request=st.sampled_from(REQUESTS), stream=st.booleans())
    def run(self, request: str, stream: bool) -> None:
        assert self.client is not None
        messages, options = build_request(request)
        needed = required_capabilities(ChatRequest("m", messages, options), stream=stream)
        expected, expected_calls = self.predict(needed, stream)
        self.log.clear()
        time = FakeTime()
        engine = FallbackEngine(
            self.client, self.config, clock=time.clock, sleep=time.sleep, rng=random.Random(self.seed + self.runs)
        )
        self.runs += 1
        seen: list[Attempt] = []
        received: list[StreamEvent] = []
        outcome: tuple[Any, ...]

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
        assert outcome == expected
        assert self.log == expected_calls
        self.check_attempts(seen, stream, outcome)
        if outcome[0] == "interrupted":
            del seen[-2]  # the committed try, reported again as interrupted
        self.check_waits(seen, time)
        if stream:
            self.check_events(received, outcome)

    def check_attempts(self, seen: list[Attempt], stream: bool, outcome: tuple[Any, ...]) -> None:
        tried = [a for a in seen if a.outcome != "skipped"]
        if outcome[0] == "interrupted":
            # The committed try was first recorded as ok, then as interrupted.
            assert tried[-1].kind == "stream_interrupted"
            assert tried[-2].outcome == "ok"
            assert tried[-2].number == tried[-1].number
            del tried[-2]
        # Every call is one attempt, in order, with the kind of its step.
        expected = [
            (name, "capability_missing" if kind == "lacking" else REPORTED.get(kind, kind)) for name, kind in self.log
        ]
        if outcome[0] == "interrupted":
            expected[-1] = (expected[-1][0], "stream_interrupted")
        assert [(a.provider, a.kind) for a in tried] == expected
        for provider in self.providers:
            mine = [a for a in tried if a.provider == provider.name]
            assert len(mine) <= 1 + self.config.max_retries_per_provider
            assert [a.number for a in mine] == list(range(1, len(mine) + 1))
            kinds = [a.kind for a in mine]
            if "invalid_request" in kinds:
                assert kinds.index("invalid_request") == len(kinds) - 1, "an invalid request is never retried"
        skipped = {a.provider for a in seen if a.outcome == "skipped"}
        if self.config.strategy == "sequential":
            assert not skipped
        else:
            for name in skipped:
                provider = next(p for p in self.providers if p.name == name)
                assert provider.caps is not None

    def check_waits(self, seen: list[Attempt], time: FakeTime) -> None:
        cfg = self.config
        assert [a.wait_secs for a in seen if a.wait_secs] == [w for w in time.waits if w]
        previous: Attempt | None = None
        for attempt in seen:
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
        assert all(w <= max(cfg.backoff_max_secs, cfg.max_retry_after_secs) for w in time.waits)

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

    @invariant()
    def every_provider_call_was_checked(self) -> None:
        # Between runs nothing calls a provider behind the engine's back.
        assert not self.log or self.runs > 0


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
        seed=1,
    )
    machine.providers[0].steps.extend([Step("rate_limited", 1.0), Step("rate_limited", 1.0)])
    try:
        assert machine.predict(frozenset({Capability.CHAT}), False) == (
            ("served", "p1"),
            [("p0", "rate_limited"), ("p0", "rate_limited"), ("p1", "ok")],
        )
        machine.run("plain", False)
    finally:
        machine.teardown()


pytestmark = pytest.mark.filterwarnings("ignore::hypothesis.errors.NonInteractiveExampleWarning")
