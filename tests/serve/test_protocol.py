"""The request parser at the gateway's edge, property-tested (any body is a ParsedChat or one BadRequest),
and the workers' metrics snapshots adding up."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clawdesk import AllProvidersFailed, ApiError, RateLimited, Role
from clawdesk._fallback import Attempt
from clawdesk._serve._metrics import STALE_SECS, Metrics, SharedMetrics
from clawdesk._serve._protocol import _MAPPED as MAPPED
from clawdesk._serve._protocol import BadRequest, error_of, parse_chat

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20,
)
#: Every field the gateway maps, and a few it refuses.
FIELDS = [*sorted(MAPPED), "n", "user", "logit_bias"]


@settings(max_examples=300, deadline=None)
@given(st.one_of(JSON, st.dictionaries(st.sampled_from(FIELDS), JSON, max_size=6), st.binary(max_size=40)))
def test_any_body_is_parsed_or_refused_with_one_bad_request(body: Any) -> None:
    """Whatever arrives (any JSON, any mix of known fields with any values, any bytes), no other exception escapes."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    refused: BadRequest | None = None
    try:
        parse_chat(raw)
    except BadRequest as exc:
        refused = exc
    if refused is not None:
        assert refused.status == 400
        assert refused.message
        assert "\n" not in refused.message


@settings(max_examples=200, deadline=None)
@given(
    texts=st.lists(st.text(min_size=1, max_size=30), min_size=1, max_size=5),
    temperature=st.none() | st.floats(0, 2),
    max_tokens=st.none() | st.integers(1, 10**6),
    stop=st.lists(st.text(min_size=1, max_size=5), max_size=4),
    stream=st.booleans(),
)
def test_valid_requests_keep_what_they_say(
    texts: list[str], temperature: float | None, max_tokens: int | None, stop: list[str], stream: bool
) -> None:
    """A valid request's messages and options come through unchanged."""
    body: dict[str, Any] = {
        "model": "acme/model-1",
        "messages": [{"role": "user", "content": text} for text in texts],
        "stream": stream,
        "stop": stop,
    }
    if temperature is not None:
        body["temperature"] = temperature
    if max_tokens is not None:
        body["max_tokens"] = max_tokens
    parsed = parse_chat(json.dumps(body).encode())
    assert [m.text for m in parsed.messages] == texts
    assert all(m.role is Role.USER for m in parsed.messages)
    assert parsed.options.temperature == temperature
    assert parsed.options.max_tokens == max_tokens
    assert parsed.options.stop == tuple(stop)
    assert parsed.stream is stream


@given(st.text(min_size=1, max_size=20).filter(lambda name: name not in FIELDS))
def test_an_unknown_field_is_named(name: str) -> None:
    """Any field the protocol does not have is refused, and the error names it."""
    body = {"model": "acme/m", "messages": [{"role": "user", "content": "hi"}], name: 1}
    with pytest.raises(BadRequest) as caught:
        parse_chat(json.dumps(body).encode())
    assert caught.value.param == name


def test_metrics_snapshots_add_up(tmp_path: Path) -> None:
    """Two workers' snapshots sum into one exposition: counters, tokens, histogram buckets, and fresh gauges only."""
    one, two = Metrics(), Metrics()
    for metrics, seconds in ((one, 0.02), (two, 3.0)):
        metrics.request("/v1/chat/completions", "mistral", 200, seconds)
        metrics.usage("mistral", 10, 4)
        metrics.failure("rate_limited")
        metrics.in_flight = 1
    (tmp_path / "1.json").write_text(json.dumps(two.snapshot()))
    old = tmp_path / "2.json"
    old.write_text(json.dumps(two.snapshot()))
    os.utime(old, (time.time() - STALE_SECS - 1,) * 2)
    text = SharedMetrics(one, tmp_path).render()
    counts = dict(line.rsplit(" ", 1) for line in text.splitlines() if not line.startswith("#"))
    route = 'route="/v1/chat/completions",provider="mistral",status="200"'
    assert counts[f"clawdesk_gateway_requests_total{{{route}}}"] == "3"
    assert counts['clawdesk_gateway_tokens_total{provider="mistral",direction="input"}'] == "30"
    assert counts['clawdesk_gateway_failures_total{kind="rate_limited"}'] == "3"
    assert counts['clawdesk_gateway_request_duration_seconds_bucket{provider="mistral",le="0.025"}'] == "1"
    assert counts['clawdesk_gateway_request_duration_seconds_bucket{provider="mistral",le="+Inf"}'] == "3"
    assert counts["clawdesk_gateway_in_flight"] == "2"  # this worker and the fresh snapshot; the stale one is gone


@pytest.mark.parametrize(
    ("skips", "status", "code"),
    [
        (["cooling_down", "rate_budget"], 503, "no_provider_available"),
        (["capability_missing", "capability_missing"], 400, "unsupported_option"),
        (["provider_not_found"], 404, "model_not_found"),
        (["deadline"], 504, "upstream_timeout"),
        (["config_error", "capability_missing"], 502, "gateway_misconfigured"),
    ],
)
def test_a_chain_where_nothing_was_tried_answers_by_why(skips: list[str], status: int, code: str) -> None:
    """Every candidate skipped: cooling down is 503, a capability no candidate has 400, an unknown provider 404."""
    attempts = [Attempt(provider=f"p{i}", model="m", outcome="skipped", kind=kind) for i, kind in enumerate(skips)]
    reply = error_of(AllProvidersFailed("no provider could take the request", attempts=attempts), cooldown=12.5)
    assert (reply.status, reply.code) == (status, code)
    assert (reply.retry_after == 12.5) is (status == 503)


def test_a_chain_whose_candidates_all_failed_alike_answers_with_that_status() -> None:
    """All rate limited: 429 with the shortest Retry-After; mixed failures: 502."""
    limited = [
        Attempt(
            provider="a",
            model="m",
            outcome="failed",
            kind="rate_limited",
            error=RateLimited("x", provider="a", retry_after=9),
        ),
        Attempt(
            provider="b",
            model="m",
            outcome="failed",
            kind="rate_limited",
            error=RateLimited("y", provider="b", retry_after=4),
        ),
    ]
    reply = error_of(AllProvidersFailed("all failed", attempts=limited))
    assert (reply.status, reply.retry_after) == (429, 4)
    mixed = [
        *limited[:1],
        Attempt(
            provider="b", model="m", outcome="failed", kind="api_error", error=ApiError("z", provider="b", status=500)
        ),
    ]
    assert error_of(AllProvidersFailed("all failed", attempts=mixed)).status == 502
