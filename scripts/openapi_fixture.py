"""Cut one schema out of a vendor's OpenAPI document, with everything it references, for a test fixture.

Used by the plugins' ``tests/fixtures/extract_schema.py`` scripts (run by hand when a spec changes;
the tests read only the fixture they write, so a clone passes without the spec)::

    fixture = openapi_fixture.extract(Path(spec), "ChatCompletionRequest", rewrite=my_rewrite)

``rewrite(node, name, needed)`` turns one schema (``name``: the component it came from, ``None`` for
the root; ``needed``: every component the fixture holds, by name) into JSON Schema 2020-12;
:func:`point_refs` does what every rewrite needs: OpenAPI's ``#/components/schemas/X`` references
become ``#/$defs/X``. Standard library and PyYAML only.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

__all__ = ["PREFIX", "Rewrite", "extract", "main", "point_refs", "references"]

PREFIX = "#/components/schemas/"


def references(node: Any) -> set[str]:
    """The names of the components ``node`` refers to, anywhere inside it."""
    found: set[str] = set()
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            ref = item.get("$ref")
            if isinstance(ref, str) and ref.startswith(PREFIX):
                found.add(ref[len(PREFIX) :])
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def point_refs(value: str) -> str:
    """``#/components/schemas/X`` as ``#/$defs/X`` (other references are left as they are)."""
    return "#/$defs/" + value[len(PREFIX) :] if value.startswith(PREFIX) else value


Rewrite = Callable[[Any, "str | None", Mapping[str, Any]], Any]


def extract(spec_path: Path, root: str, *, rewrite: Rewrite) -> dict[str, Any]:
    """The fixture for schema ``root`` of the spec at ``spec_path``: a header naming the source, and the schema.

    The header gives the spec's file name, title, version and SHA-256; the schema is ``root`` rewritten,
    with every component it needs (transitively) under ``$defs``.
    """
    raw = spec_path.read_bytes()
    spec = yaml.safe_load(raw)
    schemas = spec["components"]["schemas"]
    needed: set[str] = set()
    todo = [root]
    while todo:
        name = todo.pop()
        if name not in needed:
            needed.add(name)
            todo.extend(references(schemas[name]) - needed)
    components = {name: schemas[name] for name in needed}
    schema = rewrite(schemas[root], None, components)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$defs"] = {name: rewrite(schemas[name], name, components) for name in sorted(needed - {root})}
    return {
        "source": f"shared/specs/{spec_path.name}",
        "spec_title": spec["info"]["title"],
        "spec_version": spec["info"]["version"],
        "spec_sha256": hashlib.sha256(raw).hexdigest(),
        "schema_name": root,
        "schema": schema,
    }


def main(argv: Sequence[str], root: str, out: Path, *, rewrite: Rewrite) -> int:
    """The command line of a fixture script: ``SCRIPT PATH/TO/SPEC`` writes the fixture for ``root`` to ``out``."""
    if len(argv) != 2:
        print(f"usage: {argv[0]} PATH/TO/the-vendor-openapi-document", file=sys.stderr)
        return 2
    fixture = extract(Path(argv[1]), root, rewrite=rewrite)
    out.write_text(json.dumps(fixture, indent=1, sort_keys=False, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {out} ({len(fixture['schema']['$defs'])} definitions)")
    return 0
