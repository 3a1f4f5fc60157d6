"""The error tree: shape, one-line messages, retryable defaults."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

import clawdesk
from clawdesk import (
    AllProvidersFailed,
    ApiError,
    AuthFailed,
    CapabilityMissing,
    ClawdeskError,
    ConfigError,
    ConnectionFailed,
    ContentFiltered,
    ContextLengthExceeded,
    InvalidModelId,
    InvalidRequest,
    ModelNotFound,
    PermissionDenied,
    PluginError,
    ProviderError,
    ProviderNotFound,
    QuotaExceeded,
    RateLimited,
    StreamInterrupted,
    TextDelta,
    TimedOut,
    Truncated,
)

TREE = {
    ConfigError: ClawdeskError,
    InvalidModelId: ClawdeskError,
    ProviderNotFound: ClawdeskError,
    PluginError: ClawdeskError,
    ProviderError: ClawdeskError,
    AllProvidersFailed: ClawdeskError,
    AuthFailed: ProviderError,
    PermissionDenied: ProviderError,
    RateLimited: ProviderError,
    InvalidRequest: ProviderError,
    CapabilityMissing: ProviderError,
    ModelNotFound: ProviderError,
    ConnectionFailed: ProviderError,
    TimedOut: ProviderError,
    ApiError: ProviderError,
    StreamInterrupted: ProviderError,
    QuotaExceeded: ProviderError,
    ContextLengthExceeded: ProviderError,
    ContentFiltered: ProviderError,
    Truncated: ProviderError,
}


@pytest.mark.parametrize(("cls", "parent"), TREE.items(), ids=[c.__name__ for c in TREE])
def test_tree(cls: type[Exception], parent: type[Exception]) -> None:
    """Each error sits where the module docstring draws it, and the docstring names it."""
    assert cls.__bases__[0] is parent
    assert cls.__name__ in clawdesk._errors.__doc__


def test_every_exported_error_is_in_the_tree() -> None:
    """Every exception clawdesk exports is a ClawdeskError listed above."""
    exported = {getattr(clawdesk, n) for n in clawdesk.__all__ if n != "make_converter"}
    errors = {e for e in exported if isinstance(e, type) and issubclass(e, BaseException)}
    assert errors == set(TREE) | {ClawdeskError}


@pytest.mark.parametrize(
    ("error", "retryable"),
    [
        (AuthFailed("x", provider="p"), False),
        (PermissionDenied("x", provider="p"), False),
        (RateLimited("x", provider="p"), True),
        (InvalidRequest("x", provider="p"), False),
        (CapabilityMissing("x", provider="p"), False),
        (ModelNotFound("x", provider="p"), False),
        (ConnectionFailed("x", provider="p"), True),
        (TimedOut("x", provider="p"), True),
        (Truncated("x", provider="p"), True),
        (QuotaExceeded("x", provider="p"), False),
        (ContextLengthExceeded("x", provider="p"), False),
        (ContentFiltered("x", provider="p"), False),
        (ApiError("x", provider="p"), False),
        (ApiError("x", provider="p", status=502), True),
        (ApiError("x", provider="p", status=409), True),
        (ApiError("x", provider="p", status=418), False),
        (ApiError("x", provider="p", status=502, retryable=False), False),
        (ConnectionFailed("x", provider="p", retryable=False), False),
    ],
)
def test_retryable_defaults(error: ProviderError, retryable: bool) -> None:
    """Each kind has the documented retryable default, which an explicit flag overrides."""
    assert error.retryable is retryable


def test_provider_error_message_shape() -> None:
    """'<provider>: <kind> (HTTP <status>): <detail>', in one line."""
    error = ApiError("upstream\n  said\tno", provider="acme", status=503, url="https://h/x")
    assert str(error) == "acme: api_error (HTTP 503): upstream said no"
    assert error.detail == "upstream said no"
    assert RateLimited("", provider="acme", retry_after=2.5).message == "acme: rate_limited: retry after 2.5s"


def test_config_and_plugin_error_shapes() -> None:
    """ConfigError names file and key path; PluginError names the plugin."""
    error = ConfigError("expected a number", path="providers.a.timeout_secs", file="/c.toml")
    assert str(error) == "/c.toml: providers.a.timeout_secs: expected a number"
    assert (error.path, error.file) == ("providers.a.timeout_secs", "/c.toml")
    assert str(PluginError("acme", "boom\nbang")) == "plugin 'acme': boom bang"


def test_stream_interrupted_carries_delivered_and_cause() -> None:
    """StreamInterrupted keeps the delivered events, the cause and its status; it is never retryable."""
    cause = ApiError("cut", provider="acme", status=502)
    error = StreamInterrupted(provider="acme", delivered=[TextDelta("a"), TextDelta("b")], cause=cause)
    assert error.delivered == (TextDelta("a"), TextDelta("b"))
    assert error.cause is cause
    assert error.status == 502
    assert not error.retryable
    assert "after 2 events" in str(error)


def test_provider_not_found_is_bounded() -> None:
    """A huge unknown name gives a short message."""
    assert len(str(ProviderNotFound("x" * 100_000, ["a", "b"]))) < 150


@given(st.text(max_size=300))
def test_messages_are_one_printable_line(text: str) -> None:
    """Whatever text goes in, the message has no line breaks and no control characters."""
    message = str(ApiError(text, provider="p"))
    assert message == " ".join(message.split())
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in message)


@pytest.mark.parametrize(
    ("url", "kept"),
    [
        ("https://user:sk-pw@api.example:8443/v1/chat?key=sk-q#frag", "https://api.example:8443/v1/chat"),
        ("http://127.0.0.1:11434/api/chat", "http://127.0.0.1:11434/api/chat"),
        ("http://[::1]:8080/x?token=t", "http://[::1]:8080/x"),
        ("http://h:99999/x", "<unparsable URL>"),
    ],
)
def test_error_url_never_keeps_credentials(url: str, kept: str) -> None:
    """A URL handed to a ProviderError loses user info, query and fragment, whoever built it."""
    assert ApiError("x", provider="p", url=url).url == kept


@given(st.text(max_size=80))
def test_error_url_from_any_text(text: str) -> None:
    """Any text as an error's url gives a string without '@', '?' or '#' parts, never an exception."""
    url = ApiError("x", provider="p", url=text or "x").url
    assert isinstance(url, str)
    assert "?" not in url
    assert "#" not in url
    assert "@" not in urlsplit(url).netloc


def test_errors_show_as_clawdesk_names() -> None:
    """Tracebacks name the public class (clawdesk.AuthFailed), as httpx does, and the old Timeout name still works."""
    assert AuthFailed.__module__ == "clawdesk"
    assert f"{TimedOut.__module__}.{TimedOut.__qualname__}" == "clawdesk.TimedOut"
    assert clawdesk.Timeout is TimedOut


def test_request_id_is_kept_and_shown() -> None:
    """A backend's request id is an attribute and part of the one-line message."""
    error = RateLimited("slow down", provider="p", status=429, retry_after=2.0, request_id="req_123")
    assert error.request_id == "req_123"
    assert error.retry_after == 2.0
    assert str(error) == "p: rate_limited (HTTP 429): slow down; retry after 2s (request id req_123)"


def test_renaming_an_error_for_a_named_instance() -> None:
    """Core reports a plugin's error under the instance's name: attribute and message both."""
    error = ApiError("boom", provider="ollama", status=500, request_id="r1")
    error._renamed("gpu2")
    assert error.provider == "gpu2"
    assert str(error) == "gpu2: api_error (HTTP 500): boom (request id r1)"
    assert error.args == (str(error),)
