"""Core's shape: no import circles, and nothing of any one vendor in it."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "clawdesk"
#: Vendors and backends that belong in plugins, never in core.
VENDORS = re.compile(
    r"(?<![a-z])(mistral|ollama|openai|anthropic|claude|gemini|google|bedrock|amazon|aws|groq|deepseek|"
    r"together|openrouter|vllm|llama|magistral|codestral|gpt)(?![a-z])",
    re.IGNORECASE,
)


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted(SRC.rglob("*.py")):
        parts = path.relative_to(SRC.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def import_time_edges(name: str, path: Path, known: set[str]) -> set[str]:
    """The modules of clawdesk that importing ``name`` imports at once (not inside functions or TYPE_CHECKING)."""
    tree = ast.parse(path.read_text())
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    edges: set[str] = set()

    def visit(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, ast.If):
                if not _is_type_checking(node):
                    visit(node.body)
                    visit(node.orelse)
            elif isinstance(node, ast.Try):
                visit(node.body)
            elif isinstance(node, ast.Import):
                edges.update(a.name for a in node.names if a.name in known)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")
                    anchor = anchor[: len(anchor) - node.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                for alias in node.names:
                    full = f"{base}.{alias.name}"
                    edges.add(full if full in known else base)

    visit(tree.body)
    # A package importing its own submodules is how packages work; the reverse is a circle.
    return {e for e in edges if e in known and e != name}


def test_core_has_no_import_circles() -> None:
    """Importing any core module never needs, at import time, a module that needs it back."""
    found = modules()
    graph = {name: import_time_edges(name, path, set(found)) for name, path in found.items()}
    state: dict[str, int] = {}
    stack: list[str] = []

    def walk(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if nxt.startswith(node + "."):
                continue  # a package importing its submodule
            if state.get(nxt) == 1:
                cycle = [*stack[stack.index(nxt) :], nxt]
                pytest.fail("import circle: " + " -> ".join(cycle))
            if nxt not in state:
                walk(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            walk(node)


def test_the_engine_does_not_know_the_client() -> None:
    """The fallback engine knows the client only through the Caller protocol, never by import."""
    assert "_client" not in modules()["clawdesk._fallback"].read_text()


def _docstrings(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                ids.add(id(body[0].value))
    return ids


def vendor_words(path: Path) -> list[str]:
    """Vendor names in code: identifiers and string literals, docstrings and comments left out."""
    tree = ast.parse(path.read_text())
    skip = _docstrings(tree)
    hits = []
    for node in ast.walk(tree):
        texts: list[str] = []
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
            texts.append(node.value)
        elif isinstance(node, ast.Name):
            texts.append(node.id)
        elif isinstance(node, ast.Attribute):
            texts.append(node.attr)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            texts.append(node.name)
        elif isinstance(node, ast.arg):
            texts.append(node.arg)
        for text in texts:
            hits += [
                f"{path.relative_to(SRC)}:{getattr(node, 'lineno', '?')}: {m.group(0)}" for m in VENDORS.finditer(text)
            ]
    return hits


def test_core_names_no_vendor() -> None:
    """No provider name or vendor field in core's code, with no exception: what is one backend's lives in its
    plugin, and a wire several plugins share in a library of its own (clawdesk-openai-compat)."""
    hits = [hit for path in modules().values() for hit in vendor_words(path)]
    assert hits == []
