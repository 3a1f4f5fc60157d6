"""The scaling harness: scripted Mistral and Ollama backends, the config they share, and worker processes.

Each backend is a :class:`~clawdesk.testing.ScriptedServer` answering its
vendor's wire format (Mistral's chat completion JSON, Ollama's ``/api/chat``
JSON) and recording the wall time of every request it receives, so a test can
count what a provider really saw. Workers are separate Python processes
(``worker.py``), each with its own ``Clawdesk``, on asyncio or trio, driven
over stdin/stdout.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from clawdesk.testing import RecordedRequest, Reply, ScriptedServer

WORKER = Path(__file__).with_name("worker.py")
API_KEY = "sk-scaling-test-0123456789abcdef"

MISTRAL_ANSWER = {
    "id": "cmpl-7f3a",
    "object": "chat.completion",
    "created": 1764680000,
    "model": "mistral-small-latest",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "from mistral"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10},
}
MISTRAL_OVERLOADED = {"object": "error", "message": "Service overloaded", "type": "service_unavailable", "code": 503}
OLLAMA_ANSWER = {
    "model": "llama3.2",
    "created_at": "2026-12-02T14:00:00.123456789Z",
    "message": {"role": "assistant", "content": "from ollama"},
    "done": True,
    "done_reason": "stop",
    "total_duration": 1000,
    "prompt_eval_count": 5,
    "eval_count": 2,
}


class Backend:
    """A scripted backend that answers every chat request, healthy or failing, and logs when each arrived."""

    def __init__(self, server: ScriptedServer, path: str, answer: dict[str, Any], failure: Reply) -> None:
        self.server = server
        self.answer = Reply.json(answer)
        self.failure = failure
        self.failing = False
        self.times: list[float] = []
        self._lock = threading.Lock()
        server.route("POST", path, self._handle)

    def _handle(self, request: RecordedRequest) -> Reply:
        with self._lock:
            self.times.append(time.time())
        return self.failure if self.failing else self.answer

    @property
    def count(self) -> int:
        with self._lock:
            return len(self.times)

    def between(self, start: float, end: float) -> int:
        with self._lock:
            return sum(start <= t <= end for t in self.times)


def write_config(path: Path, mistral: Backend, ollama: Backend, *, state: str, extra: str = "") -> Path:
    """A config.toml with the chain mistral -> ollama against the scripted backends and the given [state]."""
    path.write_text(
        f"""
[providers.mistral]
base_url = "{mistral.server.url}/v1"
api_key = "{API_KEY}"
default_model = "mistral-small-latest"
timeout_secs = 10

[providers.ollama]
base_url = "{ollama.server.url}"
default_model = "llama3.2"

[fallback]
chain = ["mistral", "ollama"]
backoff_base_secs = 0.01
backoff_max_secs = 0.05
{extra}

{state}
""",
        encoding="utf-8",
    )
    return path


class Workers:
    """Worker processes (``worker.py``), one per backend name given, all on one config file."""

    def __init__(self, config: Path, backends: list[str]) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CLAWDESK_")}
        self.procs: list[subprocess.Popen[str]] = []
        self.lines: list[queue.Queue[str]] = []
        for backend in backends:
            proc = subprocess.Popen(
                [sys.executable, str(WORKER), str(config), backend],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                bufsize=1,
                env=env,
            )
            lines: queue.Queue[str] = queue.Queue()
            threading.Thread(target=_pump, args=(proc, lines), daemon=True).start()
            self.procs.append(proc)
            self.lines.append(lines)
        for index in range(len(backends)):
            assert self._read(index, 60) == {"ready": True}

    def _read(self, index: int, timeout: float) -> dict[str, Any]:
        try:
            line = self.lines[index].get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"worker {index} said nothing for {timeout}s: {self._stderr(index)}") from None
        if not line:
            raise AssertionError(f"worker {index} exited: {self._stderr(index)}")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def _stderr(self, index: int) -> str:
        proc = self.procs[index]
        if proc.poll() is None:
            return "(still running)"
        return (proc.stderr.read() if proc.stderr else "")[-3000:]

    def send(self, indexes: list[int], command: dict[str, Any]) -> None:
        for index in indexes:
            stdin = self.procs[index].stdin
            assert stdin is not None
            stdin.write(json.dumps(command) + "\n")
            stdin.flush()

    def ask(self, indexes: list[int], command: dict[str, Any], *, timeout: float = 60) -> list[dict[str, Any]]:
        """Send ``command`` to every worker in ``indexes`` at once, then collect their answers in order."""
        self.send(indexes, command)
        return [self._read(index, timeout) for index in indexes]

    def close(self) -> None:
        for index, proc in enumerate(self.procs):
            if proc.poll() is None:
                try:
                    self.send([index], {"op": "quit"})
                    proc.wait(15)
                except (OSError, subprocess.TimeoutExpired):
                    proc.kill()
                    proc.wait(5)


def _pump(proc: subprocess.Popen[str], lines: queue.Queue[str]) -> None:
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.put(line)
    lines.put("")
