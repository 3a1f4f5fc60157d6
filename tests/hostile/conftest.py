"""Fixtures for the hostile-plugin and hostile-input tests: core/tests' own, loaded from there.

Test directories are not packages (pytest runs with --import-mode=importlib), so
core/tests/conftest.py is loaded by path and its fixtures re-exported here.
"""

from __future__ import annotations

import sys

_core = sys.modules["clawdesk_tests_core_conftest"]  # loaded by tests/conftest.py
fakedist = _core.fakedist
_clean_env = _core._clean_env
fake_site = _core.fake_site
