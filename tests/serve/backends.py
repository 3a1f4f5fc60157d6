"""Scripted Mistral and Ollama backends for the gateway tests, and the gateway as a real process.

The backends answer like the vendors' wire formats (Mistral's chat
completions, JSON or SSE; Ollama's ``/api/chat``, JSON or NDJSON), decide
their answer from the request (a tool result in the conversation, tools
offered, JSON mode, a prompt asking for a long answer), and count what they
got. :class:`GatewayProcess` runs ``clawdesk serve`` as a subprocess on an
unused loopback port and waits until it answers ``/healthz``.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from clawdesk.testing import RecordedRequest, Reply, unused_port

MISTRAL_KEY = "sk-mistral-upstream-secret-0123456789"
KEY_A = "gw-team-a-secret-key-0123456789abcdef"
KEY_B = "gw-team-b-secret-key-fedcba9876543210"
KEY_B_ENV = "TEAM_B_GATEWAY_KEY"
KEY_C = "gw-team-c-secret-key-aaaabbbbccccdddd"
SSE = "text/event-stream"
NDJSON = "application/x-ndjson"
USAGE = {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17}
WEATHER_ARGS = {"city": "Paris"}
#: The prompt that makes both backends answer slowly, piece by piece, for many seconds.
SLOW_PROMPT = "Tell me a very long story."
SLOW_PIECES = 400
SLOW_DELAY = 0.05


def sha256(key: str) -> str:
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "".join(p.get("text", "") for p in content or [] if isinstance(p, dict))


def decide(body: dict[str, Any]) -> dict[str, Any]:
    """The scripted model: text, or a tool call, or JSON, as the request asks."""
    messages = body["messages"]
    last = messages[-1]
    if last["role"] == "tool":
        return {"text": f"It is {_text(last['content'])} in Paris."}
    if body.get("tools"):
        return {"tool": ("weather", WEATHER_ARGS)}
    fmt = body.get("response_format") or body.get("format")
    if fmt:
        return {"text": json.dumps({"answer": 4})}
    prompt = _text(last.get("content"))
    if prompt == SLOW_PROMPT:
        return {"slow": True}
    images = [p for p in last.get("content") or [] if isinstance(p, dict) and p.get("type") == "image_url"]
    if images or last.get("images"):
        return {"text": "A small orange cat."}
    return {"text": "Hello from the backend."}


class Counting:
    """A route handler that counts the requests it answered."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.count = 0
        self.bodies: list[dict[str, Any]] = []
        self.fail_with: Reply | None = None

    def note(self, request: RecordedRequest) -> dict[str, Any]:
        body: dict[str, Any] = request.json()
        with self.lock:
            self.count += 1
            self.bodies.append(body)
        return body

    def reset(self) -> None:
        with self.lock:
            self.count = 0
            self.bodies.clear()
            self.fail_with = None


def _sse(data: Any) -> bytes:
    return b"data: " + json.dumps(data).encode() + b"\n\n"


class MistralBackend(Counting):
    """``POST /v1/chat/completions`` as La Plateforme answers it."""

    def __call__(self, request: RecordedRequest) -> Reply:
        body = self.note(request)
        if self.fail_with is not None:
            return self.fail_with
        answer = decide(body)
        base = {"id": "cmpl-1", "created": 1702256327, "model": body["model"]}
        if not body.get("stream"):
            message: dict[str, Any] = {"role": "assistant", "content": answer.get("text", "")}
            finish = "stop"
            if "tool" in answer:
                name, args = answer["tool"]
                message["tool_calls"] = [
                    {"id": "call_w1", "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}
                ]
                message["content"] = ""
                finish = "tool_calls"
            choice = {"index": 0, "message": message, "finish_reason": finish}
            return Reply.json({**base, "object": "chat.completion", "choices": [choice], "usage": USAGE})

        def frame(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
            choice = {"index": 0, "delta": delta, "finish_reason": finish}
            return _sse({**base, "object": "chat.completion.chunk", "choices": [choice], **extra})

        frames = [frame({"role": "assistant", "content": ""})]
        finish = "stop"
        delay = 0.0
        if "tool" in answer:
            name, args = answer["tool"]
            call = {"id": "call_w1", "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}
            frames.append(frame({"tool_calls": [{**call, "index": 0}]}))
            finish = "tool_calls"
        elif answer.get("slow"):
            frames += [frame({"content": f"word{i} "}) for i in range(SLOW_PIECES)]
            delay = SLOW_DELAY
        else:
            text = answer["text"]
            frames += [frame({"content": text[:5]}), frame({"content": text[5:]})]
        frames.append(frame({"content": ""}, finish, usage=USAGE))
        frames.append(b"data: [DONE]\n\n")
        return Reply.stream(frames, content_type=SSE, delay=delay)


class OllamaBackend(Counting):
    """``POST /api/chat`` as Ollama answers it (NDJSON when streaming)."""

    stamp = "2026-12-02T18:00:00.123456789Z"

    def __call__(self, request: RecordedRequest) -> Reply:
        body = self.note(request)
        if self.fail_with is not None:
            return self.fail_with
        answer = decide(body)
        model = body["model"]
        message: dict[str, Any] = {"role": "assistant", "content": answer.get("text", "")}
        if "tool" in answer:
            name, args = answer["tool"]
            message["tool_calls"] = [{"function": {"name": name, "arguments": args}}]
            message["content"] = ""
        final = {
            "model": model,
            "created_at": self.stamp,
            "done": True,
            "done_reason": "stop",
            "prompt_eval_count": 9,
            "eval_count": 4,
        }
        if not body.get("stream", True):
            if body.get("think"):
                message["thinking"] = "Greet them back."
            return Reply.json({**final, "message": message})
        lines = []
        delay = 0.0
        if answer.get("slow"):
            lines += [{"model": model, "created_at": self.stamp, "message": {"role": "assistant", "content": "w "}}]
            lines *= SLOW_PIECES
            delay = SLOW_DELAY
        else:
            if body.get("think"):
                thought = {"role": "assistant", "content": "", "thinking": "Greet them back."}
                lines.append({"model": model, "created_at": self.stamp, "message": thought})
            lines.append({"model": model, "created_at": self.stamp, "message": message})
        for line in lines:
            line["done"] = False
        lines.append({**final, "message": {"role": "assistant", "content": ""}})
        return Reply.stream([json.dumps(x).encode() + b"\n" for x in lines], content_type=NDJSON, delay=delay)


def config_text(mistral_url: str, ollama_url: str, *, extra: str = "", state: str = "", cooldown: int = 0) -> str:
    """A config with both backends, an alias ``fast`` (mistral -> ollama) and the gateway keys of the tests."""
    return f"""
[providers.mistral]
base_url = "{mistral_url}/v1"
api_key = "{MISTRAL_KEY}"
stream_usage = false
timeout_secs = 30

[providers.ollama]
base_url = "{ollama_url}"
timeout_secs = 30

[fallback]
max_retries_per_provider = 0
backoff_base_secs = 0.01
cooldown_failures = {cooldown}
cooldown_secs = 30

[serve.models.fast]
chain = ["mistral/mistral-small-latest", "ollama/llama3.2"]

[serve.keys.team-a]
hash = "{sha256(KEY_A)}"
models = ["fast", "mistral/*"]

[serve.keys.team-b]
key_env = "{KEY_B_ENV}"
requests = 3
window_secs = 60

[serve.keys.team-c]
hash = "{sha256(KEY_C)}"
{extra}
{state}
"""


class GatewayProcess:
    """``clawdesk serve`` in a subprocess on a free loopback port; stderr is kept in ``log``."""

    def __init__(self, config: Path, *, workers: int = 1, env: dict[str, str] | None = None) -> None:
        self.port = unused_port()
        self.home = Path(tempfile.mkdtemp(prefix="clawdesk-serve-home-"))
        environ = {k: v for k, v in os.environ.items() if not k.startswith(("CLAWDESK_", "MISTRAL_", "OLLAMA_"))}
        environ.update({"CLAWDESK_HOME": str(self.home), KEY_B_ENV: KEY_B, **(env or {})})
        self.log_path = self.home / "stderr.log"
        self._log = self.log_path.open("wb")
        command = [sys.executable, "-m", "clawdesk", "serve", "--config", str(config), "--port", str(self.port)]
        self.proc = subprocess.Popen(
            [*command, "--workers", str(workers)], stdout=self._log, stderr=self._log, env=environ
        )
        self._wait_ready(workers)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def _wait_ready(self, workers: int) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"clawdesk serve exited with {self.proc.returncode}: {self.log}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    if workers == 1:
                        return
                    # Every worker imports the app on its own: wait until more than one answers.
                    pids = {httpx.get(f"{self.url}/healthz", timeout=1).json()["pid"] for _ in range(40)}
                    if len(pids) >= 2:
                        return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"clawdesk serve did not answer within 60 s: {self.log}")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()
