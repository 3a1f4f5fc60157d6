"""Whole answers and error answers against the scripted Claude API, and the error mapping as a property."""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable
from typing import Any

import anthropic_wire as wire
import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import clawdesk
from clawdesk import (
    ApiError,
    AuthFailed,
    ChatOptions,
    ChatRequest,
    ContextLengthExceeded,
    FinishReason,
    InvalidRequest,
    Message,
    ModelNotFound,
    PermissionDenied,
    ProviderError,
    QuotaExceeded,
    RateLimited,
    ReasoningPart,
    ToolCall,
    Usage,
)
from clawdesk.testing import Reply, ScriptedServer
from clawdesk_anthropic._wire import classify_body, ratelimit_wait

Make = Callable[..., clawdesk.Clawdesk]
MODEL = f"anthropic/{wire.MODEL}"


async def _chat(cd: clawdesk.Clawdesk, model: str = MODEL, options: ChatOptions | None = None) -> Any:
    """One call to the provider, without retries or fallback (the mapping itself is under test)."""
    target = cd.resolve(model)
    return await cd.chat_target(target, ChatRequest(target.model, (Message.user("Hi"),), options or ChatOptions()))


@pytest.mark.anyio
async def test_a_whole_answer_with_cache_usage(server: ScriptedServer, make_client: Make) -> None:
    """Text, thinking and a tool call come back; input tokens count the cache reads and writes too."""
    usage = {
        "input_tokens": 20,
        "output_tokens": 90,
        "cache_creation_input_tokens": 1500,
        "cache_read_input_tokens": 3000,
        "service_tier": "standard",
    }
    content = [
        {"type": "thinking", "thinking": "Hmm.", "signature": "sig=="},
        {"type": "text", "text": "Let me check."},
        {"type": "tool_use", "id": "toolu_7", "name": "lookup", "input": {"q": "x", "n": [1, 2]}},
        {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {"query": "x"}},
    ]
    server.add(wire.json_reply(wire.message(content, stop_reason="tool_use", usage=usage)))
    async with make_client() as cd:
        response = await _chat(cd)
    assert response.message.text == "Let me check."
    assert response.message.content[0] == ReasoningPart("Hmm.", signature="sig==", source="anthropic")
    assert response.message.tool_calls == (ToolCall("toolu_7", "lookup", {"q": "x", "n": [1, 2]}),)
    assert response.finish_reason is FinishReason.TOOL_CALLS
    assert response.usage == Usage(4520, 90, cache_read_tokens=3000, cache_write_tokens=1500, raw=usage)
    assert response.request_id == wire.REQUEST_ID
    assert response.metadata == {"id": "msg_013Zva2CMHLNnXjNJJKqJ2EF"}
    assert response.model == wire.MODEL
    body = server.requests[0].json()
    assert "stream" not in body
    assert body["max_tokens"] == 21_333  # a whole answer: at most ten minutes of output by default


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("refusal", FinishReason.CONTENT_FILTER),
        ("pause_turn", FinishReason.OTHER),
        ("model_context_window_exceeded", FinishReason.LENGTH),
        ("max_tokens", FinishReason.LENGTH),
        ("a_reason_from_2027", FinishReason.OTHER),
    ],
)
async def test_stop_reasons_in_whole_answers(
    raw: str, reason: FinishReason, server: ScriptedServer, make_client: Make
) -> None:
    """New and unusual stop reasons map without crashing, the raw value and stop_details kept."""
    extra = {"stop_details": {"type": "refusal", "category": "cyber", "explanation": "x"}} if raw == "refusal" else {}
    data = wire.message(**extra) if raw != "a_reason_from_2027" else {**wire.message(), "stop_reason": raw}
    data["stop_reason"] = raw
    server.add(wire.json_reply(data))
    async with make_client() as cd:
        response = await _chat(cd)
    assert (response.finish_reason, response.finish_reason_raw) == (reason, raw)
    if extra:
        assert response.metadata["stop_details"]["category"] == "cyber"


def _ratelimit_headers(seconds: float, remaining: str = "0") -> tuple[tuple[str, str], ...]:
    reset = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=seconds)
    return (
        ("anthropic-ratelimit-tokens-remaining", remaining),
        ("anthropic-ratelimit-tokens-reset", reset.isoformat().replace("+00:00", "Z")),
    )


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("status", "kind", "text", "headers", "error", "retryable"),
    [
        (400, "invalid_request_error", "max_tokens: Field required", (), InvalidRequest, False),
        (
            400,
            "invalid_request_error",
            "prompt is too long: 215000 tokens > 200000 maximum",
            (),
            ContextLengthExceeded,
            False,
        ),
        (
            400,
            "invalid_request_error",
            "input length and `max_tokens` exceed context limit: 188240 + 21333 > 200000",
            (),
            ContextLengthExceeded,
            False,
        ),
        (401, "authentication_error", "invalid x-api-key", (), AuthFailed, False),
        (402, "billing_error", "Your credit balance is too low", (), QuotaExceeded, False),
        (403, "permission_error", "not allowed", (), PermissionDenied, False),
        (404, "not_found_error", "model: claude-nope", (), ModelNotFound, False),
        (409, "conflict_error", "conflict", (), ApiError, True),
        (413, "request_too_large", "Request exceeds the maximum size", (), InvalidRequest, False),
        (429, "rate_limit_error", "Number of request tokens has exceeded your rate limit", (), RateLimited, True),
        (500, "api_error", "Internal server error", (), ApiError, True),
        (504, "timeout_error", "Request timed out", (), ApiError, True),
        (529, "overloaded_error", "Overloaded", (), ApiError, True),
        (529, "overloaded_error", "Overloaded", (("x-should-retry", "false"),), ApiError, False),
        (400, "invalid_request_error", "try again", (("x-should-retry", "true"),), InvalidRequest, True),
    ],
)
async def test_error_answers(
    status: int,
    kind: str,
    text: str,
    headers: tuple[tuple[str, str], ...],
    error: type[ProviderError],
    retryable: bool,
    server: ScriptedServer,
    make_client: Make,
) -> None:
    """Each status and error type becomes its error, retryable as the API (and x-should-retry) says, request id in."""
    server.add(wire.json_reply(wire.error_body(kind, text), status=status, headers=headers))
    async with make_client() as cd:
        with pytest.raises(error) as caught:
            await _chat(cd)
    raised = caught.value
    assert type(raised) is error
    assert raised.status == status
    assert raised.retryable is retryable
    assert raised.request_id == wire.REQUEST_ID
    assert wire.REQUEST_ID in str(raised)
    assert kind in str(raised)
    if error is ModelNotFound:
        assert raised.model == wire.MODEL  # type: ignore[attr-defined]


@pytest.mark.anyio
async def test_429_waits_for_retry_after_else_the_reset_headers(server: ScriptedServer, make_client: Make) -> None:
    """Retry-After wins; without it the spent limit's reset time says how long to wait."""
    body = wire.error_body("rate_limit_error", "slow down")
    server.add(
        wire.json_reply(body, status=429, headers=(("retry-after", "12"), *_ratelimit_headers(50))),
        wire.json_reply(body, status=429, headers=_ratelimit_headers(20)),
    )
    async with make_client() as cd:
        with pytest.raises(RateLimited) as first:
            await _chat(cd)
        with pytest.raises(RateLimited) as second:
            await _chat(cd)
    assert first.value.retry_after == 12
    assert second.value.retry_after is not None
    assert 17 < second.value.retry_after <= 20


@pytest.mark.anyio
async def test_a_cloudflare_413_page_is_an_invalid_request(server: ScriptedServer, make_client: Make) -> None:
    """The 413 comes from the CDN as HTML, before the API: still InvalidRequest, with the page's title."""
    page = "<html><head><title>413 Request Entity Too Large</title></head><body>cloudflare</body></html>"
    server.add(Reply.text(page, status=413, content_type="text/html"))
    async with make_client() as cd:
        with pytest.raises(InvalidRequest, match="413 Request Entity Too Large"):
            await _chat(cd)


@pytest.mark.anyio
async def test_an_error_object_in_a_200_answer_is_raised(server: ScriptedServer, make_client: Make) -> None:
    """An error body that comes with 200 (a proxy's doing) is raised as its typed error, not returned."""
    server.add(wire.json_reply(wire.error_body("overloaded_error", "Overloaded")))
    async with make_client() as cd:
        with pytest.raises(ApiError, match="overloaded_error") as caught:
            await _chat(cd)
    assert caught.value.retryable


@pytest.mark.anyio
async def test_refusals_before_sending_send_nothing(server: ScriptedServer, make_client: Make) -> None:
    """A refused option raises before any request reaches the server."""
    async with make_client() as cd:
        with pytest.raises(clawdesk.CapabilityMissing):
            await _chat(cd, options=ChatOptions(seed=1))
        with pytest.raises(clawdesk.CapabilityMissing):
            # Claude Opus 5.5 always thinks, and thinking takes no temperature but 1.
            await _chat(cd, model="anthropic/claude-opus-5-5", options=ChatOptions(temperature=0.5))
    assert server.requests == []


# -- the mapping as a property ---------------------------------------------------------

_KINDS = st.sampled_from([*wire.ERROR_TYPES.values(), "brand_new_error"])
_EXPECTED: dict[int, type[ProviderError]] = {
    400: InvalidRequest,
    401: AuthFailed,
    402: QuotaExceeded,
    403: PermissionDenied,
    404: ModelNotFound,
    413: InvalidRequest,
    422: InvalidRequest,
    429: RateLimited,
}


@settings(max_examples=300, deadline=None)
@given(
    status=st.sampled_from([400, 401, 402, 403, 404, 408, 409, 413, 422, 429, 500, 502, 503, 504, 529, 418]),
    kind=_KINDS,
    text=st.text(max_size=80),
    header_id=st.one_of(st.none(), st.just("req_header")),
)
def test_error_mapping_follows_the_status(status: int, kind: str, text: str, header_id: str | None) -> None:
    """Any status and error type: the status picks the class, 5xx/408/409/429 are retryable, the request id is kept."""
    data = {"type": "error", "error": {"type": kind, "message": text}, "request_id": "req_body"}
    error = classify_body(
        status,
        data,
        httpx.Headers(),
        provider="anthropic",
        model="m",
        url="https://api.anthropic.com/v1/messages",
        request_id=header_id,
        retry_after=None,
    )
    assert error is not None
    assert error.provider == "anthropic"
    assert error.status == status
    assert error.request_id == (header_id or "req_body")
    if isinstance(error, ContextLengthExceeded):
        assert status == 400
    else:
        assert isinstance(error, _EXPECTED.get(status, ApiError))
    assert error.retryable is (status in (408, 409, 429) or status >= 500)
    assert "\n" not in str(error)


def test_other_error_shapes_are_left_to_the_toolkit() -> None:
    """A body that is not the API's error shape gives None (the toolkit's status table decides)."""
    for data in (None, {"message": "x"}, {"error": "x"}, ["error"]):
        assert (
            classify_body(
                400, data, httpx.Headers(), provider="a", model=None, url=None, request_id=None, retry_after=None
            )
            is None
        )


@settings(max_examples=200, deadline=None)
@given(
    waits=st.lists(
        st.tuples(
            st.sampled_from(["requests", "tokens", "input-tokens", "output-tokens"]), st.integers(0, 120), st.booleans()
        ),
        max_size=4,
        unique_by=lambda item: item[0],
    )
)
def test_ratelimit_wait_is_the_longest_spent_limit(waits: list[tuple[str, int, bool]]) -> None:
    """The wait is the latest reset among spent limits, else the earliest reset; None without any header."""
    now = 1_800_000_000.0
    headers: dict[str, Any] = {}
    for name, seconds, spent in waits:
        when = datetime.datetime.fromtimestamp(now + seconds, datetime.UTC)
        headers[f"anthropic-ratelimit-{name}-reset"] = when.isoformat().replace("+00:00", "Z")
        headers[f"anthropic-ratelimit-{name}-remaining"] = "0" if spent else "1000"
    got = ratelimit_wait(headers, now=now)
    if not waits:
        assert got is None
    elif any(spent for _, _, spent in waits):
        assert got == max(s for _, s, spent in waits if spent)
    else:
        assert got == min(s for _, s, _ in waits)


def test_ratelimit_wait_ignores_garbage() -> None:
    """Unreadable reset values count as absent; a reset in the past is no wait."""
    assert ratelimit_wait({"anthropic-ratelimit-requests-reset": "soon"}) is None
    past = {"anthropic-ratelimit-requests-reset": "2020-01-01T00:00:00Z", "anthropic-ratelimit-requests-remaining": "0"}
    assert ratelimit_wait(past) == 0.0


@pytest.mark.anyio
async def test_a_whole_answer_may_take_longer_than_timeout_secs(server: ScriptedServer, make_client: Make) -> None:
    """A non-streamed answer (sent only once complete) is waited for up to first_byte_timeout_secs."""
    body = json.dumps(wire.message()).encode()
    slow = Reply(status=200, headers=(("content-type", "application/json"),), chunks=(body,), delay=0.6)
    server.add(slow)
    async with make_client(timeout_secs=0.3, first_byte_timeout_secs=0.2) as cd:
        with pytest.raises(clawdesk.TimedOut, match="first_byte_timeout_secs"):
            await _chat(cd)
    server.add(slow)
    async with make_client(timeout_secs=0.3, first_byte_timeout_secs=5) as cd:
        assert (await _chat(cd)).message.text == "Hello!"
