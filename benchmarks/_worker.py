"""One benchmark trial, run by ``run.py`` in a fresh process.

A fresh process per trial keeps trials independent (no warm caches carried
over, a clean peak RSS) and lets the raw-httpx side import only httpx. The
trial's spec is one JSON argument; the result is one JSON line on stdout::

    {"seconds": 1.23, "items": 1000, "client_cpu": 1.1, "server_cpu": 0.2}

or ``{"error": "..."}``. ``seconds`` covers the measured work only, after a
short warm-up that both sides get alike (imports, the first connection).

Subjects: ``raw-<provider>`` for each of the six wires (``httpx.AsyncClient``,
``aiter_lines`` + ``json.loads`` of every chunk for SSE and NDJSON; for
Bedrock, ``aiter_bytes`` and the event-stream frames decoded the obvious way,
CRCs checked, a hand-written SigV4 signature on every request),
``clawdesk-<provider>`` (``clawdesk.Clawdesk`` through the plugin), and for the
fallback benchmark ``fallback-target`` (``Clawdesk.chat_target``: one
guarded call, no engine), ``fallback-direct`` (``chat("mistral/...")``,
through the engine with a pinned model),
``fallback-one`` (``model=None``, chain of one healthy Mistral entry) and
``fallback-refused`` (chain whose first entry, Ollama on an unused port,
fails at once with connection refused).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import socket
import statistics
import struct
import sys
import time
import zlib
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

PROMPT = "Say hello."
PROVIDERS = ("mistral", "openai", "anthropic", "gemini", "ollama", "bedrock")
# Fake AWS credentials (Bedrock signs every request with SigV4; the loopback server does not check).
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "AKIACLAWDESKBENCH001",
    "AWS_SECRET_ACCESS_KEY": "clawdesk/Bench+Secret-Key-0123456789abcdefXYZ",
    "AWS_REGION": "us-east-1",
    "AWS_CONFIG_FILE": "/nonexistent/aws-config",
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/aws-credentials",
    "AWS_EC2_METADATA_DISABLED": "true",
}


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


def _model(chunks: int, late: bool = False) -> str:
    # A "late-" model gets its first event at once and the rest later (the time-to-first-event bench).
    return f"{'late' if late else 'bench'}-{chunks}"


# -- raw httpx --------------------------------------------------------------------


class RawMistral:
    """What an application does without a framework: post, read lines, decode every chunk.

    ``first`` is when the last stream's first text chunk was decoded (``time.perf_counter``);
    ``late`` asks the server to hold the rest of each stream back a while.
    """

    first = 0.0
    late = False

    def __init__(self, base: str, transport: Any = None) -> None:
        import httpx

        self.url = f"{base}/v1/chat/completions"
        self.client = httpx.AsyncClient(
            timeout=30.0, transport=transport, headers={"authorization": "Bearer bench-key"}
        )

    def _payload(self, chunks: int) -> dict[str, Any]:
        return {"model": _model(chunks, self.late), "messages": [{"role": "user", "content": PROMPT}], "stream": True}

    async def chat(self) -> int:
        payload = {"model": _model(1), "messages": [{"role": "user", "content": PROMPT}]}
        response = await self.client.post(self.url, json=payload)
        if response.status_code != 200:
            raise RuntimeError(f"HTTP {response.status_code}")
        data = json.loads(response.content)
        return len(data["choices"][0]["message"]["content"])

    async def stream(self, chunks: int) -> int:
        count = 0
        headers = {"accept": "text/event-stream"}
        async with self.client.stream("POST", self.url, json=self._payload(chunks), headers=headers) as response:
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
                choices = chunk["choices"]
                if choices:  # OpenAI's usage chunk has none
                    choices[0]["delta"].get("content")
                    count += 1
                    if count == 1:
                        self.first = time.perf_counter()
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
        count = 0
        async with self.client.stream("POST", self.url, json=self._payload(chunks)) as response:
            if response.status_code != 200:
                raise RuntimeError(f"HTTP {response.status_code}")
            async for line in response.aiter_lines():
                if not line:
                    continue
                chunk = json.loads(line)
                chunk["message"].get("content")
                count += 1
                if count == 1:
                    self.first = time.perf_counter()
        return count


class RawOpenAI(RawMistral):
    """OpenAI's chat completions: Mistral's wire, plus the usage chunk ``stream_options`` asks for."""

    def _payload(self, chunks: int) -> dict[str, Any]:
        return {**super()._payload(chunks), "stream_options": {"include_usage": True}}


class RawAnthropic(RawMistral):
    """Anthropic's messages: named SSE events, every ``data:`` line decoded, text deltas counted."""

    def __init__(self, base: str, transport: Any = None) -> None:
        import httpx

        self.url = f"{base}/v1/messages"
        headers = {"x-api-key": "bench-key", "anthropic-version": "2023-06-01"}
        self.client = httpx.AsyncClient(timeout=30.0, transport=transport, headers=headers)

    def _payload(self, chunks: int) -> dict[str, Any]:
        return {**super()._payload(chunks), "max_tokens": 1024}

    async def chat(self) -> int:
        payload = {**self._payload(1), "model": _model(1), "stream": False}
        response = await self.client.post(self.url, json=payload)
        if response.status_code != 200:
            raise RuntimeError(f"HTTP {response.status_code}")
        data = json.loads(response.content)
        return len(data["content"][0]["text"])

    async def stream(self, chunks: int) -> int:
        count = 0
        headers = {"accept": "text/event-stream"}
        async with self.client.stream("POST", self.url, json=self._payload(chunks), headers=headers) as response:
            if response.status_code != 200:
                raise RuntimeError(f"HTTP {response.status_code}")
            async for line in response.aiter_lines():
                if not line.startswith("data: "):
                    continue  # event: lines (the JSON repeats the type) and blank lines
                event = json.loads(line[6:])
                if event["type"] == "content_block_delta" and event["delta"]["type"] == "text_delta":
                    event["delta"]["text"]
                    count += 1
                    if count == 1:
                        self.first = time.perf_counter()
        return count


class RawGemini(RawMistral):
    """Gemini's ``streamGenerateContent?alt=sse``: one ``data:`` event per chunk, no end marker."""

    def __init__(self, base: str, transport: Any = None) -> None:
        import httpx

        self.base = f"{base}/v1beta/models"
        self.client = httpx.AsyncClient(timeout=30.0, transport=transport, headers={"x-goog-api-key": "bench-key"})

    @staticmethod
    def _body() -> dict[str, Any]:
        return {"contents": [{"role": "user", "parts": [{"text": PROMPT}]}]}

    async def chat(self) -> int:
        response = await self.client.post(f"{self.base}/{_model(1)}:generateContent", json=self._body())
        if response.status_code != 200:
            raise RuntimeError(f"HTTP {response.status_code}")
        data = json.loads(response.content)
        return len(data["candidates"][0]["content"]["parts"][0]["text"])

    async def stream(self, chunks: int) -> int:
        count = 0
        url = f"{self.base}/{_model(chunks, self.late)}:streamGenerateContent?alt=sse"
        headers = {"accept": "text/event-stream"}
        async with self.client.stream("POST", url, json=self._body(), headers=headers) as response:
            if response.status_code != 200:
                raise RuntimeError(f"HTTP {response.status_code}")
            async for line in response.aiter_lines():
                if not line.startswith("data: "):
                    continue
                chunk = json.loads(line[6:])
                content = chunk["candidates"][0].get("content")
                if content is not None:
                    content["parts"][0].get("text")
                    count += 1
                    if count == 1:
                        self.first = time.perf_counter()
        return count


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


class RawBedrock(RawMistral):
    """Bedrock's Converse and ConverseStream, by hand: SigV4 on every request, event-stream frames decoded
    the obvious way (a bytearray buffer, ``struct`` for the prelude, both CRCs checked, the headers parsed
    into a dict, ``json.loads`` of every payload)."""

    _PRELUDE = struct.Struct(">III")

    def __init__(self, base: str, transport: Any = None) -> None:
        import httpx

        self.base = base
        self.host = base.removeprefix("http://")
        self.client = httpx.AsyncClient(timeout=30.0, transport=transport)
        self.key_id = AWS_ENV["AWS_ACCESS_KEY_ID"]
        self.region = AWS_ENV["AWS_REGION"]
        self._keys: dict[str, bytes] = {}

    def _signed(self, path: str, body: bytes) -> dict[str, str]:
        """The headers of a SigV4-signed POST (the signing key is cached for the day, as every SDK does)."""
        now = time.gmtime()
        amz_date = time.strftime("%Y%m%dT%H%M%SZ", now)
        day = amz_date[:8]
        key = self._keys.get(day)
        if key is None:
            key = _hmac(("AWS4" + AWS_ENV["AWS_SECRET_ACCESS_KEY"]).encode(), day)
            for part in (self.region, "bedrock", "aws4_request"):
                key = _hmac(key, part)
            self._keys[day] = key
        headers = {"content-type": "application/json", "host": self.host, "x-amz-date": amz_date}
        names = ";".join(sorted(headers))
        canonical = "\n".join(
            ["POST", quote(path, safe="/-_.~"), "", *(f"{k}:{headers[k]}" for k in sorted(headers)), "", names,
             hashlib.sha256(body).hexdigest()]
        )  # fmt: skip
        scope = f"{day}/{self.region}/bedrock/aws4_request"
        to_sign = f"AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
        signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        headers["authorization"] = (
            f"AWS4-HMAC-SHA256 Credential={self.key_id}/{scope}, SignedHeaders={names}, Signature={signature}"
        )
        del headers["host"]
        return headers

    def _request(self, model: str, operation: str) -> tuple[str, bytes, dict[str, str]]:
        path = f"/model/{quote(model, safe='')}/{operation}"
        body = json.dumps({"messages": [{"role": "user", "content": [{"text": PROMPT}]}]}).encode()
        return path, body, self._signed(path, body)

    async def chat(self) -> int:
        path, body, headers = self._request(_model(1), "converse")
        response = await self.client.post(self.base + path, content=body, headers=headers)
        if response.status_code != 200:
            raise RuntimeError(f"HTTP {response.status_code}")
        data = json.loads(response.content)
        return len(data["output"]["message"]["content"][0]["text"])

    async def stream(self, chunks: int) -> int:
        path, body, headers = self._request(_model(chunks, self.late), "converse-stream")
        count = 0
        prelude = self._PRELUDE
        buffer = bytearray()
        async with self.client.stream("POST", self.base + path, content=body, headers=headers) as response:
            if response.status_code != 200:
                raise RuntimeError(f"HTTP {response.status_code}")
            async for piece in response.aiter_bytes():
                buffer += piece
                while len(buffer) >= 12:
                    total, headers_len, prelude_crc = prelude.unpack_from(buffer)
                    if zlib.crc32(buffer[:8]) != prelude_crc:
                        raise RuntimeError("prelude CRC mismatch")
                    if len(buffer) < total:
                        break
                    message = bytes(buffer[:total])
                    del buffer[:total]
                    if zlib.crc32(message[:-4]) != struct.unpack(">I", message[-4:])[0]:
                        raise RuntimeError("message CRC mismatch")
                    fields = _headers(message[12 : 12 + headers_len])
                    event = json.loads(message[12 + headers_len : -4])
                    if fields.get(":message-type") != "event":
                        raise RuntimeError(f"stream error: {fields}")
                    if fields[":event-type"] == "contentBlockDelta":
                        event["delta"].get("text")
                        count += 1
                        if count == 1:
                            self.first = time.perf_counter()
        return count


def _headers(data: bytes) -> dict[str, Any]:
    """An event-stream header block (string values, the only kind Bedrock sends; others skipped by size)."""
    out: dict[str, Any] = {}
    pos = 0
    sizes = {0: 0, 1: 0, 2: 1, 3: 2, 4: 4, 5: 8, 8: 8, 9: 16}
    while pos < len(data):
        name_len = data[pos]
        name = data[pos + 1 : pos + 1 + name_len].decode()
        kind = data[pos + 1 + name_len]
        pos += 2 + name_len
        if kind in (6, 7):
            (length,) = struct.unpack_from(">H", data, pos)
            value = data[pos + 2 : pos + 2 + length]
            out[name] = value.decode() if kind == 7 else value
            pos += 2 + length
        else:
            out[name] = None
            pos += sizes[kind]
    return out


# -- peers (--peers): the official SDKs, where installed ----------------------------


class PeerOpenAI:
    """The official ``openai`` SDK (``AsyncOpenAI``, no retries): a typed chunk object per chunk."""

    first = 0.0
    late = False

    def __init__(self, base: str, transport: Any = None) -> None:
        import httpx
        import openai

        http = httpx.AsyncClient(timeout=30.0, transport=transport)
        self.client = openai.AsyncOpenAI(base_url=f"{base}/v1", api_key="bench-key", max_retries=0, http_client=http)

    async def chat(self) -> int:
        reply = await self.client.chat.completions.create(
            model=_model(1), messages=[{"role": "user", "content": PROMPT}]
        )
        return len(reply.choices[0].message.content or "")

    async def stream(self, chunks: int) -> int:
        count = 0
        events = await self.client.chat.completions.create(
            model=_model(chunks, self.late),
            messages=[{"role": "user", "content": PROMPT}],
            stream=True,
            stream_options={"include_usage": True},
        )
        async for chunk in events:
            if chunk.choices and chunk.choices[0].delta.content is not None:
                count += 1
                if count == 1:
                    self.first = time.perf_counter()
        return count

    async def aclose(self) -> None:
        await self.client.close()


class PeerAnthropic(PeerOpenAI):
    """The official ``anthropic`` SDK (``AsyncAnthropic``, no retries): a typed event object per event."""

    def __init__(self, base: str, transport: Any = None) -> None:
        import anthropic

        # Its own HTTP client: this SDK version is built on httpx2, not httpx (peers run chats and single
        # streams only, where no transport is passed).
        self.client = anthropic.AsyncAnthropic(base_url=base, api_key="bench-key", max_retries=0, timeout=30.0)

    async def chat(self) -> int:
        reply = await self.client.messages.create(
            model=_model(1), max_tokens=1024, messages=[{"role": "user", "content": PROMPT}]
        )
        block = reply.content[0]
        return len(block.text) if block.type == "text" else 0

    async def stream(self, chunks: int) -> int:
        count = 0
        events = await self.client.messages.create(
            model=_model(chunks, self.late),
            max_tokens=1024,
            messages=[{"role": "user", "content": PROMPT}],
            stream=True,
        )
        async for event in events:
            if event.type == "content_block_delta" and event.delta.type == "text_delta":
                count += 1
                if count == 1:
                    self.first = time.perf_counter()
        return count


#: --peers: each official SDK and the raw baseline of its wire.
PEERS = {"peer-openai": ("openai", PeerOpenAI), "peer-anthropic": ("anthropic", PeerAnthropic)}


# -- clawdesk ------------------------------------------------------------------------


def config_toml(spec: dict[str, Any]) -> str:
    """The config every clawdesk subject uses: all six providers on the loopback server.

    Bedrock's credentials are fake ones in the AWS variables (:data:`AWS_ENV`), as a user's would be.
    """
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
        f'[providers.openai]\nbase_url = "{base}/v1"\napi_key = "bench-key"\n\n'
        f'[providers.anthropic]\nbase_url = "{base}"\napi_key = "bench-key"\n\n'
        f'[providers.gemini]\nbase_url = "{base}"\napi_key = "bench-key"\n\n'
        f'[providers.bedrock]\nbase_url = "{base}"\n\n'
        f"[fallback]\nchain = {json.dumps(chain)}\nmax_retries_per_provider = 0\ncooldown_failures = 0\n"
    )


class Framework:
    """The same work through ``clawdesk.Clawdesk`` and a provider plugin."""

    first = 0.0
    late = False

    def __init__(self, spec: dict[str, Any], transport: Any = None) -> None:
        import clawdesk

        self.clawdesk = clawdesk
        self.subject = subject = spec["subject"]
        self.provider = subject.removeprefix("clawdesk-") if subject.startswith("clawdesk-") else "mistral"
        self.fallback = subject in ("fallback-one", "fallback-refused")
        config = clawdesk.parse_config(config_toml(spec))
        # As many connections at once as the raw side opens (its transport has no limit): core's own
        # cap (http.max_connections, 100) would otherwise queue the concurrent benchmarks' streams.
        limit = max(spec.get("streams") or 0, 100) if transport is not None else None
        self.cd = clawdesk.Clawdesk(config=config, transport=transport, max_connections=limit)
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
        async with self.cd.stream(f"{self.provider}/{_model(chunks, self.late)}", PROMPT) as events:
            async for event in events:
                if type(event) is text_delta:
                    count += 1
                    if count == 1:
                        self.first = time.perf_counter()
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
    raw = {"raw-mistral": RawMistral, "raw-ollama": RawOllama, "raw-openai": RawOpenAI,
           "raw-anthropic": RawAnthropic, "raw-gemini": RawGemini, "raw-bedrock": RawBedrock}  # fmt: skip
    if subject in raw:
        return raw[subject](base, transport)
    if subject in PEERS:
        return PEERS[subject][1](base, transport)
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

        elif bench == "first":
            # Time to first event: the server sends the first text event at once and the rest
            # LATE_SECS later, so the first event can only come from that first network read.
            chunks, repeat = spec["chunks"], spec.get("repeat", 1)
            await subject.stream(chunks)
            subject.late = True
            delays: list[float] = []
            cpu_before = time.process_time()
            for _ in range(repeat):
                start = time.perf_counter()
                got = await subject.stream(chunks)
                delays.append(subject.first - start)
                if got != chunks:
                    raise RuntimeError(f"read {got} chunks, the server sent {chunks}")
            cpu = time.process_time() - cpu_before
            return {"seconds": statistics.median(delays), "items": 1, "client_cpu": cpu, "cpu_per_item": cpu / repeat,
                    "server_cpu": -1.0, "all": delays}  # fmt: skip

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
    os.environ.update(AWS_ENV)
    try:
        result = asyncio.run(trial(spec))
    except Exception as exc:  # noqa: BLE001 - reported as the trial's error, one line
        message = str(exc).splitlines()[0] if str(exc) else ""
        result = {"error": f"{type(exc).__name__}: {message}"[:300]}
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
