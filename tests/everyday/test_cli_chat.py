"""``clawdesk chat`` as people use it: options, attachments, stdin with a prompt, reasoning, warnings, --version."""

from __future__ import annotations

import base64
import json
import math
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from everyday_wire import (
    MODEL,
    mistral_answer,
    mistral_stream,
    ollama_stream,
    thinking,
)
from hypothesis import given
from hypothesis import strategies as st

from clawdesk import ConfigError, ReasoningEffort
from clawdesk._chat_cli import parse_options
from clawdesk.testing import ScriptedServer

PINNED = ["-m", f"mistral/{MODEL}"]
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(64))


def test_version_prints_the_installed_version(cli: Any) -> None:
    """`clawdesk --version` prints the distribution's version on stdout and exits 0."""
    result = cli.subprocess("--version")
    assert result.status == 0, result
    assert result.out == f"clawdesk {metadata.version('clawdesk')}\n"
    assert result.err == ""


# -- -o options ------------------------------------------------------------------------------------------


def test_options_reach_the_request(cli: Any, mistral: ScriptedServer) -> None:
    """`-o temperature 0.2 -o max_tokens 100` become the request's temperature and max_tokens."""
    cli.configure(mistral=mistral.url + "/v1")
    mistral.add(mistral_stream("Hi."))
    result = cli("chat", *PINNED, "-o", "temperature", "0.2", "-o", "max_tokens", "100", "-o", "stop", "###", "hi")
    assert result.status == 0, result
    body = mistral.requests[0].json()
    assert (body["temperature"], body["max_tokens"], body["stop"]) == (0.2, 100, ["###"])


def test_provider_option_reaches_ollama(cli: Any, ollama: ScriptedServer) -> None:
    """`-o ollama.think true` is Ollama's own `think` field, typed as a boolean."""
    cli.configure(ollama=ollama.url)
    ollama.add(ollama_stream("Hello."))
    result = cli("chat", "-m", "ollama/llama3.2", "-o", "ollama.think", "true", "-o", "ollama.num_ctx", "8192", "hi")
    assert result.status == 0, result
    body = ollama.requests[-1].json()
    assert body["think"] is True
    assert body["options"]["num_ctx"] == 8192


def test_reasoning_effort_option_becomes_ollamas_think_level(cli: Any, ollama: ScriptedServer) -> None:
    """`-o reasoning_effort high` asks for reasoning; Ollama gets it as its think level."""
    cli.configure(ollama=ollama.url)
    ollama.add(ollama_stream("Done."))
    result = cli("chat", "-m", "ollama/llama3.2", "-o", "reasoning_effort", "high", "hi")
    assert result.status == 0, result
    assert ollama.requests[-1].json()["think"] == "high"


@pytest.mark.parametrize(
    ("option", "words"),
    [
        (["tempurature", "0.2"], ["-o tempurature", "unknown option", "did you mean 'temperature'"]),
        (["temperature", "hot"], ["-o temperature", "expected a number", "'hot'"]),
        (["max_tokens", "1.5"], ["-o max_tokens", "expected an integer"]),
        (["reasoning_effort", "extreme"], ["-o reasoning_effort", "expected one of"]),
        (["ollama.thinkk", "true"], ["-o ollama.thinkk", "unknown key", "think"]),
        (["ollama.num_ctx", "lots"], ["-o ollama.num_ctx", "expected an integer"]),
        (["nosuch.think", "true"], ["-o nosuch.think", "no provider named 'nosuch'"]),
    ],
    ids=["unknown", "not-a-number", "not-an-integer", "bad-effort", "unknown-provider-option", "bad-type", "provider"],
)
def test_bad_option_is_one_line_and_exit_2(
    cli: Any, mistral: ScriptedServer, option: list[str], words: list[str]
) -> None:
    """An unknown option or a value of the wrong type is a one-line usage error, and nothing is sent."""
    cli.configure(mistral=mistral.url + "/v1")
    result = cli("chat", *PINNED, "-o", *option, "hi")
    assert result.status == 2, result
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result
    assert lines[0].startswith("clawdesk: error: ")
    for word in words:
        assert word in lines[0]
    assert mistral.requests == []


names = st.sampled_from(["temperature", "top_p", "timeout"])


@given(name=names, value=st.floats(min_value=0.001, max_value=1e6, allow_nan=False))
def test_number_options_parse_as_typed(name: str, value: float) -> None:
    """Any number written the way Python prints it comes back as that number."""
    options, shown = parse_options(None, [[name, repr(value)]])  # type: ignore[arg-type]
    assert getattr(options, name) == value
    assert shown == {name: value}


@given(text=st.text(min_size=1, max_size=20).filter(lambda t: not t.lstrip().startswith("[")))
def test_a_stop_option_is_the_text_as_typed(text: str) -> None:
    """`-o stop TEXT` is one stop sequence, exactly the text typed (even when it looks like JSON)."""
    options, _ = parse_options(None, [["stop", text]])  # type: ignore[arg-type]
    assert options.stop == (text,)


@given(key=st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=12))
def test_any_other_key_is_refused(key: str) -> None:
    """A key that is not a chat option (and has no provider part) is a ConfigError naming it."""
    from clawdesk._chat_cli import _OPTION_TYPES

    if key in _OPTION_TYPES:
        return
    with pytest.raises(ConfigError, match=f"-o {key}: unknown option"):
        parse_options(None, [[key, "1"]])  # type: ignore[arg-type]


@given(effort=st.sampled_from(list(ReasoningEffort)), budget=st.none() | st.integers(0, 10**6))
def test_reasoning_options_combine(effort: ReasoningEffort, budget: int | None) -> None:
    """reasoning_effort and reasoning_budget make one Reasoning, each half as given."""
    pairs = [["reasoning_effort", effort.value]]
    if budget is not None:
        pairs.append(["reasoning_budget", str(budget)])
    options, _ = parse_options(None, pairs)  # type: ignore[arg-type]
    assert options.reasoning is not None
    assert (options.reasoning.effort, options.reasoning.budget_tokens) == (effort, budget)


# -- -a attachments --------------------------------------------------------------------------------------


def test_attached_image_file_is_sent_inline(cli: Any, mistral: ScriptedServer, tmp_path: Path) -> None:
    """`-a cat.png` sends the file as a base64 data URL, after the prompt's text."""
    cli.configure(mistral=mistral.url + "/v1")
    image = tmp_path / "cat.png"
    image.write_bytes(PNG)
    mistral.add(mistral_stream("A cat."))
    result = cli("chat", *PINNED, "-a", str(image), "What is this?")
    assert result.status == 0, result
    content = mistral.requests[0].json()["messages"][-1]["content"]
    assert content[0] == {"type": "text", "text": "What is this?"}
    assert content[1] == {"type": "image_url", "image_url": "data:image/png;base64," + base64.b64encode(PNG).decode()}


def test_attached_url_is_sent_by_reference(cli: Any, mistral: ScriptedServer) -> None:
    """`-a https://...` sends the URL itself; clawdesk never fetches it."""
    cli.configure(mistral=mistral.url + "/v1")
    mistral.add(mistral_stream("A dog."))
    url = "https://example.com/dog.jpg"
    result = cli("chat", *PINNED, "-a", url, "-a", url, "Describe")
    assert result.status == 0, result
    content = mistral.requests[0].json()["messages"][-1]["content"]
    assert content[1:] == [{"type": "image_url", "image_url": url}] * 2
    assert len(mistral.requests) == 1


@pytest.mark.parametrize(
    ("name", "data", "words"),
    [
        ("notes.txt", b"just text", "not an image"),
        ("fake.png", b"<html>not a png</html>", "not an image"),
        ("missing.png", None, "no such file"),
    ],
)
def test_bad_attachment_is_a_usage_error(
    cli: Any, mistral: ScriptedServer, tmp_path: Path, name: str, data: bytes | None, words: str
) -> None:
    """A file that is not an image (by its bytes, not its name) or does not exist: exit 2, nothing sent."""
    cli.configure(mistral=mistral.url + "/v1")
    path = tmp_path / name
    if data is not None:
        path.write_bytes(data)
    result = cli("chat", *PINNED, "-a", str(path), "hi")
    assert result.status == 2, result
    assert f"-a {path}: {words}" in result.err
    assert mistral.requests == []


# -- stdin and the prompt ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stdin", "args", "sent"),
    [
        (b"def f(): pass\n", ["Explain this code"], "def f(): pass\n Explain this code"),
        (b"only piped", [], "only piped"),
        (b"", ["only the argument"], "only the argument"),
        ("\ufeffwith a BOM".encode(), ["and more"], "with a BOM and more"),
    ],
    ids=["both", "stdin", "argument", "bom"],
)
def test_piped_text_then_the_prompt(
    cli: Any, mistral: ScriptedServer, stdin: bytes, args: list[str], sent: str
) -> None:
    """Piped text and a prompt argument are sent together, the piped text first (as llm does)."""
    cli.configure(mistral=mistral.url + "/v1")
    mistral.add(mistral_stream("ok"))
    result = cli("chat", *PINNED, *args, stdin=stdin)
    assert result.status == 0, result
    assert mistral.requests[0].json()["messages"][-1] == {"role": "user", "content": sent}


def test_nothing_piped_and_no_prompt_is_an_error(cli: Any, mistral: ScriptedServer) -> None:
    """An empty pipe and no argument: exit 2, "the prompt is empty"."""
    cli.configure(mistral=mistral.url + "/v1")
    result = cli("chat", *PINNED, stdin=b"  \n")
    assert result.status == 2
    assert result.err == "clawdesk: error: the prompt is empty\n"


# -- reasoning and warnings --------------------------------------------------------------------------------


def test_reasoning_goes_to_stderr_when_piped(cli: Any, mistral: ScriptedServer) -> None:
    """Not on a terminal: the answer alone on stdout, the reasoning on stderr."""
    cli.configure(mistral=mistral.url + "/v1")
    mistral.add(mistral_stream(thinking("Blue light "), thinking("scatters more."), "Rayleigh", " scattering."))
    result = cli("chat", *PINNED, "Why is the sky blue?")
    assert result.status == 0, result
    assert result.out == "Rayleigh scattering.\n"
    assert result.err == "Blue light scatters more.\n"


def test_reasoning_is_in_json(cli: Any, mistral: ScriptedServer) -> None:
    """--json carries the reasoning next to the content (and prints nothing while streaming)."""
    cli.configure(mistral=mistral.url + "/v1")
    mistral.add(mistral_stream(thinking("Think."), "Answer."))
    result = cli("chat", *PINNED, "--json", "q")
    assert result.status == 0, result
    data = json.loads(result.out)
    assert (data["content"], data["reasoning"]) == ("Answer.", "Think.")
    assert result.err == ""


def test_whole_answer_shows_reasoning_too(cli: Any, mistral: ScriptedServer) -> None:
    """--no-stream: the reasoning of the whole answer is shown the same way (stderr when piped)."""
    cli.configure(mistral=mistral.url + "/v1")
    content = [*thinking("Thinking it over."), {"type": "text", "text": "Forty-two."}]
    mistral.add(mistral_answer(content))
    result = cli("chat", *PINNED, "--no-stream", "q")
    assert result.status == 0, result
    assert (result.out, result.err) == ("Forty-two.\n", "Thinking it over.\n")


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "whole"])
def test_answer_cut_by_the_length_limit_warns(cli: Any, mistral: ScriptedServer, stream: bool) -> None:
    """finish_reason length: the answer is printed, then one warning line on stderr; exit 0."""
    cli.configure(mistral=mistral.url + "/v1")
    mistral.add(
        mistral_stream("Once upon a", finish="length") if stream else mistral_answer("Once upon a", finish="length")
    )
    result = cli("chat", *PINNED, *([] if stream else ["--no-stream"]), "-o", "max_tokens", "3", "Tell a story")
    assert result.status == 0, result
    assert result.out == "Once upon a\n"
    lines = result.err.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("clawdesk: warning: the answer was cut short by the length limit")
    assert "max_tokens" in lines[0]


def test_no_warning_for_a_complete_answer(cli: Any, mistral: ScriptedServer) -> None:
    """A normal stop says nothing on stderr."""
    cli.configure(mistral=mistral.url + "/v1")
    mistral.add(mistral_stream("Done."))
    result = cli("chat", *PINNED, "q")
    assert (result.status, result.out, result.err) == (0, "Done.\n", "")


def test_answer_stopped_by_a_content_filter_warns(cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A stream that ends with finish reason content_filter keeps its text and warns on stderr."""
    from filter_provider import FilterProvider

    from clawdesk import Registry, _cli

    registry = Registry(discover=False)
    registry.register(FilterProvider())
    monkeypatch.setattr(_cli, "_registry", lambda: registry)
    with ScriptedServer() as server:
        server.add(FilterProvider.reply(["The recipe calls for"], finish="content_filter"))
        cli.config.write_text(f'[providers.filtered]\nbase_url = "{server.url}"\n')
        result = cli("chat", "-m", "filtered/m", "q")
    assert result.status == 0, result
    assert result.out == "The recipe calls for\n"
    assert result.err.startswith("clawdesk: warning: a content filter stopped the answer part-way")
    assert result.err.count("\n") == 1


def test_tool_calls_are_shown(cli: Any, mistral: ScriptedServer) -> None:
    """An answer that is only tool calls prints each call on its own line."""
    from everyday_wire import tool_call

    cli.configure(mistral=mistral.url + "/v1")
    mistral.add(mistral_answer(None, finish="tool_calls", tool_calls=[tool_call("c1", "lookup", {"q": "x"})]))
    result = cli("chat", *PINNED, "--no-stream", "q")
    assert result.status == 0, result
    assert result.out.splitlines()[-1] == '[tool call lookup({"q": "x"})]'


def test_timeout_option_is_a_number_of_seconds() -> None:
    """`-o timeout 2.5` bounds the whole call; zero and negative values are refused."""
    options, _ = parse_options(None, [["timeout", "2.5"]])  # type: ignore[arg-type]
    assert options.timeout == 2.5
    assert not math.isnan(options.timeout)
    with pytest.raises(ConfigError, match="timeout"):
        parse_options(None, [["timeout", "0"]])  # type: ignore[arg-type]
