"""Fixtures for the hostile-plugin and hostile-input tests: core/tests' own, loaded from there.

Test directories are not packages (pytest runs with --import-mode=importlib), so
core/tests/conftest.py is loaded by path and its fixtures re-exported here.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType


def _load_core_conftest() -> ModuleType:
    name = "clawdesk_tests_core_conftest"
    if name not in sys.modules:
        path = Path(__file__).parents[2] / "core" / "tests" / "conftest.py"
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


_core = _load_core_conftest()
fakedist = _core.fakedist
_clean_env = _core._clean_env
fake_site = _core.fake_site
