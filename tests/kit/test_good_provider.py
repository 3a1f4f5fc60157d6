"""The conformance kit run against a correct sample provider: every check passes."""

from __future__ import annotations

import echo_provider
from echo_wire import EchoWire

from clawdesk.testing import ProviderConformance


class TestEchoConformance(EchoWire, ProviderConformance):
    """Every kit check passes for the echo sample provider."""

    plugin = echo_provider
    model = "echo-1"
