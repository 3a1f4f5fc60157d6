"""Testing tools for clawdesk and for provider authors (install ``clawdesk[testing]``).

- :class:`ScriptedServer`, :class:`Reply`: a real HTTP server on 127.0.0.1 that
  answers from a script, byte for byte, and can misbehave on purpose.
"""

from ._server import RecordedRequest, Reply, ScriptedServer, unused_port

__all__ = ["RecordedRequest", "Reply", "ScriptedServer", "unused_port"]
