"""Reading OpenAI-style error answers: what the body means beyond its status, for every server's shape."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from clawdesk import (
    ApiError,
    AuthFailed,
    CapabilityMissing,
    ContentFiltered,
    ContextLengthExceeded,
    InvalidRequest,
    ModelNotFound,
    ProviderError,
    QuotaExceeded,
    RateLimited,
    _secret,
)
from clawdesk.provider import ErrorResponse, message_from_body
from clawdesk_openai_compat import classify, stream_error
from clawdesk_openai_compat.testing import error_body

URL = "http://127.0.0.1:9/v1/chat/completions"


def response(status: int, body: Any, headers: dict[str, str] | None = None, model: str | None = "m-1") -> ErrorResponse:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    try:
        parsed = json.loads(raw)
    except ValueError:
        parsed = None
    return ErrorResponse(
        provider="acme",
        status=status,
        headers=httpx.Headers(headers or {}),
        body=raw,
        json=parsed,
        message=message_from_body(raw),
        url=URL,
        model=model,
        request_id="req_1",
    )


QUOTA = error_body(
    "You exceeded your current quota, please check your plan and billing details.",
    type="insufficient_quota",
    code="insufficient_quota",
)
RATE = error_body(
    "Rate limit reached for gpt-4o on tokens per min (TPM): Limit 30000.", type="tokens", code="rate_limit_exceeded"
)
LLAMA_CONTEXT = {
    "error": {
        "code": 400,
        "message": "request (6031 tokens) exceeds the available context size (4096 tokens), try increasing it",
        "type": "exceed_context_size_error",
        "n_prompt_tokens": 6031,
        "n_ctx": 4096,
    }
}


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (429, QUOTA, QuotaExceeded),
        (429, {"error": {"message": "quota", "type": "insufficient_quota"}}, QuotaExceeded),  # a proxy kept only type
        (429, {"error": {"message": "quota", "code": "insufficient_quota"}}, QuotaExceeded),  # ...or only code
        (400, LLAMA_CONTEXT, ContextLengthExceeded),
        (
            400,
            error_body(
                "This model's maximum context length is 8192 tokens. However, your messages resulted in 9000 tokens.",
                code="context_length_exceeded",
                param="messages",
            ),
            ContextLengthExceeded,
        ),
        (
            400,
            {
                "object": "error",
                "message": "This model's maximum context length is 4096 tokens. However, you requested 5000 tokens.",
                "type": "BadRequestError",
                "param": None,
                "code": 400,
            },
            ContextLengthExceeded,
        ),
        (
            404,
            error_body("The model `gpt-9` does not exist or you do not have access to it.", code="model_not_found"),
            ModelNotFound,
        ),
        (
            404,
            {"error": {"message": 'model "llama9" not found, try pulling it first', "type": "api_error"}},
            ModelNotFound,
        ),
        (
            400,
            error_body(
                "Unsupported parameter: 'max_tokens' is not supported with this model. Use "
                "'max_completion_tokens' instead.",
                code="unsupported_parameter",
                param="max_tokens",
            ),
            CapabilityMissing,
        ),
        (
            400,
            error_body(
                "Unsupported value: 'temperature' does not support 0.2 with this model.",
                code="unsupported_value",
                param="temperature",
            ),
            CapabilityMissing,
        ),
        (400, error_body("Unrecognized request argument supplied: reasoning_effort"), CapabilityMissing),
        (
            400,
            error_body("Your request was rejected as a result of our safety system.", code="content_policy_violation"),
            ContentFiltered,
        ),
        (401, error_body("Incorrect API key provided: sk-abc***", code="invalid_api_key"), AuthFailed),
    ],
    ids=[
        "quota",
        "quota-type-only",
        "quota-code-only",
        "llama-context",
        "openai-context",
        "vllm-context",
        "openai-model",
        "ollama-model",
        "unsupported-parameter",
        "unsupported-value",
        "unrecognized-argument",
        "content-policy",
        "auth",
    ],
)
def test_the_body_says_what_happened(status: int, body: Any, kind: type[ProviderError]) -> None:
    """Each server's own words become the error they mean, with the provider, status and request id."""
    error = classify(response(status, body), key_hint="set ACME_API_KEY or providers.acme.api_key")
    assert type(error) is kind
    assert error is not None
    assert (error.provider, error.status, error.request_id) == ("acme", status, "req_1")


def test_insufficient_quota_is_not_retryable_and_a_rate_limit_is_left_to_the_status() -> None:
    """429 insufficient_quota is QuotaExceeded (not retryable); 429 rate_limit_exceeded is the toolkit's RateLimited."""
    quota = classify(response(429, QUOTA, {"retry-after-ms": "200"}))
    assert isinstance(quota, QuotaExceeded)
    assert not quota.retryable
    assert classify(response(429, RATE, {"retry-after-ms": "200"})) is None


def test_unsupported_parameter_names_the_option() -> None:
    """CapabilityMissing for a parameter names it (from param, else from the message)."""
    named = classify(response(400, error_body("x", code="unsupported_parameter", param="max_tokens")))
    assert isinstance(named, CapabilityMissing)
    assert named.option == "max_tokens"
    guessed = classify(response(400, error_body("Unrecognized request argument supplied: top_k")))
    assert isinstance(guessed, CapabilityMissing)
    assert guessed.option == "top_k"


def test_auth_failure_carries_the_key_hint_and_never_the_key() -> None:
    """A 401 says where the key comes from; what the server echoed of it is not made worse."""
    error = classify(response(401, error_body("Incorrect API key provided")), key_hint="set ACME_API_KEY or x")
    assert isinstance(error, AuthFailed)
    assert "ACME_API_KEY" in str(error)


@pytest.mark.parametrize(
    "body",
    [
        {"error": {"message": "File Not Found", "type": "not_found_error", "code": 404}},  # llama-server
        b"404 page not found",
        b"<html><head><title>404 Not Found</title></head></html>",
    ],
    ids=["llama-server", "text", "html"],
)
def test_a_404_naming_no_model_is_a_wrong_base_url(body: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A 404 that names no model comes from a server without the route: said so, pointing at base_url."""
    # Redaction masks every secret the process has seen, and another test's generated key once matched the path:
    # this test is about the message, so it runs with none known.
    monkeypatch.setattr(_secret, "_known", set())
    error = classify(response(404, body))
    assert type(error) is ApiError
    assert not error.retryable
    assert "/v1/chat/completions" in str(error)
    assert "base_url" in str(error)


def test_a_rate_limit_message_mentioning_tokens_is_not_a_context_overflow() -> None:
    """A 429 about tokens per minute is not mistaken for a context-length error."""
    body = error_body("Request too large for gpt-4o: maximum context length is fine but TPM exceeded", type="tokens")
    assert classify(response(429, body)) is None


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
_words = st.sampled_from(
    [
        "insufficient_quota",
        "context_length_exceeded",
        "model_not_found",
        "unsupported_parameter",
        "content_filter",
        "exceed_context_size_error",
        "invalid_request_error",
        "server_error",
        400,
        429,
        500,
        None,
    ]
)
_error_object = st.fixed_dictionaries(
    {},
    optional={
        "message": st.text(max_size=40) | _json,
        "type": _words | _json,
        "code": _words | _json,
        "param": st.text(max_size=10) | _json,
    },
)


@given(
    status=st.sampled_from([400, 401, 402, 403, 404, 409, 413, 422, 429, 500, 502, 503]),
    body=st.one_of(_json, st.builds(lambda e: {"error": e}, _error_object), st.binary(max_size=40)),
)
def test_any_error_body_is_classified_or_left_to_the_status(status: int, body: Any) -> None:
    """Whatever a server sends with an error status, classify gives a ProviderError naming the provider, or None."""
    error = classify(response(status, body), key_hint="hint")
    assert error is None or (isinstance(error, ProviderError) and error.provider == "acme")


@given(error=_error_object)
def test_any_error_object_in_a_stream_becomes_a_provider_error(error: dict[str, Any]) -> None:
    """Whatever an error object in a stream holds, it becomes one ProviderError naming the provider."""
    found = stream_error(error, provider="acme", url=URL, request_id=None)
    assert isinstance(found, ProviderError)
    assert found.provider == "acme"
    if error.get("type") == "insufficient_quota" or error.get("code") == "insufficient_quota":
        assert isinstance(found, QuotaExceeded)


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        ({"message": "no", "type": "invalid_request_error"}, InvalidRequest),
        ({"message": "slow", "type": "requests"}, RateLimited),
        ({"message": "slow", "code": 429}, RateLimited),
        ({"message": "out of credits", "code": 402}, QuotaExceeded),
    ],
)
def test_stream_error_types_and_numeric_codes(error: dict[str, Any], kind: type[ProviderError]) -> None:
    """Inside a stream there is no status: the type, or a status written into code, decides."""
    assert type(stream_error(error, provider="acme", url=URL, request_id="r")) is kind
