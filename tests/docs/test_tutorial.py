"""The tutorial "Write a provider" runs: every code block, in order, and the package it builds passes the kit.

Blocks whose first line is ``# file: PATH`` are appended to that file of a
temporary package; other ``python`` blocks are executed in one shared
namespace, in order, with the package's ``src`` importable; ``toml`` blocks
without a file are parsed as clawdesk configuration. Any other block fails the
test, so a block cannot be added that nobody runs.
"""

from __future__ import annotations

import importlib
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from docs_blocks import DOCS, FILE_HEADER, fenced_blocks

from clawdesk import parse_config

TUTORIAL = DOCS / "tutorial.md"


def test_fence_parser_finds_blocks(tmp_path: Path) -> None:
    """The block extractor finds each fenced block with its language, line and text, and nothing else."""
    page = tmp_path / "page.md"
    page.write_text("intro\n\n```python\nx = 1\n```\n\n    indented\n\n```toml\na = 1\n```\n")
    assert fenced_blocks(page) == [(3, "python", "x = 1\n"), (9, "toml", "a = 1\n")]


@pytest.fixture
def importable(tmp_path: Path) -> Iterator[Path]:
    """A package folder whose ``src`` is importable for the test; modules from it are forgotten afterwards."""
    src = tmp_path / "clawdesk-quill" / "src"
    src.mkdir(parents=True)
    sys.path.insert(0, str(src))
    try:
        yield src.parent
    finally:
        sys.path.remove(str(src))
        _forget("clawdesk_quill")


def _forget(package: str) -> None:
    for name in [n for n in sys.modules if n == package or n.startswith(package + ".")]:
        del sys.modules[name]
    importlib.invalidate_caches()


@pytest.mark.slow
@pytest.mark.timeout(600)  # pip install and a whole test run in subprocesses
def test_tutorial_blocks_run_and_the_package_passes_the_kit(
    importable: Path, tmp_path: Path, private_install: Any
) -> None:
    """Each tutorial block runs in order; the resulting package installs, is listed and passes its kit tests."""
    blocks = fenced_blocks(TUTORIAL)
    assert blocks, "the tutorial has no code blocks"
    namespace: dict[str, object] = {"__name__": "tutorial"}
    files: set[str] = set()
    executed = 0
    changed = False
    for line, language, text in blocks:
        where = f"{TUTORIAL.name}:{line}"
        header = FILE_HEADER.match(text)
        if header and language in ("python", "toml"):
            target = importable / header.group(1)
            target.parent.mkdir(parents=True, exist_ok=True)
            with target.open("a", encoding="utf-8") as out:
                out.write(text[header.end() :])
            files.add(header.group(1))
            changed = changed or header.group(1).startswith("src/")
        elif language == "python":
            if changed:  # a later import must see the file as it is now
                _forget("clawdesk_quill")
                changed = False
            exec(compile(text, where, "exec"), namespace)
            executed += 1
        elif language == "toml":
            parse_config(text, source=where)
        else:
            pytest.fail(f"{where}: a ```{language} block that the docs tests do not run")
    assert executed >= 5
    assert {"pyproject.toml", "src/clawdesk_quill/_plugin.py", "tests/test_conformance.py"} <= files
    project = tomllib.loads((importable / "pyproject.toml").read_text())
    assert project["project"]["entry-points"]["clawdesk.providers"] == {"quill": "clawdesk_quill._plugin"}

    private_install.install(importable)
    listed = private_install.plugins()
    assert listed["quill"]["status"] == "ok", listed.get("quill")
    private_install.pytest(importable, "tests")
