"""What the shared state store costs per call: the Redis backend against in-process state, on loopback.

    .venv/bin/python benchmarks/state.py            # full run (about a minute)
    .venv/bin/python benchmarks/state.py --quick    # a smoke run (seconds)
    .venv/bin/python benchmarks/state.py --json out.json

It starts its own ``redis-server`` on a free loopback port (``clawdesk.testing.RedisServer``)
and drives ``FallbackEngine.chat`` against a provider that answers at once without I/O, so the
time per call is the engine plus its state store and nothing else. Four set-ups, each on
asyncio and trio, trials interleaved run by run, median of the runs:

- ``local``: the default in-process :class:`~clawdesk.LocalState`;
- ``redis``: :class:`~clawdesk.RedisState` (a cooldown check before the call, a success note
  after it: two round trips);
- ``local+budget`` / ``redis+budget``: the provider has a request and token budget (high
  enough never to wait), which adds a slot before the call and a token charge after it
  (two more round trips).

The "Redis cost" column is the median per-call difference to the same set-up on local state.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from typing import Any

import anyio
import httpx

from clawdesk import (
    ChatRequest,
    ChatResponse,
    Clawdesk,
    Config,
    FallbackConfig,
    FallbackEngine,
    FinishReason,
    Message,
    RateLimit,
    Registry,
    Secret,
    StateConfig,
    Usage,
)
from clawdesk.provider import hookimpl
from clawdesk.testing import RedisServer

SETUPS = ["local", "redis", "local+budget", "redis+budget"]
BUDGET = RateLimit(requests_per_minute=10_000_000, tokens_per_minute=10_000_000_000)


class Instant:
    """A provider that answers every chat at once, with usage, and does no I/O."""

    CLAWDESK_CONTRACT = 2
    name = "bench"

    @hookimpl
    def provider_name(self) -> str:
        return self.name

    @hookimpl
    async def provider_models(self) -> list[Any]:
        return []

    @hookimpl
    def provider_capabilities(self, model: str) -> None:
        return None

    @hookimpl
    async def provider_chat(self, request: ChatRequest) -> ChatResponse:
        return ChatResponse(
            message=Message.assistant("ok"),
            finish_reason=FinishReason.STOP,
            provider=self.name,
            model="m",
            usage=Usage(3, 2),
        )

    @hookimpl
    def provider_stream(self, request: ChatRequest) -> Any:
        raise NotImplementedError("the benchmark only chats")


async def trial(setup: str, url: str, calls: int, prefix: str) -> tuple[float, float]:
    """Wall and CPU seconds per call of ``calls`` sequential chats with ``setup`` (after a short warm-up).

    CPU time is this process's only: what a worker spends per call. Redis's own CPU is not in it."""
    registry = Registry(discover=False)
    registry.register(Instant())
    limits = {"bench": BUDGET} if setup.endswith("+budget") else {}
    fallback = FallbackConfig(chain=("bench/m",), limits=limits)
    state = (
        StateConfig(backend="redis", url=Secret(url), key_prefix=prefix)
        if setup.startswith("redis")
        else StateConfig(backend="local")
    )
    config = Config(fallback=fallback, state=state)
    async with Clawdesk(
        registry=registry, config=config, transport=httpx.MockTransport(lambda r: httpx.Response(599))
    ) as cd:
        engine = FallbackEngine(cd, env={})
        cd.engine = engine
        for _ in range(20):
            await engine.chat(None, "hi")
        started, cpu = time.perf_counter(), time.process_time()
        for _ in range(calls):
            await engine.chat(None, "hi")
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        failures = getattr(engine.state, "failures", 0)
        if failures:
            raise RuntimeError(f"{setup}: {failures} Redis operations failed; the figure would be local state's")
    return elapsed / calls, cpu / calls


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny counts, one run: a smoke run")
    parser.add_argument("--calls", type=int, default=2000, help="calls per trial")
    parser.add_argument("--runs", type=int, default=7, help="interleaved runs per set-up")
    parser.add_argument("--json", metavar="PATH", help="also write the raw numbers here")
    args = parser.parse_args(argv)
    calls, runs = (50, 1) if args.quick else (args.calls, args.runs)
    results: dict[str, dict[str, list[tuple[float, float]]]] = {b: {s: [] for s in SETUPS} for b in ("asyncio", "trio")}
    with RedisServer() as redis:
        for run in range(runs):
            for backend in results:
                for setup in SETUPS:
                    prefix = f"bench{os.getpid()}-{run}"
                    per_call = anyio.run(trial, setup, redis.url, calls, prefix, backend=backend)
                    results[backend][setup].append(per_call)
    load = os.getloadavg()[0]
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load {load:.2f}; {calls} calls x {runs} runs")
    print("| loop | set-up | µs per call, wall (median [min-max]) | µs per call, CPU | Redis cost (wall / CPU) |")
    print("|---|---|---|---|---|")
    summary: dict[str, Any] = {}
    for backend, by_setup in results.items():
        for setup in SETUPS:
            wall = [w * 1e6 for w, _ in by_setup[setup]]
            cpu = [c * 1e6 for _, c in by_setup[setup]]
            cost = ""
            if setup.startswith("redis"):
                base = by_setup[setup.replace("redis", "local")]
                pairs = list(zip(by_setup[setup], base, strict=True))
                wall_diff = statistics.median((r[0] - b[0]) * 1e6 for r, b in pairs)
                cpu_diff = statistics.median((r[1] - b[1]) * 1e6 for r, b in pairs)
                cost = f"+{wall_diff:.0f} µs / +{cpu_diff:.0f} µs"
            spread = f"{statistics.median(wall):.0f} [{min(wall):.0f}-{max(wall):.0f}]"
            print(f"| {backend} | {setup} | {spread} | {statistics.median(cpu):.0f} | {cost} |")
            summary[f"{backend}/{setup}"] = {"wall_us": wall, "cpu_us": cpu}
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(summary, out, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
