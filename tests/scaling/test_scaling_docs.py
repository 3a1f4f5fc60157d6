"""docs/scaling.md stays true: its examples are valid, its key tables list every key with its default."""

from __future__ import annotations

import re
from pathlib import Path

import attrs
import pytest

from clawdesk import RateLimit, StateConfig, parse_config

PAGE = Path(__file__).resolve().parents[2] / "docs" / "scaling.md"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.M | re.S)


def _blocks() -> list[tuple[str, str]]:
    return [(m.group(1), m.group(2)) for m in FENCE.finditer(PAGE.read_text(encoding="utf-8"))]


def test_every_example_is_a_valid_config_or_program() -> None:
    """Each toml block parses as a config (with a Redis state or a budget in it); each python block compiles."""
    blocks = _blocks()
    assert {language for language, _ in blocks} == {"toml", "python"}
    for language, text in blocks:
        if language == "toml":
            config = parse_config(text, source="scaling.md")
            assert config.state.backend == "redis" or config.fallback.limits
        else:
            compile(text, "scaling.md", "exec")


def _shown(default: object) -> str:
    if default is None:
        return "none"
    if isinstance(default, str):
        return f'`"{default}"`'
    return f"`{default}`"


@pytest.mark.parametrize(("heading", "cls"), [("## Rate budgets", RateLimit), ("## `[state]` keys", StateConfig)])
def test_the_key_tables_list_every_key_with_its_default(heading: str, cls: type[object]) -> None:
    """Every field of RateLimit and StateConfig has a row under its heading showing its default."""
    text = PAGE.read_text(encoding="utf-8")
    start = text.index(heading)
    section = text[start : text.index("\n## ", start + 1)]
    instance = cls()
    for field in attrs.fields(cls):  # type: ignore[arg-type]
        row = next((line for line in section.splitlines() if line.startswith(f"| `{field.name}` |")), None)
        assert row is not None, f"{field.name} has no row under {heading}"
        assert _shown(getattr(instance, field.name)) in row, f"{field.name}: the default is not shown"


def test_the_benchmark_table_is_filled_in() -> None:
    """The cost table holds measured numbers, not a placeholder."""
    text = PAGE.read_text(encoding="utf-8")
    assert "BENCHMARK_TABLE" not in text
    assert "| asyncio | redis |" in text
    assert "| trio | redis+budget |" in text
