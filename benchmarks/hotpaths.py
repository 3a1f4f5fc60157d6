"""Profile clawdesk's hot paths with cProfile, against the loopback server.

Usage (from the repository root)::

    .venv/bin/python benchmarks/hotpaths.py                    # streams and chats through both plugins
    .venv/bin/python benchmarks/hotpaths.py --what stream --provider mistral --top 40
    .venv/bin/python benchmarks/hotpaths.py --dump /tmp/prof   # also write .prof files (snakeviz, pstats)

For each profile it prints the wall and CPU time per item without and with the
profiler (cProfile inflates per-call costs, so read the table for *where* the
time goes and the unprofiled figure for *how much*), then the top functions
by own time. The raw-httpx baselines are profiled too (``--provider raw-mistral``,
``raw-bedrock``...), for comparison.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import os
import pstats
import time
from pathlib import Path
from typing import Any

from _worker import AWS_ENV, PROVIDERS
from _worker import _subject as _worker_subject
from run import Server


def _subject(name: str, port: int) -> Any:
    spec = {"subject": name if name.startswith("raw-") else f"clawdesk-{name}", "port": port}
    return _worker_subject(spec)


async def _profile(
    name: str, what: str, port: int, args: argparse.Namespace
) -> tuple[float, float, float, pstats.Stats]:
    subject = _subject(name, port)
    try:
        if what == "stream":
            items = args.chunks * args.streams

            async def work() -> None:
                for _ in range(args.streams):
                    await subject.stream(args.chunks)

            await subject.stream(100)
        else:
            items = args.requests

            async def work() -> None:
                for _ in range(args.requests):
                    await subject.chat()

            for _ in range(20):
                await subject.chat()
        start, cpu = time.perf_counter(), time.process_time()
        await work()
        plain = (time.perf_counter() - start) / items
        plain_cpu = (time.process_time() - cpu) / items
        profiler = cProfile.Profile()
        start = time.perf_counter()
        profiler.enable()
        await work()
        profiler.disable()
        profiled = (time.perf_counter() - start) / items
    finally:
        await subject.aclose()
    return plain, plain_cpu, profiled, pstats.Stats(profiler)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--what", default="stream,chat", help="stream, chat or both (comma-separated)")
    parser.add_argument(
        "--provider", default=",".join(PROVIDERS), help="plugins (mistral, openai, ...) or baselines (raw-mistral, ...)"
    )
    parser.add_argument("--chunks", type=int, default=10_000)
    parser.add_argument("--streams", type=int, default=3)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--sort", default="tottime", help="pstats sort key (tottime, cumulative, ncalls)")
    parser.add_argument("--dump", metavar="DIR", help="write each profile as DIR/<provider>-<what>.prof")
    args = parser.parse_args()
    os.environ.update(AWS_ENV)
    with Server(None) as server:
        for what in args.what.split(","):
            for name in args.provider.split(","):
                plain, cpu, profiled, stats = asyncio.run(_profile(name, what, server.port, args))
                unit = "chunk" if what == "stream" else "request"
                print(
                    f"\n=== {name} {what}: {plain * 1e6:.1f} us per {unit}, {cpu * 1e6:.1f} us CPU "
                    f"({profiled * 1e6:.1f} us profiled)"
                )
                out = io.StringIO()
                stats.stream = out  # type: ignore[attr-defined]
                stats.strip_dirs().sort_stats(args.sort).print_stats(args.top)
                print("\n".join(line for line in out.getvalue().splitlines() if line.strip())[:20000])
                if args.dump:
                    Path(args.dump).mkdir(parents=True, exist_ok=True)
                    stats.dump_stats(str(Path(args.dump) / f"{name}-{what}.prof"))


if __name__ == "__main__":
    main()
