"""Function calling with thought signatures, over two real requests: the model's parts go back unchanged.

Gemini 3 answers 400 "Function call is missing a thought_signature" to a turn
whose call lost its signature, so the second request must carry the model's
parts exactly as they came, and answer each call with a ``functionResponse``
of the same name. The official SDK (``google-genai``, a test-only oracle) is
driven through the same exchange against the same scripted server, and its
second request is the yardstick.
"""

from __future__ import annotations

import base64
import json
import re
import sys
from collections.abc import Callable
from typing import Any

import anyio
import pytest
from google import genai
from google.genai import types as gt

from clawdesk import (
    ChatOptions,
    Clawdesk,
    FinishReason,
    Message,
    Reasoning,
    ReasoningDelta,
    ReasoningPart,
    Role,
    StreamEvent,
    TextDelta,
    TextPart,
    Tool,
    ToolCall,
    ToolCallEvent,
)
from clawdesk.testing import ScriptedServer

_conftest = sys.modules["clawdesk_gemini_testwire"]
KEY: str = _conftest.KEY
ORACLE_KEY: str = _conftest.ORACLE_KEY

Make = Callable[..., Clawdesk]
# Opaque signatures as Gemini sends them: standard base64 (with "+", "/" and padding) of bytes
# only Google can read. The official SDK re-encodes them URL-safe; clawdesk must not touch them.
SIG_CALL = "CiQBj2NhbGz7/78HCAkKCwwNDg8QERITFBUWFxgZGhscHQ=="
SIG_THOUGHT = "CiQBj3Rob3VnaHT7/78HCAkKCwwNDg8QERITFBUWFxgZGhscHQ=="
SIG_TEXT = "CiQBj3RleHT7/78HCAkKCwwNDg8QERITFBUWFxgZGhscHQ=="
WEATHER = Tool(
    "get_weather",
    "Current weather for a city",
    {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {"city": {"type": "string"}, "unit": {"enum": ["C", "F"]}},
        "required": ["city"],
        "additionalProperties": False,
    },
)
CLOCK = Tool("get_time", "Local time in a city", {"type": "object", "properties": {"city": {"type": "string"}}})


def _first_answer(gw: Any, *, ids: bool = False) -> dict[str, Any]:
    """The model thinks, says a word, then asks for two calls in parallel; only the first call is signed."""
    return gw.response(
        gw.text("The user wants weather and time; call both tools.", thought=True),
        gw.text("Let me check.", signature=SIG_TEXT),
        gw.call("get_weather", {"city": "Paris", "unit": "C"}, signature=SIG_CALL, call_id="fc-1" if ids else None),
        gw.call("get_time", {"city": "Paris"}, call_id="fc-2" if ids else None),
        usage=gw.usage(12, 20, thoughts=31),
    )


def _second_answer(gw: Any) -> dict[str, Any]:
    return gw.response(gw.text("It is 18 °C and noon in Paris."), usage=gw.usage(80, 11))


@pytest.mark.anyio
async def test_function_call_round_trip_keeps_signatures(server: ScriptedServer, make_client: Make, gw: Any) -> None:
    """The second request carries the model's parts, thoughtSignature unchanged, and functionResponse parts by name."""
    first = _first_answer(gw)
    server.add(gw.json(first), gw.answer(gw.text("It is 18 °C and noon in Paris.")))
    options = ChatOptions(tools=(WEATHER, CLOCK), reasoning=Reasoning())
    question = Message.user("Weather and time in Paris?")
    async with make_client() as cd:
        reply = await cd.chat("gemini/gemini-2.5-flash", [question], options)
        assert reply.finish_reason is FinishReason.TOOL_CALLS
        assert reply.finish_reason_raw == "STOP"
        weather, clock = reply.message.tool_calls
        assert (weather.name, dict(weather.arguments), weather.signature) == (
            "get_weather",
            {"city": "Paris", "unit": "C"},
            SIG_CALL,
        )
        assert clock.signature is None
        assert weather.id != clock.id
        assert reply.message.content == (
            ReasoningPart("The user wants weather and time; call both tools.", source="gemini"),
            TextPart("Let me check.", signature=SIG_TEXT),
        )
        history = [
            question,
            reply.message,
            Message.tool_result(weather.id, "18 °C, clear"),
            Message.tool_result(clock.id, '{"time": "12:00", "zone": "CET"}'),
        ]
        final = await cd.chat("gemini/gemini-2.5-flash", history, options)
    assert final.message.text == "It is 18 °C and noon in Paris."
    sent = server.requests[1].json()
    user, model, results = sent["contents"]
    assert user == {"role": "user", "parts": [{"text": "Weather and time in Paris?"}]}
    # The model's turn exactly as the model sent it: every part, every signature, args as objects.
    assert model == {"role": "model", "parts": first["candidates"][0]["content"]["parts"]}
    assert results == {
        "role": "user",
        "parts": [
            {"functionResponse": {"name": "get_weather", "response": {"result": "18 °C, clear"}}},
            {"functionResponse": {"name": "get_time", "response": {"time": "12:00", "zone": "CET"}}},
        ],
    }
    # The raw bytes too: no re-encoding of the signature on its way back.
    assert f'"thoughtSignature":"{SIG_CALL}"'.encode() in server.requests[1].body


@pytest.mark.anyio
async def test_gemini3_ids_are_echoed(server: ScriptedServer, make_client: Make, gw: Any) -> None:
    """When Gemini names its calls (Gemini 3 does), the calls go back with their ids and each result names its id."""
    gw.model = "gemini-3-flash-preview"
    server.add(gw.json(_first_answer(gw, ids=True)), gw.json(_second_answer(gw)))
    options = ChatOptions(tools=(WEATHER, CLOCK))
    async with make_client() as cd:
        reply = await cd.chat("gemini/gemini-3-flash-preview", "Weather and time in Paris?", options)
        assert [c.id for c in reply.message.tool_calls] == ["fc-1", "fc-2"]
        history = [
            Message.user("Weather and time in Paris?"),
            reply.message,
            Message.tool_result("fc-2", "12:00"),
            Message.tool_result("fc-1", "18 °C"),
        ]
        await cd.chat("gemini/gemini-3-flash-preview", history, options)
    _, model, results = server.requests[1].json()["contents"]
    calls = [p for p in model["parts"] if "functionCall" in p]
    assert [c["functionCall"]["id"] for c in calls] == ["fc-1", "fc-2"]
    assert calls[0]["thoughtSignature"] == SIG_CALL
    assert [p["functionResponse"]["id"] for p in results["parts"]] == ["fc-2", "fc-1"]
    assert [p["functionResponse"]["name"] for p in results["parts"]] == ["get_time", "get_weather"]


@pytest.mark.anyio
async def test_streamed_round_trip_keeps_signatures(server: ScriptedServer, make_client: Make, gw: Any) -> None:
    """A streamed answer's events carry the signatures; the message rebuilt from them replays the model's parts."""
    chunks = [
        gw.response(gw.text("Thinking about tools.", thought=True, signature=SIG_THOUGHT), finish=None),
        gw.response(gw.call("get_weather", {"city": "Paris"}, signature=SIG_CALL), finish=None),
        gw.response(gw.text("", signature=SIG_TEXT), finish="STOP", usage=gw.usage(12, 9, thoughts=40)),
    ]
    server.add(gw.stream(*chunks), gw.answer(gw.text("18 °C.")))
    options = ChatOptions(tools=(WEATHER,), reasoning=Reasoning(effort="low"))
    async with make_client() as cd:
        async with cd.stream("gemini/gemini-2.5-flash", "Weather in Paris?", options) as stream:
            events: list[StreamEvent] = [e async for e in stream]
        assert ReasoningDelta("Thinking about tools.", signature=SIG_THOUGHT, source="gemini") in events
        assert TextDelta("", signature=SIG_TEXT) in events
        calls = [e.call for e in events if isinstance(e, ToolCallEvent)]
        assert [c.signature for c in calls] == [SIG_CALL]
        assistant = _message_from(events)
        history = [Message.user("Weather in Paris?"), assistant, Message.tool_result(calls[0].id, "18 °C")]
        await cd.chat("gemini/gemini-2.5-flash", history, options)
    _, model, results = server.requests[1].json()["contents"]
    # Reasoning and text come first in a clawdesk message, calls last: the parts keep their
    # signatures, and each part is one of the model's own.
    sent_parts = [p for c in chunks for p in c["candidates"][0]["content"]["parts"]]
    assert sorted(model["parts"], key=json.dumps) == sorted(sent_parts, key=json.dumps)
    assert results["parts"] == [{"functionResponse": {"name": "get_weather", "response": {"result": "18 °C"}}}]


def _message_from(events: list[StreamEvent]) -> Message:
    """An assistant message from stream events, as a caller keeps one: each signed delta closes its part."""
    parts: list[TextPart | ReasoningPart] = []
    calls: list[ToolCall] = []
    for event in events:
        if isinstance(event, ReasoningDelta):
            parts.append(ReasoningPart(event.text, signature=event.signature, source=event.source))
        elif isinstance(event, TextDelta):
            parts.append(TextPart(event.text, signature=event.signature))
        elif isinstance(event, ToolCallEvent):
            calls.append(event.call)
    return Message(Role.ASSISTANT, tuple(parts), tool_calls=tuple(calls))


def _same_bytes(data: Any) -> Any:
    """``data`` with every thoughtSignature decoded to bytes and snake_case keys made camelCase.

    The SDK sends a signature's bytes re-encoded as URL-safe base64 and some
    field names in snake_case (both of which Google's JSON parser accepts);
    what must agree is the bytes and the fields.
    """
    if isinstance(data, dict):
        out = {}
        for key, value in data.items():
            camel = re.sub(r"_([a-z])", lambda m: m.group(1).upper(), key)
            if camel == "thoughtSignature":
                out[camel] = base64.urlsafe_b64decode(value.replace("+", "-").replace("/", "_"))
            else:
                out[camel] = _same_bytes(value)
        return out
    if isinstance(data, list):
        return [_same_bytes(item) for item in data]
    return data


def test_sdk_sends_the_same_second_request(server: ScriptedServer, make_client: Make, gw: Any) -> None:
    """The official SDK, given the same exchange, sends the same second request: parts, signatures, tools."""
    first = _first_answer(gw)
    for _ in range(2):
        server.add(gw.json(first), gw.json(_second_answer(gw)))
    http_options = gt.HttpOptions(base_url=server.url, api_version="v1beta")
    client = genai.Client(api_key=ORACLE_KEY, http_options=http_options)
    declarations = [
        gt.FunctionDeclaration(name=t.name, description=t.description, parameters_json_schema=dict(t.parameters))
        for t in (WEATHER, CLOCK)
    ]
    config = gt.GenerateContentConfig(
        tools=[gt.Tool(function_declarations=declarations)],
        automatic_function_calling=gt.AutomaticFunctionCallingConfig(disable=True),
    )
    question = gt.Content(role="user", parts=[gt.Part(text="Weather and time in Paris?")])
    answer = client.models.generate_content(model="gemini-2.5-flash", contents=[question], config=config)
    assert answer.candidates is not None
    model_turn = answer.candidates[0].content
    assert model_turn is not None
    responses = gt.Content(
        role="user",
        parts=[
            gt.Part.from_function_response(name="get_weather", response={"result": "18 °C, clear"}),
            gt.Part.from_function_response(name="get_time", response={"time": "12:00", "zone": "CET"}),
        ],
    )
    client.models.generate_content(model="gemini-2.5-flash", contents=[question, model_turn, responses], config=config)
    sdk = server.requests[1]

    async def ours() -> None:
        options = ChatOptions(tools=(WEATHER, CLOCK))
        async with make_client() as cd:
            reply = await cd.chat("gemini/gemini-2.5-flash", "Weather and time in Paris?", options)
            weather, clock = reply.message.tool_calls
            history = [
                Message.user("Weather and time in Paris?"),
                reply.message,
                Message.tool_result(weather.id, "18 °C, clear"),
                Message.tool_result(clock.id, '{"time": "12:00", "zone": "CET"}'),
            ]
            await cd.chat("gemini/gemini-2.5-flash", history, options)

    anyio.run(ours)
    mine = server.requests[3]
    assert mine.path == sdk.path == "/v1beta/models/gemini-2.5-flash:generateContent"
    assert _same_bytes(mine.json()["contents"]) == _same_bytes(sdk.json()["contents"])
    assert _same_bytes(mine.json()["tools"]) == _same_bytes(sdk.json()["tools"])
    # Where the SDK re-encodes the signature, clawdesk sends Gemini's own string back.
    assert SIG_CALL not in sdk.body.decode()
    assert SIG_CALL in mine.body.decode()
    assert sdk.headers["x-goog-api-key"] == ORACLE_KEY
    assert mine.headers["x-goog-api-key"] == KEY
