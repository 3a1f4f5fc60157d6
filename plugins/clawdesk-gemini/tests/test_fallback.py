"""Gemini's errors through clawdesk's fallback engine: when to wait, when to move on, and nothing empty passes.

The engine runs on a :class:`~clawdesk.testing.FakeClock` (every wait is
recorded, none is slept) except in the one test that measures real time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from clawdesk import (
    AllProvidersFailed,
    ChatOptions,
    ChatRequest,
    Clawdesk,
    ContentFiltered,
    FallbackEngine,
    Finish,
    FinishReason,
    Message,
    QuotaExceeded,
    RateLimited,
    StreamEvent,
    StreamInterrupted,
    TextDelta,
    Truncated,
)
from clawdesk.testing import FakeClock, ScriptedServer

Make = Callable[..., Clawdesk]
PRO = "gemini/gemini-2.5-pro"
FLASH = "gemini/gemini-2.5-flash"
DAILY = "GenerateRequestsPerDayPerProjectPerModel-FreeTier"
DAILY_METRIC = "generativelanguage.googleapis.com/generate_content_free_tier_requests"
MINUTE = "GenerateRequestsPerMinutePerProjectPerModel-FreeTier"


def _faked(cd: Clawdesk) -> FakeClock:
    clock = FakeClock()
    cd.engine = FallbackEngine(cd, clock=clock.clock, sleep=clock.sleep)
    return clock


def _rate_limited(gw: Any, delay: str, quota_id: str = MINUTE) -> Any:
    """Google's 429: the wait in RetryInfo (no Retry-After header), the quota in QuotaFailure.

    The message names a slightly longer wait, as Google's do ("Please retry in
    2.93s" next to ``retryDelay: "2s"``): RetryInfo is what counts.
    """
    message = (
        "You exceeded your current quota, please check your plan and billing details. "
        f"Please retry in {float(delay[:-1]) + 0.93:.2f}s."
    )
    details = [gw.quota_failure(quota_id, DAILY_METRIC), gw.retry_info(delay)]
    return gw.error(429, message, details=details)


@pytest.mark.anyio
async def test_429_waits_for_retry_info(server: ScriptedServer, make_client: Make, gw: Any) -> None:
    """A 429 whose RetryInfo says "2s" is retried once, after exactly the 2 s it asked for."""
    server.add(_rate_limited(gw, "2s"), gw.answer(gw.text("Hello after waiting.")))
    async with make_client() as cd:
        clock = _faked(cd)
        result = await cd.chat_with_attempts(FLASH, "hi")
    assert result.response.message.text == "Hello after waiting."
    assert clock.waits == [2.0]
    first, second = result.attempts
    assert (first.outcome, first.kind, first.status) == ("failed", "rate_limited", 429)
    assert (second.outcome, second.number, second.wait_secs) == ("ok", 2, 2.0)
    assert len(server.requests) == 2


@pytest.mark.anyio
async def test_fractional_retry_delay_is_honoured_for_streams(
    server: ScriptedServer, make_client: Make, gw: Any
) -> None:
    """A stream refused with RetryInfo "1.5s" waits 1.5 s and streams from the retry."""
    server.add(_rate_limited(gw, "1.5s"), gw.stream(*gw.text_stream("after", " the wait")))
    async with make_client() as cd:
        clock = _faked(cd)
        async with cd.stream(FLASH, "hi") as stream:
            events = [e async for e in stream]
    assert clock.waits == [1.5]
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "after the wait"


@pytest.mark.anyio
async def test_long_retry_delay_moves_on(server: ScriptedServer, make_client: Make, gw: Any) -> None:
    """A wait longer than max_retry_after_secs (45.8 s here) is not waited for: the chain moves on at once."""
    server.add(_rate_limited(gw, "45.837906927s"), gw.answer(gw.text("from flash")))
    async with make_client() as cd:
        clock = _faked(cd)
        result = await cd.chat_with_attempts([PRO, FLASH], "hi")
    assert clock.waits == []
    assert result.target.model == "gemini-2.5-flash"
    error = result.attempts[0].error
    assert isinstance(error, RateLimited)
    assert error.retry_after == pytest.approx(45.837906927)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("quota_id", "metric", "value"),
    [
        (DAILY, DAILY_METRIC, "250"),
        ("GenerateContentInputTokensPerModelPerDay-FreeTier", "generate_content_free_tier_input_token_count", "250"),
        (MINUTE, DAILY_METRIC, "0"),  # a model the free tier does not serve at all
    ],
)
async def test_spent_quota_moves_on_at_once(
    server: ScriptedServer, make_client: Make, gw: Any, quota_id: str, metric: str, value: str
) -> None:
    """A quota that will not reset soon is QuotaExceeded: no wait, no retry, the next candidate answers."""
    details = [gw.quota_failure(quota_id, metric, value), gw.retry_info("17s")]
    server.add(gw.error(429, "You exceeded your current quota.", details=details), gw.answer(gw.text("from flash")))
    async with make_client() as cd:
        clock = _faked(cd)
        result = await cd.chat_with_attempts([PRO, FLASH], "hi")
    assert clock.waits == []
    assert result.response.message.text == "from flash"
    first = result.attempts[0]
    assert (first.outcome, first.kind, first.model) == ("failed", "quota_exceeded", "gemini-2.5-pro")
    assert isinstance(first.error, QuotaExceeded)
    assert first.error.retryable is False
    assert [r.path.split(":")[0] for r in server.requests] == [
        "/v1beta/models/gemini-2.5-pro",
        "/v1beta/models/gemini-2.5-flash",
    ]


@pytest.mark.anyio
async def test_blocked_prompt_is_content_filtered(server: ScriptedServer, make_client: Make, gw: Any) -> None:
    """A prompt Gemini blocked (no candidates, promptFeedback.blockReason) is ContentFiltered, never an empty answer."""
    server.add(gw.json(gw.blocked("PROHIBITED_CONTENT")), gw.stream(gw.blocked("SAFETY")))
    async with make_client(max_retries=0) as cd:
        with pytest.raises(AllProvidersFailed) as info:
            await cd.chat(FLASH, "something blocked")
        error = info.value.attempts[-1].error
        assert isinstance(error, ContentFiltered)
        assert error.reason == "PROHIBITED_CONTENT"
        with pytest.raises(AllProvidersFailed) as info:
            async with cd.stream(FLASH, "something blocked") as stream:
                [e async for e in stream]
        error = info.value.attempts[-1].error
        assert isinstance(error, ContentFiltered)
        assert error.reason == "SAFETY"


@pytest.mark.anyio
async def test_blocked_prompt_moves_on(server: ScriptedServer, make_client: Make, gw: Any) -> None:
    """A blocked prompt is not retried on the same model; the next candidate gets it at once."""
    server.add(gw.json(gw.blocked()), gw.answer(gw.text("a careful answer")))
    async with make_client() as cd:
        clock = _faked(cd)
        result = await cd.chat_with_attempts([PRO, FLASH], "hi")
    assert clock.waits == []
    assert [a.kind for a in result.attempts] == ["content_filtered", None]


@pytest.mark.anyio
async def test_safety_finish_is_a_content_filter_result(server: ScriptedServer, make_client: Make, gw: Any) -> None:
    """An answer stopped by SAFETY comes back typed: FinishReason.CONTENT_FILTER, the raw reason, the ratings."""
    ratings = [{"category": "HARM_CATEGORY_HARASSMENT", "probability": "HIGH", "blocked": True}]
    stopped = gw.response(no_content=True, finish="SAFETY", candidate={"safetyRatings": ratings})
    server.add(gw.json(stopped))
    async with make_client() as cd:
        reply = await cd.chat(FLASH, "hi")
    assert reply.finish_reason is FinishReason.CONTENT_FILTER
    assert reply.finish_reason_raw == "SAFETY"
    assert reply.message.text == ""
    assert reply.metadata["safety_ratings"] == ratings


@pytest.mark.anyio
async def test_safety_finish_in_a_stream_keeps_the_text_before_it(
    server: ScriptedServer, make_client: Make, gw: Any
) -> None:
    """A stream a filter stopped part-way ends with Finish(CONTENT_FILTER, "SAFETY") after the text it had."""
    chunks = [
        gw.response(gw.text("Here is the first part"), finish=None),
        gw.response(gw.text(""), finish="SAFETY", usage=gw.usage(9, 4)),
    ]
    server.add(gw.stream(*chunks))
    async with make_client() as cd, cd.stream(FLASH, "hi") as stream:
        events: list[StreamEvent] = [e async for e in stream]
    assert events[0] == TextDelta("Here is the first part")
    assert events[-1] == Finish(FinishReason.CONTENT_FILTER, "SAFETY", request_id=gw.response()["responseId"])


@pytest.mark.anyio
async def test_stream_without_finish_reason_is_an_error(server: ScriptedServer, make_client: Make, gw: Any) -> None:
    """A stream whose body ends cleanly before any finishReason is Truncated, never a success."""
    chunks = [gw.response(gw.text("Hel"), finish=None), gw.response(gw.text("lo"), finish=None)]
    server.add(gw.stream(*chunks))
    async with make_client() as cd:
        target = cd.resolve(FLASH)
        request = ChatRequest(target.model, (Message.user("hi"),))
        with pytest.raises(StreamInterrupted) as info:
            async with cd.stream_target(target, request) as stream:
                [e async for e in stream]
    assert isinstance(info.value.cause, Truncated)
    assert info.value.cause.retryable
    assert "finishReason" in str(info.value.cause)
    assert [e for e in info.value.delivered if isinstance(e, TextDelta)] == [TextDelta("Hel"), TextDelta("lo")]


@pytest.mark.anyio
async def test_stream_cut_before_any_event_is_retried(server: ScriptedServer, make_client: Make, gw: Any) -> None:
    """A stream that ends with no finishReason and no event is Truncated and asked again (nothing was delivered)."""
    empty = gw.response(finish=None, no_content=True, usage=gw.usage(9, None))
    server.add(gw.stream(empty), gw.stream(*gw.text_stream("second", " try")))
    async with make_client() as cd:
        clock = _faked(cd)
        async with cd.stream(FLASH, "hi") as stream:
            events = [e async for e in stream]
            attempts = stream.attempts
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "second try"
    assert [a.kind for a in attempts] == ["truncated", None]
    assert len(clock.waits) == 1


@pytest.mark.slow
@pytest.mark.anyio
async def test_retry_delay_in_real_time(server: ScriptedServer, make_client: Make, gw: Any) -> None:
    """With the real clock, the retry after a RetryInfo of "2s" comes about 2 s later (measured)."""
    server.add(_rate_limited(gw, "2s"), gw.answer(gw.text("on time")))
    async with make_client() as cd:
        began = time.monotonic()
        reply = await cd.chat(FLASH, "hi", ChatOptions())
        elapsed = time.monotonic() - began
    assert reply.message.text == "on time"
    assert 2.0 <= elapsed < 3.5, f"the retry came after {elapsed:.2f}s"
