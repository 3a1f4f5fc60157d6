"""The retry policy: retry, move on or stop, decided from the error and the try number alone."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from clawdesk import (
    ApiError,
    AuthFailed,
    CapabilityMissing,
    ConnectionFailed,
    ContentFiltered,
    ContextLengthExceeded,
    InvalidRequest,
    PluginError,
    QuotaExceeded,
    RateLimited,
    RetryPolicy,
    StreamInterrupted,
    TextDelta,
    TimedOut,
    Truncated,
)

P = "p"
retry_afters = st.none() | st.floats(min_value=0, max_value=120, allow_nan=False)
errors = st.one_of(
    st.builds(lambda ra: RateLimited("slow", provider=P, retry_after=ra), retry_afters),
    st.builds(lambda ra: ApiError("boom", provider=P, status=503, retry_after=ra), retry_afters),
    st.builds(lambda s: ApiError("odd", provider=P, status=s), st.sampled_from([400, 418, 500, 502, 529])),
    st.just(ConnectionFailed("refused", provider=P)),
    st.just(TimedOut("slow", provider=P)),
    st.just(Truncated("cut", provider=P)),
    st.just(AuthFailed("bad key", provider=P)),
    st.just(QuotaExceeded("no credit", provider=P)),
    st.just(ContextLengthExceeded("too long", provider=P)),
    st.just(ContentFiltered("blocked", provider=P)),
    st.just(CapabilityMissing("no tools", provider=P)),
    st.just(InvalidRequest("bad", provider=P)),
    st.just(PluginError(P, "bug")),
    st.just(StreamInterrupted(provider=P, delivered=[TextDelta("x")], cause=Truncated("cut", provider=P))),
)
policies = st.builds(
    RetryPolicy,
    max_retries=st.integers(0, 4),
    backoff_base_secs=st.floats(0.01, 2),
    backoff_max_secs=st.floats(0.01, 10),
    max_retry_after_secs=st.floats(0, 60),
    stop_on_invalid_request=st.booleans(),
)


@given(policies, errors, st.integers(1, 6), st.integers(0, 2**32))
def test_decisions_follow_the_table(policy: RetryPolicy, error: Exception, attempt: int, seed: int) -> None:
    """Every decision is the one the module's table gives, and waits are never negative or over their bound."""
    decision = policy.decide(error, attempt, random.Random(seed))
    assert decision.wait >= 0
    if isinstance(error, StreamInterrupted):
        assert decision.action == "stop"
    elif isinstance(error, InvalidRequest):
        assert decision.action == ("stop" if policy.stop_on_invalid_request else "next")
    elif not getattr(error, "retryable", False) or attempt > policy.max_retries:
        assert decision.action == "next"
    elif getattr(error, "retry_after", None) is not None:
        retry_after = error.retry_after  # type: ignore[attr-defined]
        if retry_after > policy.max_retry_after_secs:
            assert decision.action == "next"
        else:
            assert decision == decision.__class__("retry", retry_after)
    else:
        assert decision.action == "retry"
        assert decision.wait <= min(policy.backoff_max_secs, policy.backoff_base_secs * 2 ** (attempt - 1))


def test_errors_that_are_about_the_request_or_the_model_never_retry() -> None:
    """Quota, context length, content filter and capability errors move on at the first try."""
    policy = RetryPolicy(max_retries=5)
    for error in (
        QuotaExceeded("x", provider=P),
        ContextLengthExceeded("x", provider=P),
        ContentFiltered("x", provider=P),
        CapabilityMissing("x", provider=P),
    ):
        assert policy.decide(error, 1, random.Random(0)).action == "next"


def test_truncation_is_retried_like_a_broken_connection() -> None:
    """A stream that ended before its end marker may be asked again (before anything reached the caller)."""
    decision = RetryPolicy(max_retries=1).decide(Truncated("cut", provider=P), 1, random.Random(0))
    assert decision.action == "retry"
