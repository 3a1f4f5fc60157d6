"""The fallback engine: retries, backoff, moving on, cooldown and the record of it all.

A request goes to a chain of *candidates* (``provider`` or ``provider/model``
entries). Each candidate is tried, retried on retryable errors with
exponential backoff and full jitter (or the server's ``Retry-After``), and left
for the next one on errors that another provider may not have. Every try and
every skip is recorded as an :class:`Attempt`; when nothing works, one
:class:`~clawdesk.AllProvidersFailed` carries them all.

The rules, per error kind (see ``docs/fallback.md`` for the table):

- retryable :class:`~clawdesk.ProviderError` (rate limited, connection failed,
  timeout, 408/409/429/5xx): retry the same candidate up to
  ``max_retries_per_provider`` times, then move on;
- auth failed, permission denied, model not found, capability missing, any
  other non-retryable provider error, a broken plugin: move on at once;
- invalid request: raised as is and the chain stops (unless
  ``stop_on_invalid_request = false``: then move on, never retry);
- a stream that fails after its first event reached the caller:
  :class:`~clawdesk.StreamInterrupted`, raised as is, never restarted.

What to do after each failed try is the :class:`~clawdesk.RetryPolicy`'s
call; providers' health (cooldowns) and rate budgets live in a state store
(:class:`~clawdesk.LocalState` by default, one per engine; a
:class:`~clawdesk.RedisState` with ``[state] backend = "redis"``, shared by
processes; a :class:`~clawdesk.Clawdesk` keeps one engine for its life).
A provider with a rate budget (``[fallback.limits.<name>]``) gets a slot
from the store before each try: the engine waits for it (up to the limit's
``max_wait_secs`` and never past the deadline) or, when it is further away,
records the candidate as skipped (``rate_budget``) and moves on. Token use is
charged from each answer's usage. The engine knows
the client only through the small :class:`Caller` protocol, so neither
imports the other. Every attempt is logged on the ``clawdesk.fallback``
logger (failures and skips at INFO, successes at DEBUG), redacted like every
message.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar

import anyio
from attrs import field, frozen

from ._config import Config, FallbackConfig, RateLimit
from ._errors import (
    AllProvidersFailed,
    ApiError,
    ClawdeskError,
    ConfigError,
    InvalidModelId,
    PluginError,
    ProviderError,
    ProviderNotFound,
    StreamInterrupted,
    TimedOut,
)
from ._modelid import parse_model_id
from ._negotiate import describe_missing, missing_capabilities, required_capabilities
from ._retry import RetryPolicy
from ._state import Admission, StateStore, make_state
from ._stream import ChatStream, RunRecord, Target, as_messages
from ._types import Capability, ChatOptions, ChatRequest, ChatResponse, Message, StreamEvent, Usage, UsageEvent

if TYPE_CHECKING:
    from ._provider_config import ProviderConfig

__all__ = ["Attempt", "Caller", "ChatResult", "FallbackEngine", "summarize"]

T = TypeVar("T")

Outcome = Literal["ok", "failed", "skipped"]
Models = str | Sequence[str] | None

log = logging.getLogger("clawdesk.fallback")


class Caller(Protocol):
    """What the engine needs of a client (:class:`~clawdesk.Clawdesk` is one)."""

    config: Config

    def resolve(self, model_id: str) -> Target: ...

    def provider_config(self, name: str) -> ProviderConfig: ...

    def capabilities(self, target: Target) -> frozenset[Capability] | None: ...

    def default_candidates(self) -> list[str]: ...

    async def chat_target(self, target: Target, request: ChatRequest) -> ChatResponse: ...

    def stream_target(self, target: Target, request: ChatRequest) -> ChatStream: ...


def _kind(error: BaseException) -> str:
    if isinstance(error, ProviderError):
        return error.kind
    for cls, name in (
        (PluginError, "plugin_error"),
        (ConfigError, "config_error"),
        (ProviderNotFound, "provider_not_found"),
        (InvalidModelId, "invalid_model_id"),
    ):
        if isinstance(error, cls):
            return name
    return "error"


@frozen(kw_only=True)
class Attempt:
    """One try of one candidate, or one candidate skipped, in chain order.

    - ``provider``/``model``: the candidate (``model`` is ``None`` when the
      chain entry could not be resolved to a model);
    - ``outcome``: ``"ok"``, ``"failed"`` or ``"skipped"`` (never tried);
    - ``kind``: for a failure, the error kind (``rate_limited``,
      ``plugin_error``, ...); for a skip, why: ``capability_missing``,
      ``cooling_down``, ``deadline``, or the kind of the error that made the
      entry unusable (``provider_not_found``, ``config_error``,
      ``invalid_model_id``); ``None`` for success;
    - ``status``: the HTTP status of the failure, when there was one;
    - ``reason``: the one-line error message, or why the candidate was skipped;
    - ``number``: 1 for a candidate's first try, 2 for its first retry, ...;
    - ``wait_secs``: how long the engine waited before this try (backoff or
      ``Retry-After``); ``duration_secs``: how long the try took;
    - ``error``: the exception itself (not compared, not in the repr).
    """

    provider: str
    model: str | None
    outcome: Outcome
    kind: str | None = None
    status: int | None = None
    reason: str | None = None
    number: int = 1
    wait_secs: float = 0.0
    duration_secs: float = 0.0
    error: ClawdeskError | None = field(default=None, eq=False, repr=False)

    @property
    def label(self) -> str:
        """``provider/model``, or just ``provider`` when there is no model."""
        return f"{self.provider}/{self.model}" if self.model else self.provider

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (what ``clawdesk chat --json`` prints); the exception is left out."""
        return {
            "provider": self.provider,
            "model": self.model,
            "outcome": self.outcome,
            "kind": self.kind,
            "status": self.status,
            "reason": self.reason,
            "number": self.number,
            "wait_secs": round(self.wait_secs, 3),
            "duration_secs": round(self.duration_secs, 3),
        }

    def __str__(self) -> str:
        if self.outcome == "skipped":
            return f"{self.label}: skipped: {self.reason}"
        head = f"{self.label} try {self.number}"
        if self.wait_secs:
            head += f" after waiting {self.wait_secs:.2f}s"
        if self.outcome == "ok":
            return f"{head}: ok in {self.duration_secs:.2f}s"
        status = f" (HTTP {self.status})" if self.status is not None else ""
        return f"{head}: {self.kind}{status} in {self.duration_secs:.2f}s: {self.reason}"


@frozen
class ChatResult:
    """A chat answer together with the way it was reached.

    ``response`` is the :class:`~clawdesk.ChatResponse`; ``target`` the
    candidate that gave it; ``attempts`` every try and skip before it, the
    successful try last.
    """

    response: ChatResponse
    target: Target
    attempts: tuple[Attempt, ...]


def summarize(attempts: Sequence[Attempt]) -> str:
    """The one-line message of :class:`~clawdesk.AllProvidersFailed`.

    ``all 2 providers failed: mistral/x: rate_limited (HTTP 429) x3; ollama/y: connection_failed``.
    Consecutive identical failures of a candidate are counted (``x3``). With
    a single candidate (a pinned model) the last error's message is added.
    """
    groups: list[tuple[str, list[list[Any]]]] = []
    tried = False
    for attempt in attempts:
        if attempt.outcome == "ok":
            continue
        tried = tried or attempt.outcome == "failed"
        if attempt.outcome == "skipped":
            text = f"skipped ({attempt.reason})"
        else:
            text = attempt.kind or "error"
            if attempt.status is not None:
                text += f" (HTTP {attempt.status})"
        if not groups or groups[-1][0] != attempt.label:
            groups.append((attempt.label, []))
        parts = groups[-1][1]
        if parts and parts[-1][0] == text:
            parts[-1][1] += 1
        else:
            parts.append([text, 1])
    body = "; ".join(
        f"{label}: " + ", ".join(text if count == 1 else f"{text} x{count}" for text, count in parts)
        for label, parts in groups
    )
    if not tried:
        return f"no provider could take the request: {body}" if body else "no provider to try"
    if len(groups) == 1:
        # One candidate (a pinned model): its last error's own words are worth the space.
        last = next((a for a in reversed(attempts) if a.outcome == "failed"), None)
        detail = f": {last.reason}" if last is not None and last.reason else ""
        return f"the only provider failed: {body}{detail}"
    return f"all {len(groups)} providers failed: {body}"


class _Deadline(Exception):
    """Internal: the chain's deadline passed while a try was running."""


class FallbackEngine:
    """Runs chat requests and streams over a chain of candidates.

    ``client`` is what the calls go through (a :class:`~clawdesk.Clawdesk`,
    or anything with the :class:`Caller` methods); ``config`` defaults to its
    ``[fallback]`` table, and a config given here is honoured whole, its
    ``chain`` included. ``policy`` decides retries (default: built from
    ``config``); ``state`` keeps providers' health and rate budgets (default:
    the store the client's ``[state]`` table asks for, a
    :class:`~clawdesk.LocalState` of this engine's own unless it names Redis;
    ``env`` is where that table's variables are read, default
    ``os.environ``). For tests, and for
    callers with their own scheduling, time is injectable: ``clock``
    (seconds, monotonic; default :func:`time.monotonic`), ``sleep`` (an async
    function; default :func:`anyio.sleep`) and ``rng`` (draws the jitter).
    """

    def __init__(
        self,
        client: Caller,
        config: FallbackConfig | None = None,
        *,
        policy: RetryPolicy | None = None,
        state: StateStore | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[Any]] = anyio.sleep,
        rng: random.Random | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.client = client
        self.config = config if config is not None else client.config.fallback
        cfg = self.config
        self.policy = (
            policy
            if policy is not None
            else RetryPolicy(
                max_retries=cfg.max_retries_per_provider,
                backoff_base_secs=cfg.backoff_base_secs,
                backoff_max_secs=cfg.backoff_max_secs,
                max_retry_after_secs=cfg.max_retry_after_secs,
                stop_on_invalid_request=cfg.stop_on_invalid_request,
            )
        )
        self.state: StateStore = state if state is not None else make_state(client.config.state, cfg, clock, env=env)
        self._clock = clock
        self._sleep = sleep
        self._rng = rng if rng is not None else random.Random()

    async def cooldown_remaining(self, provider: str) -> float:
        """Seconds ``provider`` is still cooling down for (0.0: not cooling down)."""
        return await self.state.cooldown_remaining(provider)

    # -- public calls ------------------------------------------------------------

    def candidates(self, model: Models, fallbacks: Sequence[str] = ()) -> list[str]:
        """The chain entries for a call.

        ``model`` as :meth:`chat` takes it: one ``provider/model`` (pinned),
        a list (a chain for this call), or ``None`` (this engine's
        ``chain``, else the client's default candidates); ``fallbacks`` are
        appended.
        """
        if model is None:
            entries = list(self.config.chain) if self.config.chain else self.client.default_candidates()
        elif isinstance(model, str):
            entries = [model]
        else:
            entries = list(model)
            if not entries:
                raise ValueError("a chain of models must not be empty")
            for entry in entries:
                if not isinstance(entry, str):
                    raise TypeError(f"a chain holds model ids (str), got {type(entry).__name__}")
        return entries + list(fallbacks)

    async def chat(
        self,
        model: Models,
        messages: str | Message | Iterable[Message],
        options: ChatOptions | None = None,
        *,
        fallbacks: Sequence[str] = (),
        on_attempt: Callable[[Attempt], None] | None = None,
    ) -> ChatResult:
        """Get one whole answer from the first candidate that gives one.

        ``model`` pins one ``provider/model`` (or ``provider``: its default
        model; the provider's own ``max_retries`` applies), names a chain for
        this call (a list of entries, each retried up to
        ``max_retries_per_provider``), or is ``None`` for the configured
        chain; ``fallbacks`` adds entries after it. A pinned model that
        cannot be resolved raises its error (:class:`~clawdesk.ProviderNotFound`,
        ...) as is; a chain entry that cannot be resolved is recorded as
        skipped. ``on_attempt`` is called with each :class:`Attempt` as soon
        as it is recorded.

        Raises :class:`~clawdesk.AllProvidersFailed` when every candidate
        failed or was skipped (the deadline included), and
        :class:`~clawdesk.InvalidRequest` as is when the request itself is
        wrong (with ``stop_on_invalid_request``, the default).
        """
        record = RunRecord()
        target, response = await self._run(
            model,
            fallbacks,
            messages,
            options,
            stream=False,
            call=self.client.chat_target,
            record=record,
            on_attempt=on_attempt,
        )
        limit = self.config.limits.get(target.provider) if self.config.limits else None
        if limit is not None and limit.tokens_per_minute:
            await self._charge(target.provider, limit, response.usage)
        return ChatResult(response, target, tuple(record.attempts))

    def stream(
        self,
        model: Models,
        messages: str | Message | Iterable[Message],
        options: ChatOptions | None = None,
        *,
        fallbacks: Sequence[str] = (),
        on_attempt: Callable[[Attempt], None] | None = None,
    ) -> ChatStream:
        """Stream the answer of the first candidate that starts one.

        Candidates are tried (and retried) until one delivers its first event;
        from then on that candidate is committed: a later failure raises
        :class:`~clawdesk.StreamInterrupted` holding every event delivered,
        and nothing is restarted or delivered twice. The returned stream's
        ``attempts`` and ``target`` are filled in as it runs (``target`` is
        set once the first event is out). The deadline covers the time until
        the first event. Same arguments and errors as :meth:`chat`;
        ``on_attempt`` is also called with the replaced record when a started
        stream fails.
        """
        record = RunRecord()
        kept: list[StreamEvent] = []  # filled by _stream_events as it yields: no keeping layer in ChatStream
        return ChatStream(
            self._stream_events(record, model, fallbacks, messages, options, on_attempt, kept), record=record, kept=kept
        )

    # -- the loop ----------------------------------------------------------------

    async def _stream_events(
        self,
        record: RunRecord,
        model: Models,
        fallbacks: Sequence[str],
        messages: str | Message | Iterable[Message],
        options: ChatOptions | None,
        on_attempt: Callable[[Attempt], None] | None,
        kept: list[StreamEvent],
    ) -> AsyncIterator[StreamEvent]:
        async def open_first(target: Target, request: ChatRequest) -> tuple[ChatStream, StreamEvent]:
            inner = self.client.stream_target(target, request)
            try:
                first = await inner.__anext__()
            except StopAsyncIteration:
                await _close(inner)
                raise ApiError("the stream ended before its first event", provider=target.provider) from None
            except BaseException:
                await _close(inner)
                raise
            return inner, first

        target, (inner, first) = await self._run(
            model,
            fallbacks,
            messages,
            options,
            stream=True,
            call=open_first,
            record=record,
            on_attempt=on_attempt,
        )
        record.target = target
        events = inner.events  # the guarded generator itself: one layer less per event
        limit = self.config.limits.get(target.provider) if self.config.limits else None
        metered = limit is not None and bool(limit.tokens_per_minute)
        try:
            if metered and isinstance(first, UsageEvent):
                assert limit is not None
                await self._charge(target.provider, limit, first.usage)
            keep = kept.append
            keep(first)
            yield first
            if not metered:
                async for event in events:
                    keep(event)
                    yield event
            else:
                assert limit is not None
                async for event in events:
                    if isinstance(event, UsageEvent):
                        await self._charge(target.provider, limit, event.usage)
                    keep(event)
                    yield event
        except StreamInterrupted as exc:
            # The committed try turns out to have failed after all: correct its record.
            await self.state.note_failure(target.provider, exc.kind)
            ok = record.attempts[-1]
            failed = Attempt(
                provider=ok.provider,
                model=ok.model,
                outcome="failed",
                kind=exc.kind,
                status=exc.status,
                reason=exc.detail,
                number=ok.number,
                wait_secs=ok.wait_secs,
                duration_secs=ok.duration_secs,
                error=exc,
            )
            record.attempts[-1] = failed
            _log(failed)
            if on_attempt is not None:
                on_attempt(failed)
            raise
        finally:
            await _close(inner)

    async def _run(
        self,
        model: Models,
        fallbacks: Sequence[str],
        messages: str | Message | Iterable[Message],
        options: ChatOptions | None,
        *,
        stream: bool,
        call: Callable[[Target, ChatRequest], Awaitable[T]],
        record: RunRecord,
        on_attempt: Callable[[Attempt], None] | None,
    ) -> tuple[Target, T]:
        cfg = self.config
        start = self._clock()
        message_tuple = as_messages(messages)
        opts = options if options is not None else ChatOptions()
        entries = self.candidates(model, fallbacks)
        pinned = isinstance(model, str) and not fallbacks
        needed = (
            required_capabilities(ChatRequest("", message_tuple, opts), stream=stream)
            if cfg.strategy == "capability-match"
            else frozenset()
        )
        attempts = record.attempts

        def note(attempt: Attempt) -> None:
            attempts.append(attempt)
            _log(attempt)
            if on_attempt is not None:
                on_attempt(attempt)

        def left() -> float:
            if cfg.deadline_secs is None:
                return math.inf
            return cfg.deadline_secs - (self._clock() - start)

        for index, entry in enumerate(entries):
            try:
                target = self.client.resolve(entry)
                provider_config = self.client.provider_config(target.provider)
            except ClawdeskError as exc:
                if pinned:
                    raise
                note(_skip_entry(entry, exc))
                continue
            if left() <= 0:
                for rest in entries[index:]:
                    note(_skip_entry(rest, None, kind="deadline", reason="the deadline was reached first"))
                break
            cooling = await self.state.cooldown_remaining(target.provider)
            if cooling > 0:
                note(_skipped(target, "cooling_down", f"cooling down for another {cooling:.1f}s"))
                continue
            if cfg.strategy == "capability-match":
                try:
                    lacking = missing_capabilities(needed, self.client.capabilities(target))
                except ClawdeskError as exc:
                    note(_skipped(target, _kind(exc), f"capabilities unknown: {exc}", error=exc))
                    continue
                if lacking:
                    note(_skipped(target, "capability_missing", describe_missing(lacking)))
                    continue
            request = ChatRequest(target.model, message_tuple, opts)
            # A pinned model has no other candidate to move on to: its own provider's max_retries
            # applies; in a chain every candidate gets the chain's max_retries_per_provider.
            policy = self.policy
            if pinned and provider_config.max_retries != policy.max_retries:
                policy = _with_retries(policy, provider_config.max_retries)
            limit = cfg.limits.get(target.provider) if cfg.limits else None
            number, wait = 0, 0.0
            while True:
                if limit is not None:
                    admission = await self._admit(target, limit, left())
                    if not admission.granted:
                        # A retry's backoff was already waited: it stays on the record, on the skip.
                        note(_skipped(target, "rate_budget", _over_budget(limit, admission.wait), wait=wait))
                        break
                    wait += admission.wait
                number += 1
                began = self._clock()
                error: ClawdeskError
                try:
                    result = await _within(left(), call(target, request))
                except _Deadline:
                    assert cfg.deadline_secs is not None
                    error = TimedOut(
                        f"the chain's deadline of {cfg.deadline_secs:g}s was reached", provider=target.provider
                    )
                    await self.state.note_failure(target.provider, error.kind)
                    note(_failed(target, error, number, wait, self._clock() - began))
                    for rest in entries[index + 1 :]:
                        note(_skip_entry(rest, None, kind="deadline", reason="the deadline was reached first"))
                    raise AllProvidersFailed(summarize(attempts), attempts=attempts) from None
                except StreamInterrupted:
                    raise  # cannot happen before the first event; never retried or failed over anyway
                except ClawdeskError as exc:
                    error = exc
                else:
                    await self.state.note_success(target.provider)
                    note(
                        Attempt(
                            provider=target.provider,
                            model=target.model,
                            outcome="ok",
                            number=number,
                            wait_secs=wait,
                            duration_secs=self._clock() - began,
                        )
                    )
                    return target, result
                duration = self._clock() - began
                if not _ours(error):
                    await self.state.note_failure(target.provider, _kind(error))
                note(_failed(target, error, number, wait, duration))
                decision = policy.decide(error, number, self._rng)
                if decision.action == "stop":
                    raise error
                if decision.action == "next":
                    break
                wait = decision.wait
                if wait >= left():
                    break  # waiting would overshoot the deadline; try the next candidate instead
                await self._sleep(wait)
        raise AllProvidersFailed(summarize(attempts), attempts=attempts)

    async def _admit(self, target: Target, limit: RateLimit, left: float) -> Admission:
        """A slot of ``target``'s rate budget, waited for when granted; refused when it is too far away."""
        max_wait = limit.max_wait
        if left != math.inf:
            # Never wait into the deadline: a slot at or past it is refused (and so not taken).
            max_wait = min(max_wait, math.nextafter(max(left, 0.0), -math.inf))
        admission = await self.state.acquire(target.provider, limit, max(max_wait, 0.0))
        if admission.granted and admission.wait > 0:
            await self._sleep(admission.wait)
        return admission

    async def _charge(self, provider: str, limit: RateLimit, usage: Usage | None) -> None:
        if usage is None:
            return
        tokens = (usage.input_tokens or 0) + (usage.output_tokens or 0)
        if tokens > 0:
            await self.state.note_usage(provider, limit, tokens)


def _over_budget(limit: RateLimit, wait: float) -> str:
    what = []
    if limit.requests_per_minute:
        what.append(f"requests_per_minute = {limit.requests_per_minute:g}")
    if limit.tokens_per_minute:
        what.append(f"tokens_per_minute = {limit.tokens_per_minute:g}")
    return f"over its rate budget ({', '.join(what)}): the next slot is {wait:.1f}s away"


_policies: dict[tuple[RetryPolicy, int], RetryPolicy] = {}


def _with_retries(policy: RetryPolicy, retries: int) -> RetryPolicy:
    # Pinned calls ask for the same few variants over and over: build each once.
    key = (policy, retries)
    found = _policies.get(key)
    if found is None:
        import attrs

        found = _policies[key] = attrs.evolve(policy, max_retries=retries)
    return found


def _ours(error: ClawdeskError) -> bool:
    """Whether ``error`` is this client's own limit (no free connection in its pool), not the provider's failure."""
    return isinstance(error, TimedOut) and error.limit == "pool"


def _log(attempt: Attempt) -> None:
    level = logging.DEBUG if attempt.outcome == "ok" else logging.INFO
    if log.isEnabledFor(level):
        log.log(level, "%s", attempt)


async def _within(seconds: float, awaitable: Awaitable[T]) -> T:
    """Await ``awaitable``, cancelling it after ``seconds`` (raising :class:`_Deadline`)."""
    if seconds == math.inf:
        return await awaitable
    with anyio.CancelScope(deadline=anyio.current_time() + max(seconds, 0.0)) as scope:
        return await awaitable
    # Only reached when the scope swallowed its own cancellation.
    if scope.cancelled_caught:
        raise _Deadline
    raise AssertionError("unreachable")  # pragma: no cover


async def _close(stream: ChatStream) -> None:
    with anyio.CancelScope(shield=True):
        await stream.aclose()


def _skipped(
    target: Target, kind: str, reason: str, *, error: ClawdeskError | None = None, wait: float = 0.0
) -> Attempt:
    return Attempt(
        provider=target.provider,
        model=target.model,
        outcome="skipped",
        kind=kind,
        reason=reason,
        wait_secs=wait,
        error=error,
    )


def _skip_entry(
    entry: str, error: ClawdeskError | None, *, kind: str | None = None, reason: str | None = None
) -> Attempt:
    try:
        provider, model = parse_model_id(entry)
    except InvalidModelId:
        provider, model = entry, None
    return Attempt(
        provider=provider,
        model=model,
        outcome="skipped",
        kind=kind if error is None else _kind(error),
        reason=reason if reason is not None else (error.message if error is not None else None),
        error=error,
    )


def _failed(target: Target, error: ClawdeskError, number: int, wait: float, duration: float) -> Attempt:
    return Attempt(
        provider=target.provider,
        model=target.model,
        outcome="failed",
        kind=_kind(error),
        status=getattr(error, "status", None),
        reason=getattr(error, "detail", None) or error.message,
        number=number,
        wait_secs=wait,
        duration_secs=duration,
        error=error,
    )
