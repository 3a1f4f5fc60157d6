"""clawdesk-openai (and clawdesk-mistral, clawdesk-ollama pointed at it) against a real llama-server.

The server is llama.cpp's, from ``scripts/local_llm.py`` (SmolLM2-135M-Instruct, ``--jinja -c 4096``);
the session fixture ``llm_url`` starts it. At temperature 0 its answers are the same every run, so
they can be checked. Tool calls are left to the scripted servers: a 135M model does not call tools
reliably. Each test makes its own client, as a connection that carried a stream is closed by the
server (the llama.cpp dialect asks for ``Connection: close`` on streams for that reason; see
``test_chat_after_stream_on_one_client``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

import clawdesk
import clawdesk_mistral._plugin
import clawdesk_ollama._plugin
import clawdesk_openai._plugin
from clawdesk import (
    AllProvidersFailed,
    ApiError,
    ChatOptions,
    ConnectionFailed,
    ContextLengthExceeded,
    Finish,
    FinishReason,
    Message,
    ModelNotFound,
    ResponseFormat,
    StreamInterrupted,
    TextDelta,
    UsageEvent,
)
from clawdesk.testing import unused_port

pytestmark = [pytest.mark.realserver, pytest.mark.anyio]

ROOT = Path(__file__).resolve().parents[2]
QUESTION = "What is 2+2?"
# ~6,000 tokens: over the 4096 context, and only tokenised (a prompt that fits would take ~16 s to read).
TOO_LONG = "word " * 6000
ZERO = ChatOptions(temperature=0, max_tokens=48)


@pytest.fixture
def anyio_backend() -> str:
    """One event loop is enough here: the plugins' trio runs are the scripted tiers' business."""
    return "asyncio"


def _config(llm_url: str, *, dialect: str | None = "llama.cpp") -> str:
    lines = ["[providers.local]", 'plugin = "openai"', f'base_url = "{llm_url}"', "max_retries = 0"]
    if dialect:
        lines.append(f'dialect = "{dialect}"')
    lines += ["", "[providers.mistral]", f'base_url = "{llm_url}"', 'api_key = "unused-by-llama-server"']
    lines += ["max_retries = 0", "", "[providers.ollama]", f'base_url = "{llm_url.removesuffix("/v1")}"']
    lines.append("max_retries = 0")
    return "\n".join(lines) + "\n"


@asynccontextmanager
async def client(llm_url: str, **kw: Any) -> AsyncIterator[clawdesk.Clawdesk]:
    registry = clawdesk.Registry(discover=False)
    for plugin in (clawdesk_openai._plugin, clawdesk_mistral._plugin, clawdesk_ollama._plugin):
        registry.register(plugin)
    config = clawdesk.parse_config(_config(llm_url, **kw))
    async with clawdesk.Clawdesk(registry=registry, config=config, env={}) as cd:
        yield cd


async def stream_events(cd: clawdesk.Clawdesk, model: str, messages: Any, options: ChatOptions) -> list[Any]:
    async with cd.stream(model, messages, options) as events:
        return [event async for event in events]


async def ask(cd: clawdesk.Clawdesk, model: str, prompt: str, *, streamed: bool) -> object:
    """One chat or one whole stream, as ``streamed`` says."""
    if streamed:
        return await stream_events(cd, model, prompt, ZERO)
    return await cd.chat(model, prompt, ZERO)


def _text(events: list[Any]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


@pytest.mark.parametrize("dialect", ["llama.cpp", None], ids=["llama.cpp", "auto"])
async def test_chat_answers_with_usage(llm_url: str, dialect: str | None) -> None:
    """A whole answer from the real model, with its usage (cached tokens too), named or by auto dialect."""
    async with client(llm_url, dialect=dialect) as cd:
        response = await cd.chat("local/smollm2", QUESTION, ZERO)
    assert "4" in response.message.text
    assert (response.finish_reason, response.finish_reason_raw) == (FinishReason.STOP, "stop")
    usage = response.usage
    assert (usage.input_tokens or 0) > 0
    assert (usage.output_tokens or 0) > 0
    assert isinstance(usage.cache_read_tokens, int)
    assert (response.provider, response.model) == ("local", "smollm2")


async def test_stream_answers_with_usage(llm_url: str) -> None:
    """A streamed answer: text deltas, the include_usage chunk as one UsageEvent, one Finish."""
    async with client(llm_url) as cd:
        events = await stream_events(cd, "local/smollm2", QUESTION, ZERO)
    assert "4" in _text(events)
    [usage] = [e.usage for e in events if isinstance(e, UsageEvent)]
    assert (usage.input_tokens or 0) > 0
    assert (usage.output_tokens or 0) > 0
    assert events[-1] == Finish(FinishReason.STOP, "stop")


async def test_system_prompt_reaches_the_model(llm_url: str) -> None:
    """A system prompt is in the prompt the model reads: it changes the answer, and a longer one is more tokens.

    Whether the 135M model then *obeys* it is a property of the llama.cpp build, not of the plugin: at
    temperature 0 the prebuilt server answered the pirate prompt as a pirate, and a source build for a Zen 4
    answers it "Two and two is a double." (both measured). The prompt's token count is the same in both.
    """
    short = "You are a pirate."
    long = f"{short} Always start your answer with Arr."
    async with client(llm_url) as cd:
        plain = await cd.chat("local/smollm2", QUESTION, ZERO)
        pirate = await cd.chat("local/smollm2", [Message.system(short), Message.user(QUESTION)], ZERO)
        longer = await cd.chat("local/smollm2", [Message.system(long), Message.user(QUESTION)], ZERO)
    assert pirate.message.text != plain.message.text
    assert longer.message.text != plain.message.text
    # SmolLM2's template puts its own system prompt in when there is none, so the three differ in length.
    counts = [r.usage.input_tokens for r in (plain, pirate, longer)]
    assert len(set(counts)) == 3, counts
    assert (pirate.usage.input_tokens or 0) < (longer.usage.input_tokens or 0)


async def test_stop_sequences(llm_url: str) -> None:
    """A stop sequence ends the answer before it: counting stops before the first comma."""
    options = ChatOptions(temperature=0, max_tokens=60, stop=[","])
    async with client(llm_url) as cd:
        response = await cd.chat("local/smollm2", "Count from 1 to 10, separated by commas.", options)
    assert response.message.text.strip() == "1"
    assert response.finish_reason is FinishReason.STOP


@pytest.mark.parametrize("streamed", [False, True], ids=["chat", "stream"])
async def test_max_tokens_ends_with_length(llm_url: str, streamed: bool) -> None:
    """max_tokens cuts the answer: finish_reason length, exactly that many output tokens."""
    options = ChatOptions(temperature=0, max_tokens=5)
    prompt = "Count from 1 to 50."
    async with client(llm_url) as cd:
        if streamed:
            events = await stream_events(cd, "local/smollm2", prompt, options)
            reason = events[-1].reason
            [usage] = [e.usage for e in events if isinstance(e, UsageEvent)]
        else:
            response = await cd.chat("local/smollm2", prompt, options)
            reason, usage = response.finish_reason, response.usage
    assert reason is FinishReason.LENGTH
    assert usage.output_tokens == 5


async def test_json_schema_answer_parses(llm_url: str) -> None:
    """A JSON-schema constrained answer parses and has the schema's shape (the grammar fixes shape, not truth)."""
    schema = {
        "type": "object",
        "properties": {"answer": {"type": "integer"}},
        "required": ["answer"],
        "additionalProperties": False,
    }
    options = ChatOptions(temperature=0, max_tokens=40, response_format=ResponseFormat.json_schema(schema))
    async with client(llm_url) as cd:
        response = await cd.chat("local/smollm2", "What is 2+2? Answer in JSON.", options)
    parsed = json.loads(response.message.text)
    assert set(parsed) == {"answer"}
    assert isinstance(parsed["answer"], int)


async def test_json_mode_is_enforced_through_a_schema(llm_url: str) -> None:
    """JSON mode: llama.cpp does not enforce json_object, so its dialect sends a schema of any object, which it does."""
    options = ChatOptions(temperature=0, max_tokens=60, response_format=ResponseFormat.json())
    async with client(llm_url) as cd:
        events = await stream_events(cd, "local/smollm2", "Give me a JSON object with the answer to 2+2", options)
    if events[-1].reason is FinishReason.STOP:
        assert isinstance(json.loads(_text(events)), dict)
    else:  # cut by max_tokens: still the start of an object
        assert _text(events).lstrip().startswith("{")


@pytest.mark.parametrize("streamed", [False, True], ids=["chat", "stream"])
async def test_context_overflow_is_context_length_exceeded(llm_url: str, streamed: bool) -> None:
    """A prompt over the context: llama.cpp's 400 exceed_context_size_error is ContextLengthExceeded."""
    async with client(llm_url) as cd:
        with pytest.raises(AllProvidersFailed) as info:
            await ask(cd, "local/smollm2", TOO_LONG, streamed=streamed)
    error = info.value.attempts[0].error
    assert isinstance(error, ContextLengthExceeded)
    assert (error.provider, error.status) == ("local", 400)
    assert "exceeds the available context size" in str(error)


async def test_server_down_is_connection_failed() -> None:
    """Nothing listening: ConnectionFailed naming the provider, in well under the timeout."""
    async with client(f"http://127.0.0.1:{unused_port()}/v1") as cd:
        with pytest.raises(AllProvidersFailed) as info:
            await cd.chat("local/smollm2", QUESTION, ZERO)
    error = info.value.attempts[0].error
    assert isinstance(error, ConnectionFailed)
    assert error.provider == "local"


async def test_chat_after_stream_on_one_client(llm_url: str) -> None:
    """Streams and chats alternating on one pooled client all succeed without a retry: llama.cpp's dialect asks
    for Connection: close on streams, so no request goes out on a connection the server is closing."""
    options = ChatOptions(temperature=0, max_tokens=4)
    async with client(llm_url) as cd:
        for _ in range(10):
            events = await stream_events(cd, "local/smollm2", QUESTION, options)
            response = await cd.chat("local/smollm2", QUESTION, options)
            assert isinstance(events[-1], Finish)
            assert response.message.text


async def test_mistral_pointed_at_the_server_reports_stream_usage(llm_url: str) -> None:
    """clawdesk-mistral off La Plateforme asks for stream usage: input_tokens is a number, not null."""
    async with client(llm_url) as cd:
        response = await cd.chat("mistral/smollm2", QUESTION, ZERO)
        events = await stream_events(cd, "mistral/smollm2", QUESTION, ZERO)
        with pytest.raises(AllProvidersFailed) as info:
            await cd.chat("mistral/smollm2", TOO_LONG, ZERO)
    assert "4" in response.message.text
    assert "4" in _text(events)
    [usage] = [e.usage for e in events if isinstance(e, UsageEvent)]
    assert (usage.input_tokens or 0) > 0
    assert isinstance(info.value.attempts[0].error, ContextLengthExceeded)


async def test_ollama_pointed_at_the_server_says_it_is_not_ollama(llm_url: str) -> None:
    """clawdesk-ollama at a llama-server: its 404 JSON body is not Ollama's, so not an unknown model."""
    async with client(llm_url) as cd:
        for streamed in (False, True):
            with pytest.raises(AllProvidersFailed) as info:
                await ask(cd, "ollama/smollm2", QUESTION, streamed=streamed)
            error = info.value.attempts[0].error
            assert type(error) is ApiError
            assert not isinstance(error, ModelNotFound)
            assert "does not look like Ollama" in str(error)
            assert not isinstance(error, StreamInterrupted)


def _cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "CLAWDESK_"))}
    return subprocess.run(
        [sys.executable, "-m", "clawdesk", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**clean, **env},
        check=False,
    )


def test_cli_json_with_openai_base_url(llm_url: str) -> None:
    """`OPENAI_BASE_URL=<local server> clawdesk chat -m openai/smollm2 --json`: no key needed, usage not null."""
    result = _cli(["chat", "-m", "openai/smollm2", "--json", QUESTION], {"OPENAI_BASE_URL": llm_url})
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["content"] == "The answer to this classic math problem is 4."
    assert data["usage"]["input_tokens"] > 0
    assert data["usage"]["output_tokens"] > 0


def _readme_first_command() -> str:
    """The line of the README's quick start that is command 1."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = text.split("```sh", 1)[1].split("```", 1)[0]
    lines = block.strip().splitlines()
    return lines[lines.index(next(line for line in lines if line.startswith("# 1."))) + 1]


@pytest.mark.slow
@pytest.mark.timeout(600)  # a fresh venv and three packages built and installed, then the server started
def test_readme_first_command_prints_the_answer(llm_installation: Any, tmp_path: Path) -> None:
    """The README's command 1, run as written in a fresh copy of the checkout with a fresh venv, prints the
    local model's answer; a real OPENAI_API_KEY in the environment stays out of it."""
    command = _readme_first_command()
    assert command.startswith("python3 -m venv .venv && ")
    checkout = tmp_path / "checkout"
    skip = shutil.ignore_patterns(".venv", "__pycache__", "*.egg-info", "build", "dist", "tests")
    for part in ("core", "libs", "plugins", "scripts"):
        shutil.copytree(ROOT / part, checkout / part, ignore=skip)
    # The server and model already installed for this session, linked: command 1 would download them once.
    models = tmp_path / "local-llm"
    models.mkdir()
    for name in ("server", "model"):
        (models / name).symlink_to(llm_installation.root / name, target_is_directory=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLAWDESK_", "VIRTUAL_ENV", "PYTHON"))}
    env.update(CLAWDESK_LLM_DIR=str(models), OPENAI_API_KEY="sk-real-key-stays-home", PIP_DISABLE_PIP_VERSION_CHECK="1")
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if ".venv" not in p)
    result = subprocess.run(
        ["bash", "-c", command], cwd=checkout, capture_output=True, text=True, timeout=580, env=env, check=False
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    # The server's default temperature is 0 (local_llm.py starts it with --temp 0): always this answer.
    assert result.stdout == "The answer to this classic math problem is 4.\n"
    assert "sk-real-key-stays-home" not in result.stdout + result.stderr
