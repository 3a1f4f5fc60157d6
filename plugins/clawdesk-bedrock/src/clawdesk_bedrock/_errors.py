"""Bedrock's errors, by AWS error code: the one reading for HTTP errors and for exceptions inside a stream.

An error response names its code in ``x-amzn-ErrorType``
(``ValidationException:http://internal.amazon.com/...``: the part before the
first ``:``, and after a ``#`` if any, as botocore reads it), else in the body's
``__type`` / ``code``; the message is the body's ``message`` (``Message`` for
some front-door errors). A stream's exception message names its code in
``:exception-type`` (``throttlingException``) and carries ``{"message": ...}``.

==================================================  ========================  =========
code                                                error                     retryable
==================================================  ========================  =========
ThrottlingException, TooManyRequestsException       RateLimited               yes
ModelNotReadyException                              RateLimited               yes
ServiceUnavailableException, InternalServerException ApiError (503 / 500)     yes
ModelTimeoutException                               TimedOut                  yes
ValidationException, context overflow               ContextLengthExceeded     no
ValidationException, "on-demand throughput isn't    ModelNotFound (use an     no
supported"                                          inference profile id)
ValidationException, ConflictException              InvalidRequest            no
AccessDeniedException                               PermissionDenied          no
ResourceNotFoundException                           ModelNotFound             no
ServiceQuotaExceededException                       QuotaExceeded             no
UnrecognizedClientException, InvalidSignature...,   AuthFailed (clock advice  no
ExpiredTokenException, ...                          for an expired signature)
ModelErrorException, ModelStreamErrorException      ApiError (424)            when the model's own
                                                                              status was 429 or 5xx
==================================================  ========================  =========

Anything else is left to the HTTP status (the toolkit's table).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from clawdesk import (
    ApiError,
    AuthFailed,
    ContextLengthExceeded,
    InvalidRequest,
    ModelNotFound,
    PermissionDenied,
    ProviderError,
    QuotaExceeded,
    RateLimited,
    TimedOut,
)

__all__ = ["STATUS", "code_from_header", "error_for_code", "message_from", "profile_hint"]

#: The HTTP status each modeled error has (service-2.json), for errors that come inside a stream.
STATUS = {
    "ValidationException": 400,
    "ServiceQuotaExceededException": 400,
    "ConflictException": 400,
    "AccessDeniedException": 403,
    "ResourceNotFoundException": 404,
    "ModelTimeoutException": 408,
    "ModelErrorException": 424,
    "ModelStreamErrorException": 424,
    "ThrottlingException": 429,
    "ModelNotReadyException": 429,
    "InternalServerException": 500,
    "ServiceUnavailableException": 503,
}
_THROTTLING = frozenset({"ThrottlingException", "TooManyRequestsException", "ThrottledException", "Throttling"})
_AUTH = frozenset(
    {
        "UnrecognizedClientException",
        "InvalidSignatureException",
        "IncompleteSignatureException",
        "MissingAuthenticationTokenException",
        "ExpiredTokenException",
        "ExpiredToken",
        "InvalidClientTokenId",
        "SignatureDoesNotMatch",
        "InvalidAccessKeyId",
    }
)
_CONTEXT = re.compile(
    r"(input|prompt)\b[^.]{0,40}\btoo long|context (length|limit|window)|too many (input )?tokens"
    r"|max(imum)? input tokens|exceeds? the max(imum)? (number of )?(input )?tokens",
    re.IGNORECASE,
)
_ON_DEMAND = re.compile(r"on-demand throughput isn.t supported", re.IGNORECASE)
_SIGNATURE_EXPIRED = re.compile(r"signature (has )?expired|request has expired", re.IGNORECASE)
# Region prefix -> the geography of its cross-region inference profiles.
_GEOGRAPHY = (("us-gov-", "us-gov"), ("us-", "us"), ("eu-", "eu"), ("ap-", "apac"), ("ca-", "ca"))


def _with(text: str, hint: str) -> str:
    return f"{text.rstrip('. ')}; {hint}"


def code_from_header(value: str | None) -> str | None:
    """The error code in an ``x-amzn-ErrorType`` value (``None`` for none)."""
    if not value:
        return None
    code = value.split(":", 1)[0].rsplit("#", 1)[-1].strip()
    return code or None


def message_from(data: Any, fallback: str = "") -> str:
    """An AWS error body's ``message`` (or ``Message``), else ``fallback``."""
    if isinstance(data, Mapping):
        for key in ("message", "Message", "errorMessage"):
            value = data.get(key)
            if isinstance(value, str) and value.strip():
                return value
    return fallback


def profile_hint(model: str | None, region: str | None) -> str:
    """What to call instead of a foundation id that needs an inference profile."""
    geography = next((geo for prefix, geo in _GEOGRAPHY if (region or "").startswith(prefix)), "us")
    example = f" such as {geography}.{model!s}" if model and not model.startswith("arn:") else ""
    return f"call it through an inference profile id{example} (or global.<id>); `clawdesk models --refresh` lists them"


def error_for_code(
    code: str | None,
    message: str,
    *,
    kw: Mapping[str, Any],
    model: str | None = None,
    region: str | None = None,
    original_status: int | None = None,
) -> ProviderError | None:
    """The error for AWS error ``code`` (see the module's table), or ``None`` to let the HTTP status decide.

    ``kw`` holds what every error carries (``provider``, ``status``, ``url``,
    ``request_id``, ``retry_after``); ``original_status`` is the model's own
    status of a ``ModelErrorException`` / ``ModelStreamErrorException``.
    """
    if code is None:
        return None
    text = message or code
    if code in _THROTTLING:
        return RateLimited(text, **kw)
    if code == "ModelNotReadyException":
        return RateLimited(f"{text} (the model is not ready yet; ask again shortly)", **kw)
    if code in ("ServiceUnavailableException", "InternalServerException", "InternalFailure"):
        return ApiError(text, **{**kw, "retryable": True})
    if code == "ModelTimeoutException":
        return TimedOut(f"{text} (the model took too long to answer)", **kw)
    if code == "ValidationException":
        if _ON_DEMAND.search(message):
            return ModelNotFound(_with(message, profile_hint(model, region)), model=model, **kw)
        if _CONTEXT.search(message):
            return ContextLengthExceeded(text, **kw)
        return InvalidRequest(text, **kw)
    if code == "ConflictException":
        return InvalidRequest(text, **kw)
    if code == "AccessDeniedException":
        where = f" in {region}" if region else " in this region"
        hint = (
            f"access to this model may not be granted{where} (Bedrock console, model access), or the IAM policy "
            "lacks bedrock:InvokeModel / bedrock:InvokeModelWithResponseStream"
        )
        return PermissionDenied(_with(text, hint), **kw)
    if code == "ResourceNotFoundException":
        return ModelNotFound(text, model=model, **kw)
    if code == "ServiceQuotaExceededException":
        return QuotaExceeded(text, **kw)
    if code in _AUTH:
        if code in ("ExpiredTokenException", "ExpiredToken"):
            hint = "the session token has expired: get fresh temporary credentials"
        elif _SIGNATURE_EXPIRED.search(message):
            hint = "the signature is too old: this machine's clock is off by more than 5 minutes; sync it (NTP)"
        else:
            hint = "check the AWS credentials (access key, secret key, session token) and the region"
        return AuthFailed(_with(text, hint), **kw)
    if code in ("ModelErrorException", "ModelStreamErrorException"):
        transient = original_status is not None and (original_status == 429 or original_status >= 500)
        detail = f" (the model answered HTTP {original_status})" if original_status is not None else ""
        return ApiError(f"{text}{detail}", **{**kw, "retryable": transient})
    return None
