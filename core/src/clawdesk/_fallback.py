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

All state (cooldowns) lives in the engine object; a :class:`~clawdesk.Clawdesk`
keeps one engine for its life.
"""

from __future__ import annotations

import math
import random
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import anyio
from attrs import field, frozen

from ._client import ChatStream, Target, _as_messages
from ._config import FallbackConfig
from ._errors import (
    AllProvidersFailed,
    ApiError,
    ClawdeskError,
    ConfigError,
    InvalidModelId,
    InvalidRequest,
    PluginError,
    ProviderError,
    ProviderNotFound,
    RateLimited,
    StreamInterrupted,
    Timeout,
)
from ._modelid import parse_model_id
from ._negotiate import describe_missing, missing_capabilities, required_capabilities
from ._types import ChatOptions, ChatRequest, ChatResponse, Message, StreamEvent

if TYPE_CHECKING:
    from ._client import Clawdesk

__all__ = ["Attempt", "ChatResult", "FallbackEngine", "default_candidates", "summarize"]

T = TypeVar("T")

Outcome = Literal["ok", "failed", "skipped"]

#: Failures that say something about the request or the model, not about the
#: provider's health: they never count towards a cooldown.
_NOT_HEALTH = frozenset({"invalid_request", "capability_missing", "model_not_found"})


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


def default_candidates(client: Clawdesk) -> list[str]:
    """The chain used when no model is named.

    The ``[fallback] chain`` if set; else ``default_model``; else the providers
    that have a ``[providers.*]`` table; else every loaded provider that needs
    no key (Ollama, the local default) followed by those whose key is set.
    Raises :class:`~clawdesk.ConfigError` when that leaves nothing.
    """
    config = client.config
    if config.fallback.chain:
        return list(config.fallback.chain)
    if config.default_model:
        return [config.default_model]
    loaded = client.providers()
    configured = [name for name in config.providers if name in loaded]
    if configured:
        return configured
    keyless, keyed = [], []
    for name in loaded:
        provider = client.registry.provider(name)
        if not provider.config_type.requires_api_key:
            keyless.append(name)
            continue
        try:
            has_key = bool(client.provider_config(name).api_key)
        except ConfigError:
            has_key = True  # listed, so its skip reason shows the config error
        if has_key:
            keyed.append(name)
    candidates = keyless + keyed
    if not candidates:
        raise ConfigError(
            "no provider to use: install clawdesk-ollama and start Ollama, or configure a provider "
            "(e.g. set MISTRAL_API_KEY) and pass -m PROVIDER/MODEL"
        )
    return candidates


class _Deadline(Exception):
    """Internal: the chain's deadline passed while a try was running."""


class FallbackEngine:
    """Runs chat requests and streams over a chain of candidates.

    ``client`` is the :class:`~clawdesk.Clawdesk` whose providers are used;
    ``config`` defaults to its ``[fallback]`` table. For tests (and for
    callers with their own scheduling) everything time-related is injectable:
    ``clock`` (seconds, monotonic; default :func:`time.monotonic`), ``sleep``
    (an async function; default :func:`anyio.sleep`) and ``rng`` (the
    :class:`random.Random` that draws the jitter).

    Cooldown state (recent failures, providers cooling down) lives in this
    object; use one engine per client to share it across calls.
    """

    def __init__(
        self,
        client: Clawdesk,
        config: FallbackConfig | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[Any]] = anyio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.client = client
        self.config = config if config is not None else client.config.fallback
        self._clock = clock
        self._sleep = sleep
        self._rng = rng if rng is not None else random.Random()
        self._failures: dict[str, deque[float]] = {}
        self._cooldown_until: dict[str, float] = {}

    # -- cooldown ----------------------------------------------------------------

    def cooldown_remaining(self, provider: str) -> float:
        """Seconds ``provider`` is still cooling down for (0.0: not cooling down)."""
        until = self._cooldown_until.get(provider)
        if until is None:
            return 0.0
        left = until - self._clock()
        if left <= 0:
            del self._cooldown_until[provider]
            return 0.0
        return left

    def _note_failure(self, provider: str, kind: str) -> None:
        cfg = self.config
        if kind in _NOT_HEALTH or cfg.cooldown_failures <= 0 or cfg.cooldown_secs <= 0:
            return
        now = self._clock()
        recent = self._failures.setdefault(provider, deque())
        recent.append(now)
        while recent and now - recent[0] > cfg.cooldown_window_secs:
            recent.popleft()
        if len(recent) >= cfg.cooldown_failures:
            self._cooldown_until[provider] = now + cfg.cooldown_secs
            recent.clear()

    def _note_success(self, provider: str) -> None:
        self._failures.pop(provider, None)

    # -- public calls ------------------------------------------------------------

    def candidates(self, model: str | None) -> list[str]:
        """The chain entries for ``model``: just ``model`` when given, else :func:`default_candidates`."""
        return [model] if model is not None else default_candidates(self.client)

    async def chat(
        self,
        model: str | None,
        messages: str | Message | Iterable[Message],
        options: ChatOptions | None = None,
        *,
        on_attempt: Callable[[Attempt], None] | None = None,
    ) -> ChatResult:
        """Get one whole answer from the first candidate that gives one.

        ``model`` pins one ``provider/model`` (or ``provider``: its default
        model; retries still apply); ``None`` uses the configured chain. A
        pinned model that cannot be resolved raises its error
        (:class:`~clawdesk.ProviderNotFound`, ...) as is; a chain entry that
        cannot be resolved is recorded as skipped. ``on_attempt`` is called
        with each :class:`Attempt` as soon as it is recorded.

        Raises :class:`~clawdesk.AllProvidersFailed` when every candidate
        failed or was skipped (the deadline included), and
        :class:`~clawdesk.InvalidRequest` as is when the request itself is
        wrong (with ``stop_on_invalid_request``, the default).
        """
        attempts: list[Attempt] = []
        target, response = await self._run(
            model,
            messages,
            options,
            stream=False,
            call=self.client.chat_target,
            attempts=attempts,
            on_attempt=on_attempt,
        )
        return ChatResult(response, target, tuple(attempts))

    def stream(
        self,
        model: str | None,
        messages: str | Message | Iterable[Message],
        options: ChatOptions | None = None,
        *,
        on_attempt: Callable[[Attempt], None] | None = None,
    ) -> ChatStream:
        """Stream the answer of the first candidate that starts one.

        Candidates are tried (and retried) until one delivers its first event;
        from then on that candidate is committed: a later failure raises
        :class:`~clawdesk.StreamInterrupted` holding every event delivered,
        and nothing is restarted or delivered twice. The returned stream's
        ``attempts`` and ``target`` are filled in as it runs (``target`` is
        set once the first event is out). The deadline covers the time until
        the first event. Same errors as :meth:`chat`; ``on_attempt`` is also
        called with the replaced record when a started stream fails.
        """
        # The generator fills in the stream's target and attempts; it runs only once iterated, so the
        # stream exists by then.
        holder: list[ChatStream] = []
        stream = ChatStream(self._stream_events(holder, model, messages, options, on_attempt))
        holder.append(stream)
        return stream

    # -- the loop ----------------------------------------------------------------

    async def _stream_events(
        self,
        holder: list[ChatStream],
        model: str | None,
        messages: str | Message | Iterable[Message],
        options: ChatOptions | None,
        on_attempt: Callable[[Attempt], None] | None,
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

        stream = holder[0]
        target, (inner, first) = await self._run(
            model,
            messages,
            options,
            stream=True,
            call=open_first,
            attempts=stream._attempts,
            on_attempt=on_attempt,
        )
        stream._target = target
        events = inner._events  # the guarded generator itself: one layer less per event
        try:
            yield first
            async for event in events:
                yield event
        except StreamInterrupted as exc:
            # The committed try turns out to have failed after all: correct its record.
            self._note_failure(target.provider, exc.kind)
            ok = stream._attempts[-1]
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
            stream._attempts[-1] = failed
            if on_attempt is not None:
                on_attempt(failed)
            raise
        finally:
            await _close(inner)

    async def _run(
        self,
        model: str | None,
        messages: str | Message | Iterable[Message],
        options: ChatOptions | None,
        *,
        stream: bool,
        call: Callable[[Target, ChatRequest], Awaitable[T]],
        attempts: list[Attempt],
        on_attempt: Callable[[Attempt], None] | None,
    ) -> tuple[Target, T]:
        cfg = self.config
        start = self._clock()
        message_tuple = _as_messages(messages)
        opts = options if options is not None else ChatOptions()
        pinned = model is not None
        needed = (
            required_capabilities(ChatRequest("", message_tuple, opts), stream=stream)
            if cfg.strategy == "capability-match"
            else frozenset()
        )

        def record(attempt: Attempt) -> None:
            attempts.append(attempt)
            if on_attempt is not None:
                on_attempt(attempt)

        def left() -> float:
            if cfg.deadline_secs is None:
                return math.inf
            return cfg.deadline_secs - (self._clock() - start)

        entries = self.candidates(model)
        for index, entry in enumerate(entries):
            try:
                target = self.client.resolve(entry)
                self.client.provider_config(target.provider)
            except ClawdeskError as exc:
                if pinned:
                    raise
                record(_skip_entry(entry, exc))
                continue
            if left() <= 0:
                for rest in entries[index:]:
                    record(_skip_entry(rest, None, kind="deadline", reason="the deadline was reached first"))
                break
            cooling = self.cooldown_remaining(target.provider)
            if cooling > 0:
                record(_skipped(target, "cooling_down", f"cooling down for another {cooling:.1f}s"))
                continue
            if cfg.strategy == "capability-match":
                try:
                    lacking = missing_capabilities(needed, self.client.capabilities(target))
                except ClawdeskError as exc:
                    record(_skipped(target, _kind(exc), f"capabilities unknown: {exc}", error=exc))
                    continue
                if lacking:
                    record(_skipped(target, "capability_missing", describe_missing(lacking)))
                    continue
            request = ChatRequest(target.model, message_tuple, opts)
            # A pinned model has no other candidate to move on to: its own provider's max_retries
            # applies; in a chain every candidate gets the chain's max_retries_per_provider.
            retries = (
                self.client.provider_config(target.provider).max_retries if pinned else cfg.max_retries_per_provider
            )
            number, wait = 0, 0.0
            while True:
                number += 1
                began = self._clock()
                error: ClawdeskError
                try:
                    result = await _within(left(), call(target, request))
                except _Deadline:
                    assert cfg.deadline_secs is not None
                    error = Timeout(
                        f"the chain's deadline of {cfg.deadline_secs:g}s was reached", provider=target.provider
                    )
                    self._note_failure(target.provider, error.kind)
                    record(_failed(target, error, number, wait, self._clock() - began))
                    for rest in entries[index + 1 :]:
                        record(_skip_entry(rest, None, kind="deadline", reason="the deadline was reached first"))
                    raise AllProvidersFailed(summarize(attempts), attempts=attempts) from None
                except StreamInterrupted:
                    raise  # cannot happen before the first event; never retried or failed over anyway
                except ClawdeskError as exc:
                    error = exc
                else:
                    self._note_success(target.provider)
                    record(
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
                kind = _kind(error)
                self._note_failure(target.provider, kind)
                record(_failed(target, error, number, wait, duration))
                if isinstance(error, InvalidRequest) and cfg.stop_on_invalid_request:
                    raise error
                if not (isinstance(error, ProviderError) and error.retryable) or number > retries:
                    break
                if isinstance(error, RateLimited) and error.retry_after is not None:
                    if error.retry_after > cfg.max_retry_after_secs:
                        break  # a longer wait than configured: the next candidate now is better
                    wait = error.retry_after
                else:
                    cap = min(cfg.backoff_max_secs, cfg.backoff_base_secs * 2 ** (number - 1))
                    wait = self._rng.uniform(0.0, cap)
                if wait >= left():
                    break  # waiting would overshoot the deadline; try the next candidate instead
                await self._sleep(wait)
        raise AllProvidersFailed(summarize(attempts), attempts=attempts)


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


def _skipped(target: Target, kind: str, reason: str, *, error: ClawdeskError | None = None) -> Attempt:
    return Attempt(
        provider=target.provider, model=target.model, outcome="skipped", kind=kind, reason=reason, error=error
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
