"""The conformance kit run against the lark sample, the correct base of the mutation set: every check passes."""

from __future__ import annotations

import lark_provider
from lark_wire import LarkWire

from clawdesk.testing import ProviderConformance


class TestLarkConformance(LarkWire, ProviderConformance):
    """Every kit check passes for the lark sample provider, read-back and stream checks included."""

    plugin = lark_provider
