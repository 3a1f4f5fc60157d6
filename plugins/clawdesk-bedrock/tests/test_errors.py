"""Bedrock's errors by AWS error code, from an HTTP answer and from inside a stream, with the advice they need."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import clawdesk
from clawdesk import (
    ApiError,
    AuthFailed,
    ContextLengthExceeded,
    InvalidRequest,
    ModelNotFound,
    PermissionDenied,
    QuotaExceeded,
    RateLimited,
    TimedOut,
)
from clawdesk_bedrock._errors import code_from_header, error_for_code

ON_DEMAND = (
    "Invocation of model ID anthropic.claude-3-7-sonnet-20250219-v1:0 with on-demand throughput isn\u2019t supported. "
    "Retry your request with the ID or ARN of an inference profile that contains this model."
)
#: (code, message, error class, retryable)
TABLE = [
    ("ThrottlingException", "Too many requests, please wait before trying again.", RateLimited, True),
    ("ModelNotReadyException", "Model is not ready", RateLimited, True),
    ("ServiceUnavailableException", "Service unavailable", ApiError, True),
    ("InternalServerException", "Internal error", ApiError, True),
    ("ModelTimeoutException", "Model timed out", TimedOut, True),
    ("ValidationException", "Input is too long for requested model.", ContextLengthExceeded, False),
    (
        "ValidationException",
        "The model returned the following errors: input length and `max_tokens` exceed context limit: 197626 + 8192",
        ContextLengthExceeded,
        False,
    ),
    ("ValidationException", "prompt is too long: 215000 tokens > 200000 maximum", ContextLengthExceeded, False),
    ("ValidationException", ON_DEMAND, ModelNotFound, False),
    (
        "ValidationException",
        "The text field in the ContentBlock object at messages.0.content.0 is blank.",
        InvalidRequest,
        False,
    ),
    ("ConflictException", "Conflict", InvalidRequest, False),
    (
        "AccessDeniedException",
        "You don't have access to the model with the specified model ID.",
        PermissionDenied,
        False,
    ),
    ("ResourceNotFoundException", "Could not resolve the foundation model.", ModelNotFound, False),
    ("ServiceQuotaExceededException", "Your request exceeds the service quota.", QuotaExceeded, False),
    ("UnrecognizedClientException", "The security token included in the request is invalid.", AuthFailed, False),
    ("InvalidSignatureException", "The request signature we calculated does not match", AuthFailed, False),
    ("ExpiredTokenException", "The security token included in the request is expired", AuthFailed, False),
    ("ModelErrorException", "The model failed to process the request", ApiError, False),
]


@pytest.mark.parametrize(("code", "message", "error", "retryable"), TABLE)
def test_each_code_maps_to_its_error(code: str, message: str, error: type, retryable: bool) -> None:
    """The module's table: each code (and message, for Validation) gives its error class and retryability."""
    raised = error_for_code(code, message, kw={"provider": "bedrock"}, model="m", region="eu-west-1")
    assert type(raised) is error
    assert raised.retryable is retryable
    assert message.rstrip(". ") in str(raised)


def test_advice_comes_with_the_errors_that_need_it() -> None:
    """On-demand ids get an inference-profile id for the region; expired signatures get clock advice; access, a hint."""
    kw = {"provider": "bedrock"}
    profile = error_for_code(
        "ValidationException", ON_DEMAND, kw=kw, model="anthropic.claude-x-v1:0", region="ap-northeast-1"
    )
    assert "apac.anthropic.claude-x-v1:0" in str(profile)
    expired = error_for_code(
        "InvalidSignatureException", "Signature expired: 20240101T000000Z is now earlier than ...", kw=kw
    )
    assert "clock" in str(expired)
    token = error_for_code("ExpiredTokenException", "The security token included in the request is expired", kw=kw)
    assert "fresh temporary credentials" in str(token)
    denied = error_for_code("AccessDeniedException", "denied", kw=kw, region="us-east-2")
    assert "us-east-2" in str(denied)
    assert "model access" in str(denied)


def test_model_errors_are_retryable_when_the_model_said_so() -> None:
    """A model's own 429 or 5xx inside ModelErrorException / ModelStreamErrorException may pass when asked again."""
    for code in ("ModelErrorException", "ModelStreamErrorException"):
        for status, retryable in ((429, True), (503, True), (400, False), (None, False)):
            raised = error_for_code(code, "failed", kw={"provider": "bedrock"}, original_status=status)
            assert isinstance(raised, ApiError)
            assert raised.retryable is retryable


@given(
    code=st.from_regex(r"[A-Z][A-Za-z]{2,30}", fullmatch=True),
    namespace=st.sampled_from(["", "com.amazon.coral.validate#", "aws.protocols#"]),
    suffix=st.sampled_from(["", ":http://internal.amazon.com/coral/com.amazon.coral.validate/", ":"]),
)
def test_error_type_header_parsing(code: str, namespace: str, suffix: str) -> None:
    """The code is what x-amzn-ErrorType holds before its first ':' and after a '#', whatever surrounds it."""
    assert code_from_header(f"{namespace}{code}{suffix}") == code


@given(code=st.text(max_size=30), message=st.text(max_size=200))
def test_any_code_and_message_give_a_provider_error_or_none(code: str, message: str) -> None:
    """Whatever a server says, the reading is a ProviderError of one line carrying the provider, or None."""
    raised = error_for_code(code or None, message, kw={"provider": "bedrock", "status": 400})
    if raised is not None:
        assert isinstance(raised, clawdesk.ProviderError)
        assert raised.provider == "bedrock"
        assert "\n" not in str(raised)


@pytest.mark.anyio
@pytest.mark.parametrize(("code", "message", "error", "retryable"), TABLE)
async def test_http_errors_through_the_fake(
    fake: Any, helpers: Any, env_keys: None, code: str, message: str, error: type, retryable: bool
) -> None:
    """The same table from real HTTP answers (status per the service model, x-amzn-ErrorType, the body's message)."""
    status = {"ThrottlingException": 429, "ModelNotReadyException": 429, "ServiceUnavailableException": 503}.get(code)
    status = status or {"InternalServerException": 500, "ModelTimeoutException": 408, "ModelErrorException": 424}.get(
        code
    )
    status = status or {"AccessDeniedException": 403, "ResourceNotFoundException": 404}.get(code, 400)
    if code in ("UnrecognizedClientException", "InvalidSignatureException", "ExpiredTokenException"):
        status = 403
    # Some front-door errors say "Message"; both spellings must reach the error.
    key = "Message" if code == "AccessDeniedException" else "message"
    fake.add(helpers.aws_error(status, code, message, key=key))
    registry = clawdesk.Registry(discover=False)
    import clawdesk_bedrock._plugin

    registry.register(clawdesk_bedrock._plugin)
    config = clawdesk.parse_config(helpers.config_text(fake.url, max_retries=0))
    async with clawdesk.Clawdesk(registry=registry, config=config) as client:
        with pytest.raises(clawdesk.ClawdeskError) as caught:
            await client.chat(f"bedrock/{helpers.MODEL}", "hi")
    # The engine stops at an invalid request (raised as it is) and moves on after the others (all failed).
    failed = caught.value
    raised = failed.attempts[0].error if isinstance(failed, clawdesk.AllProvidersFailed) else failed
    assert type(raised) is error
    assert raised.retryable is retryable
    assert raised.status == status
    assert raised.request_id == helpers.REQUEST_ID
    assert message.rstrip(". ") in str(raised)


@pytest.mark.anyio
async def test_a_skewed_clock_gets_clock_advice(fake: Any, helpers: Any, make_client: Any, env_keys: None) -> None:
    """When the server's clock is 10 minutes ahead, the signature is refused as expired and the advice says NTP."""
    fake.skew = 600
    fake.add(helpers.answer_reply(helpers.answer()))
    async with make_client(max_retries=0) as client:
        with pytest.raises(clawdesk.AllProvidersFailed) as caught:
            await client.chat(f"bedrock/{helpers.MODEL}", "hi")
    raised = caught.value.attempts[0].error
    assert isinstance(raised, AuthFailed)
    assert "Signature expired" in str(raised)
    assert "clock" in str(raised)
    assert fake.accepted == []
