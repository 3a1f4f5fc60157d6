"""Fixtures for core's tests: fake plugin distributions and a clean environment."""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from clawdesk.testing import RedisServer, redis_server_path


def _load_fakedist() -> ModuleType:
    # Test directories are not packages (pytest runs with --import-mode=importlib),
    # so the helper is loaded by path, once, and shared with tests/hostile.
    name = "clawdesk_tests_fakedist"
    if name not in sys.modules:
        path = Path(__file__).parent / "plugins_fixtures" / "fakedist.py"
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


fakedist = _load_fakedist()


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """No test sees the developer's config file, plugin filter or API keys."""
    for var in (
        "CLAWDESK_PLUGINS",
        "CLAWDESK_CONFIG",
        "CLAWDESK_PLUGIN_IMPORT_TIMEOUT",
        "CLAWDESK_REDIS_URL",
        "CLAWDESK_STATE_BACKEND",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("xdg-config")))


@pytest.fixture
def fake_site(tmp_path: Path) -> Iterator[object]:
    """A directory on sys.path where a test writes fake plugin distributions (see plugins_fixtures/fakedist.py)."""
    yield from fakedist.fake_site(tmp_path / "site")


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    """A fresh redis-server on a loopback port (skipped where it is not installed, a failure on CI)."""
    if redis_server_path() is None:
        if os.environ.get("CI"):
            pytest.fail("redis-server is not installed: .ci/run installs it")
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    with RedisServer() as server:
        yield server
