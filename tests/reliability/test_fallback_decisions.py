"""Fault matrix, part 6: what the fallback engine does with each fault, end to end over real HTTP.

The chain is both real plugins, ``[first, second]``; the first answers every
try with one fault, the second answers well. Each case checks the decision the
documented table calls for (see docs/fallback.md): retry the first then move
on, move on at once, or stop and raise; by counting the requests each server
saw, so the classification by the plugin and the decision by the engine are
checked together. ``max_retries_per_provider = 1`` (two tries), tiny backoff,
no cooldown.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

import clawdesk
from clawdesk import AllProvidersFailed, InvalidRequest, StreamInterrupted, TextDelta
from clawdesk.testing import Reply

pytestmark = pytest.mark.anyio

ORDERS = [("mistral", "ollama"), ("ollama", "mistral")]
MODES = ["chat", "stream"]
TRIES = 2  # max_retries_per_provider = 1


def _fault(wire: Any, name: str, mode: str) -> Reply:
    def status(code: int, message: str = "scripted", *headers: tuple[str, str]) -> Reply:
        return Reply(
            status=code,
            headers=(("content-type", "application/json"), *headers),
            chunks=(wire.error_json(code, message),),
        )

    faults = {
        "429_short_retry_after": lambda: status(429, "slow down", ("retry-after", "0")),
        "429_long_retry_after": lambda: status(429, "slow down", ("retry-after", "120")),
        "503": lambda: status(503),
        "500_html": lambda: Reply.text("<html><title>down</title></html>", status=500, content_type="text/html"),
        "529": lambda: status(529),
        "409": lambda: status(409),
        "408": lambda: status(408),
        "reset": Reply.reset,
        "never_answers": Reply.stall,
        "401": lambda: status(401),
        "403": lambda: status(403),
        "404": lambda: status(404, "model 'x' not found"),
        "418": lambda: status(418),
        "400": lambda: status(400),
        "422": lambda: status(422),
        "413": lambda: status(413),
        "malformed_200": lambda: (
            Reply(headers=(("content-type", "application/json"),), chunks=(b'{"choices": [',))
            if mode == "chat"
            else wire.stream_reply([wire.malformed_frame()])
        ),
    }
    return faults[name]()


#: fault -> how many tries the first provider gets, and what happens next: "served" by the second, or "stop".
DECISIONS: dict[str, tuple[int, str]] = {
    "429_short_retry_after": (TRIES, "served"),
    "429_long_retry_after": (1, "served"),  # longer than max_retry_after_secs: move on at once
    "503": (TRIES, "served"),
    "500_html": (TRIES, "served"),
    "529": (TRIES, "served"),
    "409": (TRIES, "served"),
    "408": (TRIES, "served"),
    "reset": (TRIES, "served"),
    "never_answers": (TRIES, "served"),
    "401": (1, "served"),
    "403": (1, "served"),
    "404": (1, "served"),
    "418": (1, "served"),
    "malformed_200": (1, "served"),
    "400": (1, "stop"),
    "422": (1, "stop"),
    "413": (1, "stop"),
}


def _config(harness: Any, first: str, second: str) -> clawdesk.Config:
    lines = []
    for name in (first, second):
        table = harness.table(name, timeout=0.3)
        lines.append(f"[providers.{name}]")
        lines += [f"{key} = {json.dumps(value)}" for key, value in table.items()]
    lines += [
        "[fallback]",
        f"chain = {json.dumps([first, second])}",
        f"max_retries_per_provider = {TRIES - 1}",
        "backoff_base_secs = 0.001",
        "backoff_max_secs = 0.002",
        "max_retry_after_secs = 1",
        "cooldown_failures = 0",
    ]
    return clawdesk.parse_config("\n".join(lines) + "\n")


async def _run(cd: clawdesk.Clawdesk, mode: str, events: list[Any]) -> str:
    """One request through the chain; stream events are collected into ``events``; returns the text."""
    if mode == "chat":
        return (await cd.chat(None, "hello")).message.text
    async with cd.stream(None, "hello") as stream:
        async for event in stream:
            events.append(event)
    return "".join(e.text for e in events if isinstance(e, TextDelta))


@pytest.mark.parametrize("fault", list(DECISIONS))
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("first", "second"), ORDERS, ids=["mistral-first", "ollama-first"])
async def test_fallback_decision(harness: Any, fake_key: str, first: str, second: str, mode: str, fault: str) -> None:
    """The first provider's fault is retried, skipped or stops the chain as documented; nothing leaks or lingers."""
    server = harness.server
    wires = {name: harness.wire(name) for name in (first, second)}
    server.route("POST", wires[first].chat_path, _fault(wires[first], fault, mode))
    server.route(
        "POST",
        wires[second].chat_path,
        wires[second].chat_reply("from the second")
        if mode == "chat"
        else wires[second].stream_reply(wires[second].stream_pieces(["from the ", "second"])),
    )
    before = {name: sum(r.path == w.chat_path for r in list(server.requests)) for name, w in wires.items()}
    error: BaseException | None = None
    text = ""
    async with clawdesk.Clawdesk(registry=harness.registry, config=_config(harness, first, second), env={}) as cd:
        try:
            text = await _run(cd, mode, [])
        except clawdesk.ClawdeskError as exc:
            error = exc
        busy = [*harness.busy(cd, first), *harness.busy(cd, second)]
    seen = {name: sum(r.path == w.chat_path for r in list(server.requests)) - before[name] for name, w in wires.items()}
    tries, then = DECISIONS[fault]
    where = f"[{first} first, {mode}, {fault}] got {type(error).__name__ if error else 'success'}: {error}"
    assert seen[first] == tries, f"{where}: {first} was tried {seen[first]} times, expected {tries}"
    if then == "served":
        assert error is None, where
        assert text == "from the second", where
        assert seen[second] == 1, f"{where}: {second} was tried {seen[second]} times"
    else:
        assert type(error) is InvalidRequest, f"{where}: expected the InvalidRequest raised as is"
        assert seen[second] == 0, f"{where}: the chain went on to {second} after an invalid request"
    assert not busy, f"{where}: connections still checked out: {busy}"
    assert error is None or fake_key not in f"{error} {error!r}"


@pytest.mark.parametrize(("first", "second"), ORDERS, ids=["mistral-first", "ollama-first"])
async def test_stream_failing_after_first_event_never_falls_back(harness: Any, first: str, second: str) -> None:
    """A stream cut after its first event is StreamInterrupted: no retry, no fallback, nothing delivered twice."""
    server = harness.server
    wire, other = harness.wire(first), harness.wire(second)
    server.route(
        "POST", wire.chat_path, wire.stream_reply([wire.frame("part"), b"", wire.frame("x")], delay=0.05, cut_after=2)
    )
    server.route("POST", other.chat_path, other.stream_reply(other.stream_pieces(["never"])))
    before = {w.chat_path: sum(r.path == w.chat_path for r in list(server.requests)) for w in (wire, other)}
    events: list[Any] = []
    async with clawdesk.Clawdesk(registry=harness.registry, config=_config(harness, first, second), env={}) as cd:
        with pytest.raises(StreamInterrupted) as caught:
            await _run(cd, "stream", events)
        busy = [*harness.busy(cd, first), *harness.busy(cd, second)]
    after = {w.chat_path: sum(r.path == w.chat_path for r in list(server.requests)) for w in (wire, other)}
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["part"]
    assert list(caught.value.delivered) == events
    assert after[wire.chat_path] - before[wire.chat_path] == 1
    assert after[other.chat_path] - before[other.chat_path] == 0
    assert not busy


@pytest.mark.parametrize("mode", MODES)
async def test_every_candidate_failing_accounts_for_every_try(harness: Any, fake_key: str, mode: str) -> None:
    """Both providers failing gives AllProvidersFailed whose attempts match the requests the servers saw."""
    server = harness.server
    mistral, ollama = harness.wire("mistral"), harness.wire("ollama")
    server.route("POST", mistral.chat_path, Reply(status=503))
    server.route("POST", ollama.chat_path, Reply.text("<html>oops</html>", status=502, content_type="text/html"))
    count = lambda path: sum(r.path == path for r in list(server.requests))  # noqa: E731
    before = (count(mistral.chat_path), count(ollama.chat_path))
    async with clawdesk.Clawdesk(registry=harness.registry, config=_config(harness, "mistral", "ollama"), env={}) as cd:
        with pytest.raises(AllProvidersFailed) as caught:
            await _run(cd, mode, [])
    seen = (count(mistral.chat_path) - before[0], count(ollama.chat_path) - before[1])
    tried = [(a.provider, a.kind, a.status) for a in caught.value.attempts if a.outcome == "failed"]
    assert tried == [("mistral", "api_error", 503)] * TRIES + [("ollama", "api_error", 502)] * TRIES
    assert seen == (TRIES, TRIES)
    message = str(caught.value)
    assert "\n" not in message
    assert fake_key not in message
