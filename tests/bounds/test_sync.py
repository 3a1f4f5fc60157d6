"""The sync wrapper never holds the process: Ctrl-C during ``SyncClawdesk.chat()`` against a server that never
answers exits promptly with KeyboardInterrupt, and a ``SyncClawdesk`` that is never closed does not keep the
interpreter from exiting. Each runs in a subprocess against a real server on 127.0.0.1."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from clawdesk.testing import Reply, ScriptedServer

from .conftest import KEY, MISTRAL_MODEL, SSE, mistral_body, sse_frame

# The child: a SyncClawdesk on the real Mistral plugin, pointed at the server given as argv[1].
CHILD = """
import sys
import clawdesk

config = clawdesk.parse_config(
    f'[providers.mistral]\\nbase_url = "{sys.argv[1]}/v1"\\nmax_retries = 0\\nverify_tls = false\\n'
    'timeout_secs = 600\\n'
)
if sys.argv[4] == "stream":
    # A stream read in a with block, interrupted while it waits for its next event.
    with clawdesk.SyncClawdesk(config=config, env={"MISTRAL_API_KEY": sys.argv[2]}) as cd:
        with cd.stream(sys.argv[3], "hi") as events:
            for event in events:
                print("event", flush=True)
    raise SystemExit(0)
elif sys.argv[4] == "with":
    # The usual script: the client closed by its with block, also when Ctrl-C interrupts the call.
    with clawdesk.SyncClawdesk(config=config, env={"MISTRAL_API_KEY": sys.argv[2]}) as cd:
        answer = cd.chat(sys.argv[3], "hi")
else:
    cd = clawdesk.SyncClawdesk(config=config, env={"MISTRAL_API_KEY": sys.argv[2]})
    answer = cd.chat(sys.argv[3], "hi")
    # No cd.close(): the interpreter must exit all the same.
print("answer:", answer.message.text, flush=True)
"""


def spawn(url: str, form: str) -> subprocess.Popen[str]:
    env = {**os.environ, "CLAWDESK_PLUGINS": "mistral"}
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, url, KEY, f"mistral/{MISTRAL_MODEL}", form],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def wait_for_request(server: ScriptedServer, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while not any(r.path == "/v1/chat/completions" for r in list(server.requests)):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the child never sent its request"
        time.sleep(0.05)


@pytest.mark.parametrize("form", ["with", "plain", "stream"])
def test_ctrl_c_during_chat_exits_promptly(server: ScriptedServer, form: str) -> None:
    """SIGINT while chat() waits on a stalled server ends the process within seconds, with KeyboardInterrupt."""
    stalled = Reply.stream([sse_frame("Hel")], content_type=SSE, stall_after=1) if form == "stream" else Reply.stall()
    server.route("POST", "/v1/chat/completions", stalled)
    proc = spawn(server.url, form)
    try:
        wait_for_request(server, proc)
        proc.send_signal(signal.SIGINT)
        # Before the fix, leaving the with block waited for the stalled call to finish: forever.
        out, err = proc.communicate(timeout=5)
    finally:
        proc.kill()
        proc.wait()
    assert "KeyboardInterrupt" in err
    assert proc.returncode != 0
    assert "answer:" not in out


def test_an_unclosed_client_does_not_keep_the_interpreter(server: ScriptedServer) -> None:
    """A script that never closes its SyncClawdesk ends (status 0) once its last line has run."""
    server.route("POST", "/v1/chat/completions", Reply.json(json.loads(mistral_body("Bonjour"))))
    proc = spawn(server.url, "plain")
    try:
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 0, err
    assert "answer: Bonjour" in out
