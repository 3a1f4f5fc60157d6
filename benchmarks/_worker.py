"""One benchmark trial, run by ``run.py`` in a fresh process.

A fresh process per trial keeps trials independent (no warm caches carried
over, a clean peak RSS) and lets the raw-httpx side import only httpx. The
trial's spec is one JSON argument; the result is one JSON line on stdout::

    {"seconds": 1.23, "items": 1000, "client_cpu": 1.1, "server_cpu": 0.2}

or ``{"error": "..."}``. ``seconds`` covers the measured work only, after a
short warm-up that both sides get alike (imports, the first connection).

Subjects: ``raw-mistral`` / ``raw-ollama`` (``httpx.AsyncClient``,
``aiter_lines`` + ``json.loads`` of every chunk), ``clawdesk-mistral`` /
``clawdesk-ollama`` (``clawdesk.Clawdesk`` through the plugin), and for the
fallback benchmark ``fallback-target`` (``Clawdesk.chat_target``: one
guarded call, no engine), ``fallback-direct`` (``chat("mistral/...")``,
through the engine with a pinned model),
``fallback-one`` (``model=None``, chain of one healthy Mistral entry) and
``fallback-refused`` (chain whose first entry, Ollama on an unused port,
fails at once with connection refused).
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

PROMPT = "Say hello."


def _server_cpu(pid: int) -> float:
    """CPU seconds (user + system) the server process has used so far."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rpartition(b")")[2].split()
    except OSError:
        return float("nan")
    # After the ")" closing the command name: field 3 is index 0, utime is 14, stime 15.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server_stats(port: int) -> dict[str, int]:
    """The loopback server's connection counts (a blocking socket: no client library involved)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"GET /__stats HTTP/1.1\r\nhost: bench\r\nconnection: close\r\n\r\n")
        data = b""
        while True:  # the server keeps connections open: read exactly one response
            data += sock.recv(4096)
            head, _, body = data.partition(b"\r\n\r\n")
            length = int(head.lower().partition(b"content-length:")[2].split(b"\r\n")[0] or b"-1")
            if length >= 0 and len(body) >= length:
                break
    stats: dict[str, int] = json.loads(body)
    return stats


def _model(chunks: int) -> str:
    return f"bench-{chunks}"


# -- raw httpx --------------------------------------------------------------------


class RawMistral:
    """What an application does without a framework: post, read lines, decode every chunk."""

    def __init__(self, base: str, transport: Any = None) -> None:
        import httpx

        self.url = f"{base}/v1/chat/completions"
        self.client = httpx.AsyncClient(
            timeout=30.0, transport=transport, headers={"authorization": "Bearer bench-key"}
        )

    async def chat(self) -> int:
        payload = {"model": _model(1), "messages": [{"role": "user", "content": PROMPT}]}
        response = await self.client.post(self.url, json=payload)
        if response.status_code != 200:
            raise RuntimeError(f"HTTP {response.status_code}")
        data = json.loads(response.content)
        return len(data["choices"][0]["message"]["content"])

    async def stream(self, chunks: int) -> int:
        payload = {"model": _model(chunks), "messages": [{"role": "user", "content": PROMPT}], "stream": True}
        count = 0
        headers = {"accept": "text/event-stream"}
        async with self.client.stream("POST", self.url, json=payload, headers=headers) as response:
            if response.status_code != 200:
                raise RuntimeError(f"HTTP {response.status_code}")
            async for line in response.aiter_lines():
                if not line.startswith("data: "):
                    continue
                data = line[6:]
                if data == "[DONE]":
                    # Read on to the end of the body (as the plugins do) so the
                    # connection goes back to the pool instead of being closed.
                    continue
                chunk = json.loads(data)
                chunk["choices"][0]["delta"].get("content")
                count += 1
        return count

    async def aclose(self) -> None:
        await self.client.aclose()


class RawOllama(RawMistral):
    def __init__(self, base: str, transport: Any = None) -> None:
        import httpx

        self.url = f"{base}/api/chat"
        self.client = httpx.AsyncClient(timeout=30.0, transport=transport)

    async def chat(self) -> int:
        payload = {"model": _model(1), "messages": [{"role": "user", "content": PROMPT}], "stream": False}
        response = await self.client.post(self.url, json=payload)
        if response.status_code != 200:
            raise RuntimeError(f"HTTP {response.status_code}")
        data = json.loads(response.content)
        return len(data["message"]["content"])

    async def stream(self, chunks: int) -> int:
        payload = {"model": _model(chunks), "messages": [{"role": "user", "content": PROMPT}], "stream": True}
        count = 0
        async with self.client.stream("POST", self.url, json=payload) as response:
            if response.status_code != 200:
                raise RuntimeError(f"HTTP {response.status_code}")
            async for line in response.aiter_lines():
                if not line:
                    continue
                chunk = json.loads(line)
                chunk["message"].get("content")
                count += 1
        return count


# -- clawdesk ------------------------------------------------------------------------


def config_toml(spec: dict[str, Any]) -> str:
    """The config every clawdesk subject uses: both providers on the loopback server."""
    base = f"http://127.0.0.1:{spec['port']}"
    ollama_base = base
    chain: list[str] = []
    if spec["subject"] == "fallback-one":
        chain = ["mistral/bench-1"]
    elif spec["subject"] == "fallback-refused":
        ollama_base = f"http://127.0.0.1:{spec['refused_port']}"
        chain = ["ollama/bench-1", "mistral/bench-1"]
    # No retries and no cooldown: every call pays for the failing attempt, the
    # worst case of the engine's overhead (with cooldown on, later calls would
    # skip the dead provider without trying it).
    return (
        f'[providers.mistral]\nbase_url = "{base}"\napi_key = "bench-key"\n\n'
        f'[providers.ollama]\nbase_url = "{ollama_base}"\n\n'
        f"[fallback]\nchain = {json.dumps(chain)}\nmax_retries_per_provider = 0\ncooldown_failures = 0\n"
    )


class Framework:
    """The same work through ``clawdesk.Clawdesk`` and a provider plugin."""

    def __init__(self, spec: dict[str, Any], transport: Any = None) -> None:
        import clawdesk

        self.clawdesk = clawdesk
        self.subject = subject = spec["subject"]
        self.provider = "ollama" if subject == "clawdesk-ollama" else "mistral"
        self.fallback = subject in ("fallback-one", "fallback-refused")
        config = clawdesk.parse_config(config_toml(spec))
        self.cd = clawdesk.Clawdesk(config=config, transport=transport)
        needed = {self.provider, "ollama"} if subject == "fallback-refused" else {self.provider}
        missing = needed - set(self.cd.providers())
        if missing:
            statuses = {s.name: s.error for s in self.cd.registry.statuses()}
            raise RuntimeError("; ".join(f"{name}: {statuses.get(name, 'not installed')}" for name in sorted(missing)))

    async def chat(self) -> int:
        if self.subject == "fallback-target":
            # The engine-free path: one guarded call to one provider, the same request.
            target = self.cd.resolve(f"{self.provider}/{_model(1)}")
            request = self.clawdesk.ChatRequest(target.model, (self.clawdesk.Message.user(PROMPT),))
            response = await self.cd.chat_target(target, request)
            return len(response.message.text)
        model = None if self.fallback else f"{self.provider}/{_model(1)}"
        response = await self.cd.chat(model, PROMPT)
        if self.fallback and response.provider != "mistral":
            raise RuntimeError(f"fallback answered from {response.provider!r}")
        return len(response.message.text)

    async def stream(self, chunks: int) -> int:
        text_delta, finish = self.clawdesk.TextDelta, self.clawdesk.Finish
        count = 0
        finished = False
        async with self.cd.stream(f"{self.provider}/{_model(chunks)}", PROMPT) as events:
            async for event in events:
                if type(event) is text_delta:
                    count += 1
                elif type(event) is finish:
                    finished = True
        if not finished:
            raise RuntimeError("stream ended without Finish")
        # A final chunk with empty content may or may not become a TextDelta.
        return count + 1 if count == chunks - 1 else count

    async def aclose(self) -> None:
        await self.cd.aclose()


# -- trials --------------------------------------------------------------------------


def _subject(spec: dict[str, Any], transport: Any = None) -> Any:
    base = f"http://127.0.0.1:{spec['port']}"
    subject = spec["subject"]
    if subject == "raw-mistral":
        return RawMistral(base, transport)
    if subject == "raw-ollama":
        return RawOllama(base, transport)
    return Framework(spec, transport)


async def _measure(spec: dict[str, Any], work: Callable[[], Awaitable[int]]) -> dict[str, Any]:
    server_before = _server_cpu(spec["server_pid"])
    cpu_before = time.process_time()
    start = time.perf_counter()
    items = await work()
    seconds = time.perf_counter() - start
    return {
        "seconds": seconds,
        "items": items,
        "client_cpu": (client_cpu := time.process_time() - cpu_before),
        "cpu_per_item": client_cpu / items,
        "server_cpu": _server_cpu(spec["server_pid"]) - server_before,
    }


async def trial(spec: dict[str, Any]) -> dict[str, Any]:
    bench = spec["bench"]
    transport = None
    if bench == "concurrent":
        import httpx

        # Every stream gets its own connection, on both sides alike. httpx's
        # default pool would run only 100 at once; and a kept-alive idle
        # connection (the warm-up's) makes httpcore hand every queued request
        # to that one connection, so they end up sharing a dozen connections
        # (encode/httpcore#822). No keep-alive avoids both.
        limits = httpx.Limits(max_connections=None, max_keepalive_connections=None, keepalive_expiry=0.0)
        transport = httpx.AsyncHTTPTransport(limits=limits)
    subject = _subject(spec, transport)
    try:
        if bench == "chat":
            requests = spec["requests"]
            for _ in range(spec["warmup"]):
                await subject.chat()

            async def work() -> int:
                for _ in range(requests):
                    await subject.chat()
                return requests

        elif bench == "stream":
            chunks, repeat = spec["chunks"], spec.get("repeat", 1)
            await subject.stream(min(chunks, 100))
            times: list[float] = []

            async def work() -> int:
                # One stream takes a fraction of a second: time several, one
                # after the other; the trial's value is their median.
                for _ in range(repeat):
                    start = time.perf_counter()
                    got = await subject.stream(chunks)
                    times.append(time.perf_counter() - start)
                    if got != chunks:
                        raise RuntimeError(f"read {got} chunks, the server sent {chunks}")
                return chunks * repeat

            result = await _measure(spec, work)
            median = statistics.median(times)
            return {**result, "items": chunks, "seconds": median, "total_seconds": result["seconds"], "all": times}

        elif bench == "concurrent":
            chunks, streams = spec["chunks"], spec["streams"]
            await subject.stream(min(chunks, 10))

            async def work() -> int:
                counts = await asyncio.gather(*(subject.stream(chunks) for _ in range(streams)))
                if any(got != chunks for got in counts):
                    raise RuntimeError(f"a stream read {min(counts)} chunks, the server sent {chunks}")
                return sum(counts)

            server_stats(spec["port"])  # restarts the server's peak count
            result = await _measure(spec, work)
            return {**result, "peak_connections": server_stats(spec["port"])["peak"]}

        else:
            raise ValueError(f"unknown benchmark {bench!r}")
        return await _measure(spec, work)
    finally:
        await subject.aclose()


def main() -> None:
    spec = json.loads(sys.argv[1])
    try:
        result = asyncio.run(trial(spec))
    except Exception as exc:  # noqa: BLE001 - reported as the trial's error, one line
        message = str(exc).splitlines()[0] if str(exc) else ""
        result = {"error": f"{type(exc).__name__}: {message}"[:300]}
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
