#!/usr/bin/env python
"""The long soak: 30 minutes of 200 concurrent callers against loopback servers that inject faults and abuse
keep-alives. Not part of any test run; meant to be run for 30 minutes before a release::

    .venv/bin/python scripts/soak_long.py                  # 30 minutes, 200 callers, seed 1
    .venv/bin/python scripts/soak_long.py --minutes 3 --json

(``tests/reliability/test_soak_long_smoke.py`` runs it for a few seconds, so the script cannot rot.)

Two loopback servers (Mistral's wire, Ollama's) run in a separate process, so
their bookkeeping never shows in this process's memory. Every try of every
request draws a fault from a seeded table (the faults of ``scripts/soak.py``
plus keep-alive abuse):

- ``drip``: the clean answer, one byte at a time (succeeds: every read is quick);
- ``keepalive_only``: a stream of nothing but SSE comments or blank NDJSON
  lines (a non-streamed answer: a JSON body that is only whitespace, dripped),
  for far longer than ``[http] idle_timeout_secs``: must end as
  ``TimedOut(limit="idle")``;
- ``stall_mid_stream``: one event, then nothing: the idle limit again;

and the client sends every request through the real :class:`clawdesk.Clawdesk`
fallback engine (chain ``mistral`` then ``ollama``, both real plugins) with a
pool smaller than the number of callers (``[http] max_connections``), so
callers also wait for connections.

Reported at the end: requests ended, outcomes and failures by kind (with
``TimedOut`` split by the limit that fired), the faults injected, RSS over
time, and the connections still checked out of the pools (and still open at
the servers) once every caller is done. Checked (exit status 1 when any
fails): nothing lost or ended twice, no unexpected error, no connection left
checked out, RSS growth after the warm-up (the first tenth) under
``--max-rss-growth-mib``.
"""

from __future__ import annotations

import argparse
import gc
import json
import multiprocessing
import random
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import soak  # the sibling script: its fault table, wire builders and helpers

#: fault -> weight. The first group is soak.py's; the rest abuse keep-alives.
FAULTS: dict[str, float] = {
    **{name: weight for name, (weight, _, _) in soak.FAULTS.items()},
    "drip": 3.0,
    "keepalive_only": 2.0,
    "stall_mid_stream": 1.0,
}


def draw_fault(seed: int, provider: str, rid: str, number: int) -> str:
    rng = random.Random(f"long/{seed}/{provider}/{rid}/{number}")
    names = list(FAULTS)
    return rng.choices(names, weights=[FAULTS[n] for n in names])[0]


def _abuse(provider: str, fault: str, rid: str, stream: bool, idle: float) -> Any:
    from clawdesk.testing import Reply

    content_type, pieces = soak._answer(provider, rid, stream)
    if fault == "drip":
        body = b"".join(pieces)
        drip = [body[i : i + 1] for i in range(len(body))]
        if stream:
            return Reply.stream(drip, content_type=content_type, delay=0.001)
        return Reply(headers=(("content-type", content_type),), chunks=tuple(drip), delay=0.001)
    # Keep-alives for four idle limits: the client must give up at one.
    count = int(idle * 4 / 0.05) + 1
    if fault == "keepalive_only":
        if stream:
            beat = b": keep-alive\n\n" if provider == "mistral" else b"\n"
            return Reply.stream([beat] * count, content_type=content_type, delay=0.05)
        return Reply(headers=(("content-type", content_type),), chunks=(b" ",) * count, delay=0.05)
    if fault == "stall_mid_stream":
        if stream:
            return Reply.stream(pieces, content_type=content_type, stall_after=1)
        return Reply.stall_after_headers(content_type=content_type)
    raise AssertionError(fault)


def serve(seed: int, idle: float, conn: Any) -> None:
    """The server process: two scripted servers; ports out, then the fault counts and open connections back."""
    from clawdesk.testing import RecordedRequest, ScriptedServer

    faults: Counter[str] = Counter()

    def handler(provider: str) -> Any:
        counts: dict[str, int] = {}

        def handle(request: RecordedRequest) -> Any:
            body = request.json()
            rid = soak._request_id(body)
            stream = bool(body.get("stream", provider == "ollama"))
            number = counts[rid] = counts.get(rid, 0) + 1
            fault = draw_fault(seed, provider, rid, number)
            faults[fault] += 1
            if fault in soak.FAULTS:
                return soak._build_reply(provider, fault, rid, stream, request.headers.get("authorization", ""))
            return _abuse(provider, fault, rid, stream, idle)

        return handle

    with ScriptedServer() as mistral, ScriptedServer() as ollama:
        mistral.route("POST", "/v1/chat/completions", handler("mistral"))
        ollama.route("POST", "/api/chat", handler("ollama"))
        conn.send((mistral.port, ollama.port))
        conn.recv()  # "closed": the client has closed its pools
        # Give the server loops a moment to see the clients' closes.
        deadline = time.monotonic() + 5
        while mistral.open_connections + ollama.open_connections and time.monotonic() < deadline:
            time.sleep(0.05)
        conn.send(
            {
                "faults": dict(faults.most_common()),
                "attempts": sum(faults.values()),
                "connections_opened": mistral.connections_opened + ollama.connections_opened,
                "open_at_servers": mistral.open_connections + ollama.open_connections,
            }
        )
        conn.recv()  # "stop"


def outcome_of(exc: BaseException) -> str:
    """A short name for how a request failed: its kind, and for a timeout the limit that fired."""
    from clawdesk import AllProvidersFailed, StreamInterrupted, TimedOut

    if isinstance(exc, AllProvidersFailed):
        last = next((a.error for a in reversed(exc.attempts) if a.error is not None), None)
        return "all_failed/" + (outcome_of(last) if last is not None else "skipped")
    if isinstance(exc, StreamInterrupted):
        return "stream_interrupted/" + outcome_of(exc.cause)
    if isinstance(exc, TimedOut):
        return f"timeout:{exc.limit or 'other'}"
    kind = getattr(exc, "kind", None)
    return str(kind) if kind else f"unexpected {type(exc).__name__}"


def _sockets() -> int | None:
    """Sockets this process still has open (Linux), the pipe to the server process included; else ``None``."""
    import os

    try:
        fds = os.listdir("/proc/self/fd")
    except OSError:
        return None
    count = 0
    for fd in fds:
        try:
            count += os.readlink(f"/proc/self/fd/{fd}").startswith("socket:")
        except OSError:
            pass
    return count


async def client_main(args: argparse.Namespace, ports: tuple[int, int], report: dict[str, Any]) -> None:
    import importlib

    import anyio

    import clawdesk

    config = clawdesk.parse_config(
        f"""
[providers.mistral]
api_key = "{soak.FAKE_KEY}"
base_url = "http://127.0.0.1:{ports[0]}/v1"
default_model = "mistral-small-latest"
timeout_secs = {args.timeout}

[providers.ollama]
base_url = "http://127.0.0.1:{ports[1]}"
default_model = "llama3.2"
timeout_secs = {args.timeout}
first_byte_timeout_secs = {args.timeout}

[fallback]
chain = {json.dumps(list(soak.CHAIN))}
max_retries_per_provider = 2
backoff_base_secs = 0.005
backoff_max_secs = 0.05
max_retry_after_secs = 1
deadline_secs = 60
cooldown_failures = 6
cooldown_window_secs = 1
cooldown_secs = 0.05

[http]
max_connections = {args.max_connections}
idle_timeout_secs = {args.idle}
call_timeout_secs = {args.idle * 10}
"""
    )
    registry = clawdesk.Registry(discover=False)
    for package in ("clawdesk_mistral", "clawdesk_ollama"):
        registry.register(importlib.import_module(f"{package}._plugin"))
    started, ended = Counter[str](), Counter[str]()
    outcomes: Counter[str] = Counter()
    attempt_failures: Counter[str] = Counter()
    rss: list[tuple[float, float]] = []
    counter = iter(range(10**9))
    begin = time.monotonic()
    stop_at = begin + args.minutes * 60
    wrong: list[str] = []

    async def one(cd: clawdesk.Clawdesk, index: int) -> None:
        rid = f"r{index:07d}"
        rng = random.Random(f"{args.seed}/{rid}")
        stream = rng.random() < args.stream_share
        started[rid[:2]] += 1
        attempts: Any = ()
        try:
            if stream:
                events = cd.stream(None, rid)
                try:
                    text = (await events.collect()).message.text
                finally:
                    attempts = events.attempts
            else:
                result = await cd.chat_with_attempts(None, rid)
                attempts, text = result.attempts, result.response.message.text
        except clawdesk.ClawdeskError as exc:
            outcomes[outcome_of(exc)] += 1
            attempts = getattr(exc, "attempts", attempts)
        except Exception as exc:  # noqa: BLE001 - anything else is a finding
            outcomes[f"unexpected {type(exc).__name__}"] += 1
        else:
            outcomes["served"] += 1
            if text != f"echo {rid}" and len(wrong) < 20:
                wrong.append(f"{rid}: got {text!r}")
        ended[rid[:2]] += 1
        for attempt in attempts:
            if attempt.outcome == "failed" and attempt.error is not None:
                attempt_failures[outcome_of(attempt.error)] += 1

    async def caller(cd: clawdesk.Clawdesk) -> None:
        while time.monotonic() < stop_at:
            await one(cd, next(counter))

    async def sampler() -> None:
        while True:
            gc.collect()
            rss.append((round(time.monotonic() - begin, 1), round(soak.rss_bytes() / 2**20, 1)))
            await anyio.sleep(args.sample_secs)

    async with clawdesk.Clawdesk(registry=registry, config=config, env={}) as cd:
        async with anyio.create_task_group() as outer:
            outer.start_soon(sampler)
            async with anyio.create_task_group() as tg:
                for _ in range(args.callers):
                    tg.start_soon(caller, cd)
            outer.cancel_scope.cancel()
        gc.collect()
        rss.append((round(time.monotonic() - begin, 1), round(soak.rss_bytes() / 2**20, 1)))
        report["busy_at_end"] = soak._busy(cd)
    report["sockets_in_client"] = _sockets()
    report.update(
        seconds=round(time.monotonic() - begin, 1),
        requests=sum(started.values()),
        ended=sum(ended.values()),
        outcomes=dict(outcomes.most_common()),
        attempt_failures=dict(attempt_failures.most_common()),
        rss_mib=rss,
        wrong_answers=wrong,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--callers", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--stream-share", type=float, default=0.3)
    parser.add_argument("--timeout", type=float, default=1.0, help="each provider's timeout_secs")
    parser.add_argument("--idle", type=float, default=2.0, help="[http] idle_timeout_secs")
    parser.add_argument("--max-connections", type=int, default=64, help="[http] max_connections (< callers)")
    parser.add_argument(
        "--sample-secs", type=float, default=None, help="RSS sampling period (default: 1/20 of the run)"
    )
    parser.add_argument("--max-rss-growth-mib", type=float, default=32.0)
    parser.add_argument("--backend", choices=["asyncio", "trio"], default="asyncio")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.sample_secs is None:
        args.sample_secs = max(args.minutes * 60 / 20, 0.5)

    import anyio

    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    process = context.Process(target=serve, args=(args.seed, args.idle, child), daemon=True)
    process.start()
    report: dict[str, Any] = {}
    try:
        ports = parent.recv()
        anyio.run(client_main, args, ports, report, backend=args.backend)
        parent.send("closed")
        report.update(parent.recv())
        parent.send("stop")
    finally:
        process.join(10)
        if process.is_alive():
            process.kill()
    failures: list[str] = []
    if report["ended"] != report["requests"]:
        failures.append(f"{report['requests'] - report['ended']} requests never ended")
    unexpected = {k: v for k, v in report["outcomes"].items() if "unexpected" in k}
    if unexpected:
        failures.append(f"unexpected errors: {unexpected}")
    if report["wrong_answers"]:
        failures.append(f"wrong answers: {report['wrong_answers'][:5]}")
    if report["busy_at_end"]:
        failures.append(f"connections still checked out at the end: {report['busy_at_end'][:5]}")
    samples = report["rss_mib"]
    # The warm-up is the first tenth of the run: growth is measured from the first sample after it.
    after = [mib for t, mib in samples if t >= report["seconds"] / 10]
    warm = after[0] if after else (samples[-1][1] if samples else 0.0)
    growth = round(samples[-1][1] - warm, 1) if samples else 0.0
    report["rss_growth_mib"] = growth
    if growth > args.max_rss_growth_mib:
        failures.append(f"RSS grew by {growth} MiB after the warm-up (limit {args.max_rss_growth_mib} MiB)")
    report.update(minutes=args.minutes, callers=args.callers, seed=args.seed, failures=failures)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"soak_long: {args.minutes:g} min, {args.callers} callers, seed {args.seed}, {args.backend}")
        print(f"  requests        {report['requests']} ({report['ended']} ended) in {report['seconds']}s")
        print(f"  outcomes        {report['outcomes']}")
        print(f"  failed tries    {report['attempt_failures']}")
        print(f"  server attempts {report['attempts']} over {report['connections_opened']} connections")
        print(f"  faults injected {report['faults']}")
        print(f"  RSS (s, MiB)    {samples}")
        print(f"  RSS growth      {growth} MiB after the warm-up")
        print(
            f"  at the end      {len(report['busy_at_end'])} connections checked out, "
            f"{report['sockets_in_client']} sockets open in the client, {report['open_at_servers']} open at the "
            "servers (stall handlers hold theirs until the servers stop)"
        )
        print("FAILED: " + "; ".join(failures) if failures else "OK: nothing lost, no unexpected error, no leak")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
