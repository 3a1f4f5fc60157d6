"""Gemini's errors: ``{"error": {code, message, status, details}}`` (``google.rpc.Status``) to typed errors.

Pure code over parsed JSON. Used for error statuses (through the wire
toolkit's ``classify``) and for an error a stream reports after its 200 (as
a ``data:`` chunk or as raw JSON lines). What is Gemini's own:

- a wrong or expired key is a 400 whose ``ErrorInfo`` says
  ``API_KEY_INVALID`` (or ``API_KEY_EXPIRED``): :class:`~clawdesk.AuthFailed`;
- a 429 ``RESOURCE_EXHAUSTED`` carries its wait in the body
  (``RetryInfo.retryDelay``, a protobuf duration such as ``"45.8s"``), not in
  a header; a ``QuotaFailure`` naming a per-day (or per-month) quota, or a
  quota of 0 (a model the free tier does not serve), will not clear in
  seconds: :class:`~clawdesk.QuotaExceeded`, not retryable, so a chain moves
  on at once; any other 429 is :class:`~clawdesk.RateLimited`;
- "The input token count (N) exceeds the maximum number of tokens allowed
  (M)" is :class:`~clawdesk.ContextLengthExceeded`;
- ``FAILED_PRECONDITION`` (the free tier is not served in the caller's
  region, billing is off) is :class:`~clawdesk.PermissionDenied`: the request
  is fine, this backend will not serve it;
- everything else follows the HTTP status (the toolkit's table), with the
  body's message, the ``status`` name, and the wait ``RetryInfo`` gave.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from clawdesk import (
    AuthFailed,
    ContextLengthExceeded,
    ModelNotFound,
    PermissionDenied,
    ProviderError,
    QuotaExceeded,
    RateLimited,
)
from clawdesk.provider import error_for_status, retry_after_from

if TYPE_CHECKING:
    import httpx

    from clawdesk.provider import ErrorResponse

__all__ = ["classify", "error_from_status", "google_status", "parse_duration", "quota_spent"]

_KEY_HINT = "set GEMINI_API_KEY (or GOOGLE_API_KEY) or providers.{name}.api_key"
_KEY_REASONS = frozenset({"API_KEY_INVALID", "API_KEY_EXPIRED"})
# google.rpc.Code names, for an error object that gives a status but no code.
_CODES = {
    "INVALID_ARGUMENT": 400,
    "FAILED_PRECONDITION": 400,
    "OUT_OF_RANGE": 400,
    "UNAUTHENTICATED": 401,
    "PERMISSION_DENIED": 403,
    "NOT_FOUND": 404,
    "ABORTED": 409,
    "ALREADY_EXISTS": 409,
    "RESOURCE_EXHAUSTED": 429,
    "CANCELLED": 499,
    "UNKNOWN": 500,
    "INTERNAL": 500,
    "DATA_LOSS": 500,
    "UNIMPLEMENTED": 501,
    "UNAVAILABLE": 503,
    "DEADLINE_EXCEEDED": 504,
}
_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)s\s*")
_RETRY_IN = re.compile(r"retry in (\d+(?:\.\d+)?)\s*s", re.IGNORECASE)
_PER_LONG = re.compile(r"per[_ ]?(day|month)", re.IGNORECASE)
_TOO_LONG = re.compile(
    r"input token count.*exceeds the maximum|exceeds the maximum number of tokens", re.IGNORECASE | re.DOTALL
)
_MESSAGE_LIMIT = 300


def google_status(data: Any) -> Mapping[str, Any] | None:
    """The ``error`` object of ``{"error": {...}}``, or of a list holding one (the stream endpoint's shape)."""
    if isinstance(data, list) and data:
        data = data[0]
    if isinstance(data, Mapping) and isinstance(data.get("error"), Mapping):
        error: Mapping[str, Any] = data["error"]
        return error
    return None


def parse_duration(value: Any) -> float | None:
    """Seconds from a protobuf ``Duration`` in JSON (``"45.837906927s"``, ``"2s"``), or ``{seconds, nanos}``.

    ``None`` for anything else (negative, not finite, not a duration): a wait
    that cannot be read counts as absent, never as "wait forever".
    """
    seconds: float | None = None
    if isinstance(value, str):
        found = _DURATION.fullmatch(value)
        if found is not None:
            seconds = float(found.group(1))
    elif isinstance(value, Mapping):
        whole, nanos = value.get("seconds", 0), value.get("nanos", 0)
        if isinstance(whole, str) and whole.isdigit():
            whole = int(whole)
        if type(whole) is int and type(nanos) is int:
            seconds = whole + nanos / 1e9
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return None
    return seconds


def _details(error: Mapping[str, Any], kind: str) -> list[Mapping[str, Any]]:
    details = error.get("details")
    if not isinstance(details, list):
        return []
    return [d for d in details if isinstance(d, Mapping) and str(d.get("@type", "")).endswith(f"google.rpc.{kind}")]


def _retry_delay(error: Mapping[str, Any]) -> float | None:
    for detail in _details(error, "RetryInfo"):
        seconds = parse_duration(detail.get("retryDelay"))
        if seconds is not None:
            return seconds
    return None


def quota_spent(error: Mapping[str, Any]) -> bool:
    """Whether a ``QuotaFailure`` names a quota that will not clear in seconds (per day, per month, or 0)."""
    for detail in _details(error, "QuotaFailure"):
        violations = detail.get("violations")
        for violation in violations if isinstance(violations, list) else ():
            if not isinstance(violation, Mapping):
                continue
            names = f"{violation.get('quotaId', '')} {violation.get('quotaMetric', '')}"
            if _PER_LONG.search(names) or str(violation.get("quotaValue", "")).strip() == "0":
                return True
    return False


def _message(error: Mapping[str, Any]) -> str:
    message = error.get("message")
    text = " ".join(message.split()) if isinstance(message, str) else ""
    if len(text) > _MESSAGE_LIMIT:
        text = text[: _MESSAGE_LIMIT - 1] + "…"
    status = error.get("status")
    if isinstance(status, str) and status and status not in text:
        text = f"{status}: {text}" if text else status
    return text


def error_from_status(
    provider: str,
    error: Mapping[str, Any],
    *,
    status: int | None = None,
    headers: httpx.Headers | Mapping[str, str] | None = None,
    url: str | None = None,
    model: str | None = None,
    request_id: str | None = None,
) -> ProviderError:
    """The typed error for Gemini's ``error`` object (see the module docstring).

    ``status`` is the HTTP status (for an error inside a stream, the
    object's ``code``, else the code its ``status`` name stands for).
    ``headers`` are read for a ``Retry-After`` when the body gives no
    ``RetryInfo``; the message's "Please retry in 58.9s" is the last resort.
    """
    code = status
    if code is None:
        given = error.get("code")
        name = error.get("status")
        code = given if type(given) is int and given >= 400 else _CODES.get(name if isinstance(name, str) else "", 500)
    name = error.get("status") if isinstance(error.get("status"), str) else ""
    text = _message(error)
    raw_message = error.get("message") if isinstance(error.get("message"), str) else ""
    wait = _retry_delay(error)
    if wait is None:
        wait = retry_after_from(headers)
    if wait is None and isinstance(raw_message, str):
        found = _RETRY_IN.search(raw_message)
        wait = float(found.group(1)) if found else None
    kw: dict[str, Any] = {"provider": provider, "status": code, "url": url, "request_id": request_id}
    reasons = {r for d in _details(error, "ErrorInfo") if isinstance(r := d.get("reason"), str)}
    if reasons & _KEY_REASONS or code == 401 or name == "UNAUTHENTICATED":
        return AuthFailed(f"{text or 'the API key was refused'} ({_KEY_HINT.format(name=provider)})", **kw)
    if code == 429 or name == "RESOURCE_EXHAUSTED":
        if quota_spent(error):
            return QuotaExceeded(f"{text} (a quota that does not reset within minutes)", retry_after=wait, **kw)
        return RateLimited(text or "rate limited", retry_after=wait, **kw)
    if isinstance(raw_message, str) and _TOO_LONG.search(raw_message):
        return ContextLengthExceeded(text, **kw)
    if name == "FAILED_PRECONDITION":
        return PermissionDenied(text, **kw)
    if code == 404 and model is not None:
        return ModelNotFound(
            f"model {model!r} not found: {text}" if text else f"model {model!r} not found", model=model, **kw
        )
    result = error_for_status(provider, code, text, headers=headers, url=url, model=model, request_id=request_id)
    if wait is not None and result.retryable and result.retry_after is None:
        result.retry_after = wait
    return result


def classify(response: ErrorResponse) -> ProviderError | None:
    """The wire toolkit's hook: Gemini's reading of an error response (``None`` when the body is not Gemini's)."""
    error = google_status(response.json)
    if error is None:
        if response.status == 401:
            kw = response.kw()
            message = response.message or "the API key was refused"
            return AuthFailed(f"{message} ({_KEY_HINT.format(name=response.provider)})", **kw)
        return None
    return error_from_status(
        response.provider,
        error,
        status=response.status,
        headers=response.headers,
        url=response.url,
        model=response.model,
        request_id=response.request_id,
    )
