"""What an OpenAI-style error says, beyond its status: quota, context length, model, parameter, filter.

OpenAI and the compatible servers put the meaning in the body (``{"error":
{"message", "type", "param", "code"}}``, or vLLM's flat ``{"object":
"error", ...}``), and one status means several things: a 429 is a rate limit
(retry after a while) or a spent quota (``insufficient_quota``: do not
retry, move on). :func:`classify` reads that for :class:`~clawdesk.provider.Wire`;
:func:`stream_error` does the same for an error sent inside a 200 stream.
What neither recognises is left to the toolkit's status table.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Callable, Mapping
from typing import Any

from clawdesk import (
    ApiError,
    AuthFailed,
    CapabilityMissing,
    ContentFiltered,
    ContextLengthExceeded,
    InvalidRequest,
    ModelNotFound,
    PermissionDenied,
    ProviderError,
    QuotaExceeded,
    RateLimited,
)
from clawdesk.provider import ErrorResponse, ProviderConfig

from ._response import error_in_body, error_text

__all__ = ["classifier", "classify", "error_fields", "key_hint", "stream_error"]

# "This model's maximum context length is 8192 tokens" (OpenAI, vLLM, DeepSeek), llama.cpp's
# "request (6031 tokens) exceeds the available context size (4096 tokens)", and kin.
_CONTEXT = re.compile(
    r"maximum context length|context length exceeded|context_length_exceeded|"
    r"exceeds? the (?:available |maximum )?context (?:size|window|length)|prompt is too long",
    re.IGNORECASE,
)
# "The model `x` does not exist" (OpenAI, vLLM), 'model "x" not found' (Ollama's /v1), "Invalid model: x".
_MODEL = re.compile(
    r"\bmodel\b[^.]{0,80}?\b(?:does not exist|not found|not exist|is not available)|invalid model|unknown model|"
    r"no such model",
    re.IGNORECASE,
)
_UNRECOGNIZED = re.compile(r"Unrecognized request argument supplied: ([A-Za-z0-9_.]+)")
_QUOTA = frozenset({"insufficient_quota"})
_CONTEXT_CODES = frozenset({"context_length_exceeded", "exceed_context_size_error"})
_UNSUPPORTED = frozenset({"unsupported_parameter", "unsupported_value"})
_FILTERED = frozenset({"content_filter", "content_policy_violation"})
# An error's type inside a stream, where there is no status to go by.
_STREAM_KINDS: Mapping[str, Callable[..., ProviderError]] = {
    "invalid_request_error": InvalidRequest,
    "authentication_error": AuthFailed,
    "permission_error": PermissionDenied,
    "rate_limit_error": RateLimited,
    "tokens": RateLimited,
    "requests": RateLimited,
}
# A status a server wrote into the error's code (llama.cpp, OpenRouter, older vLLM).
_STREAM_STATUSES: Mapping[int, Callable[..., ProviderError]] = {
    400: InvalidRequest,
    401: AuthFailed,
    402: QuotaExceeded,
    403: PermissionDenied,
    429: RateLimited,
}
_SERVER_KINDS = frozenset({"server_error", "api_error", "overloaded_error", "unavailable_error", "internal_error"})


def error_fields(error: Mapping[str, Any]) -> tuple[str, str | None, str | int | None, str | None]:
    """``(message, type, code, param)`` of an error object (``code`` may be a number: llama.cpp sends the status)."""
    kind = error.get("type")
    code = error.get("code")
    param = error.get("param")
    return (
        error_text(error),
        kind if isinstance(kind, str) else None,
        code if isinstance(code, (str, int)) and not isinstance(code, bool) else None,
        param if isinstance(param, str) else None,
    )


def key_hint(config: ProviderConfig) -> str:
    """Where the key comes from, for an "API key refused" message: ``set X or providers.NAME.api_key``."""
    env = config.api_key_env
    name = config.name or "openai"
    return f"set {env} or providers.{name}.api_key" if env else f"set providers.{name}.api_key"


def _by_meaning(
    status: int | None,
    message: str,
    kind: str | None,
    code: str | int | None,
    param: str | None,
    model: str | None,
    kw: dict[str, Any],
) -> ProviderError | None:
    """The error the body's words call for, whatever the status (``None`` when they call for none)."""
    if kind in _QUOTA or code in _QUOTA:
        return QuotaExceeded(message or "out of credit or quota", **kw)
    if status != 429 and (code in _CONTEXT_CODES or kind in _CONTEXT_CODES or _CONTEXT.search(message)):
        return ContextLengthExceeded(message or "the prompt does not fit the model's context window", **kw)
    if code in _FILTERED or kind in _FILTERED:
        return ContentFiltered(message or "blocked by a content filter", reason=str(code or kind), **kw)
    if code == "model_not_found" or (status in (None, 400, 404) and _MODEL.search(message)):
        return ModelNotFound(message or f"unknown model {model!r}", model=model, **kw)
    if status in (None, 400, 422):
        unrecognized = _UNRECOGNIZED.search(message)
        if code in _UNSUPPORTED or unrecognized is not None:
            # This model (or this server) cannot take the parameter; another model may.
            option = param or (unrecognized.group(1) if unrecognized else None)
            return CapabilityMissing(message, option=option, **kw)
    return None


def classify(error: ErrorResponse, *, key_hint: str | None = None) -> ProviderError | None:
    """The error for an OpenAI-style error response, or ``None`` to let the status decide.

    - ``insufficient_quota`` (OpenAI says it with a 429) is
      :class:`~clawdesk.QuotaExceeded`: not retried, a chain moves on;
    - ``context_length_exceeded`` (OpenAI), ``exceed_context_size_error``
      (llama.cpp) and "maximum context length" messages are
      :class:`~clawdesk.ContextLengthExceeded`;
    - ``content_filter`` / ``content_policy_violation`` is
      :class:`~clawdesk.ContentFiltered` (a blocked prompt);
    - ``model_not_found``, or a 400/404 whose message says the model does
      not exist, is :class:`~clawdesk.ModelNotFound`; a 404 that names no
      model comes from a server without that route (``base_url`` is wrong)
      and is a non-retryable :class:`~clawdesk.ApiError` saying so;
    - a 400 ``unsupported_parameter`` / ``unsupported_value`` or
      "Unrecognized request argument" is :class:`~clawdesk.CapabilityMissing`
      naming the parameter: this model cannot take it, another may;
    - a 401 is :class:`~clawdesk.AuthFailed` with ``key_hint`` added.

    ``x-should-retry`` and ``retry-after-ms`` / ``retry-after`` are the
    toolkit's (they apply to what is returned here too).
    """
    found = error_in_body(error.json)
    if found is not None:
        message, kind, code, param = error_fields(found)
    else:
        message, kind, code, param = error.message, None, None, None
    message = message or error.message
    kw = error.kw()
    result = _by_meaning(error.status, message, kind, code, param, error.model, kw)
    if result is not None:
        return result
    if error.status == 401:
        hint = f" ({key_hint})" if key_hint else ""
        return AuthFailed(f"{message or 'the API key was refused'}{hint}", **kw)
    if error.status == 404:
        path = urllib.parse.urlsplit(error.url).path
        detail = f" ({message})" if message else ""
        return ApiError(
            f"the server has no {path}{detail}: check base_url (an OpenAI-compatible one usually ends in /v1)",
            retryable=False,
            **kw,
        )
    return None


def classifier(config: ProviderConfig) -> Callable[[ErrorResponse], ProviderError | None]:
    """:func:`classify` with the key hint for ``config``, as :class:`~clawdesk.provider.Wire` takes it."""
    hint = key_hint(config)

    def read(error: ErrorResponse) -> ProviderError | None:
        return classify(error, key_hint=hint)

    return read


def stream_error(error: Mapping[str, Any], *, provider: str, url: str | None, request_id: str | None) -> ProviderError:
    """The error for an error object a server sent inside a 200 stream (there is no status to go by).

    Read like :func:`classify` reads a body; past that, its ``type`` decides
    (``invalid_request_error`` is :class:`~clawdesk.InvalidRequest`,
    ``rate_limit_error`` :class:`~clawdesk.RateLimited`, ...; a server error
    is a retryable :class:`~clawdesk.ApiError`), and a number in ``code``
    (llama.cpp and OpenRouter send the HTTP status there) counts as a status.
    """
    message, kind, code, param = error_fields(error)
    kw: dict[str, Any] = {"provider": provider, "url": url, "request_id": request_id}
    found = _by_meaning(None, message, kind, code, param, None, kw)
    if found is not None:
        return found
    text = f"the server sent an error in the stream: {message or kind or 'no message'}"
    make = _STREAM_KINDS.get(kind or "")
    if make is not None:
        return make(text, **kw)
    number = code if isinstance(code, int) else None
    make = _STREAM_STATUSES.get(number or 0)
    if make is not None:
        return make(text, **kw)
    retryable = kind in _SERVER_KINDS or (number is not None and number >= 500)
    return ApiError(text, retryable=retryable, **kw)
