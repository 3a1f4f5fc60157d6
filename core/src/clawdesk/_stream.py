"""What a chat call hands back before it is over: :class:`Target` and :class:`ChatStream`.

Kept apart from the client and the fallback engine so that both use them
without importing each other.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any

from attrs import frozen

from ._messages import MessageLike, message_from_dict
from ._types import (
    ChatResponse,
    ContentPart,
    Finish,
    Message,
    ReasoningDelta,
    ReasoningPart,
    Role,
    StreamEvent,
    TextDelta,
    TextPart,
    ToolCall,
    ToolCallEvent,
    Usage,
    UsageEvent,
)

if TYPE_CHECKING:
    from ._fallback import Attempt

__all__ = ["ChatStream", "RunRecord", "Target", "as_messages", "response_from_events"]


@frozen
class Target:
    """A resolved model id: the provider (or named instance) and its local model id."""

    provider: str
    model: str

    def __str__(self) -> str:
        return f"{self.provider}/{self.model}"


class RunRecord:
    """What a run through the fallback engine has found so far: who answers, and every try.

    The engine owns and fills it; a :class:`ChatStream` only reads it.
    """

    __slots__ = ("attempts", "target")

    def __init__(self, target: Target | None = None) -> None:
        self.target = target
        self.attempts: list[Attempt] = []


def as_messages(messages: str | MessageLike | Iterable[MessageLike]) -> tuple[Message, ...]:
    """``messages`` as a tuple of :class:`~clawdesk.Message`.

    A plain string is one user message; a dict (or a list mixing dicts and
    :class:`~clawdesk.Message` objects) is converted as
    :func:`~clawdesk._messages.message_from_dict` describes (OpenAI-style or
    clawdesk's own JSON shape), with errors naming the key path
    (``messages[2].content[0].text: expected a string``). Raises
    ``ValueError`` for an empty list or a bad dict, ``TypeError`` for a value
    that is neither.
    """
    if isinstance(messages, str):
        return (Message.user(messages),)
    if isinstance(messages, Message):
        return (messages,)
    if isinstance(messages, Mapping):
        return (message_from_dict(messages, "messages[0]"),)
    result = tuple(
        item if isinstance(item, Message) else message_from_dict(item, f"messages[{i}]")
        for i, item in enumerate(messages)
    )
    if not result:
        raise ValueError("messages must not be empty")
    return result


def response_from_events(events: Iterable[StreamEvent], *, provider: str, model: str) -> ChatResponse:
    """The whole answer a stream's ``events`` make up, as :meth:`Clawdesk.chat` would have returned it.

    Text deltas join into :class:`~clawdesk.TextPart` and reasoning deltas
    into :class:`~clawdesk.ReasoningPart`, in the order they came; a delta
    carrying a ``signature`` (or, for reasoning, ``redacted`` data) closes
    the part it belongs to, which keeps them. Empty deltas that carry nothing
    add nothing. Tool calls, the usage and the :class:`~clawdesk.Finish`
    (reason, raw reason, request id) fill the rest. Raises ``ValueError``
    when ``events`` has no ``Finish`` (a stream not read to its end).
    """
    parts: list[ContentPart] = []
    calls: list[ToolCall] = []
    usage = Usage()
    finish: Finish | None = None
    texts: list[str] = []
    # The open part's kind: "text", "reasoning" or None; its texts are in `texts`.
    open_kind: str | None = None
    source: str | None = None

    def close() -> None:
        nonlocal open_kind, source
        if open_kind == "text":
            parts.append(TextPart("".join(texts)))
        elif open_kind == "reasoning":
            parts.append(ReasoningPart("".join(texts), source=source))
        texts.clear()
        open_kind, source = None, None

    for event in events:
        kind = type(event)
        if kind is TextDelta:
            assert isinstance(event, TextDelta)
            if not event.text and event.signature is None:
                continue
            if open_kind != "text":
                close()
            if event.signature is not None:
                texts.append(event.text)
                parts.append(TextPart("".join(texts), signature=event.signature))
                texts.clear()
                open_kind = None
            else:
                texts.append(event.text)
                open_kind = "text"
        elif kind is ReasoningDelta:
            assert isinstance(event, ReasoningDelta)
            if not event.text and event.signature is None and event.redacted is None:
                continue
            if open_kind != "reasoning":
                close()
            source = source if source is not None else event.source
            if event.signature is not None or event.redacted is not None:
                texts.append(event.text)
                part = ReasoningPart("".join(texts), signature=event.signature, redacted=event.redacted, source=source)
                parts.append(part)
                texts.clear()
                open_kind, source = None, None
            else:
                texts.append(event.text)
                open_kind = "reasoning"
        elif kind is ToolCallEvent:
            assert isinstance(event, ToolCallEvent)
            calls.append(event.call)
        elif kind is UsageEvent:
            assert isinstance(event, UsageEvent)
            usage = event.usage
        elif kind is Finish:
            assert isinstance(event, Finish)
            finish = event
    close()
    if finish is None:
        raise ValueError("the stream has not finished (no Finish event): read it to the end first")
    return ChatResponse(
        message=Message(Role.ASSISTANT, tuple(parts), tool_calls=tuple(calls)),
        finish_reason=finish.reason,
        finish_reason_raw=finish.raw,
        usage=usage,
        provider=provider,
        model=model,
        request_id=finish.request_id,
    )


class ChatStream:
    """An async iterator of :data:`~clawdesk.StreamEvent` that is also an async context manager.

    Leaving the ``async with`` block (or calling :meth:`aclose`) closes the
    provider's HTTP response, also when the stream was not read to the end.
    ``target`` is the provider/model that answers (``None`` until a stream
    from a fallback chain has started); ``attempts`` every try and skip so far.

    The events read through it are kept, so that once the stream is over
    :attr:`response` is the whole answer as a :class:`~clawdesk.ChatResponse`
    (text, reasoning, tool calls, usage, finish), with no ``isinstance``
    loop of your own. :meth:`collect` reads what is left and returns it;
    :meth:`texts` yields only the text.
    """

    __slots__ = ("_events", "_iterator", "_record", "_response", "_seen")

    def __init__(self, events: AsyncIterator[Any], *, record: RunRecord, kept: list[StreamEvent] | None = None) -> None:
        # ``kept``: a list that ``events`` itself appends each event to as it yields it; then the
        # stream iterates ``events`` directly instead of through a generator of its own that keeps them.
        self._events = events
        self._record = record
        self._seen: list[StreamEvent] = [] if kept is None else kept
        self._iterator: AsyncIterator[StreamEvent] | None = None if kept is None else events
        self._response: ChatResponse | None = None

    @property
    def target(self) -> Target | None:
        """Who answers: set when the stream starts (at once for a single-target stream)."""
        return self._record.target

    @property
    def attempts(self) -> tuple[Attempt, ...]:
        """The :class:`~clawdesk.Attempt` records so far, in order (empty for a single-target stream)."""
        return tuple(self._record.attempts)

    @property
    def events(self) -> AsyncIterator[Any]:
        """The underlying async iterator of events (what is read from it directly may not be kept for ``response``)."""
        return self._events

    @property
    def done(self) -> bool:
        """Whether the stream's last event, its :class:`~clawdesk.Finish`, has been read."""
        return bool(self._seen) and type(self._seen[-1]) is Finish

    @property
    def response(self) -> ChatResponse:
        """The whole answer, once the stream was read to its end (see :func:`response_from_events`).

        Raises ``RuntimeError`` before that: read the stream to the end or
        ``await stream.collect()``.
        """
        if self._response is None:
            if not self.done:
                raise RuntimeError("the stream is not finished: read it to the end, or await stream.collect()")
            target = self._record.target
            provider, model = (target.provider, target.model) if target is not None else ("", "")
            self._response = response_from_events(self._seen, provider=provider, model=model)
        return self._response

    async def collect(self) -> ChatResponse:
        """Read the rest of the stream and return the whole answer (events read before count too).

        Errors are the stream's own: :class:`~clawdesk.StreamInterrupted`
        after events were delivered, :class:`~clawdesk.AllProvidersFailed`
        before. Leaves the stream closed.
        """
        try:
            async for _ in self:
                pass
        finally:
            await self.aclose()
        return self.response

    async def texts(self) -> AsyncIterator[str]:
        """Yield the text of each :class:`~clawdesk.TextDelta` (other events are kept for :attr:`response`)."""
        async for event in self:
            if type(event) is TextDelta:
                assert isinstance(event, TextDelta)
                if event.text:
                    yield event.text

    def __aiter__(self) -> AsyncIterator[StreamEvent]:
        # The events themselves when they keep themselves (kept=...), else one thin generator that keeps
        # each event (a list append) on top of them.
        if self._iterator is None:
            self._iterator = self._kept()
        return self._iterator

    async def _kept(self) -> AsyncIterator[StreamEvent]:
        seen = self._seen
        async for event in self._events:
            seen.append(event)
            yield event

    async def __anext__(self) -> StreamEvent:
        if self._iterator is not None:
            return await self._iterator.__anext__()
        event: StreamEvent = await self._events.__anext__()
        self._seen.append(event)
        return event

    async def aclose(self) -> None:
        """Stop the stream and release its connection (idempotent)."""
        iterator = self._iterator
        if iterator is not None:
            close = getattr(iterator, "aclose", None)
            if close is not None:
                await close()
        aclose = getattr(self._events, "aclose", None)
        if aclose is not None:
            await aclose()

    async def __aenter__(self) -> ChatStream:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()
