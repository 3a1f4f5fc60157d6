"""Shared by the folders under tests/: core/tests/conftest.py, loaded once by path.

Test directories are not packages (pytest runs with --import-mode=importlib),
so a folder that wants core's fixtures (``fake_site``, ``_clean_env``) or its
helpers (``fakedist``) takes them from ``sys.modules[CORE_CONFTEST]``, which
this file fills before any folder's own conftest runs.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

CORE_CONFTEST = "clawdesk_tests_core_conftest"

if CORE_CONFTEST not in sys.modules:
    _spec = importlib.util.spec_from_file_location(CORE_CONFTEST, Path(__file__).parents[1] / "core/tests/conftest.py")
    assert _spec is not None
    assert _spec.loader is not None
    _module = importlib.util.module_from_spec(_spec)
    sys.modules[CORE_CONFTEST] = _module
    _spec.loader.exec_module(_module)
