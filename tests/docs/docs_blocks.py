"""Reading fenced code blocks out of the markdown docs (shared by the docs tests)."""

from __future__ import annotations

import re
from pathlib import Path

DOCS = Path(__file__).resolve().parents[2] / "docs"
FENCE = re.compile(r"^```([\w-]*)[^\n]*\n(.*?)^```[ \t]*$", re.M | re.S)
#: A block that is part of a file of the tutorial's package starts with this line.
FILE_HEADER = re.compile(r"# file: (\S+)\n")


def fenced_blocks(path: Path) -> list[tuple[int, str, str]]:
    """Every fenced block of a markdown file as ``(line, language, text)``, in order."""
    text = path.read_text(encoding="utf-8")
    return [(text.count("\n", 0, m.start()) + 1, m.group(1), m.group(2)) for m in FENCE.finditer(text)]
