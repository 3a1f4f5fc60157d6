"""The application API as an application uses it, against a scripted Mistral (and Ollama) over real HTTP.

Dict messages, Config built in code, a per-call chain, collecting a stream,
the tool loop on chat and stream, structured output, and the sync wrapper's
stream. Each test runs on asyncio and trio.
"""

from __future__ import annotations

from typing import Any, Literal

import attrs
import pytest
from everyday_wire import KEY, MODEL, mistral_answer, mistral_stream, ollama_answer, ollama_stream, thinking, tool_call

from clawdesk import (
    Clawdesk,
    ConfigError,
    FunctionTool,
    InvalidOutput,
    Message,
    SyncClawdesk,
    TextDelta,
    ToolResultEvent,
    ToolStepsExceeded,
    config_from_dict,
    function_tool,
)
from clawdesk.testing import Reply, ScriptedServer

pytestmark = pytest.mark.anyio
PINNED = f"mistral/{MODEL}"


def client(mistral: ScriptedServer, *, ollama: ScriptedServer | None = None, **fallback: Any) -> Clawdesk:
    """A client built in code (config_from_dict) for the scripted servers, with the test key."""
    # The scripted server plays La Plateforme, which refuses stream_options: say so.
    mistral_table = {"base_url": mistral.url + "/v1", "api_key": KEY, "max_retries": 0, "stream_usage": False}
    providers: dict[str, Any] = {"mistral": mistral_table}
    if ollama is not None:
        providers["ollama"] = {"base_url": ollama.url, "max_retries": 0}
    config = config_from_dict({"providers": providers, "fallback": {"max_retries_per_provider": 0, **fallback}})
    return Clawdesk(config=config, env={})


# -- messages and config ------------------------------------------------------------------------------------


async def test_openai_style_dicts_are_sent_as_messages(mistral: ScriptedServer) -> None:
    """A history of OpenAI dicts (system, image part, tool call, tool result) reaches the wire as Messages would."""
    mistral.add(mistral_answer("18 degrees."))
    history = [
        {"role": "developer", "content": "Be brief."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Weather where this is?"},
                {"type": "image_url", "image_url": {"url": "https://example.com/tower.jpg", "detail": "low"}},
            ],
        },
        {
            "role": "assistant",
            "content": None,
            "refusal": None,
            "tool_calls": [tool_call("call_1", "weather", {"city": "Paris"})],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "18 C"},
        Message.user("So?"),
    ]
    async with client(mistral) as cd:
        response = await cd.chat(PINNED, history)
    assert response.message.text == "18 degrees."
    sent = mistral.requests[0].json()["messages"]
    assert sent[0] == {"role": "system", "content": "Be brief."}
    assert sent[1]["content"][1] == {"type": "image_url", "image_url": "https://example.com/tower.jpg"}
    assert sent[2]["tool_calls"][0]["function"] == {"name": "weather", "arguments": '{"city":"Paris"}'}
    assert sent[3] == {"role": "tool", "tool_call_id": "call_1", "content": "18 C"}
    assert sent[4] == {"role": "user", "content": "So?"}


@pytest.mark.parametrize(
    ("message", "error"),
    [
        ({"role": "user", "content": [{"type": "text", "text": 5}]}, "messages[1].content[0].text: expected a string"),
        ({"role": "robot", "content": "hi"}, "messages[1].role: expected one of"),
        ({"role": "user", "content": "hi", "mood": "happy"}, "messages[1].mood: unknown key"),
        ({"role": "user", "content": [{"type": "input_audio"}]}, "messages[1].content[0].type: audio parts"),
        ({"role": "tool", "content": "18 C"}, "messages[1]: a tool message needs tool_call_id"),
    ],
    ids=["text-not-a-string", "role", "unknown-key", "audio", "tool-without-id"],
)
async def test_a_bad_dict_is_refused_before_sending(mistral: ScriptedServer, message: Any, error: str) -> None:
    """A dict that cannot be a Message raises ValueError naming its key path, and nothing is sent."""
    async with client(mistral) as cd:
        with pytest.raises(ValueError, match=error.replace("[", r"\[").replace("]", r"\]")):
            await cd.chat(PINNED, [{"role": "user", "content": "first"}, message])
    assert mistral.requests == []


def test_config_from_dict_checks_like_the_file() -> None:
    """Config built in code is checked like config.toml: errors name the key path; the dict is not changed."""
    data = {"providers": {"mistral": {"api_key": "sk-in-code-12345678"}}, "fallback": {"chain": ["mistral"]}}
    config = config_from_dict(data)
    assert config.fallback.chain == ("mistral",)
    assert data["providers"]["mistral"]["api_key"] == "sk-in-code-12345678"  # the caller's dict is left alone
    assert "sk-in-code" not in repr(config)
    with pytest.raises(ConfigError, match=r"fallback\.strategy"):
        config_from_dict({"fallback": {"strategy": "random"}})
    with pytest.raises(ConfigError, match="unknown key"):
        config_from_dict({"default_modle": "x"})


async def test_per_call_chain_moves_on(mistral: ScriptedServer, ollama: ScriptedServer) -> None:
    """A list of models is a chain for this call: Mistral's 503 moves on to Ollama, who answers."""
    mistral.add(Reply.json({"message": "unavailable"}, status=503), Reply.json({"message": "unavailable"}, status=503))
    ollama.add(ollama_answer("From Ollama."), ollama_stream("Streamed."))
    async with client(mistral, ollama=ollama) as cd:
        result = await cd.chat_with_attempts([PINNED, "ollama/llama3.2"], "hi")
        stream = cd.stream([PINNED, "ollama/llama3.2"], "hi")
        response = await stream.collect()
    assert (result.response.provider, result.response.message.text) == ("ollama", "From Ollama.")
    assert [(a.provider, a.outcome) for a in result.attempts] == [("mistral", "failed"), ("ollama", "ok")]
    assert (response.provider, response.message.text) == ("ollama", "Streamed.")
    assert [(a.provider, a.outcome) for a in stream.attempts] == [("mistral", "failed"), ("ollama", "ok")]
    assert [r.json()["stream"] for r in ollama.requests] == [False, True]


# -- collecting a stream ------------------------------------------------------------------------------------


async def test_stream_yields_events_and_collects_the_response(mistral: ScriptedServer) -> None:
    """Iterating a stream still yields every event; afterwards .response is the whole answer."""
    mistral.add(mistral_stream(thinking("Hmm."), "Rayleigh", " scattering."))
    seen = []
    async with client(mistral) as cd, cd.stream(PINNED, "Why is the sky blue?") as stream:
        async for event in stream:
            seen.append(type(event).__name__)
    assert seen == ["ReasoningDelta", "TextDelta", "TextDelta", "UsageEvent", "Finish"]
    response = stream.response
    assert (response.message.text, response.message.reasoning) == ("Rayleigh scattering.", "Hmm.")
    assert (response.provider, response.model, response.finish_reason.value) == ("mistral", MODEL, "stop")
    assert response.usage.total_tokens == 15


async def test_texts_and_collect(mistral: ScriptedServer) -> None:
    """texts() yields just the text pieces; collect() then reads the rest and returns the response."""
    mistral.add(mistral_stream("One", " two", " three."))
    async with client(mistral) as cd:
        stream = cd.stream(PINNED, "count")
        pieces = []
        async for text in stream.texts():
            pieces.append(text)
            if len(pieces) == 1:
                break
        response = await stream.collect()
    assert pieces == ["One"]
    assert response.message.text == "One two three."


async def test_collect_gathers_tool_calls(mistral: ScriptedServer) -> None:
    """Tool calls streamed in pieces end up whole in the collected response."""
    from everyday_wire import SSE, chunk, frame

    call = {"index": 0, "id": "c1", "type": "function", "function": {"name": "lookup", "arguments": '{"q": '}}
    rest = {"index": 0, "function": {"arguments": '"tea"}'}}
    first, second = chunk(), chunk()
    first["choices"][0]["delta"] = {"tool_calls": [call]}
    second["choices"][0]["delta"] = {"tool_calls": [rest]}
    frames = [frame(first), frame(second), frame(chunk("", finish="tool_calls")), b"data: [DONE]\n\n"]
    mistral.add(Reply.stream(frames, content_type=SSE))
    async with client(mistral) as cd:
        response = await cd.stream(PINNED, "find tea").collect()
    assert [(c.id, c.name, dict(c.arguments)) for c in response.message.tool_calls] == [("c1", "lookup", {"q": "tea"})]
    assert response.finish_reason.value == "tool_calls"


async def test_response_before_the_end_says_so(mistral: ScriptedServer) -> None:
    """.response of a stream not read to its end raises RuntimeError instead of a half answer."""
    mistral.add(mistral_stream("a", "b"))
    async with client(mistral) as cd, cd.stream(PINNED, "q") as stream:
        await stream.__anext__()
        with pytest.raises(RuntimeError, match="not finished"):
            _ = stream.response


# -- the tool loop --------------------------------------------------------------------------------------------


def weather(city: str, unit: Literal["C", "F"] = "C") -> str:
    """The current temperature in a city."""
    return f"18 {unit} in {city}"


async def test_chat_with_tools_runs_the_calls(mistral: ScriptedServer) -> None:
    """The model asks for a tool, the function answers, the model answers: two steps, one conversation."""
    mistral.add(
        mistral_answer(None, finish="tool_calls", tool_calls=[tool_call("call_1", "weather", {"city": "Paris"})]),
        mistral_answer("It is 18 C in Paris."),
    )
    async with client(mistral) as cd:
        run = await cd.chat_with_tools(PINNED, "Weather in Paris?", [weather])
    assert run.text == "It is 18 C in Paris."
    assert len(run.steps) == 2
    assert [m.role.value for m in run.messages] == ["user", "assistant", "tool", "assistant"]
    first, second = (r.json() for r in mistral.requests)
    assert first["tools"][0]["function"]["name"] == "weather"
    assert first["tools"][0]["function"]["description"] == "The current temperature in a city."
    assert first["tools"][0]["function"]["parameters"]["properties"]["unit"] == {
        "enum": ["C", "F"],
        "default": "C",
    }
    assert second["messages"][-1] == {
        "role": "tool",
        "tool_call_id": "call_1",
        "name": "weather",
        "content": "18 C in Paris",
    }


async def test_the_models_mistakes_go_back_to_the_model(mistral: ScriptedServer) -> None:
    """An unknown tool or arguments that do not fit are answered with an error the model can read."""
    calls = [tool_call("c1", "forecast", {"city": "Oslo"}), tool_call("c2", "weather", {"town": "Oslo"})]
    mistral.add(mistral_answer(None, finish="tool_calls", tool_calls=calls), mistral_answer("Sorry."))
    async with client(mistral) as cd:
        run = await cd.chat_with_tools(PINNED, "Weather in Oslo?", [weather])
    results = [m for m in run.messages if m.role.value == "tool"]
    assert results[0].text.startswith("error: there is no tool named 'forecast'; the tools are: weather")
    assert "$.city: missing" in results[1].text
    assert "$.town: not an allowed property" in results[1].text


async def test_a_tool_that_raises_reaches_the_application(mistral: ScriptedServer) -> None:
    """An exception inside a tool function propagates out of the loop as it is."""

    async def explode(reason: str) -> str:
        """Always fails."""
        raise RuntimeError(f"boom: {reason}")

    mistral.add(mistral_answer(None, finish="tool_calls", tool_calls=[tool_call("c1", "explode", {"reason": "x"})]))
    async with client(mistral) as cd:
        with pytest.raises(RuntimeError, match="boom: x"):
            await cd.chat_with_tools(PINNED, "go", [explode])


async def test_step_limit(mistral: ScriptedServer) -> None:
    """A model that keeps asking for tools stops the loop at max_steps with ToolStepsExceeded and the run so far."""
    for i in range(2):
        call = tool_call(f"c{i}", "weather", {"city": "Rome"})
        mistral.add(mistral_answer(None, finish="tool_calls", tool_calls=[call]))
    async with client(mistral) as cd:
        with pytest.raises(ToolStepsExceeded, match="after 2 steps") as caught:
            await cd.chat_with_tools(PINNED, "loop", [weather], max_steps=2)
    assert len(caught.value.run.steps) == 2
    assert len(mistral.requests) == 2


async def test_stream_with_tools_yields_every_step(mistral: ScriptedServer) -> None:
    """Streamed: the first step's events, the tool result, the second step's events; .run at the end."""
    from everyday_wire import SSE, chunk, frame

    call = {"index": 0, "id": "c1", "type": "function", "function": {"name": "add", "arguments": '{"a": 2, "b": 3}'}}
    asking = chunk()
    asking["choices"][0]["delta"] = {"tool_calls": [call]}
    mistral.add(
        Reply.stream([frame(asking), frame(chunk("", finish="tool_calls")), b"data: [DONE]\n\n"], content_type=SSE),
        mistral_stream("2 + 3 = ", "5"),
    )

    @function_tool(name="add", description="Add two integers.")
    def adder(a: int, b: int) -> int:
        return a + b

    assert isinstance(adder, FunctionTool)
    kinds = []
    async with client(mistral) as cd, cd.stream_with_tools(PINNED, "2+3?", [adder]) as events:
        async for event in events:
            kinds.append(type(event).__name__)
            if isinstance(event, ToolResultEvent):
                assert (event.call.name, event.content, event.is_error) == ("add", "5", False)
    assert kinds == ["ToolCallEvent", "Finish", "ToolResultEvent", "TextDelta", "TextDelta", "UsageEvent", "Finish"]
    assert events.run.text == "2 + 3 = 5"
    assert mistral.requests[1].json()["messages"][-1]["content"] == "5"


# -- structured output --------------------------------------------------------------------------------------


@attrs.frozen
class City:
    name: str
    population: int
    landmarks: list[str] = attrs.Factory(list)


async def test_structured_output_into_an_attrs_class(mistral: ScriptedServer) -> None:
    """An attrs class becomes the request's JSON schema, and the answer an instance of it."""
    mistral.add(mistral_answer('{"name": "Paris", "population": 2102650, "landmarks": ["Eiffel Tower"]}'))
    async with client(mistral) as cd:
        city = await cd.chat_structured(PINNED, "The capital of France", City)
    assert city == City("Paris", 2102650, ["Eiffel Tower"])
    response_format = mistral.requests[0].json()["response_format"]
    assert response_format["type"] == "json_schema"
    assert response_format["json_schema"]["name"] == "City"
    assert response_format["json_schema"]["schema"]["required"] == ["name", "population"]
    assert response_format["json_schema"]["strict"] is False  # landmarks is optional


async def test_structured_output_with_a_schema(mistral: ScriptedServer) -> None:
    """A JSON schema gives back the parsed JSON value (a fenced answer is unwrapped)."""
    schema = {
        "type": "object",
        "properties": {"ok": {"type": "boolean"}},
        "required": ["ok"],
        "additionalProperties": False,
    }
    mistral.add(mistral_answer('```json\n{"ok": true}\n```'))
    async with client(mistral) as cd:
        assert await cd.chat_structured(PINNED, "ok?", schema) == {"ok": True}
    assert mistral.requests[0].json()["response_format"]["json_schema"]["strict"] is True


@pytest.mark.parametrize(
    ("answer", "finish", "problem"),
    [
        ('{"name": "Paris", "population": "many"}', "stop", "$.population: expected an integer"),
        ('{"name": "Paris"}', "stop", "$.population: missing"),
        ('{"name": "Par', "length", "not JSON"),
        ("Paris, about two million people.", "stop", "not JSON"),
    ],
    ids=["wrong-type", "missing", "cut-short", "prose"],
)
async def test_an_answer_that_does_not_fit_raises_invalid_output(
    mistral: ScriptedServer, answer: str, finish: str, problem: str
) -> None:
    """InvalidOutput keeps the text, every problem and the response; a cut-short answer says why."""
    mistral.add(mistral_answer(answer, finish=finish))
    async with client(mistral) as cd:
        with pytest.raises(InvalidOutput) as caught:
            await cd.chat_structured(PINNED, "city", City)
    error = caught.value
    assert error.text == answer
    assert any(problem in p for p in error.problems)
    assert error.response is not None
    assert error.response.finish_reason.value == finish
    if finish == "length":
        assert "cut short by the token limit" in str(error)


# -- the sync wrapper -----------------------------------------------------------------------------------------


def test_sync_stream_is_a_context_manager_with_target_and_attempts(mistral: ScriptedServer) -> None:
    """SyncClawdesk.stream matches the async one: `with`, iteration, target, attempts, response, collect."""
    mistral.add(mistral_stream("Hel", "lo."), mistral_stream("Again."))
    config = config_from_dict(
        {"providers": {"mistral": {"base_url": mistral.url + "/v1", "api_key": KEY, "stream_usage": False}}}
    )
    with SyncClawdesk(config=config, env={}) as cd:
        with cd.stream(PINNED, [{"role": "user", "content": "hi"}]) as events:
            texts = [e.text for e in events if isinstance(e, TextDelta)]
            assert str(events.target) == PINNED
            assert [(a.provider, a.outcome) for a in events.attempts] == [("mistral", "ok")]
        assert texts == ["Hel", "lo."]
        assert events.response.message.text == "Hello."
        assert cd.stream(PINNED, "again").collect().message.text == "Again."


def test_sync_stream_closes_when_the_loop_breaks(mistral: ScriptedServer) -> None:
    """Breaking out of a plain `for` over the sync stream closes the response (the server sees it go)."""
    import time

    mistral.add(mistral_stream(*[f"w{i} " for i in range(50)], delay=0.02))
    config = config_from_dict(
        {"providers": {"mistral": {"base_url": mistral.url + "/v1", "api_key": KEY, "stream_usage": False}}}
    )
    with SyncClawdesk(config=config, env={}) as cd:
        for event in cd.stream(PINNED, "long"):
            if isinstance(event, TextDelta):
                break
        for _ in range(200):
            if mistral.open_connections == 0:
                break
            time.sleep(0.01)
        assert mistral.open_connections == 0


def test_sync_tools_and_structured_output(mistral: ScriptedServer) -> None:
    """The tool loop and structured output work the same without an event loop."""
    mistral.add(
        mistral_answer(None, finish="tool_calls", tool_calls=[tool_call("c1", "weather", {"city": "Bern"})]),
        mistral_answer("Mild."),
        mistral_answer('{"name": "Bern", "population": 134794}'),
    )
    config = config_from_dict(
        {"providers": {"mistral": {"base_url": mistral.url + "/v1", "api_key": KEY, "stream_usage": False}}}
    )
    with SyncClawdesk(config=config, env={}) as cd:
        assert cd.chat_with_tools(PINNED, "Weather in Bern?", [weather]).text == "Mild."
        assert cd.chat_structured(PINNED, "Bern", City) == City("Bern", 134794)
    assert mistral.requests[1].json()["messages"][-1]["content"] == "18 C in Bern"
