"""Fixtures for the Gemini plugin's tests: a scripted Gemini API, a client wired to it, wire builders.

Every ``generateContent`` / ``streamGenerateContent`` body the plugin sends to
the ``server`` fixture is checked when the test ends, three ways:

- against ``GenerateContentRequest`` from Google's OpenAPI rendering of the
  v1beta API (``fixtures/gemini_schemas.json``, made by
  ``fixtures/extract_schema.py``), with every object closed
  (``additionalProperties: false``: Google answers 400 "Invalid JSON payload
  received. Unknown name" to a field it does not know) and ``format: byte``
  checked as base64 (thought signatures, inline data);
- with the one-of rule of ``Part`` the document states in words ("A Part can
  only contain one of the accepted types in Part.data");
- against the official SDK's own types (``google-genai``, a test-only
  oracle: its pydantic models forbid unknown fields).

The builders check what the scripted server sends the same way (schema and
SDK), so the fake speaks Gemini's wire, not our idea of it. Test modules that
need them at import time (the kit's adapter) find this module as
``sys.modules["clawdesk_gemini_testwire"]`` (test directories are not
packages under ``--import-mode=importlib``).
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from google.genai import types as genai
from jsonschema import Draft202012Validator, FormatChecker

import clawdesk_gemini._plugin as gemini_plugin
from clawdesk import Clawdesk, Registry, parse_config
from clawdesk.testing import Reply, ScriptedServer

FIXTURES = Path(__file__).parent / "fixtures"
SCHEMAS: dict[str, Any] = json.loads((FIXTURES / "gemini_schemas.json").read_text(encoding="utf-8"))
#: A fake key shaped like a real one (AIza + 35 characters).
KEY = "AIzaSyTest-Key_0123456789abcdefghijklm"
#: The key the official SDK uses when it is driven as an oracle; its requests are its own business.
ORACLE_KEY = "sdk-oracle-key"
MODEL = "gemini-2.5-flash"
SSE = "text/event-stream"
RESPONSE_ID = "aB3xYz9QLcPvkdUP2eXw0Ao"
#: Part fields that carry data: exactly one per part.
PART_DATA = (
    "text",
    "inlineData",
    "functionCall",
    "functionResponse",
    "fileData",
    "executableCode",
    "codeExecutionResult",
)
STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}

FORMATS = FormatChecker()


@FORMATS.checks("byte", raises=(binascii.Error, ValueError))
def _is_base64(value: object) -> bool:
    # proto3 JSON bytes: standard or URL-safe base64.
    if not isinstance(value, str):
        return True
    altchars = b"-_" if ("-" in value or "_" in value) else None
    base64.b64decode(value + "=" * (-len(value) % 4), altchars=altchars, validate=True)
    return True


def _closed(node: Any) -> Any:
    """Every object schema with properties closed: an unknown field is an error, as Google makes it."""
    if isinstance(node, dict):
        out = {key: _closed(value) for key, value in node.items()}
        if "properties" in out and "additionalProperties" not in out and out.get("type") == "object":
            out["additionalProperties"] = False
        return out
    if isinstance(node, list):
        return [_closed(item) for item in node]
    return node


def _validator(root: str) -> Draft202012Validator:
    defs = _closed(copy.deepcopy(SCHEMAS["$defs"]))
    # google.rpc.Status has code, message and details; Google's JSON error format adds the code's
    # name as "status" ("INVALID_ARGUMENT"), which the proto-derived document does not list.
    defs["Status"]["properties"]["status"] = {"type": "string"}
    schema = {"$ref": f"#/$defs/{root}", "$defs": defs}
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=FORMATS)


REQUEST = _validator("GenerateContentRequest")
RESPONSE = _validator("GenerateContentResponse")
LISTING = _validator("ListModelsResponse")
STATUS = _validator("Status")


def _parts_have_one_datum(content: Any, where: str) -> None:
    for i, part in enumerate(content.get("parts", [])):
        found = [key for key in PART_DATA if key in part]
        assert len(found) == 1, f"{where}.parts[{i}] carries {found or 'no data field'}; a Part holds exactly one"


def check_request(body: Any) -> None:
    """A request body is one Gemini accepts: the spec's schema, the Part one-of rule, the SDK's types."""
    errors = sorted(REQUEST.iter_errors(body), key=lambda e: list(e.absolute_path))
    assert not errors, "request breaks GenerateContentRequest: " + "; ".join(
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors[:5]
    )
    for i, content in enumerate(body["contents"]):
        _parts_have_one_datum(content, f"contents[{i}]")
        assert content.get("role") in ("user", "model"), f"contents[{i}].role is {content.get('role')!r}"
        genai.Content.model_validate(content)
    if "systemInstruction" in body:
        _parts_have_one_datum(body["systemInstruction"], "systemInstruction")
        genai.Content.model_validate(body["systemInstruction"])
    for tool in body.get("tools", []):
        genai.Tool.model_validate(tool)
    if "toolConfig" in body:
        genai.ToolConfig.model_validate(body["toolConfig"])
    if "generationConfig" in body:
        genai.GenerationConfig.model_validate(body["generationConfig"])
    for setting in body.get("safetySettings", []):
        genai.SafetySetting.model_validate(setting)


def is_generate(path: str) -> bool:
    return ":generateContent" in path or ":streamGenerateContent" in path


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    """A scripted Gemini API; at teardown every generate body it received must be one Gemini accepts."""
    with ScriptedServer() as srv:
        yield srv
    for recorded in srv.requests:
        if (
            recorded.method == "POST"
            and is_generate(recorded.path)
            and recorded.headers.get("x-goog-api-key") != ORACLE_KEY
        ):
            check_request(recorded.json())


def config_text(base_url: str, **extra: Any) -> str:
    lines = ["[providers.gemini]", f'base_url = "{base_url}"']
    lines += [f"{key} = {json.dumps(value)}" for key, value in extra.items()]
    return "\n".join(lines) + "\n"


@pytest.fixture
def make_client(server: ScriptedServer) -> Callable[..., Clawdesk]:
    """A Clawdesk whose only provider is this plugin, pointed at ``server``.

    Keyword arguments become keys of ``[providers.gemini]``; ``env`` replaces
    the environment (by default it holds the test key in ``GEMINI_API_KEY``).
    """

    def make(*, env: dict[str, str] | None = None, config: str | None = None, **extra: Any) -> Clawdesk:
        registry = Registry(discover=False)
        registry.register(gemini_plugin)
        text = config if config is not None else config_text(server.url, **extra)
        return Clawdesk(
            registry=registry, config=parse_config(text), env={"GEMINI_API_KEY": KEY} if env is None else env
        )

    return make


class GeminiWire:
    """Builders for the Gemini API's wire format, each checked against the spec and the SDK."""

    model = MODEL

    @staticmethod
    def text(text: str, *, signature: str | None = None, thought: bool = False) -> dict[str, Any]:
        part: dict[str, Any] = {"text": text}
        if thought:
            part["thought"] = True
        if signature is not None:
            part["thoughtSignature"] = signature
        return part

    @staticmethod
    def call(
        name: str, args: dict[str, Any] | None = None, *, signature: str | None = None, call_id: str | None = None
    ) -> dict[str, Any]:
        function: dict[str, Any] = {"name": name, "args": {} if args is None else args}
        if call_id is not None:
            function["id"] = call_id
        part: dict[str, Any] = {"functionCall": function}
        if signature is not None:
            part["thoughtSignature"] = signature
        return part

    @staticmethod
    def usage(
        prompt: int = 9, candidates: int | None = 5, *, thoughts: int | None = None, cached: int | None = None
    ) -> dict[str, Any]:
        """``usageMetadata`` as Google writes it (zero counts left out)."""
        data: dict[str, Any] = {"promptTokenCount": prompt}
        if candidates:
            data["candidatesTokenCount"] = candidates
        total = prompt + (candidates or 0) + (thoughts or 0)
        data["totalTokenCount"] = total
        if cached:
            data["cachedContentTokenCount"] = cached
        data["promptTokensDetails"] = [{"modality": "TEXT", "tokenCount": prompt}]
        if thoughts:
            data["thoughtsTokenCount"] = thoughts
        return data

    def response(
        self,
        *parts: dict[str, Any],
        finish: str | None = "STOP",
        usage: dict[str, Any] | None = None,
        no_content: bool = False,
        extra: dict[str, Any] | None = None,
        candidate: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A ``GenerateContentResponse`` with one candidate (also one chunk of a stream)."""
        cand: dict[str, Any] = {}
        if not no_content:
            cand["content"] = {"parts": list(parts), "role": "model"}
        if finish is not None:
            cand["finishReason"] = finish
        cand["index"] = 0
        cand.update(candidate or {})
        data: dict[str, Any] = {"candidates": [cand]}
        if usage is not None:
            data["usageMetadata"] = usage
        data["modelVersion"] = self.model
        data["responseId"] = RESPONSE_ID
        data.update(extra or {})
        return self.checked(data)

    @staticmethod
    def checked(data: dict[str, Any]) -> dict[str, Any]:
        errors = [e.message for e in RESPONSE.iter_errors(data)]
        assert not errors, f"scripted response breaks GenerateContentResponse: {errors[:3]}"
        genai.GenerateContentResponse.model_validate(data)
        return data

    def blocked(self, reason: str = "SAFETY") -> dict[str, Any]:
        """A prompt the filters blocked: no candidates, ``promptFeedback.blockReason``."""
        ratings = [{"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH", "blocked": True}]
        data = {
            "promptFeedback": {"blockReason": reason, "safetyRatings": ratings},
            "usageMetadata": {"promptTokenCount": 7, "totalTokenCount": 7},
            "modelVersion": self.model,
            "responseId": RESPONSE_ID,
        }
        return self.checked(data)

    @staticmethod
    def json(data: Any, *, status: int = 200) -> Reply:
        """A JSON answer as Google's front end writes it: pretty-printed, UTF-8."""
        body = json.dumps(data, indent=2, ensure_ascii=False).encode() + b"\n"
        headers = (("content-type", "application/json; charset=UTF-8"), ("vary", "Origin"))
        return Reply(status=status, headers=headers, chunks=(body,))

    def answer(self, *parts: dict[str, Any], **kw: Any) -> Reply:
        return self.json(self.response(*parts, **kw))

    @staticmethod
    def sse(*chunks: dict[str, Any], crlf: bool = True) -> list[bytes]:
        """One piece per chunk: ``data: <one-line JSON>`` and a blank line (CRLF, as Google ends SSE lines)."""
        end = b"\r\n\r\n" if crlf else b"\n\n"
        return [b"data: " + json.dumps(chunk, ensure_ascii=False).encode() + end for chunk in chunks]

    def stream(self, *chunks: dict[str, Any], crlf: bool = True, **kw: Any) -> Reply:
        return Reply.stream(self.sse(*chunks, crlf=crlf), content_type=SSE, **kw)

    def text_stream(
        self, *texts: str, finish: str = "STOP", usage: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """Chunks of a streamed text answer: one per text, then one with only the finishReason and usage."""
        chunks = [self.response(self.text(t), finish=None, usage=self.usage(9, None)) for t in texts]
        chunks.append(self.response(finish=finish, no_content=True, usage=usage or self.usage(9, len(texts))))
        return chunks

    @staticmethod
    def error_body(
        code: int, message: str, *, status: str | None = None, details: list[dict[str, Any]] | None = None
    ) -> dict[str, Any]:
        error: dict[str, Any] = {"code": code, "message": message}
        name = status if status is not None else STATUS_NAMES.get(code)
        if name:
            error["status"] = name
        if details:
            error["details"] = details
        errors = [e.message for e in STATUS.iter_errors(error)]
        assert not errors, f"scripted error breaks Status: {errors}"
        return {"error": error}

    def error(self, code: int, message: str, **kw: Any) -> Reply:
        return self.json(self.error_body(code, message, **kw), status=code)

    @staticmethod
    def retry_info(delay: str) -> dict[str, Any]:
        return {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay}

    @staticmethod
    def quota_failure(quota_id: str, metric: str, value: str = "250") -> dict[str, Any]:
        violation = {"quotaMetric": metric, "quotaId": quota_id, "quotaDimensions": {"model": MODEL}}
        if value:
            violation["quotaValue"] = value
        return {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [violation]}

    @staticmethod
    def error_info(reason: str) -> dict[str, Any]:
        return {
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": reason,
            "domain": "googleapis.com",
            "metadata": {"service": "generativelanguage.googleapis.com"},
        }

    @staticmethod
    def model_entry(
        name: str,
        methods: list[str],
        *,
        thinking: bool | None = None,
        input_limit: int = 1_048_576,
        output_limit: int = 65_536,
        display: str | None = None,
    ) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "name": f"models/{name}",
            "baseModelId": name,
            "version": "001",
            "displayName": display or name,
            "description": f"The {name} model",
            "inputTokenLimit": input_limit,
            "outputTokenLimit": output_limit,
            "supportedGenerationMethods": methods,
            "temperature": 1,
            "topP": 0.95,
            "topK": 64,
            "maxTemperature": 2,
        }
        if thinking is not None:
            entry["thinking"] = thinking
        return entry

    def models_page(self, *entries: dict[str, Any], next_token: str | None = None) -> Reply:
        data: dict[str, Any] = {"models": list(entries)}
        if next_token is not None:
            data["nextPageToken"] = next_token
        errors = [e.message for e in LISTING.iter_errors(data)]
        assert not errors, f"scripted listing breaks ListModelsResponse: {errors[:3]}"
        return self.json(data)


@pytest.fixture
def gw() -> GeminiWire:
    """The Gemini wire builders (importlib mode cannot import conftest from a test file)."""
    return GeminiWire()


# Conftest modules are imported before the tests of their directory: register this one for them.
sys.modules.setdefault("clawdesk_gemini_testwire", sys.modules[__name__])
