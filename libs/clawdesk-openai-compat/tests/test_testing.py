"""The server side for tests speaks what OpenAI's official SDK (a test-only oracle) parses, and the kit adapter
gives the kit what it asks for."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from openai.types.shared import ErrorObject

from clawdesk import ToolCall
from clawdesk.testing import ScriptedServer
from clawdesk.testing._kit import TOOL_CALL
from clawdesk_openai_compat.testing import (
    DONE,
    OpenAICompatibleWire,
    chunk,
    completion,
    error_body,
    error_reply,
    sse_reply,
    text_stream,
    token_usage,
    tool_call,
    tool_call_stream,
    usage_chunk,
)


def _events(pieces: list[bytes]) -> list[Any]:
    body = b"".join(pieces)
    assert body.endswith(DONE)
    return [json.loads(line[len(b"data: ") :]) for line in body[: -len(DONE)].split(b"\n\n") if line]


def test_answers_are_what_the_sdk_parses() -> None:
    """completion(), with tool calls, reasoning and detailed usage, validates as the SDK's ChatCompletion."""
    data = completion(
        "hi", tool_calls=[tool_call(TOOL_CALL)], usage=token_usage(20, 6, cached=16, reasoning=2), reasoning="r"
    )
    parsed = ChatCompletion.model_validate(data)
    assert parsed.choices[0].message.content == "hi"
    call = parsed.choices[0].message.tool_calls[0]  # type: ignore[index]
    assert json.loads(call.function.arguments) == TOOL_CALL.arguments  # type: ignore[union-attr]
    assert parsed.usage is not None
    assert parsed.usage.prompt_tokens_details is not None
    assert parsed.usage.prompt_tokens_details.cached_tokens == 16


def test_stream_events_are_what_the_sdk_parses() -> None:
    """Every chunk of a text stream and of a tool call stream, the usage chunk too, is a ChatCompletionChunk."""
    for pieces in (text_stream("a", "b"), tool_call_stream(TOOL_CALL)):
        for event in _events(pieces):
            ChatCompletionChunk.model_validate(event)
    assert ChatCompletionChunk.model_validate(usage_chunk()).choices == []


def test_error_objects_are_what_the_sdk_parses() -> None:
    """error_body() is the SDK's ErrorObject under "error"."""
    parsed = ErrorObject.model_validate(
        error_body("nope", type="insufficient_quota", code="insufficient_quota")["error"]
    )
    assert (parsed.message, parsed.code) == ("nope", "insufficient_quota")


@pytest.mark.anyio
async def test_the_sdk_reads_our_streams_as_we_mean_them() -> None:
    """The SDK, pointed at the scripted server, assembles the same text and tool call the builders meant."""
    calls = [TOOL_CALL, ToolCall("call_2", "other", {"n": 1})]
    with ScriptedServer() as server:
        server.add(sse_reply(text_stream("Hel", "lo")), sse_reply(tool_call_stream(*calls)))
        client = openai.AsyncOpenAI(base_url=server.url + "/v1", api_key="sk-oracle", max_retries=0)
        try:
            text = []
            async for piece in await client.chat.completions.create(
                model="m", messages=[{"role": "user", "content": "x"}], stream=True
            ):
                if piece.choices and piece.choices[0].delta.content:
                    text.append(piece.choices[0].delta.content)
            arguments: dict[int, list[str]] = {}
            ids: dict[int, str] = {}
            async for piece in await client.chat.completions.create(
                model="m", messages=[{"role": "user", "content": "x"}], stream=True
            ):
                for delta in (piece.choices[0].delta.tool_calls or []) if piece.choices else []:
                    if delta.id:
                        ids[delta.index] = delta.id
                    if delta.function and delta.function.arguments:
                        arguments.setdefault(delta.index, []).append(delta.function.arguments)
        finally:
            await client.close()
    assert "".join(text) == "Hello"
    assert [ids[i] for i in sorted(ids)] == [c.id for c in calls]
    assert [json.loads("".join(arguments[i])) for i in sorted(arguments)] == [dict(c.arguments) for c in calls]


def test_adapter_streams_a_call_in_pieces() -> None:
    """The kit adapter splits a call's arguments over several chunks that join to the whole JSON."""
    pieces = OpenAICompatibleWire().tool_call_pieces(TOOL_CALL)
    assert pieces is not None
    assert pieces[-1] == DONE
    deltas = [c["choices"][0]["delta"].get("tool_calls", [{}])[0] for c in _events(list(pieces)) if c["choices"]]
    arguments = "".join(d.get("function", {}).get("arguments", "") for d in deltas)
    assert json.loads(arguments) == TOOL_CALL.arguments
    assert sum(1 for d in deltas if d.get("function", {}).get("arguments")) >= 2


@pytest.mark.parametrize("status", [400, 401, 403, 404, 429, 500, 503, 418])
def test_adapter_errors_are_openai_objects_carrying_the_message(status: int) -> None:
    """error_reply gives OpenAI's object for each status, with the kit's message in it."""
    reply = error_reply(status, "scripted")
    assert reply.status == status
    body = json.loads(b"".join(reply.chunks))
    assert body["error"]["message"] == "scripted"
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert (body["error"]["code"] == "model_not_found") == (status == 404)


def test_chunk_fields_add_to_the_chunk() -> None:
    """A server's own fields (llama.cpp's timings, Mistral's message prefix) are one keyword away."""
    assert chunk("x", timings={"n": 1})["timings"] == {"n": 1}
    assert completion("y", message={"prefix": False})["choices"][0]["message"]["prefix"] is False
