"""JSON Schema both ways: the checker agrees with the jsonschema package, schemas from types describe their values.

``jsonschema`` (a test-only dependency, pinned in requirements-dev.txt) is the
oracle: for generated schemas and values, clawdesk's small checker must call
exactly the same values valid.
"""

from __future__ import annotations

import enum
import json
from typing import Annotated, Any, Literal

import attrs
import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st

from clawdesk import InvalidOutput, function_tool, make_converter
from clawdesk._schema import check, equal, schema_for, unsupported
from clawdesk._structured import output_format, parse_output

# -- the checker against the oracle -------------------------------------------------------------------------

scalars = st.none() | st.booleans() | st.integers(-20, 20) | st.floats(-20, 20, allow_nan=False) | st.text(max_size=4)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from("abcd"), inner, max_size=3),
    max_leaves=8,
)
type_names = st.sampled_from(["null", "boolean", "integer", "number", "string", "array", "object"])


def leaf_schemas() -> st.SearchStrategy[dict[str, Any]]:
    return st.one_of(
        st.builds(lambda t: {"type": t}, type_names),
        st.builds(lambda ts: {"type": ts}, st.lists(type_names, min_size=1, max_size=3, unique=True)),
        st.builds(lambda e: {"enum": e}, st.lists(scalars, min_size=1, max_size=3)),
        st.builds(lambda c: {"const": c}, scalars),
        st.builds(lambda n: {"minimum": n}, st.integers(-5, 5)),
        st.builds(lambda n: {"exclusiveMaximum": n}, st.integers(-5, 5)),
        st.builds(lambda n: {"multipleOf": n}, st.sampled_from([1, 2, 3, 0.5, 0.25])),
        st.builds(lambda n: {"minLength": n, "maxLength": n + 2}, st.integers(0, 3)),
        st.builds(lambda p: {"pattern": p}, st.sampled_from(["^a", "b$", "[0-9]", "^$"])),
        st.builds(lambda n: {"minItems": n}, st.integers(0, 3)),
        st.builds(lambda n: {"maxProperties": n}, st.integers(0, 3)),
        st.just({"uniqueItems": True}),
        st.just({}),
        st.just(True),
        st.just(False),
    )


def compose(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    keys = st.sampled_from("abcd")
    return st.one_of(
        st.builds(
            lambda props, req, extra: {"type": "object", "properties": props, "required": req, **extra},
            st.dictionaries(keys, inner, max_size=3),
            st.lists(keys, max_size=2, unique=True),
            st.sampled_from([{}, {"additionalProperties": False}])
            | st.builds(lambda s: {"additionalProperties": s}, inner),
        ),
        st.builds(lambda s: {"type": "array", "items": s}, inner),
        st.builds(lambda p, s: {"prefixItems": p, "items": s}, st.lists(inner, max_size=2), inner),
        st.builds(lambda s: {"contains": s, "maxContains": 2}, inner),
        st.builds(lambda ss: {"anyOf": ss}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda ss: {"oneOf": ss}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda ss: {"allOf": ss}, st.lists(inner, min_size=1, max_size=2)),
        st.builds(lambda s: {"not": s}, inner),
        st.builds(lambda i, t, e: {"if": i, "then": t, "else": e}, inner, inner, inner),
        st.builds(lambda s: {"patternProperties": {"^[ab]": s}}, inner),
        st.builds(lambda s: {"propertyNames": s}, inner),
        st.just({"dependentRequired": {"a": ["b"]}}),
    )


nested = st.recursive(leaf_schemas(), compose, max_leaves=6)
# A reference resolves from the root, so definitions live there; `#` itself refers to the whole schema.
schemas = nested | st.builds(
    lambda defined, other: {"$defs": {"x": defined}, "allOf": [{"$ref": "#/$defs/x"}, other]}, nested, nested
)


@given(schema=schemas, value=values)
def test_the_checker_agrees_with_jsonschema(schema: Any, value: Any) -> None:
    """For any schema of the supported keywords and any JSON value, valid here exactly when jsonschema says so."""
    assert unsupported(schema) == []
    expected = jsonschema.Draft202012Validator(schema).is_valid(value)
    problems = check(value, schema)
    assert (not problems) == expected, (schema, value, problems)


@given(a=values, b=values)
def test_json_equality_is_jsonschemas(a: Any, b: Any) -> None:
    """JSON equality (1 == 1.0, true != 1, deep) is the one const and enum use in jsonschema."""
    assert equal(a, b) == jsonschema.Draft202012Validator({"const": a}).is_valid(b)


def test_problems_name_the_path() -> None:
    """Each problem says where, with the JSON path of the value."""
    schema = {
        "type": "object",
        "properties": {"items": {"type": "array", "items": {"type": "integer"}}, "odd key": {"type": "string"}},
        "required": ["name"],
    }
    assert check({"items": [1, "two"], "odd key": 3}, schema) == [
        "$.name: missing",
        "$.items[1]: expected an integer, got a string ('two')",
        "$['odd key']: expected a string, got an integer (3)",
    ]


def test_unsupported_keywords_are_named() -> None:
    """An assertion the checker does not know is reported rather than skipped; annotations are fine."""
    schema = {
        "title": "x",
        "description": "y",
        "format": "email",
        "unevaluatedProperties": False,
        "properties": {"a": {"$ref": "https://example.com/s.json"}},
    }
    assert unsupported(schema) == ["$ref (not local)", "unevaluatedProperties"]


# -- schemas from types ---------------------------------------------------------------------------------------


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


@attrs.frozen
class Point:
    x: float
    y: float


@attrs.frozen
class Shape:
    """A shape on the canvas."""

    name: Annotated[str, "what to call it"]
    points: list[Point]
    color: Color | None = None
    kind: Literal["open", "closed"] = "closed"
    tags: tuple[str, ...] = ()
    extra: dict[str, int] = attrs.Factory(dict)


shapes = st.builds(
    Shape,
    name=st.text(max_size=8),
    points=st.lists(
        st.builds(Point, st.floats(allow_nan=False, allow_infinity=False), st.floats(-1e9, 1e9)), max_size=3
    ),
    color=st.none() | st.sampled_from(list(Color)),
    kind=st.sampled_from(["open", "closed"]),
    tags=st.lists(st.text(max_size=3), max_size=2).map(tuple),
    extra=st.dictionaries(st.text(max_size=3), st.integers(-5, 5), max_size=2),
)


def test_schema_of_an_attrs_class_is_valid_json_schema() -> None:
    """The schema made for a class is a valid Draft 2020-12 schema, describing what the class needs."""
    schema = schema_for(Shape)
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["required"] == ["name", "points"]
    assert schema["additionalProperties"] is False
    assert schema["description"] == "A shape on the canvas."
    assert schema["properties"]["name"] == {"type": "string", "description": "what to call it"}
    assert schema["properties"]["color"] == {"anyOf": [{"enum": ["red", "green"]}, {"type": "null"}]}


@given(shape=shapes)
def test_every_instance_fits_its_schema_and_parses_back(shape: Shape) -> None:
    """Any instance, written as JSON, satisfies the class's schema (says jsonschema) and parses back equal."""
    text = json.dumps(make_converter().unstructure(shape))
    jsonschema.validate(json.loads(text), schema_for(Shape))
    assert parse_output(text, Shape) == shape


@pytest.mark.parametrize("hint", [set, complex, dict[int, str]])
def test_types_without_a_json_schema_are_refused(hint: Any) -> None:
    """A type JSON cannot describe is a TypeError, not a guess."""
    with pytest.raises(TypeError):
        schema_for(hint)


@attrs.frozen
class Node:
    children: list[Node]


def test_a_recursive_class_is_refused() -> None:
    """A class that contains itself has no finite inline schema; one whose hints do not resolve is refused too."""
    with pytest.raises(TypeError, match="contains itself"):
        schema_for(Node)

    @attrs.frozen
    class Local:
        other: Unknown  # type: ignore[name-defined]  # noqa: F821

    with pytest.raises(TypeError, match="cannot be read"):
        schema_for(Local)


# -- structured output parsing ----------------------------------------------------------------------------------


def test_output_format_for_a_schema_and_a_class() -> None:
    """A mapping is sent as is (strict); a class with optional fields is not strict; odd schemas are refused."""
    schema = {"title": "my answer", "type": "object"}
    fmt = output_format(schema)
    assert (fmt.name, fmt.strict, dict(fmt.schema or {})) == ("my_answer", True, schema)
    assert output_format(Shape).strict is False
    assert output_format(Point).strict is True
    with pytest.raises(ValueError, match="unevaluatedProperties"):
        output_format({"type": "object", "unevaluatedProperties": False})
    with pytest.raises(TypeError, match="JSON schema"):
        output_format(list)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("not json", "not JSON"),
        ('{"x": 1}', "$.y: missing"),
        ('{"x": 1, "y": 2, "z": 3}', "$.z: not an allowed property"),
        ("[1, 2]", "$: expected an object"),
    ],
)
def test_parse_output_explains_every_failure(text: str, problem: str) -> None:
    """InvalidOutput lists the problems and keeps the text."""
    with pytest.raises(InvalidOutput) as caught:
        parse_output(text, Point)
    assert problem in "; ".join(caught.value.problems)
    assert caught.value.text == text


def test_a_class_validator_that_says_no_is_invalid_output() -> None:
    """A value that fits the schema but fails the class's own validator is InvalidOutput too."""

    @attrs.frozen
    class Age:
        years: int = attrs.field(validator=attrs.validators.ge(0))

    with pytest.raises(InvalidOutput, match=r"does not fit Age: 'years' must be >= 0: -3"):
        parse_output('{"years": -3}', Age)


# -- tool declarations from functions ----------------------------------------------------------------------------


def test_function_tool_reads_the_signature_and_docstring() -> None:
    """Name, first docstring paragraph, parameter schemas, defaults and required ones come from the function."""

    def search(query: Annotated[str, "words to look for"], limit: int = 5, color: Color | None = None) -> list[str]:
        """Search the catalogue.

        Longer notes that are not part of the description.
        """
        return []

    tool = function_tool(search).tool
    assert (tool.name, tool.description) == ("search", "Search the catalogue.")
    jsonschema.Draft202012Validator.check_schema(dict(tool.parameters))
    assert tool.parameters["required"] == ["query"]
    assert tool.parameters["properties"]["limit"] == {"type": "integer", "default": 5}
    assert tool.parameters["properties"]["query"]["description"] == "words to look for"


def test_function_tool_refuses_what_it_cannot_describe() -> None:
    """*args, **kwargs and lambdas without a name are refused with the way out."""

    def anything(*args: Any) -> None:
        return None

    with pytest.raises(TypeError, match="give parameters="):
        function_tool(anything)
    with pytest.raises(TypeError, match="needs a name"):
        function_tool(lambda: None)
    explicit = function_tool(anything, name="anything", parameters={"type": "object"})
    assert explicit.tool.parameters == {"type": "object"}
