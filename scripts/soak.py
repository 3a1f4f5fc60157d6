#!/usr/bin/env python
"""Soak test: many requests through a fallback chain against loopback servers that inject faults.

Not part of the default test run (it takes a minute or more). Usage::

    .venv/bin/python scripts/soak.py                       # 10,000 requests, seed 1
    .venv/bin/python scripts/soak.py -n 2000 --seed 7 --concurrency 32 --backend trio

Two loopback servers (one speaking Mistral's wire format, one Ollama's) run in
a separate process, so their bookkeeping never shows in this process's memory.
Each request carries a unique id in its prompt; the servers echo it back in
the answer. For every attempt a server draws a fault from a seeded table
(``random.Random(f"{seed}/{provider}/{id}/{try}")``, so a run is repeatable
whatever the scheduling): a clean answer, a slow one, 429 with Retry-After,
5xx pages, 401/404, an invalid request, a reset, a stall, a body cut short, a
malformed body. The client sends every request through the real
:class:`clawdesk.Clawdesk` fallback engine (chain ``mistral`` then ``ollama``,
both real plugins), with several requests in flight at once: most as chat,
20% as streams read to the end, 4% as streams the caller leaves after the
first event, and 4% cancelled by an anyio cancel scope after 0-50 ms.

Checked at the end (the exit status is 1 when any check fails):

- **nothing lost, nothing twice**: every id ends exactly once, served or with an
  error, and no id the client never sent reached a server;
- **right answer**: a served request got the text echoed for *its* id, once
  (streams: the deltas concatenate to exactly that text, and one Finish);
- **every attempt accounted for**: per id and provider, the attempts the client
  recorded (the engine's attempt log; for a failure the error's ``attempts``)
  equal the attempts the server saw, and the kind of each failure matches the
  fault the server injected;
- **retries bounded**: no provider was tried more than
  ``max_retries_per_provider + 1`` times for one request;
- **an answer is never thrown away**: a request that failed never got a clean
  answer from any server, and a served one got exactly one (a cancelled one
  may have had one on its way: dropping it is what the caller asked for; at
  most one try may be in flight when it is cancelled);
- **no key leaked**: every error, its cause chain and its attempt records are
  free of the API key, although 401 answers echo the Authorization header;
- **no leak**: no pooled connection is checked out at the end, and RSS after the
  warm-up (first 10%) and at the end differ by less than ``--max-rss-growth-mib``;
- **bounded in time**: the whole run ends within ``--max-seconds``.
"""

from __future__ import annotations

import argparse
import gc
import json
import multiprocessing
import os
import random
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# -- the fault table -------------------------------------------------------------------

#: fault -> (weight, expected error kind of that attempt on the client for chat, for stream).
#: ``None``: a clean answer. ``stream_interrupted`` ends a stream that already delivered events.
FAULTS: dict[str, tuple[float, str | None, str | None]] = {
    "ok": (62.0, None, None),
    "ok_slow": (4.0, None, None),
    "429": (6.0, "rate_limited", "rate_limited"),
    "503": (5.0, "api_error", "api_error"),
    "500_html": (3.0, "api_error", "api_error"),
    "502_empty": (2.0, "api_error", "api_error"),
    "529": (1.0, "api_error", "api_error"),
    "408": (1.0, "timeout", "timeout"),
    "reset": (4.0, "connection_failed", "connection_failed"),
    "stall": (0.5, "timeout", "timeout"),
    "stall_after_headers": (0.5, "timeout", "timeout"),
    "cut_mid_body": (3.0, "truncated", "stream_interrupted"),
    "401": (2.0, "auth_failed", "auth_failed"),
    "404": (2.0, "model_not_found", "model_not_found"),
    "400": (0.5, "invalid_request", "invalid_request"),
    "malformed": (1.0, "api_error", "api_error"),
}
CLEAN = frozenset({"ok", "ok_slow"})
FAKE_KEY = "sk-soak-FAKE-0000000000000000"
CHAIN = ("mistral", "ollama")


def draw_fault(seed: int, provider: str, rid: str, number: int) -> str:
    """The fault for try ``number`` of request ``rid`` at ``provider``: the same for the same inputs."""
    rng = random.Random(f"{seed}/{provider}/{rid}/{number}")
    names = list(FAULTS)
    return rng.choices(names, weights=[FAULTS[n][0] for n in names])[0]


# -- the servers (a separate process) --------------------------------------------------


def _mistral_chunk(text: str, finish: str | None = None) -> bytes:
    choice = {"index": 0, "delta": {"role": "assistant", "content": text}, "finish_reason": finish}
    data: dict[str, Any] = {"id": "soak", "object": "chat.completion.chunk", "created": 1, "model": "m"}
    data["choices"] = [choice]
    if finish:
        data["usage"] = {"prompt_tokens": 3, "completion_tokens": 3, "total_tokens": 6}
    return b"data: " + json.dumps(data).encode() + b"\n\n"


def _ollama_line(text: str, done: bool) -> bytes:
    data: dict[str, Any] = {"model": "m", "created_at": "2026-01-01T00:00:00Z"}
    data["message"] = {"role": "assistant", "content": text}
    data["done"] = done
    if done:
        data.update(done_reason="stop", prompt_eval_count=3, eval_count=3)
    return json.dumps(data).encode() + b"\n"


def _answer(provider: str, rid: str, stream: bool) -> tuple[str, list[bytes]]:
    """(content type, body pieces) of a clean answer echoing ``rid``."""
    text = f"echo {rid}"
    if provider == "mistral":
        if not stream:
            body = {
                "id": "soak",
                "object": "chat.completion",
                "created": 1,
                "model": "m",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 3, "completion_tokens": 3, "total_tokens": 6},
            }
            return "application/json", [json.dumps(body).encode()]
        parts = [_mistral_chunk(p) for p in ("echo ", rid[:3], rid[3:])]
        return "text/event-stream", [*parts, _mistral_chunk("", "stop"), b"data: [DONE]\n\n"]
    if not stream:
        return "application/json", [_ollama_line(text, True)]
    parts = [_ollama_line(p, False) for p in ("echo ", rid[:3], rid[3:])]
    return "application/x-ndjson", [*parts, _ollama_line("", True)]


def _error_body(provider: str, status: int, message: str) -> bytes:
    if provider == "mistral":
        return json.dumps({"object": "error", "message": message, "type": "soak", "param": None, "code": "1"}).encode()
    return json.dumps({"error": message}).encode()


def _build_reply(provider: str, fault: str, rid: str, stream: bool, auth: str = "") -> Any:
    from clawdesk.testing import Reply

    content_type, pieces = _answer(provider, rid, stream)
    ctype = (("content-type", content_type),)
    if fault == "ok":
        if stream:
            return Reply.stream(pieces, content_type=content_type)
        return Reply(headers=ctype, chunks=tuple(pieces))
    if fault == "ok_slow":
        if stream:
            return Reply.stream(pieces, content_type=content_type, delay=0.01)
        body = pieces[0]
        third = len(body) // 3 + 1
        return Reply(headers=ctype, chunks=(body[:third], body[third : 2 * third], body[2 * third :]), delay=0.01)
    statuses = {"429": 429, "503": 503, "529": 529, "408": 408, "401": 401, "404": 404, "400": 400}
    if fault in statuses:
        status = statuses[fault]
        headers = (("content-type", "application/json"),)
        if status == 429:
            headers += (("retry-after", "0.02"),)
        # A 401 echoes the Authorization header, as some servers do: the key must still not reach any error.
        message = f"soak {fault}: {auth} refused" if status == 401 else f"soak {fault}"
        return Reply(status=status, headers=headers, chunks=(_error_body(provider, status, message),))
    if fault == "500_html":
        page = b"<html><head><title>500 Internal Server Error</title></head><body>soak</body></html>"
        return Reply(status=500, headers=(("content-type", "text/html"),), chunks=(page,))
    if fault == "502_empty":
        return Reply(status=502)
    if fault == "reset":
        return Reply.reset()
    if fault == "stall":
        return Reply.stall()
    if fault == "stall_after_headers":
        return Reply.stall_after_headers(content_type=content_type)
    if fault == "cut_mid_body":
        if stream:
            # One event, a pause so it surely reaches the client, then the connection drops.
            return Reply.stream([pieces[0], b"", *pieces[1:]], content_type=content_type, delay=0.01, cut_after=2)
        body = pieces[0]
        return Reply(headers=ctype, chunks=(body[: len(body) // 2], body[len(body) // 2 :]), cut_after=1)
    if fault == "malformed":
        if stream:
            return Reply.stream(
                [b"data: {not json\n\n" if provider == "mistral" else b"{not json\n"], content_type=content_type
            )
        return Reply(headers=ctype, chunks=(b'{"choices": [',))
    raise AssertionError(fault)


def _request_id(body: Any) -> str:
    messages = body.get("messages") or [{}]
    content = messages[-1].get("content", "")
    if isinstance(content, list):  # content parts
        content = "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return str(content)


def serve(seed: int, conn: Any) -> None:
    """The server process: two scripted servers; their ports go out, the attempt log comes back at the end."""
    from clawdesk.testing import RecordedRequest, ScriptedServer

    log: list[tuple[str, str, int, str, bool]] = []
    unknown: list[str] = []

    def handler(provider: str) -> Callable[[RecordedRequest], Any]:
        counts: dict[str, int] = {}

        def handle(request: RecordedRequest) -> Any:
            body = request.json()
            rid = _request_id(body)
            stream = bool(body.get("stream", provider == "ollama"))
            number = counts[rid] = counts.get(rid, 0) + 1
            fault = draw_fault(seed, provider, rid, number)
            log.append((rid, provider, number, fault, stream))
            if not rid.startswith("r"):
                unknown.append(rid)
            return _build_reply(provider, fault, rid, stream, request.headers.get("authorization", ""))

        return handle

    with ScriptedServer() as mistral, ScriptedServer() as ollama:
        mistral.route("POST", "/v1/chat/completions", handler("mistral"))
        ollama.route("POST", "/api/chat", handler("ollama"))
        conn.send((mistral.port, ollama.port))
        conn.recv()  # "stop"
        conn.send(
            {"log": log, "unknown": unknown, "connections": mistral.connections_opened + ollama.connections_opened}
        )


# -- the client ------------------------------------------------------------------------


def rss_bytes() -> int:
    """Resident set size of this process, from /proc (Linux) or the peak from getrusage elsewhere."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        import resource

        scale = 1 if sys.platform == "darwin" else 1024
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


@dataclass(frozen=True, slots=True)
class Result:
    """What the client saw for one request.

    Results are interned (equal results are one object) and kept in a list
    allocated up front, so the run's own bookkeeping does not grow with the
    number of requests and RSS growth is the library's.
    """

    mode: str
    outcome: str  # "served" or the final error's kind
    winner: str | None
    tries: tuple[tuple[str, str], ...]  # (provider, "ok" | error kind) for each try that reached the network
    problems: tuple[str, ...] = ()
    skips: int = 0  # candidates skipped (cooling down)


@dataclass
class Run:
    results: list[Result | None]
    duplicates: list[str] = field(default_factory=list)
    rss: list[tuple[int, int]] = field(default_factory=list)
    busy: list[str] = field(default_factory=list)
    done: int = 0
    _interned: dict[Result, Result] = field(default_factory=dict)

    def record(self, index: int, result: Result) -> None:
        if self.results[index] is not None:
            self.duplicates.append(f"r{index:06d}")
        self.results[index] = self._interned.setdefault(result, result)
        self.done += 1


def _tries(attempts: Any) -> tuple[tuple[str, str], ...]:
    return tuple((a.provider, "ok" if a.outcome == "ok" else str(a.kind)) for a in attempts if a.outcome != "skipped")


def _leaks(error: BaseException, attempts: Any) -> list[str]:
    """Where the API key shows up in an error, its cause chain or the attempt records (it never should)."""
    texts = [str(error), repr(error), *(str(a) for a in attempts), *(repr(a) for a in attempts)]
    cause = error.__cause__ or getattr(error, "cause", None)
    while cause is not None and len(texts) < 100:
        texts += [str(cause), repr(cause)]
        cause = cause.__cause__
    return ["the API key appears in the error or its attempts"] if any(FAKE_KEY in t for t in texts) else []


def _skips(attempts: Any) -> int:
    return sum(a.outcome == "skipped" for a in attempts)


async def one_request(cd: Any, index: int, mode: str, seed: int = 0) -> tuple[str, Result]:
    """Send request ``index`` through the chain; never raises (every outcome is a Result).

    ``mode``: ``chat``; ``stream`` (read to the end); ``abandon`` (a stream the
    caller leaves after its first event); ``cancel_chat`` / ``cancel_stream``
    (cancelled by an anyio cancel scope after a seeded 0-50 ms).
    """
    import anyio

    rid = f"r{index:06d}"
    if not mode.startswith("cancel_"):
        return rid, await _attempt(cd, rid, mode)
    probe: list[Any] = []
    delay = random.Random(f"{seed}/cancel/{rid}").uniform(0.0, 0.05)
    with anyio.move_on_after(delay) as scope:
        result = await _attempt(cd, rid, mode.removeprefix("cancel_"), probe)
    if scope.cancelled_caught:
        # The attempts recorded before the cancellation: the chat's log, or the stream's own record.
        attempts = probe[0].attempts if probe and hasattr(probe[0], "attempts") else probe
        return rid, Result(mode, "cancelled", None, _tries(attempts), (), _skips(attempts))
    return rid, Result(mode, result.outcome, result.winner, result.tries, result.problems, result.skips)


async def _attempt(cd: Any, rid: str, mode: str, probe: list[Any] | None = None) -> Result:
    """One request in ``mode`` (chat, stream, abandon).

    ``probe`` lets a caller that may cancel see what was tried: a chat's
    attempt records are appended to it as they come; a stream puts itself in
    it (its ``attempts`` property is the live record).
    """
    from clawdesk import AllProvidersFailed, ClawdeskError, Finish, InvalidRequest, StreamInterrupted, TextDelta

    expected = f"echo {rid}"
    problems: list[str] = []
    if mode == "chat":
        log: list[Any] = [] if probe is None else probe
        try:
            result = await cd.engine.chat(None, rid, on_attempt=log.append)
        except AllProvidersFailed as exc:
            problems += _leaks(exc, exc.attempts)
            if tuple(exc.attempts) != tuple(log):
                problems.append("AllProvidersFailed.attempts differs from the attempt log")
            return Result(mode, "all_failed", None, _tries(exc.attempts), tuple(problems), _skips(exc.attempts))
        except InvalidRequest as exc:
            problems += _leaks(exc, log)
            return Result(mode, "invalid_request", None, _tries(log), tuple(problems), _skips(log))
        except ClawdeskError as exc:
            return Result(mode, f"unexpected {type(exc).__name__}: {exc}", None, _tries(log), ("unexpected",))
        if result.response.message.text != expected:
            problems.append(f"got {result.response.message.text!r}, expected {expected!r}")
        if tuple(result.attempts) != tuple(log):
            problems.append("ChatResult.attempts differs from the attempt log")
        return Result(
            mode, "served", result.target.provider, _tries(result.attempts), tuple(problems), _skips(result.attempts)
        )
    stream = cd.engine.stream(None, rid)
    if probe is not None:
        probe.append(stream)
    events: list[Any] = []
    try:
        async with stream:
            async for event in stream:
                events.append(event)
                if mode == "abandon":
                    break
    except AllProvidersFailed as exc:
        problems += _leaks(exc, exc.attempts)
        if tuple(exc.attempts) != stream.attempts:
            problems.append("AllProvidersFailed.attempts differs from the stream's attempts")
        return Result(mode, "all_failed", None, _tries(exc.attempts), tuple(problems), _skips(exc.attempts))
    except StreamInterrupted as exc:
        problems += _leaks(exc, stream.attempts)
        if list(exc.delivered) != events:
            problems.append("StreamInterrupted.delivered differs from the events the caller saw")
        if not events or not isinstance(events[0], TextDelta) or events[0].text != "echo ":
            problems.append(f"interrupted stream delivered {events!r}")
        return Result(
            mode, "stream_interrupted", None, _tries(stream.attempts), tuple(problems), _skips(stream.attempts)
        )
    except InvalidRequest as exc:
        problems += _leaks(exc, stream.attempts)
        return Result(mode, "invalid_request", None, _tries(stream.attempts), tuple(problems), _skips(stream.attempts))
    except ClawdeskError as exc:
        return Result(mode, f"unexpected {type(exc).__name__}: {exc}", None, _tries(stream.attempts), ("unexpected",))
    winner = stream.target.provider if stream.target is not None else None
    if mode == "abandon":
        if len(events) != 1 or not isinstance(events[0], TextDelta) or events[0].text != "echo ":
            problems.append(f"abandoned stream saw {events!r}, expected the first delta 'echo '")
        return Result(mode, "abandoned", winner, _tries(stream.attempts), tuple(problems), _skips(stream.attempts))
    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    finishes = sum(isinstance(e, Finish) for e in events)
    if text != expected or finishes != 1:
        problems.append(f"stream gave {text!r} with {finishes} Finish events, expected {expected!r} and 1")
    return Result(mode, "served", winner, _tries(stream.attempts), tuple(problems), _skips(stream.attempts))


def _mode(draw: float, coin: float, stream_share: float) -> str:
    """A request's mode: 4% cancelled mid-way, 4% streams left after one event, then streams and chats."""
    if draw < 0.04:
        return "cancel_stream" if coin < stream_share else "cancel_chat"
    if draw < 0.08:
        return "abandon"
    return "stream" if draw < 0.08 + stream_share else "chat"


def _busy(cd: Any) -> list[str]:
    busy = []
    for name in CHAIN:
        pool = cd.http_client(name)._transport._pool
        busy += [f"{name}: {c!r}" for c in pool.connections if not (c.is_idle() or c.is_closed())]
        if pool._requests:
            busy.append(f"{name}: {len(pool._requests)} requests registered")
    return busy


async def client_main(args: argparse.Namespace, ports: tuple[int, int], run: Run) -> None:
    import anyio

    import clawdesk

    config = clawdesk.parse_config(
        f"""
[providers.mistral]
api_key = "{FAKE_KEY}"
base_url = "http://127.0.0.1:{ports[0]}/v1"
default_model = "mistral-small-latest"
timeout_secs = {args.timeout}

[providers.ollama]
base_url = "http://127.0.0.1:{ports[1]}"
default_model = "llama3.2"
timeout_secs = {args.timeout}
first_byte_timeout_secs = {args.timeout}

[fallback]
chain = {json.dumps(list(CHAIN))}
max_retries_per_provider = {args.retries}
backoff_base_secs = 0.005
backoff_max_secs = 0.05
max_retry_after_secs = 1
deadline_secs = 30
cooldown_failures = 6
cooldown_window_secs = 1
cooldown_secs = 0.05
"""
    )
    registry = clawdesk.Registry(discover=False)
    for package in ("clawdesk_mistral", "clawdesk_ollama"):
        import importlib

        registry.register(importlib.import_module(f"{package}._plugin"))
    modes = random.Random(args.seed)
    plan = [_mode(modes.random(), modes.random(), args.stream_share) for _ in range(args.requests)]
    next_index = iter(range(args.requests))
    warm = max(1, args.requests // 10)
    sample_every = max(1, args.requests // 10)

    async with clawdesk.Clawdesk(registry=registry, config=config, env={}) as cd:

        async def worker() -> None:
            for index in next_index:
                _, result = await one_request(cd, index, plan[index], args.seed)
                run.record(index, result)
                done = run.done
                if done == warm or done % sample_every == 0:
                    gc.collect()
                    run.rss.append((done, rss_bytes()))
                if args.progress and done % 1000 == 0:
                    print(f"  {done} requests done", file=sys.stderr)

        with anyio.fail_after(args.max_seconds):
            async with anyio.create_task_group() as tg:
                for _ in range(args.concurrency):
                    tg.start_soon(worker)
        run.busy = _busy(cd)


# -- checks and summary ----------------------------------------------------------------


def check(args: argparse.Namespace, run: Run, server: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
    """Every invariant of the module docstring; returns (failures, summary figures)."""
    failures: list[str] = []

    def fail(text: str) -> None:
        if len(failures) < 50:
            failures.append(text)

    seen: dict[str, dict[str, list[tuple[int, str, bool]]]] = {}
    for rid, provider, number, fault, stream in server["log"]:
        seen.setdefault(rid, {}).setdefault(provider, []).append((number, fault, stream))
    expected_ids = {f"r{i:06d}" for i in range(args.requests)}
    missing = [f"r{i:06d}" for i, r in enumerate(run.results) if r is None]
    if missing:
        fail(f"{len(missing)} requests never ended (lost), e.g. {missing[:5]}")
    if run.duplicates:
        fail(f"{len(run.duplicates)} requests ended twice, e.g. {run.duplicates[:5]}")
    stray = sorted(set(seen) - expected_ids) + server["unknown"]
    if stray:
        fail(f"servers saw {len(stray)} ids nobody sent, e.g. {stray[:5]}")
    limit = args.retries + 1
    ended = {f"r{i:06d}": r for i, r in enumerate(run.results) if r is not None}
    for rid, result in ended.items():
        for problem in result.problems:
            fail(f"{rid}: {problem}")
        by_provider = seen.get(rid, {})
        clean = [(p, n) for p, tries in by_provider.items() for n, fault, _ in tries if fault in CLEAN]
        cancelled, abandoned = result.outcome == "cancelled", result.outcome == "abandoned"
        in_flight = 0  # tries the server saw that a cancellation cut off before they were recorded
        for provider in CHAIN:
            client_tries = [kind for p, kind in result.tries if p == provider]
            server_tries = sorted(by_provider.get(provider, []))
            if len(server_tries) > limit:
                fail(f"{rid}: {provider} was tried {len(server_tries)} times, more than max_retries_per_provider + 1")
            surplus = len(server_tries) - len(client_tries)
            if cancelled and surplus in (0, 1):
                in_flight += surplus
                server_tries = server_tries[: len(client_tries)]
            elif surplus:
                fail(
                    f"{rid}: {provider}: the client recorded {len(client_tries)} tries, the server saw "
                    f"{len(server_tries)} ({[f for _, f, _ in server_tries]})"
                )
                continue
            for number, (kind, (_, fault, stream)) in enumerate(zip(client_tries, server_tries, strict=True), 1):
                want = FAULTS[fault][2 if stream else 1] or "ok"
                # A caller that left (or was cancelled) after the first event never saw the cut after it.
                left_early = (abandoned or cancelled) and number == len(client_tries) and fault == "cut_mid_body"
                if kind != want and not (left_early and kind == "ok"):
                    fail(f"{rid}: {provider}: server injected {fault!r}, client recorded {kind!r}, expected {want!r}")
        if in_flight > 1:
            fail(f"{rid}: {in_flight} tries were in flight when the request was cancelled (at most 1 can be)")
        if result.outcome in ("served", "abandoned"):
            if (
                len(clean) > 1
                or (result.outcome == "served" and len(clean) != 1)
                or any(p != result.winner for p, _ in clean)
            ):
                fail(f"{rid}: {result.outcome} by {result.winner} but clean answers were sent by {clean}")
        elif cancelled:
            pass  # a cancelled request may have had an answer on its way: dropping it is what was asked
        elif clean:
            fail(f"{rid}: ended {result.outcome} although {clean} sent a clean answer (an answer was lost)")
        elif result.outcome.startswith("unexpected"):
            fail(f"{rid}: {result.outcome}")
    if run.busy:
        fail(f"connections still checked out at the end: {run.busy}")
    growth = (run.rss[-1][1] - run.rss[0][1]) if len(run.rss) >= 2 else 0
    if growth > args.max_rss_growth_mib * 1024 * 1024:
        fail(f"RSS grew by {growth / 2**20:.1f} MiB after the warm-up (limit {args.max_rss_growth_mib} MiB)")
    outcomes = Counter(r.outcome for r in ended.values())
    tries_per_request = Counter(len(r.tries) for r in ended.values())
    figures = {
        "outcomes": dict(outcomes),
        "winners": dict(Counter(r.winner for r in ended.values() if r.winner)),
        "modes": dict(Counter(r.mode for r in ended.values())),
        "server_attempts": len(server["log"]),
        "faults": dict(Counter(entry[3] for entry in server["log"]).most_common()),
        "tries_per_request": dict(sorted(tries_per_request.items())),
        "cooldown_skips": sum(r.skips for r in ended.values()),
        "connections_opened": server["connections"],
        "rss_mib": [(n, round(b / 2**20, 1)) for n, b in run.rss],
        "rss_growth_mib": round(growth / 2**20, 2),
    }
    return failures, figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--requests", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--stream-share", type=float, default=0.2, help="share of requests sent as streams")
    parser.add_argument("--retries", type=int, default=2, help="[fallback] max_retries_per_provider")
    parser.add_argument("--timeout", type=float, default=1.0, help="each provider's timeout_secs")
    parser.add_argument("--max-seconds", type=float, default=900.0, help="the whole run's time limit")
    parser.add_argument("--max-rss-growth-mib", type=float, default=16.0)
    parser.add_argument("--backend", choices=["asyncio", "trio"], default="asyncio")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.add_argument("--progress", action="store_true")
    args = parser.parse_args(argv)

    import anyio

    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    process = context.Process(target=serve, args=(args.seed, child), daemon=True)
    process.start()
    try:
        ports = parent.recv()
        run = Run(results=[None] * args.requests)
        started = time.monotonic()
        timed_out = False
        try:
            anyio.run(client_main, args, ports, run, backend=args.backend)
        except TimeoutError:
            timed_out = True
        elapsed = time.monotonic() - started
        parent.send("stop")
        server = parent.recv()
    finally:
        process.join(10)
        if process.is_alive():
            process.kill()
    failures, figures = check(args, run, server)
    if timed_out:
        failures.insert(0, f"the run did not finish within {args.max_seconds:g}s")
    figures.update(
        requests=args.requests,
        seed=args.seed,
        concurrency=args.concurrency,
        backend=args.backend,
        seconds=round(elapsed, 1),
        requests_per_second=round(run.done / elapsed, 1) if elapsed else None,
        failures=failures,
    )
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        _print_summary(figures)
    return 1 if failures else 0


def _print_summary(f: dict[str, Any]) -> None:
    print(f"soak: {f['requests']} requests, seed {f['seed']}, {f['concurrency']} in flight, {f['backend']}")
    print(f"  time            {f['seconds']}s ({f['requests_per_second']} requests/s)")
    print(f"  modes           {f['modes']}")
    print(f"  outcomes        {f['outcomes']}")
    print(f"  served by       {f['winners']}")
    print(f"  server attempts {f['server_attempts']} over {f['connections_opened']} connections")
    print(f"  faults injected {f['faults']}")
    print(f"  tries/request   {f['tries_per_request']}")
    print(f"  cooldown skips  {f['cooldown_skips']}")
    print(f"  RSS (MiB)       {f['rss_mib']}")
    print(f"  RSS growth      {f['rss_growth_mib']} MiB after the warm-up")
    if f["failures"]:
        print(f"FAILED: {len(f['failures'])} check(s):")
        for line in f["failures"]:
            print(f"  - {line}")
    else:
        print("OK: nothing lost, nothing answered twice, every attempt accounted for, retries bounded, no leak")


if __name__ == "__main__":
    sys.exit(main())
