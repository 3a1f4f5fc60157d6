"""Fixtures for the hostile-plugin and hostile-input tests (shared with core/tests)."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest


def _load_fakedist() -> ModuleType:
    name = "clawdesk_tests_fakedist"
    if name not in sys.modules:
        path = Path(__file__).parents[2] / "core" / "tests" / "plugins_fixtures" / "fakedist.py"
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
    for var in ("CLAWDESK_PLUGINS", "CLAWDESK_CONFIG", "CLAWDESK_PLUGIN_IMPORT_TIMEOUT"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("xdg-config")))


@pytest.fixture
def fake_site(tmp_path: Path) -> Iterator[object]:
    """A directory on sys.path where a test writes fake plugin distributions."""
    yield from fakedist.fake_site(tmp_path / "site")
