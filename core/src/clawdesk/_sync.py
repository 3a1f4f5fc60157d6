"""A blocking wrapper around :class:`~clawdesk.Clawdesk` for scripts.

It runs one event loop in a background thread (anyio's blocking portal) for
its whole life, so HTTP connections are pooled across calls exactly as in
async code. Close it (or use ``with``) to stop the thread.

It never holds the process: the thread is a daemon, so a client that is
never closed does not keep the interpreter from exiting, and a blocking call
interrupted in the calling thread (Ctrl-C raising ``KeyboardInterrupt``)
cancels the call in the loop before the exception goes on.

Streams are blocking too: :class:`SyncChatStream` is what
:meth:`SyncClawdesk.stream` returns, the same object as the async
:class:`~clawdesk.ChatStream` with ``for`` instead of ``async for``.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar, overload

import anyio
from anyio.from_thread import BlockingPortal

from ._client import Clawdesk, Messages, ProviderModels
from ._stream import ChatStream, Target
from ._tools import ToolLike, ToolResultEvent, ToolRun, ToolStream
from ._types import ChatOptions, ChatResponse, StreamEvent, TextDelta

if TYPE_CHECKING:
    from ._fallback import Attempt, ChatResult, Models

__all__ = ["SyncChatStream", "SyncClawdesk", "SyncToolStream"]

T = TypeVar("T")
E = TypeVar("E", covariant=True)


def _call(portal: BlockingPortal, func: Callable[[], Awaitable[T]]) -> T:
    """Run ``func`` in the portal's loop and wait for it; an exception in this thread (Ctrl-C) cancels it."""
    future = portal.start_task_soon(func)
    try:
        return future.result()
    except BaseException:
        # KeyboardInterrupt arrives here, in the waiting thread, while the call goes on in the loop:
        # cancel it there too, so that it neither runs on unseen nor holds its connection.
        future.cancel()
        raise


class _Loop:
    """An event loop in a daemon thread, with a blocking portal into it."""

    def __init__(self) -> None:
        ready = threading.Event()
        portals: list[BlockingPortal] = []
        failure: list[BaseException] = []

        async def main() -> None:
            async with BlockingPortal() as portal:
                portals.append(portal)
                ready.set()
                await portal.sleep_until_stopped()

        def run() -> None:
            try:
                anyio.run(main)
            except BaseException as exc:  # noqa: BLE001 - handed to the thread that waits for start-up
                failure.append(exc)
                ready.set()

        # A daemon: an unclosed client must not keep the interpreter from exiting.
        self._thread = threading.Thread(target=run, name="clawdesk-sync", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            raise failure[0]
        self.portal = portals[0]

    def stop(self) -> None:
        """Stop the loop (cancelling what still runs in it) and wait for its thread."""
        try:
            self.portal.call(self.portal.stop, True)
        except RuntimeError:  # the loop has stopped already
            pass
        self._thread.join()


class _AsyncEvents(Protocol[E]):
    def __aiter__(self) -> AsyncIterator[E]: ...

    async def aclose(self) -> None: ...


class _SyncEvents(Generic[E]):
    """A blocking view of an async stream of events; iterate it, or use it in ``with``."""

    def __init__(self, portal: BlockingPortal, stream: _AsyncEvents[E]) -> None:
        self._portal = portal
        self._stream = stream
        self._iterator: AsyncIterator[E] | None = None

    def __iter__(self) -> Iterator[E]:
        # A generator, so that breaking out of a plain `for` (without `with`) still closes the
        # response when the generator is dropped.
        if self._iterator is None:
            self._iterator = self._stream.__aiter__()
        iterator = self._iterator
        try:
            while True:
                try:
                    yield _call(self._portal, iterator.__anext__)
                except StopAsyncIteration:
                    return
        finally:
            self.close()

    def close(self) -> None:
        """Stop the stream and release its connection (idempotent)."""
        self._portal.call(self._stream.aclose)

    def __enter__(self) -> _SyncEvents[E]:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class SyncChatStream(_SyncEvents[StreamEvent]):
    """:class:`~clawdesk.ChatStream`, blocking: ``with cd.stream(...) as events: for event in events: ...``.

    ``target``, ``attempts``, ``response`` and ``done`` are the async
    stream's; :meth:`collect` reads the rest and returns the whole answer,
    :meth:`texts` yields only the text. Leaving the ``with`` block, or
    breaking out of the loop, closes the response.
    """

    _stream: ChatStream

    def __init__(self, portal: BlockingPortal, stream: ChatStream) -> None:
        super().__init__(portal, stream)

    @property
    def target(self) -> Target | None:
        """Who answers (set once the stream has started)."""
        return self._stream.target

    @property
    def attempts(self) -> tuple[Attempt, ...]:
        """Every try and skip so far."""
        return self._stream.attempts

    @property
    def done(self) -> bool:
        """Whether the stream's last event has been read."""
        return self._stream.done

    @property
    def response(self) -> ChatResponse:
        """The whole answer once the stream is over (``RuntimeError`` before)."""
        return self._stream.response

    def collect(self) -> ChatResponse:
        """Read the rest of the stream and return the whole answer."""
        return _call(self._portal, self._stream.collect)

    def texts(self) -> Iterator[str]:
        """Yield the text of each text delta."""
        for event in self:
            if isinstance(event, TextDelta) and event.text:
                yield event.text

    def __enter__(self) -> SyncChatStream:
        return self


class SyncToolStream(_SyncEvents[StreamEvent | ToolResultEvent]):
    """:class:`~clawdesk.ToolStream`, blocking; ``run`` is the :class:`~clawdesk.ToolRun` once it is over."""

    _stream: ToolStream

    @property
    def run(self) -> ToolRun:
        return self._stream.run

    def collect(self) -> ToolRun:
        """Read the rest and return the :class:`~clawdesk.ToolRun`."""
        return _call(self._portal, self._stream.collect)

    def __enter__(self) -> SyncToolStream:
        return self


class SyncClawdesk:
    """The same calls as :class:`~clawdesk.Clawdesk`, blocking. Takes the same keyword arguments."""

    def __init__(self, **kwargs: Any) -> None:
        self._client = Clawdesk(**kwargs)
        self._loop = _Loop()
        self._portal = self._loop.portal
        self._closed = False

    @property
    def client(self) -> Clawdesk:
        """The async client underneath."""
        return self._client

    def providers(self) -> list[str]:
        return self._client.providers()

    def models(self, provider: str | None = None, *, refresh: bool = False) -> list[ProviderModels]:
        return _call(self._portal, lambda: self._client.models(provider, refresh=refresh))

    def chat(
        self, model: Models, messages: Messages, options: ChatOptions | None = None, *, fallbacks: Sequence[str] = ()
    ) -> ChatResponse:
        """:meth:`Clawdesk.chat`, blocking."""
        return _call(self._portal, lambda: self._client.chat(model, messages, options, fallbacks=fallbacks))

    def chat_with_attempts(
        self, model: Models, messages: Messages, options: ChatOptions | None = None, *, fallbacks: Sequence[str] = ()
    ) -> ChatResult:
        """:meth:`Clawdesk.chat_with_attempts`, blocking."""
        return _call(
            self._portal, lambda: self._client.chat_with_attempts(model, messages, options, fallbacks=fallbacks)
        )

    def stream(
        self, model: Models, messages: Messages, options: ChatOptions | None = None, *, fallbacks: Sequence[str] = ()
    ) -> SyncChatStream:
        """:meth:`Clawdesk.stream`, blocking: use as ``with cd.stream(...) as events: for event in events``."""
        return SyncChatStream(self._portal, self._client.stream(model, messages, options, fallbacks=fallbacks))

    def chat_with_tools(
        self,
        model: Models,
        messages: Messages,
        tools: Iterable[ToolLike],
        options: ChatOptions | None = None,
        *,
        max_steps: int = 8,
        fallbacks: Sequence[str] = (),
    ) -> ToolRun:
        """:meth:`Clawdesk.chat_with_tools`, blocking (tool functions run in the client's loop thread)."""
        return _call(
            self._portal,
            lambda: self._client.chat_with_tools(
                model, messages, tools, options, max_steps=max_steps, fallbacks=fallbacks
            ),
        )

    def stream_with_tools(
        self,
        model: Models,
        messages: Messages,
        tools: Iterable[ToolLike],
        options: ChatOptions | None = None,
        *,
        max_steps: int = 8,
        fallbacks: Sequence[str] = (),
    ) -> SyncToolStream:
        """:meth:`Clawdesk.stream_with_tools`, blocking."""
        stream = self._client.stream_with_tools(
            model, messages, tools, options, max_steps=max_steps, fallbacks=fallbacks
        )
        return SyncToolStream(self._portal, stream)

    @overload
    def chat_structured(
        self,
        model: Models,
        messages: Messages,
        output: type[T],
        options: ChatOptions | None = None,
        *,
        strict: bool | None = None,
        fallbacks: Sequence[str] = (),
    ) -> T: ...

    @overload
    def chat_structured(
        self,
        model: Models,
        messages: Messages,
        output: Mapping[str, Any],
        options: ChatOptions | None = None,
        *,
        strict: bool | None = None,
        fallbacks: Sequence[str] = (),
    ) -> Any: ...

    def chat_structured(
        self,
        model: Models,
        messages: Messages,
        output: type[T] | Mapping[str, Any],
        options: ChatOptions | None = None,
        *,
        strict: bool | None = None,
        fallbacks: Sequence[str] = (),
    ) -> Any:
        """:meth:`Clawdesk.chat_structured`, blocking."""
        return _call(
            self._portal,
            lambda: self._client.chat_structured(model, messages, output, options, strict=strict, fallbacks=fallbacks),
        )

    def close(self) -> None:
        """Close the HTTP clients and stop the loop thread (idempotent)."""
        if self._closed:
            return
        self._closed = True
        try:
            self._portal.call(self._client.aclose)
        finally:
            self._loop.stop()

    def __enter__(self) -> SyncClawdesk:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
