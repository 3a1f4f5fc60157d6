"""A fake clock for the fallback engine's ``clock=`` and ``sleep=`` arguments."""

from __future__ import annotations

import anyio.lowlevel

__all__ = ["FakeClock"]


class FakeClock:
    """Time that moves only when the code under test sleeps, and a record of every wait.

    Pass ``clock=fake.clock, sleep=fake.sleep`` to :class:`~clawdesk.FallbackEngine`:
    backoff and ``Retry-After`` waits then take no real time, and ``waits`` lists
    each one in order. ``sleep`` still yields to the event loop once, so other
    tasks and cancellation behave as with a real sleep.
    """

    def __init__(self, start: float = 0.0) -> None:
        self.now = start
        self.waits: list[float] = []

    def clock(self) -> float:
        """The current fake time, in seconds."""
        return self.now

    async def sleep(self, seconds: float) -> None:
        """Record the wait, move the clock by ``seconds`` and yield once."""
        self.waits.append(seconds)
        self.now += seconds
        await anyio.lowlevel.checkpoint()
