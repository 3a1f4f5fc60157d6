"""One worker process of the scaling tests: a Clawdesk for its whole life, driven by JSON lines on stdin.

    python worker.py CONFIG_PATH BACKEND      # BACKEND: asyncio or trio

It prints ``{"ready": true}`` once its client exists, then answers each command
line with one JSON line:

- ``{"op": "chat"}``: one ``chat(None, ...)`` through the configured chain;
  answers ``{"provider", "attempts": [[provider, outcome, kind, wait_secs], ...]}``
  or ``{"error": kind, "message", "attempts"}``.
- ``{"op": "flood", "until": WALL_TIME}``: chats back to back until the wall
  clock passes ``until`` (a shared deadline, so every worker stops together);
  answers counts: ``calls``, ``served`` by provider, ``errors`` (kinds),
  ``budget_skips``, ``waited`` (seconds spent waiting for budget slots).
- ``{"op": "warnings"}``: the wall times and texts of the ``clawdesk.state``
  warnings logged so far.
- ``{"op": "quit"}``: close the client and exit.

Only loopback servers are involved: the config names the test's scripted
backends and redis-server.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

import anyio

from clawdesk import AllProvidersFailed, Clawdesk, ClawdeskError, load_config


class Remember(logging.Handler):
    """Keeps every clawdesk.state record with its wall time."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.seen: list[tuple[float, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.seen.append((record.created, record.getMessage()))


def _attempts(attempts: Any) -> list[list[Any]]:
    return [[a.provider, a.outcome, a.kind, round(a.wait_secs, 3)] for a in attempts]


async def chat(cd: Clawdesk) -> dict[str, Any]:
    try:
        result = await cd.chat_with_attempts(None, "hello")
    except AllProvidersFailed as exc:
        return {"error": exc.kind, "message": str(exc), "attempts": _attempts(exc.attempts)}
    except ClawdeskError as exc:
        return {"error": type(exc).__name__, "message": str(exc), "attempts": []}
    return {"provider": result.target.provider, "attempts": _attempts(result.attempts)}


async def flood(cd: Clawdesk, until: float) -> dict[str, Any]:
    counts: dict[str, Any] = {"calls": 0, "served": {}, "errors": {}, "budget_skips": 0, "waited": 0.0}
    while time.time() < until:
        answer = await chat(cd)
        counts["calls"] += 1
        if "provider" in answer:
            counts["served"][answer["provider"]] = counts["served"].get(answer["provider"], 0) + 1
        else:
            counts["errors"][answer["error"]] = counts["errors"].get(answer["error"], 0) + 1
        for _provider, outcome, kind, wait in answer["attempts"]:
            counts["budget_skips"] += outcome == "skipped" and kind == "rate_budget"
            counts["waited"] += wait
    return counts


async def main(config_path: str) -> None:
    remember = Remember()
    state_log = logging.getLogger("clawdesk.state")
    state_log.addHandler(remember)
    state_log.setLevel(logging.INFO)
    async with Clawdesk(config=load_config(config_path)) as cd:
        print(json.dumps({"ready": True}), flush=True)
        while True:
            line = await anyio.to_thread.run_sync(sys.stdin.readline)  # off the event loop
            if not line:
                return
            command = json.loads(line)
            op = command["op"]
            if op == "quit":
                print(json.dumps({"bye": True}), flush=True)
                return
            if op == "chat":
                reply = await chat(cd)
            elif op == "flood":
                reply = await flood(cd, float(command["until"]))
            elif op == "warnings":
                reply = {"warnings": remember.seen}
            else:
                reply = {"error": f"unknown op {op!r}"}
            print(json.dumps(reply), flush=True)


if __name__ == "__main__":
    anyio.run(main, sys.argv[1], backend=sys.argv[2])
