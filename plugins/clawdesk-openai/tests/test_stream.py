"""Streaming through clawdesk against a scripted OpenAI and named compatible instances."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import clawdesk
from clawdesk import (
    AllProvidersFailed,
    CapabilityMissing,
    ChatOptions,
    Finish,
    FinishReason,
    QuotaExceeded,
    StreamInterrupted,
    TextDelta,
    Tool,
    ToolCall,
    ToolCallEvent,
    Truncated,
    UsageEvent,
)
from clawdesk.testing import ScriptedServer
from clawdesk_openai_compat.testing import error_reply, sse_reply, text_stream, token_usage, tool_call_stream

pytestmark = pytest.mark.anyio
Make = Callable[..., clawdesk.Clawdesk]


async def collect(cd: clawdesk.Clawdesk, model: str, options: ChatOptions | None = None) -> list[Any]:
    async with cd.stream(model, "hi", options) as events:
        return [event async for event in events]


async def test_streamed_text_usage_and_finish(server: ScriptedServer, make_client: Make) -> None:
    """Text as it comes, the include_usage chunk's usage (cached and reasoning parts), one Finish: usage asked for."""
    counts = token_usage(30, 3, cached=24, reasoning=1)
    server.add(sse_reply(text_stream("Hel", "lo", "!", usage=counts), headers=[("x-request-id", "req_s1")]))
    async with make_client() as cd:
        events = await collect(cd, "openai/gpt-4o-mini")
    assert events[:3] == [TextDelta("Hel"), TextDelta("lo"), TextDelta("!")]
    usage = events[3]
    assert isinstance(usage, UsageEvent)
    assert (usage.usage.input_tokens, usage.usage.cache_read_tokens, usage.usage.reasoning_tokens) == (30, 24, 1)
    assert events[4] == Finish(FinishReason.STOP, "stop", request_id="req_s1")
    sent = server.requests[0].json()
    assert (sent["stream"], sent["stream_options"]) == (True, {"include_usage": True})


async def test_streamed_tool_calls(server: ScriptedServer, make_client: Make) -> None:
    """Two streamed calls, their arguments in pieces, come out as two whole ToolCallEvents, then a tool_calls Finish."""
    calls = [ToolCall("call_a", "lookup", {"q": "zürich", "n": [1, 2]}), ToolCall("call_b", "lookup", {"q": "bern"})]
    server.add(sse_reply(tool_call_stream(*calls, pieces=4)))
    async with make_client() as cd:
        events = await collect(cd, "openai/gpt-4o-mini", ChatOptions(tools=[Tool("lookup")]))
    assert [e.call for e in events if isinstance(e, ToolCallEvent)] == calls
    assert events[-1].reason is FinishReason.TOOL_CALLS


async def test_error_status_before_the_first_event_moves_on(server: ScriptedServer, helpers: Any) -> None:
    """A 429 insufficient_quota on a stream fails before any event: the chain moves to the next candidate."""
    server.add(error_reply(429, "quota", type="insufficient_quota", code="insufficient_quota"))
    server.add(sse_reply(text_stream("backup")))
    text = helpers.toml_table("openai", {"base_url": server.url + "/v1", "dialect": "openai"})
    text += helpers.toml_table("local", {"plugin": "openai", "base_url": server.url + "/v1"})
    text += '[fallback]\nchain = ["openai/gpt-4o-mini", "local/smollm2"]\n'
    async with helpers.make_clawdesk(text, {"OPENAI_API_KEY": helpers.KEY}) as cd:
        stream = cd.stream(None, "hi")
        async with stream:
            events = [event async for event in stream]
        attempts = stream.attempts
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "backup"
    assert [(a.provider, a.kind) for a in attempts] == [("openai", "quota_exceeded"), ("local", None)]
    assert "authorization" not in server.requests[1].headers  # the local server needs no key and gets none


async def test_a_cut_stream_is_interrupted_with_truncated(server: ScriptedServer, make_client: Make) -> None:
    """A stream that breaks off after delivering text raises StreamInterrupted whose cause is Truncated."""
    server.add(sse_reply(text_stream("part", "ial")[:-4]))
    async with make_client() as cd:
        with pytest.raises(StreamInterrupted) as info:
            await collect(cd, "openai/gpt-4o-mini")
    assert isinstance(info.value.cause, Truncated)
    assert info.value.delivered[:1] == (TextDelta("part"),)


async def test_named_instance_reports_its_own_name(compat_server: ScriptedServer, helpers: Any) -> None:
    """[providers.groq] plugin = "openai" streams, and its errors name groq, not openai."""
    compat_server.add(sse_reply(text_stream("fast")))
    compat_server.add(error_reply(429, "quota", type="insufficient_quota", code="insufficient_quota"))
    table = {
        "plugin": "openai",
        "base_url": compat_server.url + "/openai/v1",
        "api_key_env": "GROQ_API_KEY",
        "dialect": "groq",
    }
    async with helpers.make_clawdesk(helpers.toml_table("groq", table), {"GROQ_API_KEY": "gsk-test"}) as cd:
        events = await collect(cd, "groq/llama-3.3-70b-versatile")
        with pytest.raises(AllProvidersFailed) as info:
            await collect(cd, "groq/llama-3.3-70b-versatile")
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "fast"
    error = info.value.attempts[0].error
    assert isinstance(error, QuotaExceeded)
    assert error.provider == "groq"
    assert str(error).startswith("groq: quota_exceeded")
    assert compat_server.requests[0].path == "/openai/v1/chat/completions"
    assert compat_server.requests[0].headers["authorization"] == "Bearer gsk-test"


async def test_deepseek_keep_alive_comments_while_queued(compat_server: ScriptedServer, helpers: Any) -> None:
    """DeepSeek's ': keep-alive' lines while a request waits in its queue are skipped."""
    compat_server.add(sse_reply([b": keep-alive\n\n", b": keep-alive\n\n", *text_stream("ok")]))
    table = {"plugin": "openai", "base_url": compat_server.url + "/v1", "dialect": "deepseek"}
    async with helpers.make_clawdesk(helpers.toml_table("deepseek", table), {"DEEPSEEK_API_KEY": "sk-ds"}) as cd:
        events = await collect(cd, "deepseek/deepseek-chat")
    assert [type(e).__name__ for e in events] == ["TextDelta", "UsageEvent", "Finish"]


async def test_a_stream_refused_before_sending_sends_nothing(server: ScriptedServer, make_client: Make) -> None:
    """A stream o3 cannot serve (a temperature it refuses) fails with CapabilityMissing and sends no request."""
    async with make_client() as cd:
        with pytest.raises(AllProvidersFailed) as info:
            await collect(cd, "openai/o3", ChatOptions(temperature=0.2))
    assert isinstance(info.value.attempts[0].error, CapabilityMissing)
    assert server.requests == []
