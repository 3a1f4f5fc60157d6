"""Fault matrix, part 4: a refreshed model listing (``Clawdesk.models(refresh=True)``) under faults.

A backend that is down or broken gives a :class:`~clawdesk.ProviderModels`
with its ``error`` set: never an exception out of ``models()``, never a hang,
never a connection left checked out.
"""

from __future__ import annotations

from typing import Any

import pytest

from clawdesk import ApiError, AuthFailed, ConnectionFailed, ProviderError, TimedOut
from clawdesk.testing import Reply, unused_port

pytestmark = pytest.mark.anyio

PROVIDERS = ["mistral", "ollama"]
LISTING = {
    "mistral": {
        "object": "list",
        "data": [
            {
                "id": "mistral-small-latest",
                "object": "model",
                "created": 1760000000,
                "owned_by": "mistralai",
                "type": "base",
                "capabilities": {"completion_chat": True, "function_calling": True, "vision": False},
            }
        ],
    },
    "ollama": {
        "models": [
            {
                "name": "llama3.2:latest",
                "model": "llama3.2:latest",
                "modified_at": "2026-01-01T00:00:00Z",
                "size": 2019393189,
                "digest": "a80c4f17acd55265feec403c7aef86be0c25983ab279d83f3bcd3abbcb5b8b72",
                "details": {"format": "gguf", "family": "llama", "parameter_size": "3.2B"},
                "capabilities": ["completion", "tools"],
            }
        ]
    },
}

#: case -> (reply, error class or None for success, retryable)
CASES: dict[str, tuple[Reply, type[ProviderError] | None, bool]] = {
    "reset": (Reply.reset(), ConnectionFailed, True),
    "never_answers": (Reply.stall(), TimedOut, True),
    "headers_then_stall": (Reply.stall_after_headers(), TimedOut, True),
    "401": (Reply.json({"detail": "Unauthorized"}, status=401), AuthFailed, False),
    "500_html": (Reply.text("<html><title>oops</title></html>", status=500, content_type="text/html"), ApiError, True),
    "503_empty": (Reply(status=503), ApiError, True),
    "200_not_json": (Reply.text("<html>welcome to nginx</html>", content_type="text/html"), ApiError, False),
    "200_wrong_shape": (Reply.json({"data": "nope", "models": "nope"}), ApiError, False),
}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("provider", PROVIDERS)
async def test_listing_fault(harness: Any, provider: str, case: str) -> None:
    """A listing that fails is reported in ProviderModels.error with the right kind, in time, with nothing leaked."""
    reply, kind, retryable = CASES[case]
    outcome = await harness.run(provider, reply, mode="models", case=f"{provider} models {case}")
    assert kind is not None
    outcome.assert_error(kind, retryable=retryable)
    assert outcome.models == ()


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_listing_refused(harness: Any, provider: str) -> None:
    """A backend that is not running gives ConnectionFailed in the listing, not an exception or a hang."""
    base_url = f"http://127.0.0.1:{unused_port()}{harness.wire(provider).base_path}"
    outcome = await harness.run(provider, Reply(), mode="models", base_url=base_url, case=f"{provider} models refused")
    outcome.assert_error(ConnectionFailed, retryable=True)


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_listing_baseline(harness: Any, provider: str) -> None:
    """The well-formed listing the faults above are variations of gives the model."""
    outcome = await harness.run(provider, Reply.json(LISTING[provider]), mode="models", case=f"{provider} models")
    outcome.assert_ok()
    assert any(m.id.startswith(harness.wire(provider).model) for m in outcome.models), outcome.models
