"""JSON Schema, both ways: a schema from Python types, and checking a JSON value against a schema.

Used by structured output (:meth:`Clawdesk.chat_structured`) and by tool
functions (:func:`~clawdesk.function_tool`), and small enough to need no
dependency.

:func:`schema_for` describes a type: ``str``, ``int``, ``float``, ``bool``,
``None``, ``list[T]``/``tuple[T, ...]``/``Sequence[T]``, ``dict[str, T]``/
``Mapping[str, T]``, ``Literal[...]``, :class:`enum.Enum` subclasses,
unions (``T | None``), ``Annotated[T, "description"]``, ``Any``, and attrs
classes (an object with one property per field, fields without a default
required, no other properties allowed).

:func:`check` validates a value against a Draft 2020-12 schema and returns
every problem as ``$.path: what is wrong``. It checks ``type``, ``enum``,
``const``, ``properties``, ``required``, ``additionalProperties``,
``patternProperties``, ``propertyNames``, ``minProperties``,
``maxProperties``, ``dependentRequired``, ``items``, ``prefixItems``,
``contains``/``minContains``/``maxContains``, ``minItems``, ``maxItems``,
``uniqueItems``, ``minLength``, ``maxLength``, ``pattern``, ``minimum``,
``maximum``, ``exclusiveMinimum``, ``exclusiveMaximum``, ``multipleOf``,
``allOf``, ``anyOf``, ``oneOf``, ``not``, ``if``/``then``/``else`` and local
``$ref`` (``#``, ``#/$defs/...``, ``#/definitions/...``). Annotations
(``title``, ``description``, ``default``, ``examples``, ``format``, ...) are
not assertions and are left alone. A schema that uses an assertion keyword
outside that list (``unevaluatedProperties``, a remote ``$ref``, ...) is
refused by :func:`unsupported` rather than half checked.
"""

from __future__ import annotations

import enum
import re
import types
import typing
from collections.abc import Mapping, Sequence
from fractions import Fraction
from typing import Any

import attrs

__all__ = ["check", "schema_for", "unsupported"]

_CHECKED = frozenset(
    {
        "type",
        "enum",
        "const",
        "properties",
        "required",
        "additionalProperties",
        "patternProperties",
        "propertyNames",
        "minProperties",
        "maxProperties",
        "dependentRequired",
        "items",
        "prefixItems",
        "contains",
        "minContains",
        "maxContains",
        "minItems",
        "maxItems",
        "uniqueItems",
        "minLength",
        "maxLength",
        "pattern",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "multipleOf",
        "allOf",
        "anyOf",
        "oneOf",
        "not",
        "if",
        "then",
        "else",
        "$ref",
    }
)
_ANNOTATIONS = frozenset(
    {
        "$schema",
        "$id",
        "$defs",
        "definitions",
        "$comment",
        "$anchor",
        "title",
        "description",
        "default",
        "examples",
        "format",
        "readOnly",
        "writeOnly",
        "deprecated",
        "contentEncoding",
        "contentMediaType",
        "nullable",
        "strict",
    }
)
# Keywords whose value is one schema, or a mapping / list of schemas, for walking a schema.
_ONE = ("additionalProperties", "propertyNames", "items", "contains", "not", "if", "then", "else")
_MAP = ("properties", "patternProperties", "$defs", "definitions")
_LIST = ("prefixItems", "allOf", "anyOf", "oneOf")


# -- schemas from types -----------------------------------------------------------------------------


def schema_for(hint: Any) -> dict[str, Any]:
    """The JSON schema of Python type ``hint`` (see the module docstring); ``TypeError`` for one it cannot describe."""
    return _schema(hint, ())


def _schema(hint: Any, seen: tuple[type, ...]) -> dict[str, Any]:
    if hint is Any or hint is object:
        return {}
    if hint is None or hint is type(None):
        return {"type": "null"}
    if hint is bool:
        return {"type": "boolean"}
    if hint is int:
        return {"type": "integer"}
    if hint is float:
        return {"type": "number"}
    if hint is str:
        return {"type": "string"}
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        values = [member.value for member in hint]
        return {"enum": values}
    if isinstance(hint, type) and attrs.has(hint):
        return _attrs_schema(hint, seen)
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is typing.Annotated:
        inner = _schema(args[0], seen)
        notes = [a for a in args[1:] if isinstance(a, str)]
        if notes:
            inner = {**inner, "description": " ".join(notes)}
        return inner
    if origin is typing.Literal:
        return {"enum": list(args)}
    if origin in (typing.Union, types.UnionType):
        options = [_schema(a, seen) for a in args]
        return {"anyOf": options}
    if origin in (list, Sequence, typing.Sequence, set, frozenset) or hint in (list, Sequence):
        items = _schema(args[0], seen) if args else {}
        schema: dict[str, Any] = {"type": "array", "items": items}
        if origin in (set, frozenset):
            schema["uniqueItems"] = True
        return schema
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return {"type": "array", "items": _schema(args[0], seen)}
        if args == ((),) or not args:
            return {"type": "array", "maxItems": 0}
        prefix = [_schema(a, seen) for a in args]
        return {"type": "array", "prefixItems": prefix, "items": False, "minItems": len(args)}
    if origin in (dict, Mapping, typing.Mapping) or hint in (dict, Mapping):
        if args and args[0] is not str:
            raise TypeError(f"cannot describe {hint!r} in JSON: object keys are strings")
        value = _schema(args[1], seen) if len(args) == 2 else {}
        return {"type": "object", "additionalProperties": value}
    raise TypeError(f"cannot describe {hint!r} as JSON schema")


def _attrs_schema(cls: type, seen: tuple[type, ...]) -> dict[str, Any]:
    if cls in seen:
        raise TypeError(f"{cls.__qualname__} contains itself; a recursive class has no finite schema here")
    try:
        hints = typing.get_type_hints(cls, include_extras=True)
    except Exception as exc:  # noqa: BLE001 - whatever stops the hints from resolving, the class cannot be described
        raise TypeError(f"the type hints of {cls.__qualname__} cannot be read: {type(exc).__name__}: {exc}") from None
    properties: dict[str, Any] = {}
    required: list[str] = []
    for field in attrs.fields(cls):
        if not field.init:
            continue
        name = field.alias or field.name
        properties[name] = _schema(hints.get(field.name, Any), (*seen, cls))
        if field.default is attrs.NOTHING:
            required.append(name)
    schema: dict[str, Any] = {"type": "object", "properties": properties, "required": required}
    schema["additionalProperties"] = False
    doc = (cls.__doc__ or "").strip()
    if doc and not doc.startswith(cls.__name__ + "("):  # attrs' generated docstrings say nothing
        schema["description"] = doc.split("\n\n")[0]
    return schema


# -- checking ---------------------------------------------------------------------------------------


def unsupported(schema: object) -> list[str]:
    """The assertion keywords in ``schema`` (anywhere in it) that :func:`check` does not check, sorted."""
    found: set[str] = set()
    _walk(schema, found)
    return sorted(found)


def _walk(schema: object, found: set[str]) -> None:
    if isinstance(schema, bool):
        return
    if not isinstance(schema, Mapping):
        found.add("<a schema that is not an object or a boolean>")
        return
    for key, value in schema.items():
        if key not in _CHECKED and key not in _ANNOTATIONS:
            found.add(str(key))
        if key == "$ref" and not (isinstance(value, str) and value.startswith("#")):
            found.add("$ref (not local)")
        if key in _ONE:
            _walk(value, found)
        elif key in _MAP and isinstance(value, Mapping):
            for inner in value.values():
                _walk(inner, found)
        elif key in _LIST and isinstance(value, list):
            for inner in value:
                _walk(inner, found)


def check(value: object, schema: object) -> list[str]:
    """Every way JSON ``value`` breaks ``schema``, as ``$.path: problem`` lines (empty: it is valid)."""
    problems: list[str] = []
    _check(value, schema, "$", schema, problems)
    return problems


_TYPES = {
    "null": "null",
    "boolean": "a boolean",
    "integer": "an integer",
    "number": "a number",
    "string": "a string",
    "array": "an array",
    "object": "an object",
}


def _is_type(value: object, name: str) -> bool:
    if name == "null":
        return value is None
    if name == "boolean":
        return isinstance(value, bool)
    if name == "integer":
        if isinstance(value, bool):
            return False
        return isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    if name == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if name == "string":
        return isinstance(value, str)
    if name == "array":
        return isinstance(value, list)
    if name == "object":
        return isinstance(value, dict)
    return False


def _describe(value: object) -> str:
    for name in ("null", "boolean", "integer", "number", "string", "array", "object"):
        if _is_type(value, name) and not (name == "integer" and isinstance(value, float)):
            kind = _TYPES[name]
            break
    else:
        kind = type(value).__name__
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        shown = repr(value)
        return f"{kind} ({shown if len(shown) <= 40 else shown[:37] + '...'})"
    return kind


def equal(a: object, b: object) -> bool:
    """JSON equality: ``true`` is not ``1``, ``1`` is ``1.0``, arrays and objects compare deeply."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(equal(a[k], b[k]) for k in a)
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    return type(a) is type(b) and a == b


def _resolve(ref: str, root: object) -> object:
    if ref == "#":
        return root
    if not ref.startswith("#/"):
        raise ValueError(f"$ref {ref!r}: only local references (#/...) are supported")
    node = root
    for token in ref[2:].split("/"):
        key = token.replace("~1", "/").replace("~0", "~")
        if isinstance(node, Mapping) and key in node:
            node = node[key]
        elif isinstance(node, list) and key.isdigit() and int(key) < len(node):
            node = node[int(key)]
        else:
            raise ValueError(f"$ref {ref!r} points nowhere")
    return node


def _key(path: str, name: str) -> str:
    return f"{path}.{name}" if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) else f"{path}[{name!r}]"


def _check(value: object, schema: object, path: str, root: object, out: list[str]) -> None:
    if schema is True:
        return
    if schema is False:
        out.append(f"{path}: no value is allowed here")
        return
    if not isinstance(schema, Mapping):
        return
    if "$ref" in schema:
        _check(value, _resolve(schema["$ref"], root), path, root, out)
    kind = schema.get("type")
    if kind is not None:
        names = [kind] if isinstance(kind, str) else list(kind)
        if not any(_is_type(value, n) for n in names):
            wanted = " or ".join(_TYPES.get(n, n) for n in names)
            out.append(f"{path}: expected {wanted}, got {_describe(value)}")
            return
    if "enum" in schema and not any(equal(value, option) for option in schema["enum"]):
        choices = ", ".join(repr(o) for o in schema["enum"])
        out.append(f"{path}: expected one of {choices}, got {_describe(value)}")
    if "const" in schema and not equal(value, schema["const"]):
        out.append(f"{path}: expected {schema['const']!r}, got {_describe(value)}")
    if isinstance(value, str):
        _check_string(value, schema, path, out)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        _check_number(value, schema, path, out)
    elif isinstance(value, list):
        _check_array(value, schema, path, root, out)
    elif isinstance(value, dict):
        _check_object(value, schema, path, root, out)
    for sub in schema.get("allOf", ()):
        _check(value, sub, path, root, out)
    if "anyOf" in schema and not any(_valid(value, sub, path, root) for sub in schema["anyOf"]):
        out.append(f"{path}: matches none of the allowed shapes (anyOf)")
    if "oneOf" in schema:
        matching = sum(1 for sub in schema["oneOf"] if _valid(value, sub, path, root))
        if matching != 1:
            out.append(f"{path}: matches {matching} of the shapes where exactly one must match (oneOf)")
    if "not" in schema and _valid(value, schema["not"], path, root):
        out.append(f"{path}: matches a shape it must not match (not)")
    if "if" in schema:
        branch = "then" if _valid(value, schema["if"], path, root) else "else"
        if branch in schema:
            _check(value, schema[branch], path, root, out)


def _valid(value: object, schema: object, path: str, root: object) -> bool:
    found: list[str] = []
    _check(value, schema, path, root, found)
    return not found


def _check_string(value: str, schema: Mapping[str, Any], path: str, out: list[str]) -> None:
    if "minLength" in schema and len(value) < schema["minLength"]:
        out.append(f"{path}: shorter than {schema['minLength']} characters")
    if "maxLength" in schema and len(value) > schema["maxLength"]:
        out.append(f"{path}: longer than {schema['maxLength']} characters")
    if "pattern" in schema and re.search(schema["pattern"], value) is None:
        out.append(f"{path}: does not match the pattern {schema['pattern']!r}")


def _check_number(value: float, schema: Mapping[str, Any], path: str, out: list[str]) -> None:
    if "minimum" in schema and value < schema["minimum"]:
        out.append(f"{path}: less than the minimum {schema['minimum']!r}")
    if "maximum" in schema and value > schema["maximum"]:
        out.append(f"{path}: more than the maximum {schema['maximum']!r}")
    if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
        out.append(f"{path}: not more than {schema['exclusiveMinimum']!r}")
    if "exclusiveMaximum" in schema and value >= schema["exclusiveMaximum"]:
        out.append(f"{path}: not less than {schema['exclusiveMaximum']!r}")
    if "multipleOf" in schema:
        step = schema["multipleOf"]
        if isinstance(step, float):
            try:
                quotient = value / step
                failed = int(quotient) != quotient
            except OverflowError:  # a huge value over a small step: exact arithmetic instead
                failed = (Fraction(value) / Fraction(step)).denominator != 1
        else:
            failed = bool(value % step)
        if failed:
            out.append(f"{path}: not a multiple of {step!r}")


def _check_array(value: list[Any], schema: Mapping[str, Any], path: str, root: object, out: list[str]) -> None:
    if "minItems" in schema and len(value) < schema["minItems"]:
        out.append(f"{path}: fewer than {schema['minItems']} items")
    if "maxItems" in schema and len(value) > schema["maxItems"]:
        out.append(f"{path}: more than {schema['maxItems']} items")
    if schema.get("uniqueItems") is True:
        for i, item in enumerate(value):
            if any(equal(item, other) for other in value[:i]):
                out.append(f"{path}[{i}]: a duplicate of an earlier item")
                break
    prefix = schema.get("prefixItems", [])
    for i, (item, sub) in enumerate(zip(value, prefix, strict=False)):
        _check(item, sub, f"{path}[{i}]", root, out)
    if "items" in schema:
        for i in range(len(prefix), len(value)):
            _check(value[i], schema["items"], f"{path}[{i}]", root, out)
    if "contains" in schema:
        count = sum(1 for item in value if _valid(item, schema["contains"], path, root))
        low = schema.get("minContains", 1)
        if count < low:
            out.append(f"{path}: fewer than {low} items match the contains shape")
        if "maxContains" in schema and count > schema["maxContains"]:
            out.append(f"{path}: more than {schema['maxContains']} items match the contains shape")


def _check_object(value: dict[str, Any], schema: Mapping[str, Any], path: str, root: object, out: list[str]) -> None:
    for name in schema.get("required", ()):
        if name not in value:
            out.append(f"{_key(path, name)}: missing")
    if "minProperties" in schema and len(value) < schema["minProperties"]:
        out.append(f"{path}: fewer than {schema['minProperties']} properties")
    if "maxProperties" in schema and len(value) > schema["maxProperties"]:
        out.append(f"{path}: more than {schema['maxProperties']} properties")
    for name, needed in schema.get("dependentRequired", {}).items():
        if name in value:
            for other in needed:
                if other not in value:
                    out.append(f"{_key(path, other)}: missing (required with {name!r})")
    properties = schema.get("properties", {})
    patterns = schema.get("patternProperties", {})
    for name, item in value.items():
        where = _key(path, name)
        if "propertyNames" in schema and not _valid(name, schema["propertyNames"], where, root):
            out.append(f"{where}: not an allowed property name")
        matched = False
        if name in properties:
            matched = True
            _check(item, properties[name], where, root, out)
        for pattern, sub in patterns.items():
            if re.search(pattern, name):
                matched = True
                _check(item, sub, where, root, out)
        if not matched and "additionalProperties" in schema:
            extra = schema["additionalProperties"]
            if extra is False:
                out.append(f"{where}: not an allowed property")
            else:
                _check(item, extra, where, root, out)
