"""The time limits of one stream, shared by the engine that hands its events out and the wire that reads it.

A stream has two limits besides the per-read timeout: the idle limit (the
longest wait for an event, ``http.idle_timeout_secs``; keep-alive comments
and dripped bytes do not reset it) and the call's end (``ChatOptions.timeout``
or ``http.call_timeout_secs``). The engine can enforce both with a cancel scope
around each wait for an event, whatever the plugin does; but a scope with a
deadline costs about 4 us on asyncio, as much as the rest of an event's path.

So the engine offers a :class:`StreamLimits` (through :data:`OFFER`) to each
step of the plugin's generator. A :class:`~clawdesk.provider.StreamReply`
opened in one claims it and enforces both limits at each read of the body: a
read that could pass a limit before the per-read timeout ends gets a scope,
any other read none. Once the offer is claimed the engine asks for events
without a scope of its own, until the reader hands the limits back (the end
of its ``async with`` block). A wire request made in a step the engine does
not scope (while a stream holds the claim, or after its block and before the
plugin's next event) gets a scope of its own to the same deadline, and a
stream opened there claims the limits again. After a hand-back the next step
is the engine's to scope. A plugin that reads its answer another way never claims
the limits and keeps the engine's scope per event; the one wait left to
itself is a wait that is not a wire request, made after its wire stream's
block and before its next event (the contract says to yield first).
"""

from __future__ import annotations

import math
from contextvars import ContextVar

from ._errors import TimedOut

__all__ = ["OFFER", "StreamLimits"]


class StreamLimits:
    """One stream's idle limit, end and count of delivered events; see the module docstring.

    - ``idle``: the longest wait for an event after the first (``None``: none).
    - ``first``: the longest wait for the first event (``None``: none).
    - ``ends``: when the call must be over, on the event loop's clock (``math.inf``: never).
    - ``events``: how many events the engine has handed out; a reader sees a
      new event by this count changing, and its idle wait starts again.
    - ``idle_at``: when the current idle wait ends (``math.inf``: never), and
      ``window``: the count of events when it was set. The engine sets both
      for a step it scopes; a reader, or :meth:`deadline`, starts the wait
      again when ``events`` has moved past ``window`` (at the first read or
      request after a new event, so the caller's time between events does
      not count).
    - ``claimed``: whether a reader enforces the limits (the engine then does not).
    - ``scoped``: whether the engine's own scope bounds the current step.
    - ``aborted``: set by ``Clawdesk.aclose()``; the closed client's reads then fail.
    """

    __slots__ = (
        "aborted",
        "claimed",
        "ends",
        "events",
        "first",
        "idle",
        "idle_at",
        "provider",
        "scoped",
        "seconds",
        "what",
        "window",
    )

    def __init__(
        self,
        *,
        provider: str,
        idle: float | None,
        first: float | None,
        ends: float = math.inf,
        seconds: float | None = None,
        what: str = "",
    ) -> None:
        self.provider = provider
        self.idle = idle
        self.first = first
        self.ends = ends
        self.seconds = seconds
        self.what = what
        self.events = 0
        self.idle_at = math.inf
        self.window = 0
        self.claimed = False
        self.scoped = False
        self.aborted = False

    def deadline(self, now: float) -> float:
        """The earlier of the idle wait's end and the call's end, at ``now`` (the event loop's clock)."""
        if self.events != self.window:
            self.window = self.events
            self.idle_at = now + self.idle if self.idle is not None else math.inf
        return min(self.idle_at, self.ends)

    def error_at(self, deadline: float) -> TimedOut:
        """The error for a wait cut at ``deadline`` (one of :meth:`deadline`'s)."""
        if deadline >= self.ends:
            return self.call_error()
        wait = self.idle if self.events else self.first
        return self.idle_error(wait if wait is not None else 0.0)

    def idle_error(self, wait: float) -> TimedOut:
        """The error for a stream that went ``wait`` seconds without an event."""
        return TimedOut(f"no event for {wait:g}s (http.idle_timeout_secs)", provider=self.provider, limit="idle")

    def call_error(self) -> TimedOut:
        """The error for a stream still running at the call's end."""
        seconds = self.seconds if self.seconds is not None else 0.0
        return TimedOut(
            f"the stream did not end within {seconds:g}s ({self.what})", provider=self.provider, limit="call"
        )


#: The limits the engine offers to the plugin's step that opens the stream (``None`` outside one).
OFFER: ContextVar[StreamLimits | None] = ContextVar("clawdesk_stream_limits", default=None)
