"""Disabling a kit check needs a reason; the kit's optional pytest import stays optional."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from kit_runner import run_pytest

from clawdesk.testing import CHECKS, ProviderConformance

DISABLED = """
import broken_provider
import echo_provider
from echo_wire import EchoWire

from clawdesk.testing import ProviderConformance


class TestExplained(EchoWire, ProviderConformance):
    plugin = broken_provider
    model = "echo-1"
    disabled_checks = {
        "test_stream_cut_short_is_an_error": "the backend cannot tell a cut stream from an ended one",
        "test_chat_round_trip": "disabled although it passes",
    }


class TestUnexplained(EchoWire, ProviderConformance):
    plugin = echo_provider
    model = "echo-1"
    disabled_checks = {"test_chat_timeout": "  ", "test_no_such_check": "typo"}
"""


@pytest.mark.slow
def test_disabled_checks_run_as_strict_xfail_and_need_a_reason(tmp_path: Path) -> None:
    """A disabled failing check is xfailed with its reason; a passing one, a blank reason and a typo fail loudly."""
    args = ("-k", "asyncio and (cut_short or round_trip or chat_timeout) or disabled_checks")
    results, output = run_pytest(tmp_path, {"test_disabled.py": DISABLED}, *args)
    cut = results["TestExplained::test_stream_cut_short_is_an_error[asyncio-closed]"]
    assert cut.outcome == "xfailed", output
    assert "the backend cannot tell a cut stream from an ended one" in cut.message
    passing = results["TestExplained::test_chat_round_trip[asyncio]"]
    assert passing.outcome == "failed", output
    assert "XPASS(strict)" in passing.message
    blank = results["TestUnexplained::test_chat_timeout[asyncio]"]
    assert blank.outcome == "error", output
    assert "test_chat_timeout is disabled without a reason" in blank.message
    typo = results["TestUnexplained::test_disabled_checks_name_real_checks"]
    assert typo.outcome == "failed", output
    assert "disabled_checks names 'test_no_such_check', which is not a check of the kit" in typo.message
    assert results["TestExplained::test_disabled_checks_name_real_checks"].outcome == "passed"


def test_overriding_a_check_without_a_reason_is_refused() -> None:
    """A subclass that silences a check by overriding it, with no xfail/skip reason, fails at class creation."""
    with pytest.raises(TypeError, match="overrides the conformance check test_chat_timeout without a reason"):

        class TestSilenced(ProviderConformance):
            async def test_chat_timeout(self) -> None:
                pass


def test_overriding_a_check_with_a_blank_reason_is_refused() -> None:
    """An xfail mark with an empty reason does not count as a reason."""
    with pytest.raises(TypeError, match="test_stream_timeout without a reason"):

        class TestBlank(ProviderConformance):
            @pytest.mark.xfail(reason=" ")
            async def test_stream_timeout(self) -> None:
                pass


def test_overriding_a_check_with_a_reason_is_allowed() -> None:
    """An override marked xfail or skip with a reason is accepted, like langchain's standard tests."""

    class TestExplained(ProviderConformance):
        @pytest.mark.xfail(reason="the backend has no streaming")
        async def test_stream_round_trip(self) -> None:
            raise AssertionError

        @pytest.mark.skip("refused connections are not reachable here")
        async def test_chat_connection_refused(self) -> None:
            pass

    assert TestExplained.test_stream_round_trip is not ProviderConformance.test_stream_round_trip


def test_check_names_are_the_test_methods() -> None:
    """CHECKS lists every test method of the kit and nothing else."""
    methods = {name for name in dir(ProviderConformance) if name.startswith("test_")}
    assert set(CHECKS) == methods
    assert "test_api_key_never_leaks" in CHECKS


def test_testing_imports_without_pytest() -> None:
    """``clawdesk`` and the scripted server import without pytest; only the kit needs it."""
    code = (
        "import sys; sys.modules['pytest'] = None\n"
        "import clawdesk, clawdesk.testing\n"
        "assert clawdesk.testing.ScriptedServer\n"
        "try:\n    clawdesk.testing.ProviderConformance\nexcept ImportError:\n    print('kit needs pytest')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "kit needs pytest"
