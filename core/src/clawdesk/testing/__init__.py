"""Testing tools for clawdesk and for provider authors (install ``clawdesk[testing]``).

- :class:`ScriptedServer`, :class:`Reply`: a real HTTP server on 127.0.0.1 that
  answers from a script, byte for byte, and can misbehave on purpose.
- :class:`ProviderConformance`: the conformance kit, base test classes that
  check a provider against the contract (needs pytest; loaded on first use).
- :class:`SentRequest`, :class:`SentMessage`: what a captured request asks
  for, in the request's own terms (what a kit adapter's ``read_request`` gives).
- :class:`FakeClock`: time that moves only when the fallback engine sleeps.
- :class:`RedisServer`: a real ``redis-server`` on a loopback port in a temporary
  directory, for tests of the Redis state store.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._clock import FakeClock
from ._readback import SentMessage, SentRequest
from ._redis_server import RedisServer, redis_server_path
from ._server import RecordedRequest, Reply, ScriptedServer, unused_port

if TYPE_CHECKING:
    from ._kit import CHECKS, ERROR_STATUSES, TOOL_CALL, ProviderConformance

__all__ = [
    "CHECKS",
    "ERROR_STATUSES",
    "TOOL_CALL",
    "FakeClock",
    "ProviderConformance",
    "RecordedRequest",
    "RedisServer",
    "Reply",
    "ScriptedServer",
    "SentMessage",
    "SentRequest",
    "redis_server_path",
    "unused_port",
]

# The kit imports pytest: load it only when asked, so the server works without pytest.
_KIT = frozenset({"CHECKS", "ERROR_STATUSES", "TOOL_CALL", "ProviderConformance"})


def __getattr__(name: str) -> Any:
    if name not in _KIT:
        raise AttributeError(f"module 'clawdesk.testing' has no attribute {name!r}")
    from . import _kit

    value = getattr(_kit, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
