"""The real-server tier: llama.cpp's llama-server with SmolLM2-135M-Instruct, started once per session.

Everything comes from ``scripts/local_llm.py`` (standard library only, so it is loaded by
path): :func:`local_llm.ensure_installed` installs the pinned server and model (a no-op in
~0.1 s when ``scripts/test.sh`` already ran ``local_llm.py install``), and
:func:`local_llm.running_server` starts the server on a free port of 127.0.0.1 and stops it
at the end of the session.

Where the CPU cannot run the prebuilt llama-server (no AVX-512/AVX-VNNI, or not x86-64),
``ensure_installed`` builds it from source, which takes minutes the first time. Where the machine
cannot run it at all (not Linux, no cmake or compiler for that build, no package index),
every test of the tier is skipped with one sentence saying why, unless
``CLAWDESK_REQUIRE_REAL_SERVER=1``: then they fail, so that CI on a machine that should run
the tier cannot pass without it. Any other failure (a digest mismatch, a server that dies
while starting) is an error either way.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any, NoReturn

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "local_llm.py"
REQUIRE_ENV = "CLAWDESK_REQUIRE_REAL_SERVER"


def load_local_llm() -> ModuleType:
    """``scripts/local_llm.py`` as the module ``local_llm`` (scripts/ is not a package)."""
    loaded = sys.modules.get("local_llm")
    if loaded is not None:
        return loaded
    spec = importlib.util.spec_from_file_location("local_llm", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["local_llm"] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


def cannot_run(reason: str) -> NoReturn:
    """Skip (or, with CLAWDESK_REQUIRE_REAL_SERVER=1, fail) the tier with one sentence."""
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{REQUIRE_ENV}=1 but the real-server tier cannot run here: {reason}", pytrace=False)
    pytest.skip(f"The real-server tier cannot run here: {reason}")


@pytest.fixture(scope="session")
def local_llm() -> ModuleType:
    """The ``scripts/local_llm.py`` module."""
    return load_local_llm()


@pytest.fixture(scope="session")
def llm_installation(local_llm: ModuleType) -> Any:
    """The installed server and model (``local_llm.Installation``); skips the tier where it cannot run."""
    try:
        return local_llm.ensure_installed(quiet=True)
    except local_llm.CannotRun as e:
        cannot_run(str(e))


@pytest.fixture(scope="session")
def llm_url(local_llm: ModuleType, llm_installation: Any) -> Iterator[str]:
    """The OpenAI base URL (``http://127.0.0.1:PORT/v1``) of a llama-server running for this session."""
    with local_llm.running_server(llm_installation.root) as url:
        yield url


@pytest.fixture
def linked_installation(llm_installation: Any, tmp_path: Path) -> Path:
    """A fresh install folder whose server and model are symlinks to the real ones.

    ``start``/``stop`` keep their state in ``DIR/run``; tests use this so they never touch
    a server that a developer started in the default folder.
    """
    real: Path = llm_installation.root
    root = tmp_path / "local-llm"
    root.mkdir()
    (root / "server").symlink_to(real / "server", target_is_directory=True)
    (root / "model").symlink_to(real / "model", target_is_directory=True)
    return root
