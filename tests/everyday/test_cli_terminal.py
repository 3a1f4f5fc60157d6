"""The CLI on a real terminal (a pseudo-terminal): the interactive session, the spinner, dimmed reasoning.

Each test runs ``python -m clawdesk`` with its stdin, stdout and stderr on
separate pseudo-terminals (or pipes, to see what changes when piped) and
reads what the user would see.
"""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time
from typing import Any

import pytest
from everyday_wire import MODEL, mistral_stream, thinking

from clawdesk.testing import ScriptedServer

pytestmark = [
    pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals are POSIX"),
    pytest.mark.slow,
]

SPINNER = set("⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏|/-\\")


class Terminal:
    """A ``clawdesk`` process whose standard streams are pseudo-terminals (``tty=False``: pipes)."""

    def __init__(self, args: list[str], env: dict[str, str], *, stdin: bool, stdout: bool, stderr: bool) -> None:
        import pty

        self.buffers: dict[str, bytearray] = {"stdout": bytearray(), "stderr": bytearray()}
        self._masters: dict[int, str] = {}
        self._ptys: list[int] = []
        slaves = []
        ends: dict[str, Any] = {}
        for name, tty in (("stdin", stdin), ("stdout", stdout), ("stderr", stderr)):
            if tty:
                master, slave = pty.openpty()
                slaves.append(slave)
                self._ptys.append(master)
                ends[name] = slave
                if name == "stdin":
                    self.keyboard = master
                else:
                    self._masters[master] = name
            else:
                ends[name] = subprocess.DEVNULL if name == "stdin" else subprocess.PIPE
        self.buffers["tty"] = bytearray()
        if stdin:
            self._masters[self.keyboard] = "tty"  # what the program writes to /dev/tty (getpass's prompt)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "clawdesk", *args],
            stdin=ends["stdin"],
            stdout=ends["stdout"],
            stderr=ends["stderr"],
            env={**env, "TERM": "xterm", "PYTHONIOENCODING": "utf-8"},
            # The keyboard's terminal becomes the program's controlling terminal (/dev/tty, Ctrl-C),
            # never the terminal the tests run in.
            preexec_fn=_own_terminal if stdin else None,
            start_new_session=not stdin,
        )
        for slave in slaves:
            os.close(slave)
        for name in ("stdout", "stderr"):
            pipe = getattr(self.proc, name)
            if pipe is not None:
                self._masters[pipe.fileno()] = name

    def _pump(self, seconds: float) -> None:
        ready, _, _ = select.select(list(self._masters), [], [], seconds)
        for fd in ready:
            try:
                data = os.read(fd, 65536)
            except OSError:  # EIO: the terminal's other side is closed
                data = b""
            if data:
                self.buffers[self._masters[fd]] += data
            else:
                del self._masters[fd]

    def text(self, name: str) -> str:
        """What was written to ``stdout``, ``stderr`` or the controlling terminal (``tty``), newlines as ``\\n``."""
        return self.buffers[name].decode("utf-8", "replace").replace("\r\n", "\n")

    def wait_for(self, name: str, needle: str, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while needle not in self.text(name):
            assert time.monotonic() < deadline, f"{needle!r} never came; {name}: {self.text(name)!r}"
            self._pump(0.05)

    def type(self, text: str) -> None:
        os.write(self.keyboard, text.encode())

    def finish(self, timeout: float = 20) -> int:
        deadline = time.monotonic() + timeout
        while self._masters and time.monotonic() < deadline:
            self._pump(0.05)
            if self.proc.poll() is not None:
                self._pump(0.05)
                if not select.select(list(self._masters), [], [], 0)[0]:
                    break
        try:
            return self.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            for fd in self._ptys:
                os.close(fd)
            self._ptys = []


def _own_terminal() -> None:
    import fcntl
    import termios

    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


@pytest.fixture
def on_terminal(cli: Any) -> Any:
    """Start ``clawdesk ARGS`` with the chosen streams on terminals, in the test's environment."""
    started: list[Terminal] = []

    def start(*args: str, stdin: bool = False, stdout: bool = True, stderr: bool = True) -> Terminal:
        terminal = Terminal(list(args), cli.env(), stdin=stdin, stdout=stdout, stderr=stderr)
        started.append(terminal)
        return terminal

    yield start
    for terminal in started:
        if terminal.proc.poll() is None:
            terminal.proc.kill()
            terminal.proc.wait()


# -- the interactive session -----------------------------------------------------------------------------


def test_interactive_session_keeps_the_conversation(cli: Any, mistral: ScriptedServer, on_terminal: Any) -> None:
    """No prompt on a terminal: a session where each turn sends the earlier ones; `exit` leaves with status 0."""
    cli.configure(mistral=mistral.url + "/v1")
    mistral.add(mistral_stream("Paris."), mistral_stream("About 2.1 million."))
    term = on_terminal("chat", "-m", f"mistral/{MODEL}", stdin=True)
    term.wait_for("stdout", "Type 'exit' or press Ctrl-D to leave.")
    term.wait_for("stdout", "> ")
    term.type("Capital of France?\n")
    term.wait_for("stdout", "Paris.")
    term.type("How many people live there?\n")
    term.wait_for("stdout", "About 2.1 million.")
    term.type("exit\n")
    assert term.finish() == 0
    assert [m["content"] for m in mistral.requests[1].json()["messages"]] == [
        "Capital of France?",
        "Paris.",
        "How many people live there?",
    ]
    # Both turns are one conversation in the log, so `chat -c` can pick it up later.
    listed = cli("logs", "--json", "-n", "0")
    assert listed.out.count('"conversation_id"') == 2
    mistral.add(mistral_stream("Yes."))
    assert cli("chat", "-c", "Is it big?").status == 0
    assert [m["content"] for m in mistral.requests[2].json()["messages"]][-3:] == [
        "How many people live there?",
        "About 2.1 million.",
        "Is it big?",
    ]


def test_ctrl_d_leaves_the_session(cli: Any, mistral: ScriptedServer, on_terminal: Any) -> None:
    """Ctrl-D at the prompt ends the session cleanly (status 0), sending nothing."""
    cli.configure(mistral=mistral.url + "/v1")
    term = on_terminal("chat", "-m", f"mistral/{MODEL}", stdin=True)
    term.wait_for("stdout", "> ")
    term.type("\x04")
    assert term.finish() == 0
    assert mistral.requests == []
    assert "Traceback" not in term.text("stderr")


def test_an_error_does_not_end_the_session(cli: Any, mistral: ScriptedServer, on_terminal: Any) -> None:
    """A failed turn prints its one error line; the next turn works and does not include the failed one."""
    from clawdesk.testing import Reply

    cli.configure(mistral=mistral.url + "/v1")
    mistral.add(Reply.json({"message": "overloaded"}, status=500), mistral_stream("Fine now."))
    term = on_terminal("chat", "-m", f"mistral/{MODEL}", stdin=True)
    term.wait_for("stdout", "> ")
    term.type("first\n")
    term.wait_for("stderr", "clawdesk: error:")
    term.type("second\n")
    term.wait_for("stdout", "Fine now.")
    term.type("quit\n")
    assert term.finish() == 0
    assert [m["content"] for m in mistral.requests[1].json()["messages"]] == ["second"]


# -- the spinner and reasoning ------------------------------------------------------------------------------


def slow_answer() -> Any:
    """An answer whose first token takes a while (so a spinner has time to turn)."""
    return mistral_stream("Slow", " answer.", delay=0.3)


def test_spinner_turns_on_stderr_until_the_first_token(cli: Any, mistral: ScriptedServer, on_terminal: Any) -> None:
    """On a terminal a spinner turns on stderr while waiting, and is erased before the answer is shown."""
    cli.configure(mistral=mistral.url + "/v1")
    mistral.add(slow_answer())
    term = on_terminal("chat", "-m", f"mistral/{MODEL}", "q")
    assert term.finish() == 0
    err = term.text("stderr")
    frames = [part[:1] for part in err.split("\r") if part]
    assert len([f for f in frames if f in SPINNER]) >= 3, err
    assert err.endswith("\r\x1b[K")
    assert term.text("stdout") == "Slow answer.\n"


@pytest.mark.parametrize(
    ("args", "streams"),
    [([], {"stdout": False}), (["--json"], {}), ([], {"stderr": False})],
    ids=["stdout-piped", "json", "stderr-piped"],
)
def test_no_spinner_when_piped_or_json(
    cli: Any, mistral: ScriptedServer, on_terminal: Any, args: list[str], streams: dict[str, bool]
) -> None:
    """Piped output or --json: nothing but the answer (no spinner frames, no escape sequences)."""
    cli.configure(mistral=mistral.url + "/v1")
    mistral.add(slow_answer())
    term = on_terminal("chat", "-m", f"mistral/{MODEL}", *args, "q", **streams)
    assert term.finish() == 0
    assert term.text("stderr") == ""
    assert "\x1b" not in term.text("stdout")


def test_reasoning_is_dimmed_on_a_terminal(cli: Any, mistral: ScriptedServer, on_terminal: Any) -> None:
    """On a terminal the reasoning comes first, dimmed, then a blank line and the answer (stderr stays clean)."""
    cli.configure(mistral=mistral.url + "/v1")
    mistral.add(mistral_stream(thinking("Light scatters."), "Rayleigh."))
    term = on_terminal("chat", "-m", f"mistral/{MODEL}", "q", stderr=False)
    assert term.finish() == 0
    assert term.text("stdout") == "\x1b[2mLight scatters.\x1b[22m\n\nRayleigh.\n"


def test_no_color_sends_reasoning_to_stderr(
    cli: Any, mistral: ScriptedServer, on_terminal: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With NO_COLOR the reasoning is not dimmed: it goes to stderr, plain, and stdout gets the answer alone."""
    monkeypatch.setenv("NO_COLOR", "1")
    cli.configure(mistral=mistral.url + "/v1")
    mistral.add(mistral_stream(thinking("Light scatters."), "Rayleigh."))
    term = on_terminal("chat", "-m", f"mistral/{MODEL}", "q")
    assert term.finish() == 0
    assert term.text("stdout") == "Rayleigh.\n"
    assert term.text("stderr").rsplit("\r\x1b[K", 1)[-1] == "Light scatters.\n"


def test_ctrl_c_ends_the_session_with_130(cli: Any, mistral: ScriptedServer, on_terminal: Any) -> None:
    """Ctrl-C at the prompt leaves with exit status 130 and one line, no traceback."""
    cli.configure(mistral=mistral.url + "/v1")
    term = on_terminal("chat", "-m", f"mistral/{MODEL}", stdin=True)
    term.wait_for("stdout", "> ")
    # A Ctrl-C that lands between the prompt and readline's wait is only seen at the next key, as in
    # a real terminal; press it again until the program has noticed (a person would, too).
    for _ in range(20):
        term.type("\x03")
        time.sleep(0.25)
        if term.proc.poll() is not None:
            break
    assert term.finish() == 130
    assert term.text("stderr").strip().splitlines()[-1] == "clawdesk: interrupted"
    assert "Traceback" not in term.text("stderr")


def test_keys_set_reads_the_key_without_echo(cli: Any, on_terminal: Any) -> None:
    """On a terminal `keys set` asks at a hidden prompt: the key is saved and never shown."""
    import json

    secret = "sk-typed-at-the-prompt-31415"
    term = on_terminal("keys", "set", "mistral", stdin=True)
    term.wait_for("tty", "Enter key: ")
    term.type(secret + "\n")
    assert term.finish() == 0
    assert json.loads((cli.home / "keys.json").read_text())["mistral"] == secret
    for name in ("stdout", "stderr", "tty"):
        assert secret not in term.text(name)
