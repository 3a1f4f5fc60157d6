"""A blocking wrapper around :class:`~clawdesk.Clawdesk` for scripts.

It runs one event loop in a background thread (anyio's blocking portal) for
its whole life, so HTTP connections are pooled across calls exactly as in
async code. Close it (or use ``with``) to stop the thread.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager
from types import TracebackType
from typing import Any

from anyio.from_thread import BlockingPortal, start_blocking_portal

from ._client import Clawdesk, ProviderModels
from ._types import ChatOptions, ChatResponse, Message, StreamEvent

__all__ = ["SyncClawdesk"]


class SyncClawdesk:
    """The same calls as :class:`~clawdesk.Clawdesk`, blocking. Takes the same keyword arguments."""

    def __init__(self, **kwargs: Any) -> None:
        self._client = Clawdesk(**kwargs)
        self._portal_cm: AbstractContextManager[BlockingPortal] = start_blocking_portal()
        self._portal = self._portal_cm.__enter__()
        self._closed = False

    @property
    def client(self) -> Clawdesk:
        """The async client underneath."""
        return self._client

    def providers(self) -> list[str]:
        return self._client.providers()

    def models(self, provider: str | None = None, *, refresh: bool = False) -> list[ProviderModels]:
        return self._portal.call(lambda: self._client.models(provider, refresh=refresh))

    def chat(
        self, model: str, messages: str | Message | Iterable[Message], options: ChatOptions | None = None
    ) -> ChatResponse:
        return self._portal.call(self._client.chat, model, messages, options)

    def stream(
        self, model: str, messages: str | Message | Iterable[Message], options: ChatOptions | None = None
    ) -> Iterator[StreamEvent]:
        """Yield events as they arrive; breaking out of the loop closes the response."""
        events = self._client.stream(model, messages, options)
        try:
            while True:
                try:
                    yield self._portal.call(events.__anext__)
                except StopAsyncIteration:
                    return
        finally:
            self._portal.call(events.aclose)

    def close(self) -> None:
        """Close the HTTP clients and stop the loop thread (idempotent)."""
        if self._closed:
            return
        self._closed = True
        try:
            self._portal.call(self._client.aclose)
        finally:
            self._portal_cm.__exit__(None, None, None)

    def __enter__(self) -> SyncClawdesk:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
