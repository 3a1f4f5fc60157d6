"""Shared fixtures: a scripted OpenAI server, a client wired to it, and the request-schema check.

Every chat request a test sends to the ``server`` fixture is validated against
OpenAI's ``CreateChatCompletionRequest`` schema (from the committed fixture,
closed to unknown fields) when the test ends, so no test can pass while
sending a body OpenAI would refuse. ``compat_server`` does the same for the
other dialects, minus the fields they add to OpenAI's (``top_k``, OpenRouter's
``reasoning``).
"""

from __future__ import annotations

import json
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

import clawdesk
import clawdesk_openai._plugin
from clawdesk import Registry
from clawdesk.testing import ScriptedServer

KEY = "sk-test-0123456789abcdefTESTKEY"
SCHEMA_FIXTURE = Path(__file__).parent / "fixtures" / "create_chat_completion_request.schema.json"
#: Fields compatible servers take beyond OpenAI's schema (see clawdesk_openai_compat.DIALECTS).
EXTENSIONS = frozenset({"top_k", "reasoning"})


@pytest.fixture(scope="session")
def request_validator() -> jsonschema.protocols.Validator:
    """A validator for OpenAI's CreateChatCompletionRequest, unknown fields refused."""
    fixture = json.loads(SCHEMA_FIXTURE.read_text(encoding="utf-8"))
    schema = fixture["schema"]
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def _check_bodies(server: ScriptedServer, validator: jsonschema.protocols.Validator, *, strip: frozenset[str]) -> None:
    for recorded in server.requests:
        if recorded.method == "POST" and recorded.path.endswith("/chat/completions"):
            body = {k: v for k, v in recorded.json().items() if k not in strip}
            errors = [e.message for e in validator.iter_errors(body)]
            assert not errors, f"request body breaks OpenAI's schema: {errors}"


@pytest.fixture
def server(request_validator: jsonschema.protocols.Validator) -> Iterator[ScriptedServer]:
    """A scripted server; at teardown every chat body it received must match OpenAI's request schema."""
    with ScriptedServer() as srv:
        yield srv
    _check_bodies(srv, request_validator, strip=frozenset())


@pytest.fixture
def compat_server(request_validator: jsonschema.protocols.Validator) -> Iterator[ScriptedServer]:
    """Like ``server``, for a compatible server: OpenAI's schema plus the dialects' own fields."""
    with ScriptedServer() as srv:
        yield srv
    _check_bodies(srv, request_validator, strip=EXTENSIONS)


def toml_table(name: str, table: dict[str, Any]) -> str:
    """``[providers.<name>]`` with ``table``'s keys, as TOML."""
    lines = [f"[providers.{name}]"] + [f"{key} = {json.dumps(value)}" for key, value in table.items()]
    return "\n".join(lines) + "\n"


def make_clawdesk(text: str, env: dict[str, str]) -> clawdesk.Clawdesk:
    """A Clawdesk whose only plugin is this one, configured by ``text``, keys looked up in ``env``."""
    registry = Registry(discover=False)
    registry.register(clawdesk_openai._plugin)
    return clawdesk.Clawdesk(registry=registry, config=clawdesk.parse_config(text), env=env)


@pytest.fixture
def make_client(server: ScriptedServer) -> Callable[..., clawdesk.Clawdesk]:
    """Build a Clawdesk whose only provider is this plugin, as OpenAI, pointed at ``server``.

    Keyword arguments become keys of ``[providers.openai]`` (``dialect =
    "openai"`` unless given: the scripted server plays OpenAI on a loopback
    address, which ``auto`` would take for a local server); ``env`` replaces
    the environment (by default it holds a test key in OPENAI_API_KEY).
    """

    def make(*, env: dict[str, str] | None = None, **table: Any) -> clawdesk.Clawdesk:
        table.setdefault("base_url", server.url + "/v1")
        table.setdefault("dialect", "openai")
        table.setdefault("max_retries", 0)
        return make_clawdesk(toml_table("openai", table), {"OPENAI_API_KEY": KEY} if env is None else env)

    return make


@pytest.fixture
def helpers() -> Any:
    """The helpers of this module, for test files (importlib mode cannot import conftest)."""
    return types.SimpleNamespace(KEY=KEY, toml_table=toml_table, make_clawdesk=make_clawdesk)
