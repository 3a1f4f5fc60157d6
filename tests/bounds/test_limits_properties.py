"""The wire's per-read enforcement of a stream's limits, against a model, in virtual time (Hypothesis).

A stream is a list of pieces, each arriving some time after the one before
and each either making an event or not (a keep-alive comment, a dripped
byte). The idle wait starts when the reader asks for the piece after an
event (at the start, for the first event), so the model says: the stream ends
with the idle limit at the first piece that arrives later than the last
event plus the limit, with the call limit if the call's end comes first, and
whole otherwise. Trio's MockClock jumps over every sleep, so an example takes
no real time.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator

import anyio
import pytest
import trio.testing
from hypothesis import given, settings
from hypothesis import strategies as st

from clawdesk import TimedOut
from clawdesk._limits import StreamLimits
from clawdesk._wire._send import _Limited

# Quarter seconds for arrivals and odd tenths for the limits: no arrival ever lands on a deadline.
GAPS = st.integers(min_value=0, max_value=12).map(lambda n: n * 0.25)
PIECES = st.lists(st.tuples(GAPS, st.booleans()), max_size=25)
LIMITS = st.sampled_from([None, 0.3, 0.7, 1.1, 2.3])


def model(pieces: list[tuple[float, bool]], first: float | None, idle: float | None, call: float | None) -> str:
    """What the stream should come to: "whole", "idle" or "call"."""
    ends = call if call is not None else math.inf
    now = 0.0
    idle_at = first if first is not None else math.inf
    for gap, is_event in pieces:
        arrives = now + gap
        deadline = min(idle_at, ends)
        if arrives > deadline:
            return "call" if deadline == ends else "idle"
        now = arrives
        if is_event:
            idle_at = now + idle if idle is not None else math.inf
    return "whole"


async def _source(pieces: list[tuple[float, bool]]) -> AsyncIterator[bytes]:
    for gap, is_event in pieces:
        await anyio.sleep(gap)
        yield b"event" if is_event else b"comment"


async def run(pieces: list[tuple[float, bool]], first: float | None, idle: float | None, call: float | None) -> str:
    """Read ``pieces`` through _Limited as the engine would (an event counted as it is handed out)."""
    ends = anyio.current_time() + call if call is not None else math.inf
    limits = StreamLimits(provider="p", idle=idle, first=first, ends=ends, seconds=call, what="the call's timeout")
    limits.idle_at = anyio.current_time() + first if first is not None else math.inf  # as the engine's first step
    limits.claimed = True
    reads = _Limited(_source(pieces), limits, None)
    try:
        async for piece in reads:
            if piece == b"event":
                limits.events += 1
    except TimedOut as exc:
        return str(exc.limit)  # "idle" or "call"; anything else fails the comparison with the model
    return "whole"


@settings(max_examples=300, deadline=None)
@given(pieces=PIECES, first=LIMITS, idle=LIMITS, call=st.sampled_from([None, 1.9, 4.1]))
def test_limited_reads_end_a_stream_as_the_model_says(
    pieces: list[tuple[float, bool]], first: float | None, idle: float | None, call: float | None
) -> None:
    """Any arrivals, events and limits: the stream ends whole, or with the limit the model says, never otherwise."""
    clock = trio.testing.MockClock(autojump_threshold=0)
    got = anyio.run(run, pieces, first, idle, call, backend="trio", backend_options={"clock": clock})
    assert got == model(pieces, first, idle, call)


@pytest.mark.parametrize(
    ("pieces", "expected"),
    [
        ([(0.5, False)] * 10, "idle"),  # keep-alives every 0.5 s never reset the 1.1 s wait
        ([(0.5, True)] * 10, "whole"),  # events every 0.5 s do
        ([(0.25, True), (2.0, False)], "idle"),  # silence after an event
    ],
)
def test_limited_examples(pieces: list[tuple[float, bool]], expected: str) -> None:
    """The model's three cases by hand: comments do not reset the idle wait, events do, silence ends it."""
    clock = trio.testing.MockClock(autojump_threshold=0)
    got = anyio.run(run, pieces, 1.1, 1.1, None, backend="trio", backend_options={"clock": clock})
    assert got == expected == model(pieces, 1.1, 1.1, None)
