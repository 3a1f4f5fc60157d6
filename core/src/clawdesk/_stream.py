"""What a chat call hands back before it is over: :class:`Target` and :class:`ChatStream`.

Kept apart from the client and the fallback engine so that both use them
without importing each other.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from types import TracebackType
from typing import TYPE_CHECKING, Any

from attrs import frozen

from ._types import Message

if TYPE_CHECKING:
    from ._fallback import Attempt

__all__ = ["ChatStream", "RunRecord", "Target", "as_messages"]


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


def as_messages(messages: str | Message | Iterable[Message]) -> tuple[Message, ...]:
    """``messages`` as a tuple of :class:`~clawdesk.Message`; a plain string is one user message."""
    if isinstance(messages, str):
        return (Message.user(messages),)
    if isinstance(messages, Message):
        return (messages,)
    result = tuple(messages)
    for item in result:
        if not isinstance(item, Message):
            raise TypeError(f"messages must be Message objects, got {type(item).__name__}")
    if not result:
        raise ValueError("messages must not be empty")
    return result


class ChatStream:
    """An async iterator of :data:`~clawdesk.StreamEvent` that is also an async context manager.

    Leaving the ``async with`` block (or calling :meth:`aclose`) closes the
    provider's HTTP response, also when the stream was not read to the end.
    ``target`` is the provider/model that answers (``None`` until a stream
    from a fallback chain has started); ``attempts`` every try and skip so far.
    """

    __slots__ = ("_events", "_record")

    def __init__(self, events: AsyncIterator[Any], *, record: RunRecord) -> None:
        self._events = events
        self._record = record

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
        """The underlying async iterator of events (what ``async for`` walks)."""
        return self._events

    def __aiter__(self) -> AsyncIterator[Any]:
        # The events themselves, not this wrapper: `async for` then skips one layer per event
        # (~3% of streaming throughput). aclose() still goes through this object.
        return self._events

    async def __anext__(self) -> Any:
        return await self._events.__anext__()

    async def aclose(self) -> None:
        """Stop the stream and release its connection (idempotent)."""
        aclose = getattr(self._events, "aclose", None)
        if aclose is not None:
            await aclose()

    async def __aenter__(self) -> ChatStream:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()
