"""Shared fixtures: a scripted Mistral server, a client wired to it, and the request-schema check.

Every chat request a test sends to the ``server`` fixture is validated against
Mistral's ``ChatCompletionRequest`` schema (from the committed fixture) when
the test ends, so no test can pass while sending a body Mistral would refuse.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

import clawdesk
import clawdesk_mistral._plugin
from clawdesk import Registry
from clawdesk.testing import Reply, ScriptedServer
from clawdesk_openai_compat import testing as compat

KEY = "test-key-0123456789abcdef"
SCHEMA_FIXTURE = Path(__file__).parent / "fixtures" / "chat_completion_request.schema.json"
SSE_TYPE = "text/event-stream; charset=utf-8"


@pytest.fixture(scope="session")
def request_validator() -> jsonschema.protocols.Validator:
    """A validator for Mistral's ChatCompletionRequest, additionalProperties honoured."""
    fixture = json.loads(SCHEMA_FIXTURE.read_text(encoding="utf-8"))
    schema = fixture["schema"]
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@pytest.fixture
def server(request_validator: jsonschema.protocols.Validator) -> Iterator[ScriptedServer]:
    """A scripted server; at teardown every chat body it received must match the request schema."""
    with ScriptedServer() as srv:
        yield srv
    for recorded in srv.requests:
        if recorded.method == "POST" and recorded.path.endswith("/chat/completions"):
            errors = [e.message for e in request_validator.iter_errors(recorded.json())]
            assert not errors, f"request body breaks Mistral's schema: {errors}"


def config_text(base_url: str, **extra: Any) -> str:
    """``[providers.mistral]`` for a scripted La Plateforme at ``base_url``.

    The plugin asks for stream usage with ``stream_options`` on any host but
    ``*.mistral.ai`` (La Plateforme refuses the field); the scripted server
    plays La Plateforme, so the table says so with ``stream_usage = false``
    unless a test gives its own.
    """
    extra.setdefault("stream_usage", False)
    lines = ["[providers.mistral]", f'base_url = "{base_url}"']
    for key, value in extra.items():
        lines.append(f"{key} = {json.dumps(value)}")
    return "\n".join(lines) + "\n"


@pytest.fixture
def make_client(server: ScriptedServer) -> Callable[..., clawdesk.Clawdesk]:
    """Build a Clawdesk whose only provider is this plugin, pointed at ``server``.

    Keyword arguments become keys of ``[providers.mistral]``; ``env`` replaces
    the environment (by default it holds a test key in MISTRAL_API_KEY).
    """

    def make(*, env: dict[str, str] | None = None, base_url: str | None = None, **extra: Any) -> clawdesk.Clawdesk:
        registry = Registry(discover=False)
        registry.register(clawdesk_mistral._plugin)
        config = clawdesk.parse_config(config_text(base_url or server.url + "/v1", **extra))
        return clawdesk.Clawdesk(registry=registry, config=config, env={"MISTRAL_API_KEY": KEY} if env is None else env)

    return make


# La Plateforme's events are the shared wire's (clawdesk_openai_compat.testing), with Mistral's ids.
frame = compat.sse
DONE = compat.DONE


def chunk(
    content: Any = None,
    *,
    finish: str | None = None,
    usage: dict[str, int] | None = None,
    tool_calls: list[dict[str, Any]] | None = None,
    role: str | None = None,
    model: str = "mistral-small-latest",
) -> dict[str, Any]:
    """A ``chat.completion.chunk`` as La Plateforme writes it (usage on the chunk that has it)."""
    extra: dict[str, Any] = {"usage": usage} if usage is not None else {}
    return compat.chunk(
        content,
        finish=finish,
        role=role,
        tool_calls=tool_calls,
        model=model,
        id="cmpl-e5cc70bb28c444948073e77776eb30ef",
        created=1702256327,
        **extra,
    )


USAGE = {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}


def text_stream(*pieces: str, finish: str = "stop", usage: dict[str, int] | None = USAGE) -> list[bytes]:
    """The frames of a streamed text answer: role chunk, one chunk per piece, finish+usage, [DONE]."""
    frames = [frame(chunk("", role="assistant"))]
    frames += [frame(chunk(p)) for p in pieces]
    frames.append(frame(chunk("", finish=finish, usage=usage)))
    frames.append(DONE)
    return frames


def sse_reply(frames: list[bytes], **kw: Any) -> Reply:
    return Reply.stream(frames, content_type=SSE_TYPE, **kw)


def completion(
    content: Any = "Hello!",
    *,
    finish: str = "stop",
    tool_calls: list[dict[str, Any]] | None = None,
    model: str = "mistral-small-latest",
) -> dict[str, Any]:
    """A whole ``chat.completion`` answer."""
    message: dict[str, Any] = {"role": "assistant", "content": content, "tool_calls": tool_calls, "prefix": False}
    return {
        "id": "cmpl-1",
        "object": "chat.completion",
        "model": model,
        "created": 1702256327,
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": USAGE,
    }


@pytest.fixture
def helpers() -> Any:
    """The wire helpers of this module, for test files (importlib mode cannot import conftest)."""
    import types

    return types.SimpleNamespace(
        KEY=KEY,
        DONE=DONE,
        USAGE=USAGE,
        SSE_TYPE=SSE_TYPE,
        frame=frame,
        chunk=chunk,
        text_stream=text_stream,
        sse_reply=sse_reply,
        completion=completion,
        config_text=config_text,
    )
