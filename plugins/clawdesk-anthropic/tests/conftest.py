"""Shared fixtures: a scripted Claude API, a client wired to it, and the two oracles.

- Every ``POST /v1/messages`` body a test sends to the ``server`` fixture is
  validated, when the test ends, against ``CreateMessageParams`` from
  Anthropic's OpenAPI document (the committed fixture, with
  ``additionalProperties: false`` honoured), and must carry the
  ``x-api-key`` and ``anthropic-version`` headers.
- Every answer the helpers of ``anthropic_wire.py`` script (a ``Message``, each stream event, an error
  body, a model listing) is validated with the official ``anthropic`` SDK's
  own pydantic models (a test-only oracle, pinned in requirements-dev.txt),
  so the scripted server speaks what the real API speaks.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

import clawdesk
import clawdesk_anthropic._plugin
from clawdesk import Registry
from clawdesk.testing import ScriptedServer

# The scripted API's helpers (anthropic_wire.py) are imported by the test modules and the kit's adapter.
HERE = str(Path(__file__).parent)
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from anthropic_wire import KEY, check_requests, config_text  # noqa: E402

SCHEMA_FIXTURE = Path(__file__).parent / "fixtures" / "create_message_request.schema.json"


@pytest.fixture(scope="session")
def request_validator() -> jsonschema.protocols.Validator:
    """A validator for the Messages API's CreateMessageParams, additionalProperties honoured."""
    fixture = json.loads(SCHEMA_FIXTURE.read_text(encoding="utf-8"))
    schema = fixture["schema"]
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@pytest.fixture
def server(request_validator: jsonschema.protocols.Validator) -> Iterator[ScriptedServer]:
    """A scripted server; at teardown every message body it received must match the request schema."""
    with ScriptedServer() as srv:
        yield srv
    check_requests(srv, request_validator)


@pytest.fixture
def make_client(server: ScriptedServer) -> Callable[..., clawdesk.Clawdesk]:
    """Build a Clawdesk whose only provider is this plugin, pointed at ``server``.

    Keyword arguments become keys of ``[providers.anthropic]``; ``env`` replaces
    the environment (by default it holds a test key in ANTHROPIC_API_KEY).
    """

    def make(*, env: dict[str, str] | None = None, base_url: str | None = None, **extra: Any) -> clawdesk.Clawdesk:
        registry = Registry(discover=False)
        registry.register(clawdesk_anthropic._plugin)
        config = clawdesk.parse_config(config_text(base_url or server.url, **extra))
        return clawdesk.Clawdesk(
            registry=registry, config=config, env={"ANTHROPIC_API_KEY": KEY} if env is None else env
        )

    return make
