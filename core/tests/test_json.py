"""``loads_json``: msgspec's speed with ``json.loads``'s results exactly, and the stdlib alone without msgspec."""

from __future__ import annotations

import builtins
import importlib
import json
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import clawdesk._wire._json as json_module
from clawdesk.provider import loads_json

# Any JSON value: what backends send, in every shape (big ints and odd floats included).
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**130), max_value=2**130)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5),
    max_leaves=20,
)


def _same(a: Any, b: Any) -> bool:
    """Equal values of equal types all the way down (1 == 1.0 == True is not good enough)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return bool(a == b)


def test_msgspec_is_the_decoder() -> None:
    """With msgspec installed (a dependency of core) the fast decoder is in use, not json.loads itself."""
    assert loads_json is not json.loads


@given(json_values, st.booleans(), st.booleans())
def test_same_values_as_json_loads(value: Any, ascii_only: bool, as_bytes: bool) -> None:
    """Any JSON text, as str or UTF-8 bytes, decodes to exactly what json.loads gives."""
    text = json.dumps(value, ensure_ascii=ascii_only)
    data: str | bytes = text.encode() if as_bytes else text
    assert _same(loads_json(data), json.loads(data))


@pytest.mark.parametrize(
    "text",
    [
        "NaN",
        "[Infinity, -Infinity]",
        '"\\ud800"',  # a lone surrogate escape
        '{"a": "\\udc00x"}',
        "1e400",  # beyond a float: inf for the stdlib
        "123456789012345678901234567890123456789",
        '{"a": 1, "a": 2}',
        "\ufeff{}",  # a byte-order mark
        " \t\n[1, 2.5e-3, -0, -0.0]\n",
    ],
)
def test_what_msgspec_refuses_goes_to_the_stdlib(text: str) -> None:
    """Inputs msgspec refuses or reads differently get json.loads's answer, error or value, as before."""
    try:
        expected: Any = json.loads(text)
    except ValueError as exc:
        with pytest.raises(type(exc)):
            loads_json(text)
        return
    assert _same(loads_json(text), expected)


@given(st.text(alphabet=st.sampled_from('{}[]",:0123456789.eE+- \t\n\\tnulrsfa\u00e9'), max_size=30))
def test_any_text_decodes_or_fails_as_the_stdlib_does(text: str) -> None:
    """For arbitrary (mostly broken) text: a value equal to json.loads's, or a ValueError where it raises one."""
    try:
        expected: Any = json.loads(text)
    except ValueError:
        with pytest.raises(ValueError):
            loads_json(text)
        return
    assert _same(loads_json(text), expected)


def test_bytes_that_are_not_utf8_fail_as_with_the_stdlib() -> None:
    """Invalid UTF-8 raises the stdlib's UnicodeDecodeError (a ValueError), which callers already catch."""
    with pytest.raises(ValueError):
        loads_json(b'{"a": "\xff"}')


def test_without_msgspec_it_is_json_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    """On a platform without msgspec the module falls back to json.loads itself, and decodes correctly."""
    real_import = builtins.__import__

    def no_msgspec(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "msgspec" or name.startswith("msgspec."):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_msgspec)
    try:
        reloaded = importlib.reload(json_module)
        assert reloaded.loads_json is json.loads
        assert reloaded.loads_json('{"a": [1, NaN]}')["a"][0] == 1
    finally:
        monkeypatch.undo()
        importlib.reload(json_module)
