"""The gateway under load: many concurrent streaming clients through `clawdesk serve`, against the provider directly.

Usage (from the repository root)::

    .venv/bin/python benchmarks/gateway.py                 # 500 clients x 2 streams, 2 workers (about a minute)
    .venv/bin/python benchmarks/gateway.py --quick         # 20 clients: checks the harness works (seconds)
    .venv/bin/python benchmarks/gateway.py --json out.json

The provider is the benchmark's loopback server (``_loopback.py``, Mistral's
SSE, ``--chunks`` content chunks per answer) in its own process. The same
client (one process, ``httpx.AsyncClient``, every stream read line by line and
every chunk decoded) runs twice: straight at the loopback server, then through
``clawdesk serve --workers N`` with a gateway key, pinned model
``mistral/bench-<chunks>``. Each of ``--clients`` concurrent clients sends
``--requests`` streamed requests one after the other. A stream counts as
delivered only when it had every content chunk and ended with ``[DONE]``;
anything else is lost and printed. Latency is request start to the stream's
end; TTFB to the first content chunk. Everything (client, gateway workers,
loopback server) shares this machine's CPUs, so the gateway workers' own CPU
time per stream (from ``/proc``) is reported too: it does not depend on what
else the machine is doing.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import platform
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
PY = sys.executable
KEY = "bench-gateway-key-0123456789abcdef"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


class _Connection:
    """One keep-alive HTTP/1.1 connection speaking just enough of the protocol for these streams.

    A raw asyncio client rather than httpx: with 500 streams in one process,
    httpx's own cost per chunk would be most of what is measured.
    """

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post_stream(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, asyncio.StreamReader]:
        if self.writer is None or self.writer.is_closing():
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port, limit=1 << 20)
        assert self.reader is not None
        head = [f"POST {path} HTTP/1.1", f"host: {self.host}:{self.port}", "content-type: application/json"]
        head += [f"{k}: {v}" for k, v in headers.items()] + [f"content-length: {len(body)}"]
        self.writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        status = int((await self.reader.readline()).split()[1])
        chunked = False
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            if name.strip().lower() == "transfer-encoding" and "chunked" in value.lower():
                chunked = True
        if not chunked:
            raise ConnectionError(f"HTTP {status} without a chunked body")
        return status, self.reader

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


async def _chunks_of(reader: asyncio.StreamReader) -> Any:
    """The decoded pieces of a chunked body."""
    while True:
        size = int((await reader.readline()).split(b";")[0], 16)
        if size == 0:
            await reader.readline()
            return
        data = await reader.readexactly(size + 2)
        yield data[:-2]


async def _one(conn: _Connection, path: str, body: bytes, headers: dict[str, str], chunks: int) -> Any:
    started = time.perf_counter()
    first = None
    got = 0
    done = False
    buffer = b""
    try:
        status, reader = await conn.post_stream(path, body, headers)
        async for piece in _chunks_of(reader):
            if status != 200:
                return ("status", status, piece[:200])
            buffer += piece
            *events, buffer = buffer.split(b"\n\n")
            for raw in events:
                if not raw.startswith(b"data: "):
                    continue
                data = raw[6:]
                if data == b"[DONE]":
                    done = True
                    continue
                event = json.loads(data)
                if "error" in event:
                    return ("error", event["error"].get("message"))
                for choice in event.get("choices", ()):
                    if choice["delta"].get("content"):
                        got += 1
                        if first is None:
                            first = time.perf_counter() - started
    except (OSError, ValueError, asyncio.IncompleteReadError) as exc:
        conn.close()
        conn.writer = None
        return ("transport", f"{type(exc).__name__}: {exc}")
    if not done or got != chunks:
        return ("incomplete", f"{got}/{chunks} chunks, done={done}")
    return (time.perf_counter() - started, first)


async def _load(
    url: str, model: str, headers: dict[str, str], clients: int, requests: int, chunks: int
) -> dict[str, Any]:
    body = json.dumps(
        {"model": model, "messages": [{"role": "user", "content": "Say something."}], "stream": True}
    ).encode()
    split = httpx.URL(url)
    host, port, path = split.host, split.port or 80, split.path
    conns = [_Connection(host, port) for _ in range(clients)]
    await asyncio.gather(*(_one(c, path, body, headers, chunks) for c in conns[:50]))  # warm-up
    results: list[Any] = []

    async def user(conn: _Connection) -> None:
        for _ in range(requests):
            results.append(await _one(conn, path, body, headers, chunks))

    started = time.perf_counter()
    await asyncio.gather(*(user(c) for c in conns))
    wall = time.perf_counter() - started
    for conn in conns:
        conn.close()
    ok = [r for r in results if isinstance(r[0], float)]
    lost = [r for r in results if not isinstance(r[0], float)]
    latency = [r[0] for r in ok]
    ttfb = [r[1] for r in ok]
    return {
        "requests": len(results),
        "delivered": len(ok),
        "lost": len(lost),
        "lost_examples": [repr(r) for r in lost[:5]],
        "wall_s": round(wall, 3),
        "throughput_rps": round(len(ok) / wall, 1),
        "chunks_per_s": round(len(ok) * chunks / wall, 0),
        **{f"latency_p{q}_ms": round(_percentile(latency, q) * 1000, 1) for q in (50, 95, 99)},
        **{f"ttfb_p{q}_ms": round(_percentile(ttfb, q) * 1000, 1) for q in (50, 95, 99)},
        "latency_mean_ms": round(statistics.fmean(latency) * 1000, 1) if latency else None,
    }


def _cpu_seconds(pids: set[int]) -> float | None:
    """User + system CPU seconds the processes ``pids`` used so far (``None`` without ``/proc``)."""
    total = 0.0
    try:
        for pid in pids:
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError):
        return None
    return total


def _start_gateway(config: Path, workers: int, home: Path) -> tuple[subprocess.Popen[bytes], int, set[int]]:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLAWDESK_")}
    env["CLAWDESK_HOME"] = str(home)
    cmd = [PY, "-m", "clawdesk", "serve", "--config", str(config), "--port", str(port), "--workers", str(workers)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=(home / "gateway.log").open("wb"), env=env)
    deadline = time.monotonic() + 60
    pids: set[int] = set()
    while time.monotonic() < deadline and len(pids) < workers:
        if proc.poll() is not None:
            raise SystemExit(f"clawdesk serve exited: {(home / 'gateway.log').read_text()}")
        try:
            pids.add(httpx.get(f"http://127.0.0.1:{port}/healthz", headers={"connection": "close"}).json()["pid"])
        except httpx.HTTPError:
            time.sleep(0.1)
    if len(pids) < workers:
        raise SystemExit("the gateway's workers did not all come up within 60 s")
    return proc, port, pids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=500)
    parser.add_argument("--requests", type=int, default=2, help="streams each client sends, one after the other")
    parser.add_argument("--chunks", type=int, default=20, help="content chunks per answer")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="20 clients x 1 stream")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    args = parser.parse_args()
    if args.quick:
        args.clients, args.requests = 20, 1
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, 65536)), hard))

    loopback = subprocess.Popen(
        [PY, str(HERE / "_loopback.py"), "--max-seconds", "1800"], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    assert loopback.stdout is not None
    backend = f"http://127.0.0.1:{int(loopback.stdout.readline())}"
    home = Path(tempfile.mkdtemp(prefix="clawdesk-gateway-bench-"))
    config = home / "config.toml"
    digest = hashlib.sha256(KEY.encode()).hexdigest()
    config.write_text(
        f'[providers.mistral]\nbase_url = "{backend}/v1"\napi_key = "bench-upstream-key-000000"\n'
        f'stream_usage = false\n\n[serve.keys.bench]\nhash = "sha256:{digest}"\n',
        encoding="utf-8",
    )
    model = f"bench-{args.chunks}"
    results: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "settings": {
            "clients": args.clients,
            "requests": args.requests,
            "chunks": args.chunks,
            "workers": args.workers,
        },
    }
    gateway: subprocess.Popen[bytes] | None = None
    try:
        direct = asyncio.run(
            _load(f"{backend}/v1/chat/completions", model, {}, args.clients, args.requests, args.chunks)
        )
        results["direct"] = direct
        gateway, port, pids = _start_gateway(config, args.workers, home)
        cpu_before = _cpu_seconds(pids)
        through = asyncio.run(
            _load(
                f"http://127.0.0.1:{port}/v1/chat/completions",
                f"mistral/{model}",
                {"authorization": f"Bearer {KEY}"},
                args.clients,
                args.requests,
                args.chunks,
            )
        )
        cpu_after = _cpu_seconds(pids)
        if cpu_before is not None and cpu_after is not None:
            # Warm-up included: the workers' CPU per stream they served, whatever else ran on the machine.
            served = through["requests"] + min(args.clients, 50)
            through["worker_cpu_ms_per_request"] = round((cpu_after - cpu_before) * 1000 / served, 2)
        results["gateway"] = through
    finally:
        if gateway is not None:
            gateway.send_signal(signal.SIGINT)
            try:
                gateway.wait(20)
            except subprocess.TimeoutExpired:
                gateway.kill()
        if loopback.stdin is not None:
            loopback.stdin.close()
        loopback.wait(10)
    print(f"{args.clients} clients x {args.requests} streams of {args.chunks} chunks; gateway: {args.workers} workers")
    print(f"{'':<10}{'delivered':>10}{'lost':>6}{'req/s':>9}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'ttfb p50':>10}")
    for name in ("direct", "gateway"):
        r = results[name]
        print(
            f"{name:<10}{r['delivered']:>10}{r['lost']:>6}{r['throughput_rps']:>9}{r['latency_p50_ms']:>9}"
            f"{r['latency_p95_ms']:>9}{r['latency_p99_ms']:>9}{r['ttfb_p50_ms']:>10}"
        )
        if "worker_cpu_ms_per_request" in r:
            print(f"  gateway workers' CPU per stream: {r['worker_cpu_ms_per_request']} ms")
        for example in r["lost_examples"]:
            print(f"  lost: {example}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2), encoding="utf-8")
    if results["gateway"]["lost"] or results["direct"]["lost"]:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
