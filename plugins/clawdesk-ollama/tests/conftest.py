"""Fixtures for the Ollama plugin's tests: a scripted Ollama, a client wired to it, wire builders.

Every request body the plugin sends to a scripted server is checked, when the
test ends, against the request schemas extracted from Ollama's OpenAPI
document (``fixtures/ollama_schemas.json``; see ``fixtures/extract_schema.py``).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

import clawdesk_ollama._plugin as ollama_plugin
from clawdesk import Clawdesk, Config, Registry
from clawdesk.testing import Reply, ScriptedServer

FIXTURES = Path(__file__).parent / "fixtures"
SCHEMA_FILE = FIXTURES / "ollama_schemas.json"
NDJSON = "application/x-ndjson"
STAMP = "2026-11-24T07:00:00.123456789Z"
# Message fields Ollama reads beyond the OpenAPI document's ChatMessage
# (api/types.go Message: tool_name, thinking); anything else is a typo.
EXTRA_MESSAGE_FIELDS = ("tool_name", "thinking")


def _load_schemas() -> dict[str, Any]:
    fixture = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    schemas: dict[str, Any] = fixture["schemas"]
    return schemas


SCHEMAS = _load_schemas()


def _strict_chat_request() -> dict[str, Any]:
    # The document leaves additionalProperties open; closing it here catches
    # misspelt fields, which Ollama would silently ignore.
    schema = json.loads(json.dumps(SCHEMAS["ChatRequest"]))
    schema["additionalProperties"] = False
    message = schema["properties"]["messages"]["items"]
    for name in EXTRA_MESSAGE_FIELDS:
        message["properties"].setdefault(name, {"type": "string"})
    message["additionalProperties"] = False
    return schema


CHAT_REQUEST = Draft202012Validator(_strict_chat_request())
SHOW_REQUEST = Draft202012Validator(SCHEMAS["ShowRequest"])
RESPONSE_SCHEMAS = {
    name: Draft202012Validator(SCHEMAS[name])
    for name in ("ChatResponse", "ChatStreamEvent", "ListResponse", "ShowResponse", "ErrorResponse")
}


def check_request_bodies(server: ScriptedServer) -> int:
    """Validate every /api/chat and /api/show body ``server`` received; returns how many were checked."""
    checked = 0
    for request in server.requests:
        if request.method == "POST" and request.path == "/api/chat":
            CHAT_REQUEST.validate(request.json())
            checked += 1
        elif request.method == "POST" and request.path == "/api/show":
            SHOW_REQUEST.validate(request.json())
            checked += 1
    return checked


def go_json(data: Any) -> bytes:
    """JSON as Ollama's Go encoder writes it: compact, UTF-8, with <, >, &, U+2028/9 escaped."""
    text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    for char, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(char, escaped)
    text = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return text.encode()


class Wire:
    """Builders for Ollama's wire format, checked against the OpenAPI response schemas."""

    model = "llama3.2"

    def line(self, content: str = "", *, thinking: str | None = None, tool_calls: Any = None) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": content}
        if thinking is not None:
            message["thinking"] = thinking
        if tool_calls is not None:
            message["tool_calls"] = tool_calls
        return {"model": self.model, "created_at": STAMP, "message": message, "done": False}

    def final(
        self, *, reason: str = "stop", prompt: int | None = 26, output: int | None = 12, content: str = ""
    ) -> dict[str, Any]:
        data: dict[str, Any] = {
            "model": self.model,
            "created_at": STAMP,
            "message": {"role": "assistant", "content": content},
            "done_reason": reason,
            "done": True,
            "total_duration": 5_191_566_416,
            "load_duration": 2_154_458,
        }
        if prompt is not None:
            data["prompt_eval_count"] = prompt
            data["prompt_eval_duration"] = 383_809_000
        if output is not None:
            data["eval_count"] = output
            data["eval_duration"] = 4_799_921_000
        return data

    def ndjson(self, *objects: dict[str, Any]) -> list[bytes]:
        """One piece (one HTTP chunk) per line, each line ``\\n``-terminated, as Ollama flushes them."""
        for obj in objects:
            if "error" not in obj:
                RESPONSE_SCHEMAS["ChatStreamEvent"].validate(obj)
        return [go_json(obj) + b"\n" for obj in objects]

    def stream(self, *objects: dict[str, Any], **kw: Any) -> Reply:
        return Reply.stream(self.ndjson(*objects), content_type=NDJSON, **kw)

    def answer(
        self,
        content: str = "",
        *,
        thinking: str | None = None,
        tool_calls: Any = None,
        reason: str = "stop",
        prompt: int | None = 26,
        output: int | None = 12,
    ) -> Reply:
        """A ``"stream": false`` answer."""
        data = self.final(reason=reason, prompt=prompt, output=output, content=content)
        if thinking is not None:
            data["message"]["thinking"] = thinking
        if tool_calls is not None:
            data["message"]["tool_calls"] = tool_calls
        RESPONSE_SCHEMAS["ChatResponse"].validate(data)
        return self.json(data)

    def json(self, data: Any, *, status: int = 200) -> Reply:
        return Reply(
            status=status, headers=(("content-type", "application/json; charset=utf-8"),), chunks=(go_json(data),)
        )

    def error(self, status: int, message: str) -> Reply:
        """An error answer as Ollama's gin handlers write it."""
        body = {"error": message}
        RESPONSE_SCHEMAS["ErrorResponse"].validate(body)
        return self.json(body, status=status)

    def tags(self, *models: dict[str, Any]) -> Reply:
        data = {"models": list(models)}
        RESPONSE_SCHEMAS["ListResponse"].validate(data)
        return self.json(data)

    def tag(self, name: str, digest: str, *, capabilities: list[str] | None = None) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "name": name,
            "model": name,
            "modified_at": "2026-11-01T10:00:00.000000000Z",
            "size": 2019393189,
            "digest": digest,
            "details": {
                "parent_model": "",
                "format": "gguf",
                "family": "llama",
                "families": ["llama"],
                "parameter_size": "3.2B",
                "quantization_level": "Q4_K_M",
            },
        }
        if capabilities is not None:
            entry["capabilities"] = capabilities
        return entry

    def show(self, capabilities: list[str], *, arch: str = "llama", context_length: int = 131072) -> Reply:
        data = {
            "modelfile": "FROM llama3.2\n",
            "parameters": 'stop "<|eot_id|>"',
            "template": "{{ .Prompt }}",
            "details": {"format": "gguf", "family": arch},
            "model_info": {
                "general.architecture": arch,
                "general.parameter_count": 3212749888,
                f"{arch}.context_length": context_length,
                f"{arch}.embedding_length": 3072,
            },
            "capabilities": capabilities,
            "modified_at": "2026-11-01T10:00:00.000000000Z",
        }
        RESPONSE_SCHEMAS["ShowResponse"].validate(data)
        return self.json(data)


@pytest.fixture
def wire() -> Wire:
    """Builders for Ollama's wire format."""
    return Wire()


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    """A scripted Ollama on 127.0.0.1; every request body it got is schema-checked at the end."""
    with ScriptedServer() as scripted:
        yield scripted
    check_request_bodies(scripted)


ClientFactory = Callable[..., Any]


@pytest.fixture
def client(server: ScriptedServer) -> ClientFactory:
    """``async with client(**settings) as cd``: a Clawdesk with only the ollama provider, pointed at ``server``."""

    @asynccontextmanager
    async def make(**settings: Any) -> AsyncIterator[Clawdesk]:
        table = {"base_url": server.url, **settings}
        registry = Registry(discover=False)
        registry.register(ollama_plugin)
        async with Clawdesk(registry=registry, config=Config(providers={"ollama": table}), env={}) as cd:
            yield cd

    return make
