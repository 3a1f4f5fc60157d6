"""The kit fails broken providers with messages that name each problem (pytest run in a subprocess)."""

from __future__ import annotations

from pathlib import Path

import pytest
from kit_runner import run_pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

BROKEN = """
import broken_provider
from echo_wire import EchoWire

from clawdesk.testing import ProviderConformance


class TestBroken(EchoWire, ProviderConformance):
    plugin = broken_provider
    model = "echo-1"
"""

SLOPPY = """
import sloppy_provider
from echo_wire import EchoWire

from clawdesk.testing import ProviderConformance


class TestSloppy(EchoWire, ProviderConformance):
    plugin = sloppy_provider
    model = "echo-1"
"""


def test_broken_provider_fails_each_flaw_by_name(tmp_path: Path) -> None:
    """429 as ApiError, a truncated stream as success and the key in an error chain each fail a named check."""
    results, output = run_pytest(tmp_path, {"test_broken.py": BROKEN}, "-k", "not trio")
    failed = {k: r.message for k, r in results.items() if r.outcome == "failed"}
    assert set(failed) == {
        "TestBroken::test_chat_error_status[429-asyncio]",
        "TestBroken::test_stream_error_status[429-asyncio]",
        "TestBroken::test_stream_cut_short_is_an_error[asyncio-closed]",
        "TestBroken::test_stream_cut_short_is_an_error[asyncio-reset]",
        "TestBroken::test_stream_cut_after_every_event_is_truncated[asyncio]",
        # The same flaw as the cut stream: a stalled stream's timeout also ends in a Finish.
        "TestBroken::test_stream_stalled_midway_times_out[asyncio]",
        "TestBroken::test_api_key_never_leaks[asyncio]",
        # It reads answers without the toolkit's care: a 200 of another shape and a line not JSON crash it.
        "TestBroken::test_chat_unexpected_success_body_is_typed[asyncio]",
        "TestBroken::test_stream_garbled_event_is_typed[asyncio]",
    }, output
    assert "chat answered with HTTP 429: raised ApiError" in failed["TestBroken::test_chat_error_status[429-asyncio]"]
    assert "expected RateLimited" in failed["TestBroken::test_stream_error_status[429-asyncio]"]
    cut = failed["TestBroken::test_stream_cut_short_is_an_error[asyncio-closed]"]
    assert "cut short (closed) after 1 of 5 pieces was reported as a success (with a Finish event)" in cut
    reset = failed["TestBroken::test_stream_cut_short_is_an_error[asyncio-reset]"]
    assert "cut short (reset) after 1 of 5 pieces was reported as a success" in reset
    stalled = failed["TestBroken::test_stream_stalled_midway_times_out[asyncio]"]
    assert "goes silent after 1 of 5 pieces" in stalled
    assert "expected TimedOut, but the call yielded" in stalled
    leak = failed["TestBroken::test_api_key_never_leaks[asyncio]"]
    assert "the error raised for HTTP 401 (chat) shows it in its exception chain (ValueError)" in leak
    assert "ck-conformance" not in leak, "the kit's own report must not print the key"
    assert results["TestBroken::test_chat_error_status[500-asyncio]"].outcome == "passed"


def test_sloppy_provider_fails_on_escaped_errors_and_unclosed_streams(tmp_path: Path) -> None:
    """httpx imported at import time, an escaped httpx error and an unreleased stream connection fail by name."""
    results, output = run_pytest(tmp_path, {"test_sloppy.py": SLOPPY}, "-k", "not trio")
    failed = {k: r.message for k, r in results.items() if r.outcome == "failed"}
    refused = failed.get("TestSloppy::test_chat_connection_refused[asyncio]", "")
    assert "raised httpx.ConnectError" in refused, output
    assert "map it with the wire toolkit (clawdesk.provider)" in refused
    released = failed.get("TestSloppy::test_stream_early_close_releases_connection[asyncio]", "")
    assert "did not release its HTTP connection" in released, output
    cheap = failed.get("TestSloppy::test_import_is_cheap", "")
    assert "importing sloppy_provider imports httpx" in cheap, output
    assert results["TestSloppy::test_chat_round_trip[asyncio]"].outcome == "passed"
