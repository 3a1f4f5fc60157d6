"""Settings shared by every test directory of the repository."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

# CI machines have 2 cores and may be busy: no deadline per example, fewer
# examples than locally unless asked for more.
settings.register_profile("ci", deadline=None, max_examples=60, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", deadline=None, max_examples=100)
settings.load_profile("ci" if os.environ.get("CI") else os.environ.get("HYPOTHESIS_PROFILE", "dev"))


def pytest_configure(config: pytest.Config) -> None:
    """Subprocesses get /dev/null on stdin when the test run's own stdin is a pipe or a socket.

    ``clawdesk chat PROMPT`` reads piped stdin to its end (piped text, then the
    prompt, as ``llm`` does); a CLI test spawned without ``stdin=`` inherits
    the run's stdin, which under some CI runners is a pipe nobody ever closes.
    """
    try:
        mode = os.fstat(0).st_mode
    except OSError:
        return
    if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.close(devnull)


@pytest.fixture(autouse=True)
def _clawdesk_home(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Every test gets its own clawdesk home: the CLI's keys file and log database are never the user's."""
    monkeypatch.setenv("CLAWDESK_HOME", str(tmp_path_factory.mktemp("clawdesk-home")))


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Run every ``pytest.mark.anyio`` test on asyncio and on trio."""
    return str(request.param)


class PrivateInstall:
    """Provider packages installed into a private site folder that only subprocesses given ``env`` see.

    Other tests run in the same virtualenv at the same time; installing into it would
    make them see an extra plugin. This is how the tutorial and scaffold tests install
    the packages they generate, like a user's ``pip install``.
    """

    def __init__(self, site: Path) -> None:
        self.site = site
        path = os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))
        self.env = {**os.environ, "PYTHONPATH": path}
        self.env.pop("CLAWDESK_PLUGINS", None)

    def install(self, package: Path) -> None:
        """``pip install --target`` the package at ``package`` (its dependencies are already here)."""
        pip = self.run(
            [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(self.site), str(package)]
        )
        assert pip.returncode == 0, pip.stdout + pip.stderr

    def plugins(self) -> dict[str, dict[str, Any]]:
        """``clawdesk plugins --json`` as seen with the private folder, by plugin name."""
        listed = self.run([sys.executable, "-m", "clawdesk", "plugins", "--json"], timeout=60)
        assert listed.returncode == 0, listed.stderr
        return {p["name"]: p for p in json.loads(listed.stdout)}

    def pytest(self, package: Path, *args: str) -> subprocess.CompletedProcess[str]:
        """Run the package's own tests; asserts they passed, none failed."""
        tests = self.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args], cwd=package)
        assert tests.returncode == 0, tests.stdout[-4000:] + tests.stderr[-2000:]
        assert " passed" in tests.stdout
        assert "failed" not in tests.stdout
        return tests

    def run(self, cmd: list[str], *, cwd: Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=self.env, check=False)


@pytest.fixture
def private_install(tmp_path: Path) -> PrivateInstall:
    """A :class:`PrivateInstall` in this test's temporary directory."""
    return PrivateInstall(tmp_path / "private-site")
