"""Reading ``google.rpc.Status``: the wait, the quota, the kind of error, for any body a server may send."""

from __future__ import annotations

import json
import math
from decimal import Decimal
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

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
)
from clawdesk.provider import ErrorResponse
from clawdesk_gemini._errors import classify, error_from_status, google_status, parse_duration, quota_spent


def _response(status: int, body: Any, *, headers: dict[str, str] | None = None) -> ErrorResponse:
    raw = json.dumps(body).encode() if not isinstance(body, bytes) else body
    try:
        parsed = json.loads(raw)
    except ValueError:
        parsed = None
    return ErrorResponse(
        provider="gem",
        status=status,
        headers=httpx.Headers(headers or {}),
        body=raw,
        json=parsed,
        message="",
        url="https://generativelanguage.googleapis.com/v1beta/models/m:generateContent",
        model="m",
        request_id=None,
    )


def _quota(quota_id: str, metric: str = "", value: str = "60") -> dict[str, Any]:
    violation = {"quotaMetric": metric, "quotaId": quota_id, "quotaValue": value}
    return {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [violation]}


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("2s", 2.0),
        ("45.837906927s", 45.837906927),
        ("0s", 0.0),
        (" 3s ", 3.0),
        ({"seconds": 1, "nanos": 500_000_000}, 1.5),
        ({"seconds": "7"}, 7.0),
        ("-1s", None),
        ("2", None),
        ("2ms", None),
        ("s", None),
        ("nans", None),
        (None, None),
        (5, None),
    ],
)
def test_parse_duration(value: Any, seconds: float | None) -> None:
    """Protobuf durations in JSON ("45.8s", or seconds and nanos) are seconds; anything else is no wait at all."""
    assert parse_duration(value) == seconds


@given(st.decimals(min_value=0, max_value=10**9, places=9, allow_nan=False, allow_infinity=False))
def test_any_duration_reads_back(value: Decimal) -> None:
    """Every duration Google can write (up to nanoseconds) reads back as its number of seconds."""
    text = format(value, "f") + "s"
    parsed = parse_duration(text)
    assert parsed is not None
    assert math.isclose(parsed, float(value), rel_tol=1e-12, abs_tol=1e-9)


@given(st.text(max_size=20))
def test_garbage_durations_are_absent(text: str) -> None:
    """A retryDelay that is not a duration never becomes a wait (never 'wait forever', never a crash)."""
    parsed = parse_duration(text)
    assert parsed is None or (math.isfinite(parsed) and parsed >= 0 and text.strip().endswith("s"))


@pytest.mark.parametrize(
    ("violation", "spent"),
    [
        (_quota("GenerateRequestsPerDayPerProjectPerModel-FreeTier"), True),
        (_quota("", "generativelanguage.googleapis.com/generate_requests_per_day"), True),
        (_quota("GenerateContentPaidTierInputTokensPerMonth"), True),
        (_quota("GenerateRequestsPerMinutePerProjectPerModel-FreeTier", value="0"), True),
        (_quota("GenerateRequestsPerMinutePerProjectPerModel-FreeTier"), False),
        (_quota("GenerateContentInputTokensPerModelPerMinute-FreeTier"), False),
    ],
)
def test_spent_quotas(violation: dict[str, Any], spent: bool) -> None:
    """Per-day and per-month quotas, and a quota of 0, will not reset in seconds; per-minute ones will."""
    assert quota_spent({"details": [violation]}) is spent


def test_429_kinds_and_waits() -> None:
    """A per-minute 429 is RateLimited with RetryInfo's wait; a per-day one is QuotaExceeded, not retryable."""
    retry = {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "31.2s"}
    minute = error_from_status("gem", {"code": 429, "message": "m", "details": [_quota("PerMinute"), retry]})
    assert isinstance(minute, RateLimited)
    assert (minute.retry_after, minute.retryable) == (31.2, True)
    day = error_from_status("gem", {"code": 429, "message": "m", "details": [_quota("RequestsPerDay"), retry]})
    assert isinstance(day, QuotaExceeded)
    assert day.retryable is False


def test_wait_sources_in_order() -> None:
    """The wait comes from RetryInfo, else Retry-After, else the message's "Please retry in 2.5s"."""
    retry = {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "4s"}
    error = {"code": 429, "message": "Please retry in 9.5s.", "status": "RESOURCE_EXHAUSTED"}
    with_info = error_from_status("gem", {**error, "details": [retry]}, headers={"retry-after": "7"})
    with_header = error_from_status("gem", error, headers={"retry-after": "7"})
    from_message = error_from_status("gem", error)
    assert [e.retry_after for e in (with_info, with_header, from_message)] == [4.0, 7.0, 9.5]


def test_retry_info_on_a_503() -> None:
    """RetryInfo on an overloaded 503 is kept as the wait of the retryable ApiError."""
    retry = {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "1s"}
    error = error_from_status(
        "gem", {"code": 503, "message": "overloaded", "status": "UNAVAILABLE", "details": [retry]}
    )
    assert isinstance(error, ApiError)
    assert (error.retryable, error.retry_after, error.status) == (True, 1.0, 503)


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (
            {
                "code": 400,
                "message": "API key expired. Please renew the API key.",
                "status": "INVALID_ARGUMENT",
                "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_EXPIRED"}],
            },
            AuthFailed,
        ),
        (
            {"code": 401, "message": "Request had invalid authentication credentials.", "status": "UNAUTHENTICATED"},
            AuthFailed,
        ),
        (
            {
                "code": 403,
                "message": "Permission denied on resource project.",
                "status": "PERMISSION_DENIED",
                "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "CONSUMER_INVALID"}],
            },
            PermissionDenied,
        ),
        (
            {
                "code": 400,
                "message": "The input token count (3475108) exceeds the maximum number of tokens allowed (1048576).",
                "status": "INVALID_ARGUMENT",
            },
            ContextLengthExceeded,
        ),
        (
            {
                "code": 400,
                "message": "Gemini API free tier is not available in your country.",
                "status": "FAILED_PRECONDITION",
            },
            PermissionDenied,
        ),
        ({"code": 404, "message": "models/x is not found", "status": "NOT_FOUND"}, ModelNotFound),
        (
            {"code": 400, "message": "Invalid value at 'generation_config.temperature'", "status": "INVALID_ARGUMENT"},
            InvalidRequest,
        ),
        ({"message": "no code, only a name", "status": "RESOURCE_EXHAUSTED"}, RateLimited),
    ],
)
def test_kinds(error: dict[str, Any], kind: type[ProviderError]) -> None:
    """Each of Google's error shapes becomes its kind, also inside a stream (where only the object's code says)."""
    assert type(error_from_status("gem", error)) is kind


def test_classify_reads_google_bodies_only() -> None:
    """classify answers for Google's shapes (object or list) and leaves other bodies to the status table."""
    body = {"error": {"code": 404, "message": "models/m is not found", "status": "NOT_FOUND"}}
    assert isinstance(classify(_response(404, body)), ModelNotFound)
    assert isinstance(classify(_response(404, [body])), ModelNotFound)
    assert classify(_response(502, {"message": "bad gateway"})) is None
    assert classify(_response(502, b"<html>oops</html>")) is None
    assert isinstance(classify(_response(401, b"")), AuthFailed)
    assert google_status({"error": "a string"}) is None


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
_status_like = st.fixed_dictionaries(
    {},
    optional={
        "code": st.integers(-5, 700) | st.text(max_size=5),
        "message": st.text(max_size=40) | st.integers(),
        "status": st.sampled_from(["INVALID_ARGUMENT", "RESOURCE_EXHAUSTED", "NOT_FOUND", "FAILED_PRECONDITION", "x"])
        | st.integers(),
        "details": st.lists(
            st.fixed_dictionaries(
                {
                    "@type": st.sampled_from(
                        [
                            "type.googleapis.com/google.rpc.RetryInfo",
                            "type.googleapis.com/google.rpc.QuotaFailure",
                            "type.googleapis.com/google.rpc.ErrorInfo",
                            "other",
                        ]
                    )
                },
                optional={"retryDelay": _json, "violations": _json, "reason": _json},
            )
            | _json,
            max_size=3,
        )
        | _json,
    },
)


@given(status=st.integers(400, 599), body=_json | st.fixed_dictionaries({"error": _status_like}))
def test_any_body_gives_a_provider_error(status: int, body: Any) -> None:
    """Whatever JSON an error status carries, classify gives this provider's ProviderError or None, never raises."""
    error = classify(_response(status, body))
    if error is None:
        assert google_status(body) is None
        return
    assert isinstance(error, ProviderError)
    assert error.provider == "gem"
    assert error.retry_after is None or (math.isfinite(error.retry_after) and error.retry_after >= 0)
    if isinstance(error, QuotaExceeded):
        assert not error.retryable
    if isinstance(error, RateLimited):
        assert error.retryable


@given(error=_status_like)
def test_any_error_object_in_a_stream(error: dict[str, Any]) -> None:
    """An error object inside a stream (no HTTP status to go by) always gives a ProviderError with a status."""
    result = error_from_status("gem", error)
    assert isinstance(result, ProviderError)
    assert isinstance(result.status, int)
    assert result.status >= 400
