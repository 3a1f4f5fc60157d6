"""The CLI reference's examples run: every ```console block of docs/cli.md, in order, in one shell.

Each ``$ command`` line runs with ``bash -c`` (the installed ``clawdesk``
first on ``PATH``) in a temporary directory holding ``notes.txt`` and
``cat.png``, with a fresh clawdesk home and config, ``MISTRAL_API_KEY`` set,
and scripted Mistral and Ollama servers that answer the page's prompts. Its
stdout and stderr together must match the lines that follow it, where
``...`` stands for any text within a line, or for any number of lines when
it is a line of its own. A command whose expected output starts with
``clawdesk: error:`` must fail; every other one must succeed. The request
bodies the servers got are checked against the vendors' request schemas.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from docs_blocks import DOCS, fenced_blocks
from jsonschema import Draft202012Validator

from clawdesk.testing import RecordedRequest, Reply, ScriptedServer

ROOT = DOCS.parent
PAGE = DOCS / "cli.md"
NOTES = "The weekly meeting is moved from Thursday morning to Friday afternoon, same room.\n"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(32)
MISTRAL_SCHEMA = ROOT / "plugins" / "clawdesk-mistral" / "tests" / "fixtures" / "chat_completion_request.schema.json"
OLLAMA_SCHEMA = ROOT / "plugins" / "clawdesk-ollama" / "tests" / "fixtures" / "ollama_schemas.json"


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") for part in content or [] if isinstance(part, dict))


def _answer(messages: list[dict[str, Any]], max_tokens: int | None) -> tuple[str, str]:
    """The scripted model: the answer (and finish reason) to the page's prompts."""
    prompt = messages[-1]
    text = _text(prompt["content"])
    earlier = [_text(m.get("content")) for m in messages[:-1]]
    if max_tokens is not None and max_tokens < 10:
        return "Once upon a time", "length"
    if text == "Why is the sky blue?":
        return "Rayleigh scattering.", "stop"
    if text == "And why are sunsets red?":
        if "Why is the sky blue?" in earlier:
            return "The light crosses more air, so the blue is scattered away.", "stop"
        return "Which sunsets?", "stop"
    if text == "Name three primes.":
        return "2, 3 and 5.", "stop"
    if text == NOTES + " Summarize in five words.":
        return "Meeting moved to Friday afternoon.", "stop"
    images = [p for p in prompt["content"] if isinstance(p, dict) and p.get("type") == "image_url"]
    if text == "What is in this picture?" and images and images[0]["image_url"].startswith("data:image/png;base64,"):
        return "A small orange cat.", "stop"
    return "I do not know.", "stop"


def _sse(data: Any) -> bytes:
    return b"data: " + json.dumps(data).encode() + b"\n\n"


def mistral(request: RecordedRequest) -> Reply:
    """Mistral's chat completions, streamed (SSE) or whole."""
    body = request.json()
    answer, finish = _answer(body["messages"], body.get("max_tokens"))
    usage = {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}
    base = {"id": "cmpl-1", "created": 1702256327, "model": body["model"]}
    if not body.get("stream"):
        message = {"role": "assistant", "content": answer}
        choice = {"index": 0, "message": message, "finish_reason": finish}
        return Reply.json({**base, "object": "chat.completion", "choices": [choice], "usage": usage})
    chunks = [{"role": "assistant", "content": ""}, {"content": answer}]
    frames = [_sse({**base, "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": d}]}) for d in chunks]
    last = {"index": 0, "delta": {"content": ""}, "finish_reason": finish}
    frames.append(_sse({**base, "object": "chat.completion.chunk", "choices": [last], "usage": usage}))
    return Reply.stream([*frames, b"data: [DONE]\n\n"], content_type="text/event-stream")


def ollama(request: RecordedRequest) -> Reply:
    """Ollama's chat, streamed as NDJSON; with ``think`` the model thinks first."""
    body = request.json()
    answer, _ = _answer(body["messages"], None)
    stamp = "2026-11-24T07:00:00.123456789Z"
    lines = []
    if body.get("think"):
        thought = {"role": "assistant", "content": "", "thinking": "Two is the only even prime; the next two are odd."}
        lines.append({"model": body["model"], "created_at": stamp, "message": thought, "done": False})
    lines.append({"model": body["model"], "created_at": stamp, "message": {"role": "assistant", "content": answer}})
    lines[-1]["done"] = False
    final = {"role": "assistant", "content": ""}
    lines.append({"model": body["model"], "created_at": stamp, "message": final, "done": True, "done_reason": "stop"})
    return Reply.stream([json.dumps(line).encode() + b"\n" for line in lines], content_type="application/x-ndjson")


def examples(text: str) -> list[tuple[str, list[str]]]:
    """The ``$ command`` lines of a console block, each with the output lines that follow it."""
    result: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        if line.startswith("$ "):
            result.append((line[2:], []))
        else:
            assert result, f"output before any command: {line!r}"
            result[-1][1].append(line)
    return result


def pattern(expected: list[str]) -> re.Pattern[str]:
    """A regex for the expected lines: ``...`` is any text in a line, or any lines on a line of its own."""
    parts = []
    for line in expected:
        if line == "...":
            parts.append(r"(?:[^\n]*\n)*?")
        else:
            parts.append(".*?".join(re.escape(piece) for piece in line.split("...")) + r"\n")
    return re.compile("".join(parts), re.S)


def test_pattern_matching() -> None:
    """The matcher: exact lines, wildcards within a line, wildcard lines for any number of lines."""
    assert pattern(["a", "b ... d"]).fullmatch("a\nb c d\n")
    assert pattern(["a", "...", "z"]).fullmatch("a\nb\nc\nz\n")
    assert pattern(["a", "...", "z"]).fullmatch("a\nz\n")
    assert not pattern(["a", "b"]).fullmatch("a\nc\n")
    assert not pattern(["a"]).fullmatch("a\nextra\n")


def _check_bodies(server: ScriptedServer, path: str, validator: Draft202012Validator) -> int:
    checked = 0
    for request in server.requests:
        if request.method == "POST" and request.path == path:
            errors = [e.message for e in validator.iter_errors(request.json())]
            assert not errors, errors
            checked += 1
    return checked


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_cli_page_examples_run(tmp_path: Path) -> None:
    """Every console example of cli.md gives the output the page shows."""
    blocks = [(line, text) for line, language, text in fenced_blocks(PAGE) if language == "console"]
    assert len(blocks) >= 10
    work = tmp_path / "work"
    work.mkdir()
    (work / "notes.txt").write_text(NOTES)
    (work / "cat.png").write_bytes(PNG)
    with ScriptedServer() as mistral_server, ScriptedServer() as ollama_server:
        mistral_server.route("POST", "/v1/chat/completions", mistral)
        ollama_server.route("POST", "/api/chat", ollama)
        config = tmp_path / "config.toml"
        config.write_text(
            f'[providers.mistral]\nbase_url = "{mistral_server.url}/v1"\nstream_usage = false\n'
            f'[providers.ollama]\nbase_url = "{ollama_server.url}"\n'
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("CLAWDESK_") and not k.endswith("_API_KEY")}
        env.pop("OLLAMA_HOST", None)
        env.pop("NO_COLOR", None)
        env.update(
            PATH=os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]),
            CLAWDESK_HOME=str(tmp_path / "home"),
            CLAWDESK_CONFIG=str(config),
            CLAWDESK_PLUGINS="mistral,ollama",
            MISTRAL_API_KEY="sk-docs-cli-example-0000",
            PYTHONIOENCODING="utf-8",
            TERM="dumb",
        )
        ran = 0
        for line, text in blocks:
            for command, expected in examples(text):
                proc = subprocess.run(
                    ["bash", "-c", command],
                    cwd=work,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    timeout=120,
                    check=False,
                )
                output = proc.stdout.decode("utf-8", "replace")
                where = f"cli.md:{line}: $ {command}"
                assert pattern(expected).fullmatch(output), (
                    f"{where}\nexpected:\n" + "\n".join(expected) + f"\ngot:\n{output}"
                )
                failing = bool(expected) and expected[0].startswith("clawdesk: error:")
                assert (proc.returncode != 0) == failing, f"{where}: exit status {proc.returncode}"
                ran += 1
        assert ran >= 30
        assert _check_bodies(mistral_server, "/v1/chat/completions", _validator(MISTRAL_SCHEMA, "schema")) >= 8
        assert _check_bodies(ollama_server, "/api/chat", _validator(OLLAMA_SCHEMA, "schemas")) >= 1
    assert b"sk-docs-cli-example-0000" not in (tmp_path / "home" / "logs.db").read_bytes()


def _validator(path: Path, key: str) -> Draft202012Validator:
    data = json.loads(path.read_text(encoding="utf-8"))[key]
    return Draft202012Validator(data["ChatRequest"] if key == "schemas" else data)
