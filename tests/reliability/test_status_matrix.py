"""Fault matrix, part 1: every error status with every kind of error body, through both plugins.

For chat and for stream, each status is answered with the provider's own JSON
error, some other JSON, an HTML page, an empty body, a 10 MiB body and a body
that is not UTF-8. Each case asserts the exact error class, the retryable flag,
the HTTP status, a clean one-line message, that exactly one request was sent
(no hidden retries), that it returned within the timeout plus a margin, that
no pooled connection stayed checked out, and that the API key appears nowhere.

Expected kinds follow the table of :func:`clawdesk.http.error_for_status`
and the provider issues (Mistral 400 ``invalid_model`` -> ModelNotFound;
Ollama 400 "does not support" -> CapabilityMissing).
"""

from __future__ import annotations

import email.utils
import time
from typing import Any

import pytest

from clawdesk import (
    ApiError,
    AuthFailed,
    CapabilityMissing,
    InvalidRequest,
    ModelNotFound,
    PermissionDenied,
    ProviderError,
    QuotaExceeded,
    RateLimited,
    TimedOut,
)
from clawdesk.testing import RecordedRequest, Reply

pytestmark = pytest.mark.anyio

PROVIDERS = ["mistral", "ollama"]
MODES = ["chat", "stream"]

#: status -> (error class, retryable), as documented in clawdesk.provider.error_for_status.
EXPECTED: dict[int, tuple[type[ProviderError], bool]] = {
    400: (InvalidRequest, False),
    401: (AuthFailed, False),
    402: (QuotaExceeded, False),
    403: (PermissionDenied, False),
    404: (ModelNotFound, False),
    408: (TimedOut, True),
    409: (ApiError, True),
    413: (InvalidRequest, False),
    422: (InvalidRequest, False),
    429: (RateLimited, True),
    500: (ApiError, True),
    502: (ApiError, True),
    503: (ApiError, True),
    504: (ApiError, True),
    529: (ApiError, True),
}
#: A message the provider-JSON bodies carry, to check the server's words reach the user.
SERVER_MESSAGE = "scripted failure 7781"
HUGE = b'{"error": "' + b"x" * (10 * 1024 * 1024) + b'"}'
HTML = (
    b"<!DOCTYPE html>\n<html>\n<head><title>Gateway trouble</title></head>\n"
    b"<body><center><h1>Something broke</h1></center><hr><center>nginx</center></body>\n</html>\n"
)
BODIES = ["provider_json", "other_json", "html", "empty", "huge_10mib", "invalid_utf8"]
#: Longest acceptable error message: one readable line, whatever the body was.
MESSAGE_LIMIT = 1000


def _body(wire: Any, status: int, kind: str) -> tuple[str | None, bytes]:
    if kind == "provider_json":
        return "application/json", wire.error_json(status, SERVER_MESSAGE)
    if kind == "other_json":
        return "application/json", b'{"fault": {"code": 17, "reason": ["scripted", 1]}}'
    if kind == "html":
        return "text/html; charset=utf-8", HTML
    if kind == "empty":
        return None, b""
    if kind == "huge_10mib":
        return "application/json", HUGE
    if kind == "invalid_utf8":
        return "application/json; charset=utf-8", b'{"error": "caf\xe9 \xff\xfe\xc3\x28 broken"}'
    raise AssertionError(kind)


def _reply(status: int, content_type: str | None, body: bytes, *headers: tuple[str, str]) -> Reply:
    head = ((("content-type", content_type),) if content_type else ()) + headers
    return Reply(status=status, headers=head, chunks=(body,) if body else ())


@pytest.mark.parametrize("body", BODIES)
@pytest.mark.parametrize("status", list(EXPECTED))
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("provider", PROVIDERS)
async def test_status_and_body(harness: Any, provider: str, mode: str, status: int, body: str) -> None:
    """An error status is classified by status whatever the body, with the server's message when it is readable."""
    wire = harness.wire(provider)
    content_type, data = _body(wire, status, body)
    headers = (("retry-after", "2"),) if status == 429 else ()
    outcome = await harness.run(
        provider, _reply(status, content_type, data, *headers), mode=mode, case=f"{provider} {status} {body}"
    )
    kind, retryable = EXPECTED[status]
    if provider == "ollama" and status == 404 and body in ("other_json", "html", "empty"):
        # Ollama answers every error with {"error": ...}: a 404 without it is a server that is not Ollama.
        kind = ApiError
    error = outcome.assert_error(kind, retryable=retryable, status=status)
    if kind is ApiError and status == 404:
        assert "does not look like Ollama" in str(error), outcome.describe()
    assert outcome.requests == 1, f"{outcome.describe()}: {outcome.requests} requests sent, expected 1"
    assert len(str(error)) <= MESSAGE_LIMIT, f"{outcome.describe()}: message of {len(str(error))} characters"
    if body == "provider_json":
        assert SERVER_MESSAGE in str(error), f"{outcome.describe()}: the server's message is missing"
    if status == 429:
        assert isinstance(error, RateLimited)
        assert error.retry_after == 2.0, f"{outcome.describe()}: retry_after={error.retry_after}"


def _http_date(offset: float) -> str:
    return email.utils.formatdate(time.time() + offset, usegmt=True)


#: Retry-After header (None: absent; a float: seconds from now as an HTTP date) -> accepted retry_after range.
RETRY_AFTER: dict[str, tuple[str | float | None, tuple[float, float] | None]] = {
    "seconds": ("7", (7.0, 7.0)),
    "fractional_seconds": ("1.5", (1.5, 1.5)),
    "http_date": (30.0, (25.0, 31.0)),
    "http_date_in_past": (-120.0, (0.0, 0.0)),
    "absent": (None, None),
    "garbage": ("soon, maybe", None),
    "negative": ("-5", None),
}


@pytest.mark.parametrize("variant", list(RETRY_AFTER))
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("provider", PROVIDERS)
async def test_rate_limited_retry_after(harness: Any, provider: str, mode: str, variant: str) -> None:
    """429 is a retryable RateLimited whose retry_after reads Retry-After in both forms and ignores garbage."""
    wire = harness.wire(provider)
    value, accepted = RETRY_AFTER[variant]
    header = _http_date(value) if isinstance(value, float) else value
    headers = (("retry-after", header),) if header is not None else ()
    reply = _reply(429, "application/json", wire.error_json(429, "Rate limit exceeded"), *headers)
    outcome = await harness.run(provider, reply, mode=mode, case=f"{provider} 429 retry-after {variant}")
    error = outcome.assert_error(RateLimited, retryable=True, status=429)
    assert isinstance(error, RateLimited)
    if accepted is None:
        assert error.retry_after is None, f"{outcome.describe()}: retry_after={error.retry_after}, expected None"
    else:
        low, high = accepted
        assert error.retry_after is not None, f"{outcome.describe()}: retry_after is None"
        assert low <= error.retry_after <= high, (
            f"{outcome.describe()}: retry_after={error.retry_after}, expected {low}..{high}"
        )


#: Error bodies as each backend really sends them, with the kind each must map to.
#: (provider, case, status, body, error class, retryable, text the message must contain)
SPECIFIC: list[tuple[str, str, int, bytes, type[ProviderError], bool, str]] = [
    (
        "mistral",
        "400_invalid_model",
        400,
        b'{"object":"error","message":"Invalid model: mistral-small-latest","type":"invalid_model",'
        b'"param":null,"code":"1500"}',
        ModelNotFound,
        False,
        "Invalid model",
    ),
    (
        "mistral",
        "422_detail_list",
        422,
        b'{"detail":[{"type":"missing","loc":["body","messages",0,"content"],"msg":"Field required",'
        b'"input":{"role":"user"}}]}',
        InvalidRequest,
        False,
        "Field required",
    ),
    (
        "mistral",
        "422_extra_forbidden",
        422,
        b'{"detail":[{"type":"extra_forbidden","loc":["body","store"],"msg":"Extra inputs are not permitted",'
        b'"input":true}]}',
        InvalidRequest,
        False,
        "Extra inputs are not permitted",
    ),
    ("mistral", "401_detail", 401, b'{"detail":"Unauthorized"}', AuthFailed, False, "Unauthorized"),
    (
        "mistral",
        "401_request_id",
        401,
        b'{"message":"Unauthorized","request_id":"0b1c2d3e"}',
        AuthFailed,
        False,
        "Unauthorized",
    ),
    (
        "mistral",
        "429_rate_limited",
        429,
        b'{"object":"error","message":"Rate limit exceeded","type":"rate_limited","param":null,"code":"1300"}',
        RateLimited,
        True,
        "Rate limit exceeded",
    ),
    (
        "ollama",
        "404_model_not_found",
        404,
        b'{"error":"model \'llama3.2\' not found"}',
        ModelNotFound,
        False,
        "not found",
    ),
    (
        "ollama",
        "404_try_pulling",
        404,
        b'{"error":"model \\"llama3.2\\" not found, try pulling it first"}',
        ModelNotFound,
        False,
        "not found",
    ),
    (
        "ollama",
        "400_no_tools",
        400,
        b'{"error":"registry.ollama.ai/library/llama3.2:latest does not support tools"}',
        CapabilityMissing,
        False,
        "does not support tools",
    ),
    (
        "ollama",
        "400_no_chat",
        400,
        b'{"error":"\\"llama3.2\\" does not support chat"}',
        CapabilityMissing,
        False,
        "does not support chat",
    ),
    (
        "ollama",
        "400_no_thinking",
        400,
        b'{"error":"\\"llama3.2\\" does not support thinking"}',
        CapabilityMissing,
        False,
        "does not support thinking",
    ),
    ("ollama", "400_missing_body", 400, b'{"error":"missing request body"}', InvalidRequest, False, "missing"),
    (
        "ollama",
        "503_server_busy",
        503,
        b'{"error":"server busy, please try again.  maximum pending requests exceeded"}',
        ApiError,
        True,
        "server busy",
    ),
    (
        "ollama",
        "500_runner_died",
        500,
        b'{"error":"llama runner process has terminated: signal: killed"}',
        ApiError,
        True,
        "llama runner",
    ),
]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("provider", "case", "status", "body", "kind", "retryable", "needle"), SPECIFIC, ids=[s[1] for s in SPECIFIC]
)
async def test_provider_specific_error(
    harness: Any,
    provider: str,
    case: str,
    status: int,
    body: bytes,
    kind: type[ProviderError],
    retryable: bool,
    needle: str,
    mode: str,
) -> None:
    """Each backend's own error bodies map to the kind its issue names, keeping the server's words."""
    reply = _reply(status, "application/json", body)
    outcome = await harness.run(provider, reply, mode=mode, case=f"{provider} {case}")
    error = outcome.assert_error(kind, retryable=retryable)
    assert outcome.requests == 1, f"{outcome.describe()}: {outcome.requests} requests sent, expected 1"
    assert needle in str(error), f"{outcome.describe()}: {needle!r} missing from the message"


@pytest.mark.parametrize("status", [400, 401, 403, 404, 429, 500])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("provider", PROVIDERS)
async def test_error_body_echoing_the_key(harness: Any, fake_key: str, provider: str, mode: str, status: int) -> None:
    """A server that echoes the Authorization header in its error body does not get the key into the error."""
    wire = harness.wire(provider)
    seen: list[str] = []

    def echo(request: RecordedRequest) -> Reply:
        auth = request.headers.get("authorization", "")
        seen.append(auth)
        message = f"the key {auth.removeprefix('Bearer ')} (sent as {auth!r}) is not valid here"
        return _reply(status, "application/json", wire.error_json(status, message))

    outcome = await harness.run(provider, echo, mode=mode, case=f"{provider} {status} echoing the key")
    kind, retryable = EXPECTED[status]
    outcome.assert_error(kind, retryable=retryable, status=status)  # includes the leak sweep
    assert seen == [f"Bearer {fake_key}"], f"{outcome.describe()}: the server saw {seen!r}, not the configured key"
